"""Calls to the Bot Connector with Teams' throttling handled, and one error type for refused deliveries.

The connector client (msrest) already retries 5xx and 408 with back-off; Teams throttles with 429 (and 412
on concurrent edits), which it does not retry. `connector_call` retries those after `Retry-After` (or a
short back-off), and turns every refusal into `TeamsDeliveryError` with the HTTP status, so callers (the
notifier's outbox) can tell "try later" from "give up" without knowing msrest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from msrest.exceptions import ClientRequestError, HttpOperationError

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

THROTTLED = frozenset({412, 429})
MAX_RETRIES = 3
MAX_WAIT = 30.0  # seconds; a longer Retry-After is left to the caller's own retry (the outbox)


class TeamsDeliveryError(Exception):
    """The Bot Connector refused a send or update. `status` is the HTTP status, 0 when unreachable."""

    def __init__(self, what: str, status: int, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"Teams {what} failed: HTTP {status or 'unreachable'} {detail}".strip())
        self.what = what
        self.status = status
        # Teams' `Retry-After` on a throttled call that ran out of retries, for the outbox's next try.
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth trying again later: throttled, a server-side failure, or the service was unreachable."""
        return self.status in THROTTLED or self.status == 0 or self.status >= 500


def _status(exc: HttpOperationError) -> int:
    return int(getattr(exc.response, "status_code", 0) or 0)


def retry_delay(exc: HttpOperationError, attempt: int) -> float:
    """`Retry-After` seconds when Teams sends them, else 1, 2, 4 ... seconds; never more than `MAX_WAIT`."""
    headers: Any = getattr(exc.response, "headers", None) or {}
    try:
        after = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        after = float(2**attempt)
    return max(0.0, min(after, MAX_WAIT))


async def connector_call(what: str, call: Callable[[], Awaitable[T]], sleep: Sleep = asyncio.sleep) -> T:
    """Run one connector call; retry throttling up to `MAX_RETRIES` times; raise `TeamsDeliveryError`."""
    for attempt in range(MAX_RETRIES + 1):
        try:
            return await call()
        except HttpOperationError as exc:
            status = _status(exc)
            if status in THROTTLED and attempt < MAX_RETRIES:
                delay = retry_delay(exc, attempt)
                log.info("Teams %s throttled (HTTP %s); retrying in %.1f s", what, status, delay)
                await sleep(delay)
                continue
            after = retry_delay(exc, attempt) if status in THROTTLED else None
            raise TeamsDeliveryError(what, status, str(exc)[:200], after) from exc
        except (ClientRequestError, OSError) as exc:
            raise TeamsDeliveryError(what, 0, type(exc).__name__) from exc
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover
