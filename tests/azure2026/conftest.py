"""Fixtures shared by the 2026-Azure tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import RunningBot, start_bot
from tests.conftest import bot_settings


@pytest.fixture
async def arm_bot(emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The whole bot with a (static) Entra token for the emulator's ARM: it can read and delete deployments."""
    bot = await start_bot(bot_settings(emulator, tmp_path, azure_static_token="emulator-token-not-secret"))
    try:
        yield bot
    finally:
        await bot.close()
