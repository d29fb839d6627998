"""Small request helpers shared by the API modules."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from emulator.errors import ApiError, invalid
from emulator.state import AccountState, EmulatorState

STATE: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)

T = TypeVar("T")


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def account_of(request: web.Request) -> AccountState:
    """Data plane: `/openai/...` is the default account, `/accounts/{account}/openai/...` any other."""
    return state_of(request).account(request.match_info.get("account"))


def is_v1(request: web.Request) -> bool:
    """`/openai/v1/...`: the next-generation API, which takes no api-version."""
    return "/openai/v1/" in request.path or request.path.endswith("/openai/v1")


def api_version(request: web.Request) -> str | None:
    """The data-plane api-version of a request; None on the v1 API (every feature, no version)."""
    return None if is_v1(request) else request.query.get("api-version")


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def int_param(request: web.Request, name: str, default: int, low: int = 1, high: int = 1000) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"'{name}' must be an integer.", param=name) from None
    if not low <= value <= high:
        raise invalid(f"'{name}' must be between {low} and {high}.", param=name)
    return value


def cursor_page(
    items: Sequence[T], request: web.Request, key: Callable[[T], str], default_limit: int = 20
) -> tuple[list[T], bool]:
    """OpenAI-style paging: `after=<id of the last item seen>`, `limit`; returns (page, has_more)."""
    limit = int_param(request, "limit", default_limit)
    after = request.query.get("after")
    start = 0
    if after:
        ids = [key(item) for item in items]
        if after not in ids:
            raise ApiError(
                400, "invalidPayload", f"'after' refers to an unknown id '{after}'.", param="after"
            )
        start = ids.index(after) + 1
    page = list(items[start : start + limit])
    return page, start + limit < len(items)


def list_body(data: list[dict[str, Any]], has_more: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"object": "list", "data": data}
    if has_more is not None:
        body["has_more"] = has_more
    return body
