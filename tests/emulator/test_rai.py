"""The documented RAI rule: `[harm:<category>]` fails the data check, `[unsafe:<category>]` the evaluation."""

from __future__ import annotations

import httpx

from emulator import rai
from emulator.server import RunningEmulator
from tests.emulator.conftest import all_events, create_job, deploy, run_job, upload

DATA_MESSAGE = (
    "The provided training data failed RAI checks for harm types: [hate_fairness, self_harm, violence]. "
    "Please fix the data and try again."
)
EVAL_MESSAGE = (
    "This model is unable to be deployed. Model evaluation identified that this fine tuned model scores above "
    "acceptable thresholds for [Violence, Self Harm]. Please review your training data set and resubmit the job."
)


async def test_harmful_training_data_fails_before_training(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    job = await run_job(emulator, client, "rai_data_failure", None, model="gpt-4o-mini-2024-07-18")
    assert job["status"] == "failed" and job["error"]["message"] == DATA_MESSAGE
    assert job["trained_tokens"] is None and job["fine_tuned_model"] is None and job["result_files"] is None
    events = await all_events(client, job["id"])
    assert not [e for e in events if e["type"] == "metrics"]
    assert events[0]["level"] == "error" and events[0]["message"] == DATA_MESSAGE


async def test_unsafe_model_fails_the_evaluation_and_cannot_be_deployed(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    job = await run_job(emulator, client, "rai_eval_failure", None, model="gpt-4o-mini")
    assert job["status"] == "failed" and job["error"]["message"] == EVAL_MESSAGE
    events = await all_events(client, job["id"])
    # It trained (12 examples -> 8 default epochs -> 96 steps; a metrics event every 10), then failed evaluation.
    assert len([e for e in events if e["type"] == "metrics"]) == 10
    assert "Job succeeded." not in [e["message"] for e in events]
    would_be = f"gpt-4o-mini-2024-07-18.ft-{job['id'].removeprefix('ftjob-')}"
    refused = await deploy(arm, emulator, "unsafe", would_be)
    assert refused.status_code == 400 and EVAL_MESSAGE in refused.json()["error"]["message"]


async def test_retired_models_are_refused_with_the_service_wording(client: httpx.AsyncClient) -> None:
    """2026 section of the reference: gpt-35-turbo, gpt-4-0613, babbage-002, davinci-002 are retired."""
    training = await upload(client, "good_training")
    for model in ("gpt-35-turbo-0613", "gpt-35-turbo", "gpt-4-0613", "babbage-002", "davinci-002"):
        refused = await create_job(client, model=model, training_file=training["id"])
        assert refused.status_code == 400, model
        assert refused.json()["error"] == {
            "code": "invalidPayload",
            "message": "The specified base model does not support fine-tuning.",
            "param": "model",
        }


def test_messages_list_the_categories_found() -> None:
    assert rai.data_harms(["a [HARM:Sexual] b", "[harm:violence]"]) == {"sexual", "violence"}
    assert rai.evaluation_harms(["[unsafe:hate_fairness]"]) == {"hate_fairness"}
    assert rai.data_failure_message({"violence", "hate_fairness", "self_harm"}) == DATA_MESSAGE
    assert rai.evaluation_failure_message({"self_harm", "violence"}) == EVAL_MESSAGE
    assert "[Sexual, Hate Fairness]" in rai.evaluation_failure_message({"hate_fairness", "sexual"})
