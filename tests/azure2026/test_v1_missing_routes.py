"""A v1 resource (`api_version = "v1"`) has no `POST files/import` and no `DELETE fine_tuning/jobs/{id}`
(the emulator answers 404 there, as Azure does). The real handlers against the real emulator, through a
recording proxy: a URL's data is uploaded from the checked copy instead of imported, and `cleanup` deletes the
files, says plainly that the job and its model stay, and never sends the DELETE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from bot.app import RunningBot, start_bot
from emulator import datasets
from tests.azure2026.recording import recording_proxy, v1_resource
from tests.conftest import bot_settings
from tests.handlers.test_jobs_flow import card_text, run
from tests.support import datasets_app, serve

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
async def v1(emulator: Any, tmp_path: Path) -> AsyncIterator[tuple[RunningBot, list[tuple[str, URL]]]]:
    """The bot on a v1 resource (`FTBOT_AZURE_API_VERSION=v1`), and what went over the wire to Azure."""
    seen: list[tuple[str, URL]] = []
    async with recording_proxy(emulator.url, seen) as proxy:
        settings = bot_settings(
            emulator,
            tmp_path,
            azure_openai_endpoint=proxy,
            azure_api_version="v1",
            azure_static_token="emulator-token-not-secret",
        )
        bot = await start_bot(settings)
        bot.ctx.local_files = True  # the test's file server is on loopback http
        try:
            yield bot, seen
        finally:
            await bot.close()


def files_in_azure(emu: Any) -> dict[str, Any]:
    return dict(emu.state.default_account.files)


async def test_a_url_on_v1_is_uploaded_from_the_checked_copy(
    v1: tuple[RunningBot, list[tuple[str, URL]]], emulator: Any
) -> None:
    bot, seen = v1
    async with serve(datasets_app()) as blob:
        [reply] = await run(bot, f"start {MODEL} --training {blob}/good_training.jsonl")
    assert (reply.card.key or "").startswith("job:ftjob-"), card_text(reply)
    assert "24 training examples checked" in card_text(reply), card_text(reply)
    assert not [u for _, u in seen if u.path.endswith("/files/import")], "no import on v1"
    assert [u.path for m, u in seen if m == "POST" and u.path.endswith("/files")] == ["/openai/v1/files"]
    assert emulator.state.counters["files.import"] == 0 and emulator.state.counters["files.upload"] == 1
    [uploaded] = files_in_azure(emulator).values()
    assert uploaded.content == datasets.path("good_training").read_bytes()
    job = await bot.ctx.azure.data().get_job(reply.card.key.removeprefix("job:"))
    assert job.training_file == uploaded.id


async def test_a_bad_url_on_v1_is_refused_before_anything_is_uploaded(
    v1: tuple[RunningBot, list[tuple[str, URL]]], emulator: Any
) -> None:
    bot, seen = v1
    async with serve(datasets_app()) as blob:
        [reply] = await run(bot, f"start {MODEL} --training {blob}/invalid_jsonl.jsonl")
    assert not (reply.card.key or "").startswith("job:"), card_text(reply)
    assert not [u for m, u in seen if m == "POST"], "invalid data never leaves the bot"
    assert files_in_azure(emulator) == {} and emulator.state.counters["jobs.create"] == 0


async def _finished_job(bot: RunningBot, emulator: Any) -> str:
    [started] = await run(bot, f"start {MODEL} --training good_training --validation good_validation")
    assert started.card.key is not None and started.card.key.startswith("job:ftjob-"), card_text(started)
    job_id = started.card.key.removeprefix("job:")
    emulator.advance(3 * 3600)
    assert (await bot.ctx.azure.data().get_job(job_id)).status == "succeeded"
    return job_id


async def test_cleanup_on_v1_deletes_the_files_and_says_the_job_stays(
    v1: tuple[RunningBot, list[tuple[str, URL]]], emulator: Any
) -> None:
    bot, seen = v1
    job_id = await _finished_job(bot, emulator)
    job = await bot.ctx.azure.data().get_job(job_id)
    files = [job.training_file, job.validation_file, *job.result_files]
    assert all(f in files_in_azure(emulator) for f in files)

    [confirm] = await run(bot, f"cleanup {job_id}")
    asked = card_text(confirm)
    assert "then its model" not in asked and "The job and its model stay" in asked and "v1 API" in asked
    assert confirm.card.buttons[0].confirm is not None
    assert "the model" not in confirm.card.buttons[0].confirm.text

    [done] = await run(bot, f"cleanup {job_id} --yes")
    shown = card_text(done)
    assert done.card.title == f"Cleaned up {job_id}: the job stays", shown
    assert done.card.tone == "warning"
    for file_id in files:
        assert f"deleted file `{file_id}`" in shown
    assert f"The job `{job_id}` and its model `{job.fine_tuned_model}` stay in Azure" in shown
    assert "v1 API, which cannot delete a fine-tuning job" in shown
    assert "deleted the job" not in shown
    assert not [u for m, u in seen if m == "DELETE" and "/fine_tuning/jobs" in u.path], "no DELETE on v1"
    assert not set(files) & set(files_in_azure(emulator))
    assert job_id in emulator.state.default_account.jobs  # still there, as on Azure
    [trail] = [t for t in await bot.store.audit_trail(job_id) if t.action == "cleanup"]
    assert trail.detail["kept"] == "job (v1 API)"


async def test_cleanup_on_v1_still_waits_for_the_models_deployments(
    v1: tuple[RunningBot, list[tuple[str, URL]]], emulator: Any
) -> None:
    bot, seen = v1
    job_id = await _finished_job(bot, emulator)
    job = await bot.ctx.azure.data().get_job(job_id)
    assert job.fine_tuned_model is not None
    await bot.ctx.azure.arm().put_deployment("kept", job.fine_tuned_model)
    emulator.advance(600)

    [first] = await run(bot, f"cleanup {job_id} --yes")
    assert "still deployed" in card_text(first) and "deleting deployment `kept`" in card_text(first)
    assert job.training_file in files_in_azure(emulator), "nothing else goes while the model is deployed"
    emulator.advance(120)
    [second] = await run(bot, f"cleanup {job_id} --yes")
    shown = card_text(second)
    assert f"deleted file `{job.training_file}`" in shown and "stay in Azure" in shown, shown
    assert not [u for m, u in seen if m == "DELETE" and "/fine_tuning/jobs" in u.path]
    assert job_id in emulator.state.default_account.jobs


async def test_per_resource_v1_keeps_its_jobs_and_a_dated_resource_deletes_them(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`api_version = "v1"` on one resource of the TOML: its `cleanup` keeps the job (no DELETE sent), while the
    default resource, on a dated api-version, still deletes job and model; a URL imports there as before."""
    seen: list[tuple[str, URL]] = []
    monkeypatch.setenv("FTBOT_TEST_NEXT_KEY", "test-key-not-secret")
    async with recording_proxy(emulator.url, seen) as proxy:
        nxt = v1_resource(emulator, proxy)
        settings = bot_settings(
            emulator,
            tmp_path,
            azure_openai_endpoint=proxy,
            resources=[nxt],
            azure_static_token="emulator-token-not-secret",
        )
        bot = await start_bot(settings)
        bot.ctx.local_files = True
        try:
            async with serve(datasets_app()) as blob:
                url = f"{blob}/good_training.jsonl"
                [on_v1] = await run(bot, f"start {MODEL} --training {url} --resource next")
                [dated] = await run(bot, f"start {MODEL} --training {url}")
            assert emulator.state.counters["files.import"] == 1  # the dated resource's start only
            assert emulator.state.counters["files.upload"] == 1  # the v1 resource's start
            jobs = {}
            for where, reply in (("next", on_v1), ("default", dated)):
                assert (reply.card.key or "").startswith("job:ftjob-"), card_text(reply)
                jobs[where] = reply.card.key.removeprefix("job:") if reply.card.key else ""
            emulator.advance(3 * 3600)
            [asked] = await run(bot, f"cleanup {jobs['next']} --resource next")
            assert "The job and its model stay" in card_text(asked)
            [kept] = await run(bot, f"cleanup {jobs['next']} --resource next --yes")
            [gone] = await run(bot, f"cleanup {jobs['default']} --yes")
        finally:
            await bot.close()
    assert "stay in Azure" in card_text(kept) and "deleted the job" not in card_text(kept)
    assert "deleted the job and its model" in card_text(gone), card_text(gone)
    deletes = [u.path for m, u in seen if m == "DELETE" and "/fine_tuning/jobs/" in u.path]
    assert deletes == [f"/openai/fine_tuning/jobs/{jobs['default']}"]
    assert jobs["next"] in emulator.state.default_account.jobs
    assert jobs["default"] not in emulator.state.default_account.jobs
