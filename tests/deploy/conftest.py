"""Deploy acceptance fixtures: the emulator in its own process, the stand-in Slack API and Bot Connector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.deploy.support import SOURCE_TENANT, EmulatorProcess, emulator_process
from tests.slack.conftest import BOT_TOKEN, slack_api  # noqa: F401  (fixture)
from tests.teams.conftest import connector  # noqa: F401  (fixture)

__all__ = ["BOT_TOKEN"]


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorProcess]:
    async with emulator_process(extra_accounts=(f"other-aoai:{SOURCE_TENANT}",)) as running:
        yield running
