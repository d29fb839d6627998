"""Azure-shaped errors: `{"error": {"code", "message", ...}}` with the matching HTTP status."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    """Raised anywhere in a handler; the error middleware turns it into the Azure error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        target: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.target = target
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.target is not None:
            error["target"] = self.target
        return {"error": error}

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status, headers=self.headers)


def not_found(what: str, ident: str, code: str = "notFound") -> ApiError:
    return ApiError(404, code, f"{what} '{ident}' was not found.")


def invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalidPayload", message, param=param)


def wrong_state(message: str) -> ApiError:
    return ApiError(400, "unexpectedEntityState", message)
