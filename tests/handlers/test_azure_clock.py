"""Card times on Azure's clock: the `Date` of Azure's last answer, not the bot host's clock. With the emulator
running hours ahead (its simulated clock), a job's card must not read "created" after it was "updated"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx

from bot.app import RunningBot
from bot.azure.transport import AzureTransport
from cards.views import epoch
from tests.handlers.test_jobs_flow import run, started_job


async def test_card_stamps_follow_azures_clock_not_the_hosts(running_bot: RunningBot, emulator: Any) -> None:
    emulator.advance(3 * 3600)  # Azure (the emulator) is now three hours ahead of this machine
    job_id = await started_job(running_bot, emulator)
    [reply] = await run(running_bot, f"status {job_id}")
    ahead = running_bot.ctx.azure_now() - datetime.now(UTC)
    assert ahead > timedelta(hours=2, minutes=59)
    created = epoch((await running_bot.ctx.azure.data().get_job(job_id)).created_at)
    assert created is not None
    updated = datetime.strptime(reply.card.footer, "Updated %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    assert updated >= created.replace(microsecond=0)  # never "updated" before it was created


def _transport_seeing(date: datetime) -> AzureTransport:
    t = AzureTransport("https://example.invalid", auth=None, api_version=None)  # type: ignore[arg-type]
    t._observe_date(httpx.Response(200, headers={"Date": format_datetime(date, usegmt=True)}))
    return t


def test_a_skewed_host_is_corrected_and_a_second_of_jitter_is_not() -> None:
    now = datetime.now(UTC)
    assert _transport_seeing(now + timedelta(minutes=7)).server_offset > timedelta(minutes=6)
    assert _transport_seeing(now + timedelta(seconds=1)).server_offset == timedelta(0)
    assert _transport_seeing(now - timedelta(hours=1)).server_offset < -timedelta(minutes=59)
