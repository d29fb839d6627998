"""Error bodies (data plane, ARM, gateways) become typed exceptions with readable, secret-free text."""

from __future__ import annotations

import pytest

from bot.azure.errors import (
    AzureError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    QuotaExceeded,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
    ValidationFailed,
    error_from_body,
    scrub,
)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalidPayload", ValidationFailed),
        (400, "jsonlValidationFailed", ValidationFailed),
        (400, "somethingNew", BadRequest),
        (401, None, Unauthorized),
        (403, "AuthorizationFailed", Forbidden),
        (404, "notFound", NotFound),
        (404, "DeploymentNotFound", NotFound),
        (409, "conflict", Conflict),
        (400, "itemDoesAlreadyExist", Conflict),
        (400, "quotaExceeded", QuotaExceeded),
        (409, "InsufficientQuota", QuotaExceeded),
        (429, "tooManyRequests", Throttled),
        (429, None, Throttled),
        (500, "internalFailure", ServiceUnavailable),
        (503, None, ServiceUnavailable),
        (408, None, ServiceUnavailable),
        (418, None, BadRequest),
    ],
)
def test_status_and_code_pick_the_class(status: int, code: str | None, expected: type[AzureError]) -> None:
    body = {"error": {"code": code, "message": "m"}} if code else {"error": {"message": "m"}}
    import json

    error = error_from_body(status, json.dumps(body))
    assert type(error) is expected
    assert error.status == status
    assert error.code == code


def test_data_plane_body_fields_and_request_id() -> None:
    body = b'{"error":{"code":"notFound","message":"File file-1 not found.","param":"training_file"}}'
    error = error_from_body(404, body, {"apim-request-id": "req-123"}, surface="Azure OpenAI")
    assert isinstance(error, NotFound)
    assert (error.code, error.message, error.param, error.request_id) == (
        "notFound",
        "File file-1 not found.",
        "training_file",
        "req-123",
    )
    assert error.user_message() == (
        "Azure could not find it (notFound): File file-1 not found. [request id req-123]"
    )


def test_arm_body_with_target_and_details() -> None:
    body = (
        b'{"error":{"code":"DeploymentModelNotFound","message":"The model is not found.",'
        b'"target":"properties.model","details":[{"code":"x","message":"y"}]}}'
    )
    error = error_from_body(400, body, {"x-ms-request-id": "arm-1"})
    assert isinstance(error, BadRequest)
    assert error.target == "properties.model"
    assert error.request_id == "arm-1"


def test_bare_code_message_and_inner_error_code() -> None:
    bare = error_from_body(409, b'{"code":"Conflict","message":"busy"}')
    assert isinstance(bare, Conflict)
    assert bare.message == "busy"
    inner = error_from_body(400, b'{"error":{"message":"bad","innererror":{"code":"invalidPayload"}}}')
    assert isinstance(inner, ValidationFailed)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"upstream connect error",
        b"",
        b"[1,2]",
        b"{bad",
    ],
)
def test_non_json_bodies_still_give_a_readable_error(body: bytes) -> None:
    error = error_from_body(502, body)
    assert isinstance(error, ServiceUnavailable)
    assert error.message
    assert "<" not in error.message
    assert "Azure is temporarily unavailable" in error.user_message()


def test_throttled_user_message_says_when() -> None:
    error = error_from_body(
        429, b'{"error":{"code":"tooManyRequests","message":"slow down"}}', retry_after=7.4
    )
    assert error.retry_after == 7.4
    assert error.user_message().endswith("Try again in about 7 seconds.")


@pytest.mark.parametrize(
    "leak",
    [
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
        "bad key api-key=0123456789abcdef0123456789abcdef",
        "url https://x.blob.core.windows.net/c/f.jsonl?sv=2022&sig=SECRETSIG&se=2030",
        "token: s3cr3t-t0k3n",
    ],
)
def test_secrets_never_reach_the_user_message(leak: str) -> None:
    error = error_from_body(400, '{"error":{"code":"invalidPayload","message":"' + leak + '"}}')
    text = error.user_message() + str(error)
    for secret in ("eyJhbGciOiJIUzI1NiJ9", "0123456789abcdef0123456789abcdef", "SECRETSIG", "s3cr3t-t0k3n"):
        assert secret not in text


def test_scrub_bounds_length() -> None:
    assert len(scrub("x" * 5000)) == 500
