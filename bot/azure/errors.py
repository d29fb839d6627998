"""Typed errors for every Azure surface, parsed from `{error:{code,message,...}}` bodies (or anything else).

One base class, `AzureError`, with one place (`_USER_PREFIX`) for the text a chat user reads. Messages are
scrubbed of anything that looks like a credential before they are shown, and headers are never kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# Azure and its gateways put the request id under several names; the first one present wins.
_REQUEST_ID_HEADERS = (
    "apim-request-id",
    "x-ms-request-id",
    "x-request-id",
    "x-ms-correlation-request-id",
)

_MAX_MESSAGE_CHARS = 500

# Shapes that could carry a secret in an echoed message: bearer tokens, JWTs, key/sig/token query values.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),
    re.compile(r"(?i)\b(api[-_]?key|sig|token|password|secret|client_secret)\s*[=:]\s*[^\s&,;\"']+"),
)


def scrub(text: str) -> str:
    """Mask credential-looking substrings and bound the length, for anything headed to chat or logs."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_mask, text)
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 1] + "…"
    return text


def _mask(match: re.Match[str]) -> str:
    groups = match.groups()
    if groups and groups[0]:
        return f"{groups[0]}=***"
    return "***"


class AzureError(Exception):
    """An Azure call that did not succeed: Azure's `code` and `message`, the HTTP status and request id."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        param: str | None = None,
        target: str | None = None,
        retry_after: float | None = None,
        surface: str | None = None,
    ) -> None:
        self.message = scrub(message)
        self.code = code
        self.status = status
        self.request_id = request_id
        self.param = param
        self.target = target
        self.retry_after = retry_after  # seconds, when the service said when to come back
        self.surface = surface  # "data plane", "ARM", "metrics": which side answered
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [f"{type(self).__name__}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        return f"{' '.join(parts)}: {self.message}"

    def user_message(self) -> str:
        """One readable paragraph for chat: what kind of failure, Azure's own words, the request id."""
        prefix = _USER_PREFIX.get(type(self), _USER_PREFIX[AzureError])
        code = f" ({self.code})" if self.code else ""
        text = f"{prefix}{code}: {self.message}"
        if self.retry_after is not None and isinstance(self, Throttled):
            text += f" Try again in {about(self.retry_after)}."
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


def about(seconds: float) -> str:
    """A wait in words: `about 40 seconds`, `about 3 minutes`, `about 2 hours`."""
    for size, unit, up_to in ((1, "second", 90), (60, "minute", 3570), (3600, "hour", None)):
        if up_to is None or seconds < up_to:
            count = max(1, round(seconds / size))
            return f"about {count} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable")  # pragma: no cover


class BadRequest(AzureError):
    """400: the request was malformed or refused as given."""


class ValidationFailed(BadRequest):
    """The payload or the training file did not pass Azure's validation."""


class Unauthorized(AzureError):
    """401: no or bad credentials (or a token could not be obtained)."""


class Forbidden(AzureError):
    """403: the identity lacks a role or access to the resource."""


class NotFound(AzureError):
    """404: the job, file, deployment or model does not exist (any more)."""


class Conflict(AzureError):
    """409: the resource is in a state that does not allow this (e.g. the model is already deployed)."""


class QuotaExceeded(AzureError):
    """A resource limit was reached (deployments, files, jobs, tokens)."""


class Throttled(AzureError):
    """429: too many requests; `retry_after` says when to try again when Azure said so."""


class ServiceUnavailable(AzureError):
    """408 or 5xx: Azure failed or timed out on its side."""


class TransportFailure(AzureError):
    """No HTTP answer at all: connection refused or dropped, timeout, TLS failure."""


# The user-facing wording lives here and only here.
_USER_PREFIX: dict[type[AzureError], str] = {
    AzureError: "Azure returned an error",
    BadRequest: "Azure refused the request",
    ValidationFailed: "Azure could not validate the request or its data",
    Unauthorized: "Azure did not accept the bot's credentials",
    Forbidden: "The bot's identity is not allowed to do this on Azure",
    NotFound: "Azure could not find it",
    Conflict: "Azure reported a conflict",
    QuotaExceeded: "An Azure quota or limit was reached",
    Throttled: "Azure is throttling requests",
    ServiceUnavailable: "Azure is temporarily unavailable",
    TransportFailure: "Could not reach Azure",
}

# Azure error codes (data plane enum + common ARM codes), compared case-insensitively; they beat the status.
_CLASS_BY_CODE: dict[str, type[AzureError]] = {
    "quotaexceeded": QuotaExceeded,
    "insufficientquota": QuotaExceeded,
    "toomanyrequests": Throttled,
    "notfound": NotFound,
    "resourcenotfound": NotFound,
    "deploymentnotfound": NotFound,
    "conflict": Conflict,
    "itemdoesalreadyexist": Conflict,
    "unexpectedentitystate": Conflict,
    "unauthorized": Unauthorized,
    "invalidauthenticationtoken": Unauthorized,
    "forbidden": Forbidden,
    "authorizationfailed": Forbidden,
    "serviceunavailable": ServiceUnavailable,
    "internalfailure": ServiceUnavailable,
    "invalidpayload": ValidationFailed,
    "jsonlvalidationfailed": ValidationFailed,
    "fileimportfailed": ValidationFailed,
}

_CLASS_BY_STATUS: dict[int, type[AzureError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    408: ServiceUnavailable,
    409: Conflict,
    422: ValidationFailed,
    429: Throttled,
}


def error_class(status: int | None, code: str | None) -> type[AzureError]:
    """The exception class for a status and an Azure code: the code wins when it is a known one."""
    if code and code.lower() in _CLASS_BY_CODE:
        return _CLASS_BY_CODE[code.lower()]
    if status is None:
        return AzureError
    if status in _CLASS_BY_STATUS:
        return _CLASS_BY_STATUS[status]
    if status >= 500:
        return ServiceUnavailable
    if 400 <= status < 500:
        return BadRequest
    return AzureError


def request_id_from(headers: Mapping[str, str]) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in _REQUEST_ID_HEADERS:
        if lowered.get(name):
            return lowered[name]
    return None


def error_from_body(
    status: int,
    body: bytes | str,
    headers: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
    surface: str | None = None,
) -> AzureError:
    """Build the typed error for an HTTP answer: `{error:{...}}`, a bare `{code,message}`, or any text."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    code, message, param, target = _parse_error_payload(text)
    if not message:
        message = _fallback_message(status, text)
    cls = error_class(status, code)
    return cls(
        message,
        code=code,
        status=status,
        request_id=request_id_from(headers or {}),
        param=param,
        target=target,
        retry_after=retry_after,
        surface=surface,
    )


def _parse_error_payload(text: str) -> tuple[str | None, str | None, str | None, str | None]:
    try:
        payload: Any = json.loads(text) if text.strip() else None
    except ValueError:
        return None, None, None, None
    if not isinstance(payload, dict):
        return None, None, None, None
    error = payload.get("error", payload)
    if isinstance(error, str):  # some gateways answer {"error": "text"}
        return None, error, None, None
    if not isinstance(error, dict):
        return None, None, None, None
    code = _str_or_none(error.get("code"))
    message = _str_or_none(error.get("message"))
    inner = error.get("innererror")
    if not code and isinstance(inner, dict):
        code = _str_or_none(inner.get("code"))
    return code, message, _str_or_none(error.get("param")), _str_or_none(error.get("target"))


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _fallback_message(status: int, text: str) -> str:
    # Non-JSON bodies (HTML from a gateway, plain text) are summarised, not pasted whole into chat.
    stripped = re.sub(r"<[^>]+>", " ", text)
    stripped = " ".join(stripped.split())
    if stripped:
        return stripped[:200]
    return f"HTTP {status} with an empty body"


# The RAI helper lives beside the models it reads; it is part of this module's public face.
from bot.azure.rai import RaiFailure, rai_failure, rai_failure_from_error  # noqa: E402

__all__ = [
    "AzureError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "QuotaExceeded",
    "RaiFailure",
    "ServiceUnavailable",
    "Throttled",
    "TransportFailure",
    "Unauthorized",
    "ValidationFailed",
    "about",
    "error_class",
    "error_from_body",
    "rai_failure",
    "rai_failure_from_error",
    "request_id_from",
    "scrub",
]
