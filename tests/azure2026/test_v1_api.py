"""`FTBOT_AZURE_API_VERSION=v1` (or a resource's `api_version = "v1"`): the whole start -> status -> events ->
checkpoints flow against the emulator on `{endpoint}/openai/v1/...`, with no `api-version` on the wire."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from bot.app import RunningBot, start_bot
from bot.azure.auth import DATA_PLANE_SCOPE, V1_DATA_PLANE_SCOPE
from bot.azure.dataplane import AzureOpenAIClient
from tests.azure2026.recording import recording_proxy, v1_resource
from tests.conftest import bot_settings
from tests.handlers.test_jobs_flow import card_text, run

MODEL = "gpt-4o-mini-2024-07-18"


async def _flow(bot: RunningBot, emu: Any, resource: str | None) -> None:
    bot.ctx.local_files = True
    where = f" --resource {resource}" if resource else ""
    [started] = await run(bot, f"start {MODEL} --training good_training --validation good_validation{where}")
    assert started.card.key is not None and started.card.key.startswith("job:ftjob-"), card_text(started)
    job_id = started.card.key.removeprefix("job:")
    emu.advance(3 * 3600)
    [status] = await run(bot, f"status {job_id}{where}")
    assert "succeeded" in card_text(status), card_text(status)
    [events] = await run(bot, f"events {job_id}{where}")
    assert events.card.tables and events.card.tables[0].rows
    [checkpoints] = await run(bot, f"checkpoints {job_id}{where}")
    assert "3 checkpoints you can deploy" in card_text(checkpoints), card_text(checkpoints)


def _data_plane(seen: list[tuple[str, URL]]) -> list[tuple[str, URL]]:
    return [(m, u) for m, u in seen if u.path.startswith("/openai")]


async def test_v1_setting_runs_the_flow_with_no_api_version(emulator: Any, tmp_path: Path) -> None:
    seen: list[tuple[str, URL]] = []
    async with recording_proxy(emulator.url, seen) as proxy:
        settings = bot_settings(emulator, tmp_path, azure_openai_endpoint=proxy, azure_api_version="v1")
        bot = await start_bot(settings)
        try:
            await _flow(bot, emulator, None)
        finally:
            await bot.close()
    calls = _data_plane(seen)
    paths = {u.path for _, u in calls}
    assert {"/openai/v1/files", "/openai/v1/fine_tuning/jobs"} <= paths
    assert any(p.endswith("/events") for p in paths) and any(p.endswith("/checkpoints") for p in paths)
    assert all(u.path.startswith("/openai/v1/") for _, u in calls), sorted(paths)
    assert not [str(u) for _, u in calls if "api-version" in u.query]


async def test_v1_per_resource_in_the_toml_and_dated_versions_keep_working(
    emulator: Any, tmp_path: Path
) -> None:
    seen: list[tuple[str, URL]] = []
    async with recording_proxy(emulator.url, seen) as proxy:
        v1 = v1_resource(emulator, proxy)
        settings = bot_settings(emulator, tmp_path, azure_openai_endpoint=proxy, resources=[v1])
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FTBOT_TEST_NEXT_KEY", "test-key-not-secret")
            bot = await start_bot(settings)
            try:
                await _flow(bot, emulator, "next")
                v1_calls = _data_plane(seen)
                seen.clear()
                await _flow(bot, emulator, None)  # the default resource stays on the dated api-version
                dated_calls = _data_plane(seen)
            finally:
                await bot.close()
    assert v1_calls and all(
        u.path.startswith("/openai/v1/") and "api-version" not in u.query for _, u in v1_calls
    )
    assert dated_calls and all(not u.path.startswith("/openai/v1/") for _, u in dated_calls)
    assert all(u.query.get("api-version") == settings.azure_api_version for _, u in dated_calls)


class Tokens:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def token(self, scope: str) -> str:
        self.scopes.append(scope)
        return "entra-token-for-tests"


@pytest.mark.parametrize(
    ("version", "scope"), [("v1", V1_DATA_PLANE_SCOPE), ("2025-04-01-preview", DATA_PLANE_SCOPE)]
)
async def test_entra_tokens_use_the_scope_the_docs_name(emulator: Any, version: str, scope: str) -> None:
    tokens = Tokens()
    async with AzureOpenAIClient(emulator.url, tokens=tokens, api_version=version) as client:
        await client.list_models()
        assert await client.list_files() == []
    assert tokens.scopes and set(tokens.scopes) == {scope}


async def test_v1_environment_setting_runs_start_watch_checkpoints_with_no_api_version(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`FTBOT_AZURE_API_VERSION=v1` as an operator sets it: `start`, then the scheduled watcher follows the job to its end
    (job list, events, the success alert's chart from the results file), then `checkpoints`; every request
    that reached the emulator was a v1 one without `api-version`."""
    seen: list[tuple[str, URL]] = []
    monkeypatch.setenv("FTBOT_AZURE_API_VERSION", "v1")
    async with recording_proxy(emulator.url, seen) as proxy:
        settings = bot_settings(emulator, tmp_path, azure_openai_endpoint=proxy, watch_interval=0.5)
        assert settings.azure_api_version == "v1"
        bot = await start_bot(settings)
        try:
            bot.ctx.local_files = True
            [started] = await run(bot, f"start {MODEL} --training good_training --validation good_validation")
            assert started.card.key is not None and started.card.key.startswith("job:ftjob-")
            job_id = started.card.key.removeprefix("job:")
            [watched] = await run(bot, f"watch {job_id}")
            assert "Watching" in card_text(watched)
            statuses: list[str] = []
            for _ in range(60):  # the scheduled watcher polls every half second; the emulator moves on
                emulator.advance(120)
                await asyncio.sleep(0.5)
                rows = await bot.store.outbox_rows()
                keys = [str(r["dedupe_key"]) for r in rows]
                statuses = [k.split(":")[2] for k in keys if k.startswith(f"card:{job_id}:")]
                if any(k.startswith(f"alert:{job_id}:succeeded:") for k in keys):
                    break
            assert any(k.startswith(f"alert:{job_id}:succeeded:") for k in keys), keys
            assert "running" in statuses and "succeeded" in statuses, statuses
            assert any(k.startswith(f"ev:{job_id}:") for k in keys), "events were streamed"
            [checkpoints] = await run(bot, f"checkpoints {job_id}")
            assert "3 checkpoints you can deploy" in card_text(checkpoints), card_text(checkpoints)
        finally:
            await bot.close()
    calls = _data_plane(seen)
    assert calls and all(u.path.startswith("/openai/v1/") for _, u in calls), sorted(
        {u.path for _, u in calls}
    )
    assert not [str(u) for _, u in calls if "api-version" in u.query]
    listed = [u for m, u in calls if m == "GET" and u.path == "/openai/v1/fine_tuning/jobs"]
    assert listed, "the watcher lists the resource's jobs on v1"
    assert any(u.path == f"/openai/v1/fine_tuning/jobs/{job_id}/events" for _, u in calls)
    assert any(u.path.endswith("/content") for _, u in calls), "the alert's chart read the results file"
    # At the emulator: the job it was asked for ran to its end there.
    assert emulator.state.default_account.jobs[job_id].status == "succeeded"
