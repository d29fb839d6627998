"""Acceptance (issue 10): exactly once across a kill -9 and across two replicas. The bots are real
`ftbot serve` processes, the emulator runs in its own process, every Slack call is counted at the stand-in."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store import Store
from tests.slack.fake_slack_api import FakeSlackApi
from tests.watch.harness import (
    alerts_by_job,
    bot_env,
    bot_process,
    create_jobs,
    emulator_process,
    event_lines,
    is_job_card,
    slash,
    wait_until,
)


def assert_once(slack: FakeSlackApi, jobs: list[str]) -> None:
    assert alerts_by_job(slack) == Counter(dict.fromkeys(jobs, 1))
    lines = event_lines(slack)
    doubled = [line for line, n in Counter(lines).items() if n > 1]
    assert not doubled, f"event lines posted twice: {doubled[:3]}"


async def test_kill_9_and_restart_delivers_every_alert_once(slack_api: FakeSlackApi, tmp_path: Path) -> None:
    async with emulator_process(speed=40, max_running_jobs=20, max_queued_jobs=40) as emu:
        jobs = await create_jobs(emu.url, 20)
        env = bot_env(emu, slack_api, f"sqlite+aiosqlite:///{tmp_path}/bot.db")
        async with bot_process(env, tmp_path / "bot.log") as bot:
            for job_id in jobs:
                await slash(bot.url, f"watch {job_id}")
            await wait_until(
                lambda: sum(is_job_card(c) for c in slack_api.posted()) >= 20, 30, "20 job cards"
            )
            await wait_until(lambda: len(event_lines(slack_api)) >= 40, 30, "events streaming")
            assert len(alerts_by_job(slack_api)) < 20, "every job ended before the kill: nothing tested"
            await bot.kill()
            before = len(slack_api.posted())
            await asyncio.sleep(1)
            await bot.start()  # same database: the leases of the dead process run out, then its work moves on
            await wait_until(
                lambda: set(alerts_by_job(slack_api)) >= set(jobs), 60, "20 alerts after the restart"
            )
            await asyncio.sleep(2)
        assert len(slack_api.posted()) > before
        assert_once(slack_api, jobs)


@pytest.mark.postgres
async def test_two_replicas_on_one_postgres_alert_each_job_once(
    slack_api: FakeSlackApi, tmp_path: Path, postgres_server: str
) -> None:
    store = Store.open(postgres_server)
    async with store.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await store.upgrade()
    async with emulator_process(speed=60, max_running_jobs=50, max_queued_jobs=60) as emu:
        env = bot_env(emu, slack_api, postgres_server)
        async with bot_process(env, tmp_path / "a.log") as a, bot_process(env, tmp_path / "b.log") as b:
            await slash(a.url, "subscribe", channel="C0SUBS0001")
            await wait_until(lambda: len(slack_api.posted()) >= 1, 10, "the subscription")
            jobs = await create_jobs(emu.url, 50)
            for i, job_id in enumerate(jobs[:10]):
                await slash((a, b)[i % 2].url, f"watch {job_id}")
            await wait_until(lambda: set(alerts_by_job(slack_api)) >= set(jobs), 90, "50 alerts")
            await asyncio.sleep(3)
        rows = await store.outbox_rows()
        await store.close()
    owners = {str(r["lease_owner"]) for r in rows if r["lease_owner"]}
    assert not owners  # everything sent and released
    # 50 subscription alerts in C0SUBS0001 plus 10 alerts where the 10 watched jobs were watched.
    per_job = Counter()
    for job_id in jobs:
        per_job[job_id] = alerts_by_job(slack_api)[job_id]
    assert per_job == Counter({j: 2 if j in jobs[:10] else 1 for j in jobs})
    lines = event_lines(slack_api)
    assert lines and len(lines) == len(set(lines))
