"""Decisions the wiring makes from settings: which endpoints exist, whether local files are allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import _mount_adapters, start_bot
from bot.config import Settings
from bot.notifier import Notifier
from tests.conftest import bot_settings


def routes(app: web.Application) -> set[str]:
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


@pytest.mark.parametrize(
    ("host", "app_id", "teams_on"),
    [
        ("127.0.0.1", "", True),  # local use: the Bot Framework Emulator, no credentials
        ("localhost", "", True),
        ("0.0.0.0", "", False),  # reachable by others and nothing would authenticate requests
        ("0.0.0.0", "00000000-0000-0000-0000-000000000001", True),
    ],
)
def test_teams_endpoint_needs_credentials_unless_on_loopback(host: str, app_id: str, teams_on: bool) -> None:
    app = web.Application()
    settings = Settings(host=host, microsoft_app_id=app_id)
    mounted = _mount_adapters(app, settings, dispatcher=None, store=None, notifier=Notifier())  # type: ignore[arg-type]
    assert ("/api/messages" in routes(app)) is teams_on
    assert ("teams" in mounted) is teams_on


async def test_local_files_only_for_a_bot_nobody_else_can_reach(tmp_path: Path, emulator: Any) -> None:
    local = await start_bot(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db", port=0))
    try:
        assert local.ctx.local_files, "embedded default with no chat platform: local use"
    finally:
        await local.close()
    shared = await start_bot(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/b.db",
            port=0,
            slack_bot_token="xoxb-test",
            slack_signing_secret="s",
            slack_api_url="http://127.0.0.1:9/api/",
        )
    )
    try:
        assert not shared.ctx.local_files, "a Slack workspace must not read files on the bot's machine"
    finally:
        await shared.close()
    configured = await start_bot(bot_settings(emulator, tmp_path, allow_local_files=True))
    try:
        assert configured.ctx.local_files
    finally:
        await configured.close()


async def test_large_bodies_are_refused_before_anyone_reads_them(running_bot: Any) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{running_bot.url}/api/messages",
            content=b"x" * (5 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413


async def test_with_an_endpoint_configured_the_emulator_never_starts(running_bot: Any) -> None:
    assert running_bot.settings.azure_openai_endpoint is not None
    assert running_bot.emulator is None
    assert running_bot.ctx.azure.emulator is False


async def test_with_no_endpoint_the_embedded_emulator_runs_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="ftbot")
    bot = await start_bot(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/e.db", port=0))
    try:
        assert bot.emulator is not None
        assert bot.settings.azure_openai_endpoint == bot.emulator.url
        assert "using the embedded emulator" in caplog.text
    finally:
        await bot.close()


async def test_the_bound_address_decides_not_the_setting(tmp_path: Path, emulator: Any) -> None:
    # Settings say a public interface, the bot is told to bind loopback: Teams stays available locally.
    settings = bot_settings(emulator, tmp_path, host="0.0.0.0")
    bot = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        assert "teams" in bot.adapters and bot.settings.host == "127.0.0.1"
    finally:
        await bot.close()
