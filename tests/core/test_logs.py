from __future__ import annotations

import json
import logging

import pytest

from bot.logs import JsonFormatter, RedactingFilter


@pytest.mark.parametrize(
    "message",
    [
        "calling with api-key: 0123456789abcdef",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "slack token xoxb-1234-5678-abcdef",
        "password=hunter22 in url",
        "configured secret my-very-own-secret here",
    ],
)
def test_secrets_are_masked(message: str) -> None:
    f = RedactingFilter(["my-very-own-secret"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, message, None, None)
    f.filter(record)
    out = record.getMessage()
    for leaked in ("0123456789abcdef", "eyJhbGci", "xoxb-1234", "hunter22", "my-very-own-secret"):
        assert leaked not in out
    assert "***" in out


def test_args_and_tracebacks_are_redacted_too() -> None:
    f = RedactingFilter(["s3cr3t-value"])
    try:
        raise ValueError("bad key s3cr3t-value")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "got %s", ("s3cr3t-value",), sys.exc_info()
        )
    f.filter(record)
    assert "s3cr3t-value" not in record.getMessage()
    assert record.exc_text is not None and "s3cr3t-value" not in record.exc_text


def test_json_lines() -> None:
    record = logging.LogRecord("ftbot", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "hello world" and data["level"] == "warning" and data["logger"] == "ftbot"
