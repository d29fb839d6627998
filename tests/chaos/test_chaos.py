"""Issue 8 acceptance: 20 starts from several users, 20% random Azure faults on every data-plane call, and
the bot killed (kill -9) twice in the middle: once while uploads are landing, once while jobs are being
created. Afterwards every job in Azure is recorded by the bot for exactly the user who asked, trained on
exactly that user's data; no file is left that no job uses; every start's conversation was told an outcome
(a job card, or why no job was started), and no conversation got two jobs."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.intents import DUE, OPEN_STATES
from tests.chaos.harness import BotProcess, emulator_process
from tests.slack.conftest import BOT_TOKEN
from tests.slack.fake_slack_api import FakeSlackApi
from tests.start_support import MODEL, Azure, eventually, heard, owner_of, slash, user_data

USERS = ("U0CHAOS0U0", "U0CHAOS0U1", "U0CHAOS0U2", "U0CHAOS0U3")
STARTS = 20
FAULTS = {"throttle": 0.05, "error": 0.05, "drop": 0.05, "drop_after": 0.05, "retry_after": 0.2}
INTERIM = "may have been created"


def user_of(n: int) -> str:
    return USERS[n % len(USERS)]


def channel_of(n: int) -> str:
    return f"C0CHAOS{n:03d}"


def tag_of(n: int) -> str:
    return f"St{n:02d}-U{n % len(USERS)}"  # 7 characters: the data of start n, by its user


async def _fire(bot: BotProcess, slack: FakeSlackApi, numbers: range) -> None:
    async def one(n: int) -> None:
        file_id = f"F0CHAOS{n:03d}"
        # Uploaded by that user in that channel: the bot reads a Slack file only for someone who may see it.
        slack.share_file(
            file_id, "train.jsonl", user_data(tag_of(n)), user=user_of(n), channels=(channel_of(n),)
        )
        text = f"start {MODEL} --training {file_id}"
        assert await slash(bot.url, text, user=user_of(n), channel=channel_of(n)) == 200

    await asyncio.gather(*(one(n) for n in numbers))


async def _counter(azure_url: str, name: str) -> int:
    return int((await Azure(azure_url).state())["counters"].get(name, 0))


def _final(texts: list[str]) -> bool:
    """The conversation's last word is an outcome (not the interim "may have been created")."""
    return bool(texts) and INTERIM not in texts[-1]


async def _settled(store: Store, slack: FakeSlackApi) -> bool:
    if not all(_final(heard(slack, channel_of(n))) for n in range(STARTS)):
        return False
    intents = await store.intents()
    if len(intents) < STARTS or any(i.state in OPEN_STATES or i.notice == DUE for i in intents):
        return False
    return await store.pending_deletions() == []


@pytest.mark.slow
async def test_twenty_starts_with_faults_and_two_kills(tmp_path: Path) -> None:
    async with emulator_process(tmp_path) as azure_url, FakeSlackApi(token=BOT_TOKEN) as slack:
        azure = Azure(azure_url)
        bot = BotProcess(tmp_path, azure_url, slack.api_url, reconcile_interval="0.5", start_settle="1")
        await bot.start()
        store = Store.open(bot.database_url)
        try:
            await azure.faults(**FAULTS, latency_ms=20)

            async def recorded(count: int) -> bool:
                return len(await store.intents()) >= count

            # 1. Eight starts; kill -9 while their uploads are landing.
            await _fire(bot, slack, range(0, 8))
            await eventually(lambda: recorded(8), what="8 starts recorded")
            await eventually(lambda: _at_least(azure_url, "files.upload", 3), what="uploads landing")
            await bot.kill(signal.SIGKILL)
            await bot.start()
            # 2. Six more; kill -9 while jobs are being created.
            creates = await _counter(azure_url, "jobs.create")
            await _fire(bot, slack, range(8, 14))
            await eventually(lambda: recorded(14), what="14 starts recorded")
            await eventually(
                lambda: _at_least(azure_url, "jobs.create", creates + 2), what="creates on the wire"
            )
            await bot.kill(signal.SIGKILL)
            await bot.start()
            # 3. The last six, then everything settles (the faults stay on).
            await _fire(bot, slack, range(14, STARTS))
            await eventually(lambda: _settled(store, slack), within=90, what="every start settled and told")
            injected = (await azure.state())["faults"]["injected"]
            await azure.clear_faults()

            jobs = {j["id"]: j for j in await azure.jobs()}
            files = {f["id"] for f in await azure.files()}
            owners: dict[str, int] = {}
            for n in range(STARTS):
                texts = heard(slack, channel_of(n))
                job_ids = {j for j in jobs if any(j in t for t in texts)}
                assert len(job_ids) <= 1, f"start {n} was shown two jobs: {job_ids}"
                for job_id in job_ids:
                    owners[job_id] = n
            for job_id, job in jobs.items():
                stored = await store.get_job(job_id)
                assert stored is not None, f"unknown job {job_id}"
                n = owners.get(job_id)
                assert n is not None, f"nobody was shown job {job_id}"
                assert (
                    stored.requested_by == user_of(n) and stored.home_conversation == f"slack:{channel_of(n)}"
                )
                assert owner_of(await azure.content(job["training_file"])) == tag_of(n), (
                    "trained on other data"
                )
            assert files == {j["training_file"] for j in jobs.values()}, "files no job uses were left"
            outcomes = [_last_words(slack, channel_of(n)) for n in range(STARTS)]
            print(
                f"\n{len(jobs)} jobs from {STARTS} starts; faults injected: {json.dumps(injected, sort_keys=True)}"
                f"\noutcomes: {json.dumps(sorted(outcomes))}"
            )
            assert sum(injected.values()) > 0
        finally:
            await store.close()
            await bot.stop()
        assert "Traceback" not in bot.logs()


async def _at_least(azure_url: str, counter: str, value: int) -> bool:
    return await _counter(azure_url, counter) >= value


def _last_words(slack: FakeSlackApi, channel: str) -> str:
    """The notification text of the last message in `channel`, for the printed summary."""
    said = [str(m.get("text", "")) for m in slack.messages() if m.get("channel") == channel]
    return said[-1][:50] if said else ""
