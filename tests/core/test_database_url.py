"""A database URL whose password holds `%`, `@`, `:`, `/` ... starts the bot (Alembic's config interpolation
once stopped start-up on `%`), and no form of that password is ever printed, whatever fails at start."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.app import open_store
from bot.cli import main
from bot.config import Settings, load_settings
from bot.logs import RedactingFilter

PASSWORD = "p%40ss:w@rd/100%?#"  # a literal `%40`, and every character a URL treats specially
ENCODED = quote(PASSWORD, safe="")


def leaked(text: str) -> list[str]:
    return [form for form in (PASSWORD, ENCODED, "p%40ss", "w@rd", "100%") if form in text]


async def test_a_percent_in_the_url_does_not_stop_the_migrations(tmp_path: Path) -> None:
    (tmp_path / "data%").mkdir()  # `%25` in the URL; Alembic reads `%2` as interpolation unless escaped
    store = await open_store(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/data%25/ftbot.db"))
    try:
        assert await store.ping()
    finally:
        await store.close()


def test_every_form_of_the_password_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+asyncpg://ftbot:{ENCODED}@db.example:5432/ftbot"
    settings = load_settings(database_url=url)
    redacted = RedactingFilter(settings.secret_values()).redact(
        f"cannot connect to {url} (password {PASSWORD!r}, {ENCODED})"
    )
    assert leaked(redacted) == []
    assert "db.example:5432/ftbot" in redacted


def test_a_failed_start_prints_no_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 9: the start fails with the database named in the message.
    monkeypatch.setenv("FTBOT_DATABASE_URL", f"postgresql+asyncpg://ftbot:{ENCODED}@127.0.0.1:9/ftbot")
    monkeypatch.setattr("bot.cli.setup_logging", lambda *a, **k: RedactingFilter())  # keep pytest's handlers
    with caplog.at_level(logging.DEBUG):
        code = main(["db", "upgrade"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot start" in err and "127.0.0.1:9" in err
    assert leaked(err) == []
    assert leaked(caplog.text) == []


def test_a_bad_setting_next_to_the_url_prints_no_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FTBOT_DATABASE_URL", f"mysql://ftbot:{ENCODED}@db/ftbot")
    monkeypatch.setenv("FTBOT_PORT", f"not-a-port-{ENCODED}")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "FTBOT_PORT" in err
    assert leaked(err) == []


@pytest.mark.postgres
def test_postgresql_with_such_a_password_starts(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncpg

    role = f"ftbot_pw_{uuid.uuid4().hex[:8]}"
    base, _, database = postgres_server.rpartition("/")
    admin = postgres_server.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def as_admin(*sql: str) -> None:
        conn = await asyncpg.connect(admin, timeout=5)
        try:
            for statement in sql:
                await conn.execute(statement)
        finally:
            await conn.close()

    literal = PASSWORD.replace("'", "''")
    asyncio.run(
        as_admin(
            # An empty schema, whatever earlier tests of this session left there (tables the role may not read).
            "DROP SCHEMA public CASCADE",
            "CREATE SCHEMA public",
            f"CREATE ROLE {role} LOGIN PASSWORD '{literal}'",
            f"GRANT ALL ON SCHEMA public TO {role}",
            f'GRANT CREATE ON DATABASE "{database}" TO {role}',
        )
    )
    host = base.split("@", 1)[1]
    monkeypatch.setenv("FTBOT_DATABASE_URL", f"postgresql+asyncpg://{role}:{ENCODED}@{host}/{database}")
    try:
        assert main(["db", "upgrade"]) == 0, capsys.readouterr().err
    finally:
        asyncio.run(
            as_admin(
                "DROP SCHEMA public CASCADE",
                "CREATE SCHEMA public",
                f"DROP OWNED BY {role}",
                f"DROP ROLE {role}",
            )
        )
    assert leaked(capsys.readouterr().err) == []
    assert os.environ["FTBOT_DATABASE_URL"].endswith(database)
