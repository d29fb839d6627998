"""Issue 8, data and money: a `start` never leaves an unrecorded job, a doubled job, or a job trained on
another user's data. The whole bot (real Bolt app over signed HTTP, real handlers, SQLite file) against the
emulator with faults injected through its admin API; only the Slack Web API is a stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.app import RunningBot, start_bot
from bot.azure.errors import BadRequest
from bot.store.intents import CREATED, FAILED, UNKNOWN
from handlers import reconcile
from tests.conftest import bot_settings
from tests.slack.conftest import BOT_TOKEN, assert_all_valid
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET
from tests.start_support import MODEL, Azure, eventually, fast_retries, heard, owner_of, slash, user_data

ALICE, BOB = ("U0ALICE001", "C0ALICE001"), ("U0BOB00001", "C0BOB00001")
CREATE = r"^POST .*/fine_tuning/jobs$"
LIST_JOBS = r"^GET .*/fine_tuning/jobs$"
UPLOAD = r"^POST .*/files$"


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(token=BOT_TOKEN) as fake:
        yield fake


async def _bot(slack_api: FakeSlackApi, emulator: Any, tmp_path: Path, **settings: Any) -> RunningBot:
    values: dict[str, Any] = {"reconcile_interval": 3600.0, "start_settle": 0.0}
    values.update(settings)
    bot = await start_bot(
        bot_settings(
            emulator,
            tmp_path,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack_api.api_url,
            **values,
        )
    )
    fast_retries(bot.ctx.azure.data())
    return bot


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The whole bot; its reconciler runs at start-up, then when a test calls it (interval: an hour)."""
    running = await _bot(slack_api, emulator, tmp_path)
    try:
        yield running
    finally:
        await running.close()
    assert_all_valid(slack_api)


@pytest.fixture
def azure(emulator: Any) -> Azure:
    return Azure(emulator.url)


async def _start(bot: RunningBot, slack: FakeSlackApi, who: tuple[str, str], file_id: str, tag: str) -> None:
    user, channel = who
    # Every chat file is called train.jsonl; each is uploaded by its user in their channel.
    slack.share_file(file_id, "train.jsonl", user_data(tag), user=user, channels=(channel,))
    assert await slash(bot.url, f"start {MODEL} --training {file_id}", user=user, channel=channel) == 200


async def _finish(bot: RunningBot) -> None:
    await bot.adapters["slack"].drain()


async def test_concurrent_starts_with_lost_upload_replies_never_swap_data(
    bot: RunningBot, slack_api: FakeSlackApi, azure: Azure
) -> None:
    """Both uploads are stored and both replies lost: each start recovers its own file by its unique name
    (the old recovery adopted the newest `train.jsonl` of the same size: one user's job on the other's data)."""
    await azure.faults(only=UPLOAD, drop_after=1.0)
    await asyncio.gather(
        _start(bot, slack_api, ALICE, "F0ALICE001", "AliceCo"),
        _start(bot, slack_api, BOB, "F0BOB00001", "BobCorp"),
    )
    await eventually(lambda: len(slack_api.called("chat.postMessage")) >= 2, what="two answers")
    await _finish(bot)
    state = await azure.state()
    assert state["faults"]["injected"]["dataplane.drop_after"] >= 2
    await azure.clear_faults()
    jobs = await azure.jobs()
    assert len(jobs) == 2 and len(await azure.files()) == 2  # no doubled job, no stray upload
    for job in jobs:
        stored = await bot.store.get_job(job["id"])
        assert stored is not None
        expected = {ALICE[0]: "AliceCo", BOB[0]: "BobCorp"}[stored.requested_by or ""]
        assert owner_of(await azure.content(job["training_file"])) == expected
        assert (
            stored.home_conversation
            == f"slack:{ {ALICE[0]: ALICE, BOB[0]: BOB}[stored.requested_by or ''][1] }"
        )
    for _, channel in (ALICE, BOB):
        assert len([text for text in heard(slack_api, channel) if "ftjob-" in text]) == 1


async def test_ambiguous_create_keeps_the_files_then_tells_that_no_job_was_made(
    bot: RunningBot, slack_api: FakeSlackApi, azure: Azure
) -> None:
    """The create gets a 503 and the listing that would tell whether it happened fails too."""
    await azure.faults(only=CREATE, error=1.0)
    await azure.faults(only=LIST_JOBS, error=1.0)
    await _start(bot, slack_api, ALICE, "F0ALICE001", "AliceCo")
    await eventually(lambda: bool(heard(slack_api, ALICE[1])), what="an answer")
    await _finish(bot)
    [answer] = heard(slack_api, ALICE[1])
    [kept] = await azure.files()
    assert "may have been created" in answer and kept["id"] in answer and "/ft list" in answer
    assert "Traceback" not in answer
    [intent] = await bot.store.intents()
    assert intent.state == UNKNOWN and intent.training_file == kept["id"]
    assert kept["filename"] == f"ftbot-{intent.id}-training.jsonl"

    await reconcile.reconcile_starts(bot.ctx)  # Azure still cannot say: nothing decided, nothing deleted
    assert len(heard(slack_api, ALICE[1])) == 1 and len(await azure.files()) == 1

    await azure.clear_faults()
    await reconcile.reconcile_starts(bot.ctx)
    await reconcile.reconcile_starts(bot.ctx)  # a second round tells nobody twice
    told = heard(slack_api, ALICE[1])[1:]
    assert len(told) == 1 and "No job was started" in told[0] and "I removed them" in told[0]
    assert await azure.files() == [] and await azure.jobs() == []
    [intent] = await bot.store.intents()
    assert intent.state == FAILED and intent.notice == "told"


async def test_ambiguous_create_that_did_happen_is_recorded_and_announced_once(
    bot: RunningBot, slack_api: FakeSlackApi, azure: Azure
) -> None:
    """Azure created the job, the reply was lost, and the check listing failed: the user hears "may have
    been created"; the reconciler then finds the job by its unique training file and records it (watched,
    home conversation) and posts its card, once."""
    await azure.faults(only=CREATE, drop_after=1.0)
    await azure.faults(only=LIST_JOBS, error=1.0)
    await _start(bot, slack_api, ALICE, "F0ALICE001", "AliceCo")
    await eventually(lambda: bool(heard(slack_api, ALICE[1])), what="an answer")
    await _finish(bot)
    assert "may have been created" in heard(slack_api, ALICE[1])[0]
    await azure.clear_faults()
    [job] = await azure.jobs()
    assert await bot.store.get_job(job["id"]) is None  # not known yet: this is what used to be lost

    await reconcile.reconcile_starts(bot.ctx)
    await reconcile.reconcile_starts(bot.ctx)
    stored = await bot.store.get_job(job["id"])
    assert stored is not None and stored.watch and stored.home_conversation == f"slack:{ALICE[1]}"
    assert stored.requested_by == ALICE[0]
    told = heard(slack_api, ALICE[1])[1:]
    assert len(told) == 1 and job["id"] in told[0] and "Azure created the job" in told[0]
    [kept] = await azure.files()  # the job's data stays
    assert kept["id"] == job["training_file"]
    [intent] = await bot.store.intents()
    assert intent.state == CREATED and intent.job_id == job["id"]
    assert await bot.store.find_message(f"job:{job['id']}", f"slack:{ALICE[1]}") is not None


async def test_refused_create_with_throttled_deletes_says_so_and_cleans_up_in_the_background(
    slack_api: FakeSlackApi, emulator: Any, azure: Azure, tmp_path: Path
) -> None:
    bot = await _bot(slack_api, emulator, tmp_path, reconcile_interval=0.2)
    try:
        emulator.state.config.max_total_jobs = 0  # Azure refuses the create: quotaExceeded
        await azure.faults(only=r"^DELETE .*/files/", throttle=1.0, retry_after=120)
        await _start(bot, slack_api, ALICE, "F0ALICE001", "AliceCo")
        await eventually(lambda: bool(heard(slack_api, ALICE[1])), what="an answer")
        await _finish(bot)
        [answer] = heard(slack_api, ALICE[1])
        [left] = await azure.files()
        assert "keep trying in the background" in answer and left["id"] in answer
        [pending] = await bot.store.pending_deletions()
        assert pending.file_id == left["id"]
        await azure.clear_faults()
        await eventually(azure_is_empty(azure), what="the upload deleted by the background retry")
        await eventually(lambda: _no_pending(bot), what="the deletion forgotten")
    finally:
        await bot.close()


def azure_is_empty(azure: Azure) -> Any:
    async def check() -> bool:
        return await azure.files() == []

    return check


async def _no_pending(bot: RunningBot) -> bool:
    return await bot.store.pending_deletions() == []


async def test_store_failure_after_the_create_still_posts_the_card_and_records_later(
    bot: RunningBot, slack_api: FakeSlackApi, azure: Azure, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bot.store.record_job
    failures = 2

    async def flaky(*args: Any, **kwargs: Any) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise OperationalError("INSERT INTO jobs", {}, Exception("database is locked"))
        await real(*args, **kwargs)

    monkeypatch.setattr(bot.store, "record_job", flaky)
    await _start(bot, slack_api, ALICE, "F0ALICE001", "AliceCo")
    await eventually(lambda: bool(heard(slack_api, ALICE[1])), what="an answer")
    await _finish(bot)
    [job] = await azure.jobs()
    [card] = heard(slack_api, ALICE[1])
    assert job["id"] in card and "Refresh" in card
    await eventually(lambda: _recorded(bot, job["id"]), what="the job recorded by the background retry")
    [intent] = await bot.store.intents()
    assert intent.state == CREATED and len(await azure.files()) == 1


async def _recorded(bot: RunningBot, job_id: str) -> bool:
    return await bot.store.get_job(job_id) is not None


async def test_shutdown_while_the_create_is_in_flight_is_settled_at_the_next_start(
    slack_api: FakeSlackApi, emulator: Any, azure: Azure, tmp_path: Path
) -> None:
    """SIGTERM's path (the adapter gives work 3 s, then cancels it) while Azure is still answering a create
    it has already carried out: nothing is deleted; the restarted bot records the job and tells the user."""
    bot = await _bot(slack_api, emulator, tmp_path)
    try:
        await azure.faults(only=CREATE, latency_after_ms=4000)
        await _start(bot, slack_api, ALICE, "F0ALICE001", "AliceCo")
        await eventually(lambda: emulator.state.counters["jobs.created"] == 1, what="the create carried out")
    finally:
        await bot.close()
    await azure.clear_faults()
    assert len(await azure.files()) == 1 and heard(slack_api, ALICE[1]) == []
    again = await _bot(slack_api, emulator, tmp_path)  # same SQLite file: the start-up round settles it
    try:
        await eventually(lambda: bool(heard(slack_api, ALICE[1])), what="the outcome told")
        [job] = await azure.jobs()
        [told] = heard(slack_api, ALICE[1])
        assert job["id"] in told
        stored = await again.store.get_job(job["id"])
        assert stored is not None and stored.home_conversation == f"slack:{ALICE[1]}"
        assert [i.state for i in await again.store.intents()] == [CREATED]
    finally:
        await again.close()


async def test_a_failed_start_whose_cleanup_is_refused_says_the_files_will_go(
    slack_api: FakeSlackApi, emulator: Any, azure: Azure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second upload is refused, and so is deleting the first: the answer says it will still be removed,
    and the background retry removes it."""
    bot = await _bot(slack_api, emulator, tmp_path, reconcile_interval=0.2)
    try:
        client = bot.ctx.azure.data()
        real_upload = client.upload_file
        calls = 0

        async def second_refused(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise BadRequest("the second upload is refused", code="invalidPayload", status=400)
            return await real_upload(*args, **kwargs)

        monkeypatch.setattr(client, "upload_file", second_refused)
        await azure.faults(only=r"^DELETE .*/files/", throttle=1.0, retry_after=120)
        alice = {"user": ALICE[0], "channels": (ALICE[1],)}
        slack_api.share_file("F0ALICE001", "train.jsonl", user_data("AliceCo"), **alice)
        slack_api.share_file("F0ALICE002", "valid.jsonl", user_data("AliceCo"), **alice)
        text = f"start {MODEL} --training F0ALICE001 --validation F0ALICE002"
        assert await slash(bot.url, text, user=ALICE[0], channel=ALICE[1]) == 200
        await eventually(lambda: bool(heard(slack_api, ALICE[1])), what="an answer")
        await _finish(bot)
        [answer] = heard(slack_api, ALICE[1])
        [left] = await azure.files()
        assert "second upload is refused" in answer and left["id"] in answer and "keep trying" in answer
        await azure.clear_faults()
        await eventually(azure_is_empty(azure), what="the upload deleted by the background retry")
        assert await azure.jobs() == []
    finally:
        await bot.close()


async def test_ambiguous_create_answered_with_the_versioned_model_is_recorded_once(
    bot: RunningBot, slack_api: FakeSlackApi, azure: Azure, emulator: Any
) -> None:
    """Started on the family name `gpt-4o-mini`; Azure names the job by the version it resolved. The crash
    recovery still finds the job this start made (it used to miss it, say no job was started and delete its
    training file from under a running job)."""
    await azure.faults(only=CREATE, drop_after=1.0)
    await azure.faults(only=LIST_JOBS, error=1.0)
    user, channel = ALICE
    slack_api.share_file("F0ALICE001", "train.jsonl", user_data("AliceCo"), user=user, channels=(channel,))
    assert await slash(bot.url, "start gpt-4o-mini --training F0ALICE001", user=user, channel=channel) == 200
    await eventually(lambda: bool(heard(slack_api, channel)), what="an answer")
    await _finish(bot)
    assert "may have been created" in heard(slack_api, channel)[0], heard(slack_api, channel)
    await azure.clear_faults()
    [job] = await azure.jobs()
    emulator.state.default_account.jobs[job["id"]].model = MODEL  # the answer Azure may give

    await reconcile.reconcile_starts(bot.ctx)
    stored = await bot.store.get_job(job["id"])
    assert stored is not None and stored.requested_by == user
    told = heard(slack_api, channel)[1:]
    assert len(told) == 1 and job["id"] in told[0] and "Azure created the job" in told[0], told
    assert [f["id"] for f in await azure.files()] == [job["training_file"]]
    [intent] = await bot.store.intents()
    assert intent.state == CREATED and intent.job_id == job["id"]
