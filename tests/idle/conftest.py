"""Idle guard fixtures: the emulator in its own process and the stand-in Slack API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.deploy.support import EmulatorProcess, emulator_process
from tests.slack.conftest import slack_api  # noqa: F401  (fixture)


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorProcess]:
    async with emulator_process() as running:
        yield running
