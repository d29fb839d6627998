"""A job's fields as Azure spells them, through the bot's client (and handlers) against the emulator: the v1
API's `user_provided_suffix`, a model answered by its versioned name, Azure's `canceled`. The lost-answer
tests drop the create's reply (`drop_after`): the client must find the job it made, not make another (a
duplicate is a second paid training run)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.app import RunningBot
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.models import FineTuningJob
from bot.azure.retry import RetryPolicy
from emulator import datasets
from tests.handlers.test_jobs_flow import card_text, run, started_job

CREATE = r"^POST .*/fine_tuning/jobs$"
KEY = {"api-key": "test-key-not-secret"}
ALIAS, VERSIONED = "gpt-4o-mini", "gpt-4o-mini-2024-07-18"


class VersionedModel(httpx.AsyncBaseTransport):
    """Answers as Azure may: a job created from the family name `gpt-4o-mini` names the version it resolved."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if "json" not in response.headers.get("content-type", ""):
            return response
        body = json.loads(await response.aread())
        items = body["data"] if isinstance(body, dict) and isinstance(body.get("data"), list) else [body]
        for item in items:
            if (
                isinstance(item, dict)
                and item.get("object") == "fine_tuning.job"
                and item.get("model") == ALIAS
            ):
                item["model"] = VERSIONED
        return httpx.Response(response.status_code, headers={"content-type": "application/json"}, json=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _uploaded(client: AzureOpenAIClient, emulator: Any) -> str:
    training = await client.upload_file(datasets.path("good_training"))
    emulator.advance(60)
    assert (await client.get_file(training.id)).is_processed
    return training.id


async def _lost_create(
    emulator: Any, api_version: str, model: str, transport: httpx.AsyncBaseTransport | None = None
) -> FineTuningJob:
    """`create_job` with every create's reply lost after Azure carried it out; the job it returned."""
    async with httpx.AsyncClient(base_url=emulator.url) as admin:
        fault = {"drop_after": 1.0, "only": CREATE}
        (await admin.put("/_emulator/faults/dataplane", json=fault)).raise_for_status()
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
    async with httpx.AsyncClient(transport=transport) as http:
        client = AzureOpenAIClient(
            emulator.url, api_key=KEY["api-key"], api_version=api_version, http=http, retry=retry
        )
        training = await _uploaded(client, emulator)
        return await client.create_job(model, training, suffix="dup", seed=7, training_type="global")


async def test_the_v1_api_names_the_suffix_user_provided_suffix(emulator: Any) -> None:
    """OpenAI's `FineTuningJob` schema (v1): `user_provided_suffix`, null when none was given; the dated
    api-versions keep `suffix`."""
    async with httpx.AsyncClient(base_url=emulator.url, headers=KEY) as http:
        content = datasets.path("good_training").read_bytes()
        upload = await http.post(
            "/openai/v1/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", content)}
        )
        emulator.advance(60)
        body = {"model": VERSIONED, "training_file": upload.json()["id"], "trainingType": "GlobalStandard"}
        created = (await http.post("/openai/v1/fine_tuning/jobs", json={**body, "suffix": "tag"})).json()
        bare = (await http.post("/openai/v1/fine_tuning/jobs", json=body)).json()
        assert created["user_provided_suffix"] == "tag" and "suffix" not in created
        got = (await http.get(f"/openai/v1/fine_tuning/jobs/{created['id']}")).json()
        listed = (await http.get("/openai/v1/fine_tuning/jobs")).json()["data"]
        assert got["user_provided_suffix"] == "tag" and "suffix" not in got
        assert {j["id"]: j["user_provided_suffix"] for j in listed} == {
            created["id"]: "tag",
            bare["id"]: None,
        }
        dated = await http.get(
            f"/openai/fine_tuning/jobs/{created['id']}", params={"api-version": "2025-04-01-preview"}
        )
        assert dated.json()["suffix"] == "tag" and "user_provided_suffix" not in dated.json()


async def test_a_lost_create_answer_on_v1_is_found_by_its_suffix_not_repeated(emulator: Any) -> None:
    job = await _lost_create(emulator, "v1", VERSIONED)
    assert emulator.state.faults.injected.get("dataplane.drop_after", 0) >= 1
    assert emulator.state.counters["jobs.created"] == 1
    assert list(emulator.state.default_account.jobs) == [job.id] and job.suffix == "dup"


@pytest.mark.parametrize("api_version", ["v1", "2025-04-01-preview"])
async def test_a_lost_create_answer_naming_the_versioned_model_is_found_not_repeated(
    emulator: Any, api_version: str
) -> None:
    """Asked for `gpt-4o-mini`, Azure answers `gpt-4o-mini-2024-07-18`: still the job this create made."""
    job = await _lost_create(emulator, api_version, ALIAS, VersionedModel())
    assert emulator.state.faults.injected.get("dataplane.drop_after", 0) >= 1
    assert emulator.state.counters["jobs.created"] == 1
    assert list(emulator.state.default_account.jobs) == [job.id] and job.model == VERSIONED


async def test_cleanup_deletes_a_job_azure_calls_canceled(arm_bot: RunningBot, emulator: Any) -> None:
    """Azure spells the ending `canceled` as well as `cancelled`: the job is over, and cleanup deletes it."""
    job_id = await started_job(arm_bot, emulator)
    await arm_bot.ctx.azure.data().cancel_job(job_id)
    emulator.state.default_account.jobs[job_id].status = "canceled"
    assert (await arm_bot.ctx.azure.data().get_job(job_id)).status == "cancelled"
    [reply] = await run(arm_bot, f"cleanup {job_id} --yes")
    assert "deleted the job" in card_text(reply), card_text(reply)
    assert job_id not in emulator.state.default_account.jobs
