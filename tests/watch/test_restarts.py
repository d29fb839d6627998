"""Acceptance (issue 10): exactly once across a kill -9 and across two replicas. The bots are real
`ftbot serve` processes, the emulator runs in its own process, every Slack call is counted at the stand-in."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.store import Store
from handlers.watcher import EXIT_AFTER_POSTS
from tests.slack.fake_slack_api import Call, FakeSlackApi
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
            # 50 subscription alerts in C0SUBS0001 plus 10 alerts where the 10 watched jobs were watched.
            # Waited for as such (it used to be "one alert per job, then 3 s": under load a watched job's
            # second alert or the last outbox release came later, and the test failed on a fixed sleep).
            expected = Counter({j: 2 if j in jobs[:10] else 1 for j in jobs})
            await wait_until(
                lambda: all(alerts_by_job(slack_api)[j] >= n for j, n in expected.items()), 90, "60 alerts"
            )
            rows = await _released(store, within=30)
        await store.close()
    owners = {str(r["lease_owner"]) for r in rows if r["lease_owner"]}
    assert not owners  # everything sent and released
    per_job = Counter()
    for job_id in jobs:
        per_job[job_id] = alerts_by_job(slack_api)[job_id]
    assert per_job == expected
    lines = event_lines(slack_api)
    assert lines and len(lines) == len(set(lines))


async def _released(store: Store, within: float) -> list[dict[str, Any]]:
    """The outbox rows once every one is sent and released (or after `within` seconds): from then on nothing
    is left to post, so a duplicate would already show."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = [dict(r) for r in await store.outbox_rows()]
        done = all(r["status"] == "sent" and not r["lease_owner"] for r in rows)
        if done or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.5)


def _metadata_key(call: Call) -> str | None:
    metadata = call.args.get("metadata") or {}
    return (
        (metadata.get("event_payload") or {}).get("key")
        if metadata.get("event_type") == "ftbot_outbox"
        else None
    )


async def _rows_once(url: str, key: str, status: str, within: float) -> dict[str, Any]:
    """The outbox rows by key, as soon as row `key` has `status` (or after `within` seconds)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        store = Store.open(url)
        try:
            rows = {r["dedupe_key"]: r for r in await store.outbox_rows()}
        finally:
            await store.close()
        if rows.get(key, {}).get("status") == status or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize(("crash_after", "op"), [("9", "thread"), ("1:post", "post")])
async def test_a_crash_between_a_send_and_its_record_repeats_nothing(
    db: str,
    crash_after: str,
    op: str,
    slack_api: FakeSlackApi,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The crash window made deterministic: the bot exits (as kill -9 would: no cleanup) right after Slack
    took its Nth outbox post (an event batch in a thread; a top-level alert) and before that post is marked
    sent. After a restart the row is found in the thread's replies or the channel's history by its metadata
    key, recorded as sent, and not posted again; everything else arrives once."""
    if db == "postgres":
        url = request.getfixturevalue("postgres_server")
        store = Store.open(url)
        async with store.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await store.close()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    async with emulator_process(speed=40, max_running_jobs=10, max_queued_jobs=10) as emu:
        jobs = await create_jobs(emu.url, 3)
        env = bot_env(emu, slack_api, url, **{EXIT_AFTER_POSTS: crash_after})
        async with bot_process(env, tmp_path / "bot.log") as bot:
            for job_id in jobs:
                await slash(bot.url, f"watch {job_id}")
            assert await bot.exited(60) == 70
            store = Store.open(url)
            try:
                (row,) = await store.outbox_rows("sending")
            finally:
                await store.close()
            key = str(row["dedupe_key"])
            assert row["payload"]["op"] == op
            # The post went out and was not recorded: exactly the window.
            assert [_metadata_key(c) for c in slack_api.posted()].count(key) == 1
            assert len(alerts_by_job(slack_api)) < len(jobs), "every job ended before the crash"
            looked = len(
                slack_api.called("conversations.history") + slack_api.called("conversations.replies")
            )
            del bot.env[EXIT_AFTER_POSTS]
            await bot.start()
            await wait_until(
                lambda: set(alerts_by_job(slack_api)) >= set(jobs), 60, "every alert after the restart"
            )
            # The interrupted row is taken up once the dead owner's lease runs out (the message it sent
            # may already be visible above): wait for its record, not for a fixed time.
            rows = await _rows_once(url, key, "sent", within=60)
    assert rows[key]["status"] == "sent"
    assert [_metadata_key(c) for c in slack_api.posted()].count(key) == 1
    assert len(slack_api.called("conversations.history") + slack_api.called("conversations.replies")) > looked
    keys = [k for k in map(_metadata_key, slack_api.posted()) if k]
    assert len(keys) == len(set(keys)), "an outbox row was posted twice"
    assert_once(slack_api, jobs)
