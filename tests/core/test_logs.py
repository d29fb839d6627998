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
        "import from https://acct.blob.core.windows.net/c/train.jsonl?sv=2024&se=2026&sig=AbCdEf0123456789",
        "connecting to postgresql+asyncpg://ftbot:hunter22@db:5432/ftbot",
    ],
)
def test_secrets_are_masked(message: str) -> None:
    f = RedactingFilter(["my-very-own-secret"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, message, None, None)
    f.filter(record)
    out = record.getMessage()
    for leaked in ("0123456789abcdef", "eyJhbGci", "xoxb-1234", "hunter22", "my-very-own-secret", "AbCdEf01"):
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


def test_database_url_keeps_its_shape_when_masked() -> None:
    f = RedactingFilter()
    assert f.redact("postgresql+asyncpg://ftbot:pw123@db/x") == "postgresql+asyncpg://ftbot:***@db/x"


def test_settings_list_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import AzureResource, Settings

    monkeypatch.setenv("SWE_KEY", "swe-key-123")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "client-secret-456")
    s = Settings(
        azure_openai_api_key="main-key",
        database_url="postgresql+asyncpg://u:dbpass@h/db",
        resources=[AzureResource(name="swe", endpoint="https://x", api_key_env="SWE_KEY")],
    )
    assert {"main-key", "dbpass", "swe-key-123", "client-secret-456"} <= set(s.secret_values())
