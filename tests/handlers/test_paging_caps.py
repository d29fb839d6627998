"""Every verb that pages Azure reads a bounded number of pages and says in chat what it did not read.

10,000 jobs are put straight into the emulator's state (a copy of one real cancelled job each, one minute
apart), then the verbs run through the dispatcher against it over HTTP; the emulator counts the list pages
it served."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import RunningBot, start_bot
from bot.azure.paging import Scan
from emulator import datasets
from emulator.ids import new_id
from tests.conftest import bot_settings
from tests.handlers.test_jobs_flow import ALICE, card_text, run

MANY = 10_000


@pytest.fixture
async def operator_bot(emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    bot = await start_bot(bot_settings(emulator, tmp_path, roles={"operators": [ALICE.id]}))
    try:
        yield bot
    finally:
        await bot.close()


async def many_jobs(bot: RunningBot, emu: Any, count: int = MANY) -> float:
    """`count` finished (cancelled) jobs, newest created now-ish, one minute apart; returns the oldest's
    creation time."""
    client = bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    emu.advance(60)
    job = await client.create_job("gpt-4o-mini-2024-07-18", train.id, seed=1)
    await client.cancel_job(job.id)
    emu.advance(600)
    account = emu.state.default_account
    template = account.jobs.pop(job.id)
    assert template.status == "cancelled"
    newest = template.created_at
    for i in range(count - 1, -1, -1):  # oldest first: the emulator lists in reverse insertion order
        clone = copy.copy(template)
        clone.id = new_id("ftjob")
        clone.created_at = newest - i * 60
        clone.events = []
        account.jobs[clone.id] = clone
    return newest - (count - 1) * 60


def pages(emu: Any, kind: str) -> int:
    return int(emu.state.counters[kind])


async def test_list_all_by_a_status_nothing_has_reads_20_pages_not_200_and_says_so(
    operator_bot: RunningBot, emulator: Any
) -> None:
    await many_jobs(operator_bot, emulator)
    before = pages(emulator, "jobs.list")
    [reply] = await run(operator_bot, "list --all --status failed")
    assert pages(emulator, "jobs.list") - before == 20  # 50 a page, FTBOT_AZURE_LIST_PAGES=20
    text = card_text(reply)
    assert "No jobs match status=failed" in text
    assert "Searched the newest 1,000 jobs (back to " in text
    assert "older ones were not read" in text
    assert "`--since YYYY-MM-DD`" in text and "`--resource`" in text


async def test_since_stops_at_the_day_and_then_nothing_is_left_unread(
    operator_bot: RunningBot, emulator: Any
) -> None:
    await many_jobs(operator_bot, emulator)
    newest = max(j.created_at for j in emulator.state.default_account.jobs.values())
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d")
    before = pages(emulator, "jobs.list")
    [reply] = await run(operator_bot, f"list --all --status failed --since {day}")
    read = pages(emulator, "jobs.list") - before
    # At most a day of jobs one minute apart (1,440, under 30 pages), stopping at the first older job.
    assert 1 <= read <= 20
    text = card_text(reply)
    assert f"since={day}" in text
    if read < 20:
        assert "Searched the newest" not in text


async def test_a_matching_job_beyond_the_bound_is_not_claimed_as_absent(
    operator_bot: RunningBot, emulator: Any
) -> None:
    """A found job shows without the note; the bound counts pages, not matches."""
    await many_jobs(operator_bot, emulator, count=300)
    before = pages(emulator, "jobs.list")
    [reply] = await run(operator_bot, "list --all --status cancelled --limit 5")
    assert pages(emulator, "jobs.list") - before == 1
    text = card_text(reply)
    assert "Showing 5 jobs" in text and "Searched the newest" not in text


async def test_deploy_by_a_model_name_nobody_has_is_a_bounded_search(
    operator_bot: RunningBot, emulator: Any
) -> None:
    await many_jobs(operator_bot, emulator)
    before = pages(emulator, "jobs.list")
    [reply] = await run(operator_bot, "deploy gpt-4o-mini-2024-07-18.ft-nobody-has-this")
    assert pages(emulator, "jobs.list") - before == 20
    text = card_text(reply)
    assert "was found among the succeeded (and paused) jobs" in text
    assert "Searched the newest 1,000 jobs" in text


async def test_quota_on_a_crowded_resource_says_its_job_counts_are_a_floor(
    emulator: Any, tmp_path: Path
) -> None:
    settings = bot_settings(emulator, tmp_path, roles={"operators": [ALICE.id]}, azure_list_pages=3)
    bot = await start_bot(settings)
    try:
        await many_jobs(bot, emulator, count=1_000)
        before = pages(emulator, "jobs.list")
        [reply] = await run(bot, "quota")
        assert pages(emulator, "jobs.list") - before == 3  # 100 a page
        text = card_text(reply)
        assert "Searched the newest 300 jobs" in text and "The job counts are at least these." in text
    finally:
        await bot.close()


async def test_a_slow_service_is_bounded_by_time_too(operator_bot: RunningBot, emulator: Any) -> None:
    await many_jobs(operator_bot, emulator)
    client = operator_bot.ctx.azure.data()
    scan = Scan(max_pages=None, max_seconds=0.0)  # every page after the first is over time
    found = [j async for j in client.jobs(status="failed", limit=50, scan=scan)]
    assert found == [] and scan.pages == 1 and scan.truncated and scan.items == 50


async def test_every_pager_is_bounded_without_a_scan(operator_bot: RunningBot, emulator: Any) -> None:
    """Callers that pass no scan (recovery look-ups, charts) get the client's bound from the settings."""
    await many_jobs(operator_bot, emulator)
    client = operator_bot.ctx.azure.data()
    before = pages(emulator, "jobs.list")
    assert [j async for j in client.jobs(status="failed", limit=20)] == []
    assert pages(emulator, "jobs.list") - before == 20


def test_the_note_says_how_much_and_how_far_back() -> None:
    scan = Scan(max_pages=1)
    assert scan.may_fetch()
    scan.page_read()
    for t in (1_790_000_000, 1_789_990_000):
        scan.saw(t)
    assert scan.note("jobs") == ""  # not truncated yet
    assert not scan.may_fetch()
    assert scan.note("jobs", "Narrow it.") == (
        "Searched the newest 2 jobs (back to 2026-09-21 11:26 UTC); older ones were not read. Narrow it."
    )
