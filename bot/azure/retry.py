"""When to repeat an Azure call, and how long to wait first.

The rule:

| outcome of one attempt                  | idempotent (GET/PUT/DELETE, chat) | non-idempotent POST          |
|-----------------------------------------|-----------------------------------|------------------------------|
| connect error, connect or pool timeout  | retry                             | retry (never reached Azure)  |
| 429                                     | retry                             | retry (refused before work)  |
| 408, 5xx but 501/505, read timeout,     | retry                             | ambiguous: run the call's    |
| dropped connection                      |                                   | `recover` check, else fail   |
| 409                                     | retry unless the call opts out    | fail                         |
| anything else                           | fail                              | fail                         |

"Ambiguous" means the request may have been processed. A POST that creates or changes something is then
repeated only after its `recover` check has looked for the effect and not found it: job create lists recent
jobs for one with the same model, training file, suffix and seed created in the last few minutes; upload and
import, when their filename is unique to the attempt, look for the file with exactly that name (without a
unique name they have no check, so a lost reply is an error); cancel/pause/resume read the job and accept it
when it already reached the target state. If `recover` finds the effect, its result is returned as the
call's result; if it fails itself, the original error is raised (better a clear error than a duplicate).

Waits: exponential backoff with full jitter (`uniform(0, min(max_delay, base * 2**n))`), unless the answer
carried `retry-after-ms` or `Retry-After` (seconds or an HTTP date), which is honoured as given. Bounded by
`max_attempts` and by `max_total_seconds` (sleeps included): a wait that would cross the budget, or a
`Retry-After` longer than `max_retry_after`, ends the retries and raises the last error (a `Throttled` error
carries `retry_after` so chat can say when to try again). `sleep`, `clock`, `now` and `random` are injectable
so tests run instantly and deterministically.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random as _random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from bot.azure.errors import AzureError, TransportFailure

log = logging.getLogger("ftbot.azure")

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# 501 Not Implemented and 505 HTTP Version Not Supported will not change on a retry.
_PERMANENT_5XX = frozenset({501, 505})
# Errors raised before a single byte of the request left this process: always safe to repeat.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


async def _asyncio_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and knobs for retries; the defaults suit interactive chat commands."""

    max_attempts: int = 6
    max_total_seconds: float = 90.0
    base_delay: float = 0.5
    max_delay: float = 20.0
    # A longer server-requested wait is reported ("try again in about 3 minutes"), not slept through: a chat
    # command that sleeps a minute on a 429 looks hung.
    max_retry_after: float = 20.0
    sleep: Callable[[float], Awaitable[None]] = field(default=_asyncio_sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)  # for the total budget
    now: Callable[[], float] = field(default=time.time, compare=False)  # wall clock, for HTTP dates
    random: Callable[[], float] = field(default=_random.random, compare=False)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter exponential delay before retry number `retry_number` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, retry_number - 1)))
        return self.random() * ceiling


NO_RETRY = RetryPolicy(max_attempts=1)


class Decision(enum.Enum):
    RETRY = "retry"
    AMBIGUOUS = "ambiguous"  # may have been processed: only retry after `recover` found nothing
    FAIL = "fail"


def decide(error: BaseException, *, idempotent: bool, retry_conflict: bool = True) -> Decision:
    """Classify one failed attempt (see the module docstring's table)."""
    if isinstance(error, _NEVER_SENT):
        return Decision.RETRY
    if isinstance(error, httpx.TransportError):  # read/write timeout, dropped connection, protocol error
        return Decision.RETRY if idempotent else Decision.AMBIGUOUS
    if not isinstance(error, AzureError) or error.status is None:
        return Decision.FAIL
    status = error.status
    if status == 429:
        return Decision.RETRY
    if status == 408 or (status >= 500 and status not in _PERMANENT_5XX):
        return Decision.RETRY if idempotent else Decision.AMBIGUOUS
    if status == 409 and idempotent and retry_conflict:
        return Decision.RETRY
    return Decision.FAIL


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date; None if absent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds:
        try:
            value = float(milliseconds) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lowered.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def as_azure_error(error: BaseException, *, surface: str | None = None) -> AzureError:
    """The typed error to raise for a final failure (transport exceptions become `TransportFailure`)."""
    if isinstance(error, AzureError):
        return error
    kind = type(error).__name__
    return TransportFailure(f"{kind} while calling Azure", code=kind, surface=surface)


async def run_with_retry(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    idempotent: bool,
    retry_conflict: bool = True,
    recover: Callable[[], Awaitable[T | None]] | None = None,
    description: str = "Azure call",
    surface: str | None = None,
) -> T:
    """Run `attempt(n)` (n = 1, 2, ...) until it returns, following the module's rule.

    `attempt` raises `AzureError` (with `status` and `retry_after`) or an `httpx.TransportError`.
    """
    started = policy.clock()
    number = 0
    while True:
        number += 1
        try:
            return await attempt(number)
        except (AzureError, httpx.TransportError) as error:
            decision = decide(error, idempotent=idempotent, retry_conflict=retry_conflict)
            if decision is Decision.AMBIGUOUS:
                recovered = await _try_recover(recover, error, description, surface)
                if recovered is not None:
                    return recovered
                decision = Decision.RETRY if recover is not None else Decision.FAIL
            if decision is Decision.FAIL or number >= policy.max_attempts:
                raise as_azure_error(error, surface=surface) from error
            delay = _delay_for(error, policy, number)
            elapsed = policy.clock() - started
            if delay is None or elapsed + delay > policy.max_total_seconds:
                raise as_azure_error(error, surface=surface) from error
            log.debug(
                "%s: attempt %d failed (%s), retrying in %.2f s", description, number, _brief(error), delay
            )
            await policy.sleep(delay)


async def _try_recover(
    recover: Callable[[], Awaitable[T | None]] | None,
    error: BaseException,
    description: str,
    surface: str | None,
) -> T | None:
    if recover is None:
        return None
    try:
        return await recover()
    except (AzureError, httpx.TransportError) as check_error:
        # Could not tell whether the first request took effect: refuse to risk a duplicate.
        log.warning("%s: could not verify the outcome after %s (%s)", description, _brief(error), check_error)
        raise as_azure_error(error, surface=surface) from error


def _delay_for(error: BaseException, policy: RetryPolicy, number: int) -> float | None:
    """The wait before the next attempt, or None when the server asked for more than we will wait."""
    retry_after = error.retry_after if isinstance(error, AzureError) else None
    if retry_after is None:
        return policy.backoff(number)
    if retry_after > policy.max_retry_after:
        return None
    return retry_after


def _brief(error: BaseException) -> str:
    if isinstance(error, AzureError):
        return f"HTTP {error.status} {error.code or ''}".strip()
    return type(error).__name__


__all__ = [
    "IDEMPOTENT_METHODS",
    "NO_RETRY",
    "Decision",
    "RetryPolicy",
    "as_azure_error",
    "decide",
    "parse_retry_after",
    "run_with_retry",
]
