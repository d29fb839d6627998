"""The models read the spec excerpts' real payloads and tolerate unknown fields and statuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.azure.models import (
    Checkpoint,
    Deployment,
    DeploymentState,
    FileObject,
    FineTuningJob,
    JobEvent,
    JobStatus,
    Page,
    canonical_sku,
    is_developer_sku,
    is_terminal,
    page_of,
)

# Verbatim copies of ../shared/reference/spec-excerpts/*.json, so the tests run from a bare clone.
SPEC = Path(__file__).parent / "spec"


def _example(name: str, status: str = "200") -> Any:
    return json.loads((SPEC / name).read_text())["responses"][status]["body"]


def test_get_job_example() -> None:
    job = FineTuningJob.model_validate(_example("azure-authoring-2025-04-01-preview_get_finetuning_job.json"))
    assert job.succeeded and job.is_terminal
    assert job.fine_tuned_model == "curie.ft-72a2792ef7d24ba7b82c7fe4a37e379f"
    assert job.result_files == ["file-181a1cbdcdcf4677ada87f63a0928099"]
    assert job.hyperparameters is not None and job.hyperparameters.n_epochs == -1
    assert job.method_type == "supervised"
    assert job.integrations and job.integrations[0]["type"] == "wandb"


def test_pause_job_example() -> None:
    job = FineTuningJob.model_validate(
        _example("azure-authoring-2025-04-01-preview_pause_finetuning_job.json")
    )
    assert job.status_kind is JobStatus.PAUSED
    assert not job.is_terminal and not job.is_active


def test_events_example_page() -> None:
    page = Page[JobEvent].model_validate(
        _example("azure-authoring-2025-04-01-preview_get_finetuning_job_events.json")
    )
    assert not page.has_more
    assert [e.message for e in page.data][-1] == "Job succeeded."
    assert all(not e.is_metrics for e in page.data)


def test_checkpoints_example_page() -> None:
    page = Page[Checkpoint].model_validate(
        _example("azure-authoring-2025-04-01-preview_get_finetuning_job_checkpoints.json")
    )
    assert [c.step_number for c in page.data] == [10, 20, 30]
    assert page.data[2].metrics.full_valid_loss == 0.114
    assert page.data[0].metrics.valid_mean_token_accuracy == 0.145


def test_page_of_is_made_once_and_kept() -> None:
    """pydantic keeps `Page[X]` only weakly: made anew after a collection, it builds its validator again."""
    import gc

    first = page_of(JobEvent)
    gc.collect()
    assert page_of(JobEvent) is first
    assert first.model_validate({"data": [{"id": "ftevent-1", "message": "hi"}]}).data[0].message == "hi"


def test_checkpoint_metrics_accept_both_accuracy_spellings() -> None:
    for key in ("valid_mean_token_accuracy", "validation_mean_token_accuracy"):
        checkpoint = Checkpoint.model_validate(
            {"id": "ftchkpt-" + "a" * 32, "metrics": {key: 0.5, "new_metric": 1.0}, "step_number": 3}
        )
        assert checkpoint.metrics.valid_mean_token_accuracy == 0.5


def test_arm_examples() -> None:
    created = Deployment.model_validate(
        _example("arm-cognitiveservices-2024-10-01_PutDeployment.json", "201")
    )
    assert created.state is DeploymentState.ACCEPTED and not created.is_settled
    done = Deployment.model_validate(_example("arm-cognitiveservices-2024-10-01_PutDeployment.json"))
    assert done.succeeded and done.model_name == "ada"
    listed = _example("arm-cognitiveservices-2024-10-01_ListDeployments.json")["value"]
    assert [Deployment.model_validate(d).name for d in listed] == ["deploymentName"]


def test_unknown_status_and_fields_do_not_crash() -> None:
    job = FineTuningJob.model_validate(
        {
            "id": "ftjob-1",
            "status": "validating_things",
            "brand_new": {"x": 1},
            "result_files": None,
            "error": {},
        }
    )
    assert job.status == "validating_things"
    assert job.status_kind is None
    assert not job.is_terminal
    assert job.error is None
    assert job.result_files == []
    assert job.model_extra == {"brand_new": {"x": 1}}


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("succeeded", True),
        ("failed", True),
        ("cancelled", True),
        ("canceled", True),
        ("Succeeded", True),
        ("running", False),
        ("paused", False),
        ("queued", False),
        ("mystery", False),
        (None, False),
    ],
)
def test_is_terminal(status: str | None, terminal: bool) -> None:
    assert is_terminal(status) is terminal


def test_file_status_helpers_and_unknown_state() -> None:
    processed = FileObject.model_validate({"id": "file-1", "status": "processed", "bytes": 10})
    odd = FileObject.model_validate({"id": "file-2", "status": "quarantined"})
    assert processed.is_processed and processed.is_settled
    assert odd.status_kind is None and not odd.is_settled


def test_metrics_event_values() -> None:
    event = JobEvent.model_validate(
        {
            "id": "ftevent-1",
            "type": "metrics",
            "message": "Step 3/10: training loss=0.5",
            "data": {"step": 3, "train_loss": 0.5, "flag": True},
        }
    )
    assert event.is_metrics
    assert event.metric("train_loss") == 0.5
    assert event.metric("flag") is None
    assert event.metric("missing") is None


def test_deployment_state_parse_is_case_insensitive() -> None:
    assert DeploymentState.parse("succeeded") is DeploymentState.SUCCEEDED
    assert DeploymentState.parse("Rebalancing") is None


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("developertier", "DeveloperTier"),
        ("DEVELOPERTIER", "DeveloperTier"),
        ("standard", "Standard"),
        ("globalstandard", "GlobalStandard"),
        ("datazonestandard", "DataZoneStandard"),
        ("provisionedmanaged", "ProvisionedManaged"),
        ("SomeNewSku", "SomeNewSku"),  # unknown: kept as sent
    ],
)
def test_deployment_sku_is_read_in_its_canonical_spelling(sent: str, read: str) -> None:
    # Microsoft's REST samples send `standard` / `developertier`, and ARM may echo the case it was sent.
    body = {"name": "d", "sku": {"name": sent, "capacity": 50}, "properties": {"model": {"name": "m"}}}
    deployment = Deployment.model_validate(body)
    assert deployment.sku is not None and deployment.sku.name == read
    assert canonical_sku(sent) == read
    assert is_developer_sku(sent) is (read == "DeveloperTier")
    assert not is_developer_sku(None)


@pytest.mark.parametrize(
    "payload",
    [
        {"suffix": "tag"},  # dated api-versions
        {"user_provided_suffix": "tag"},  # v1 API (OpenAI's FineTuningJob schema)
        {"suffix": None, "user_provided_suffix": "tag"},
        {"suffix": "tag", "user_provided_suffix": None},
    ],
)
def test_job_suffix_under_either_name(payload: dict[str, Any]) -> None:
    assert FineTuningJob.model_validate({"id": "ftjob-1", **payload}).suffix == "tag"
    assert FineTuningJob.model_validate({"id": "ftjob-1", "user_provided_suffix": None}).suffix is None


@pytest.mark.parametrize(
    ("sent", "kept"),
    [(1, "1"), (0, "0"), (2.0, "2.0"), ("GlobalStandard", "GlobalStandard"), (None, None), ({"x": 1}, None)],
)
def test_training_type_sent_as_a_number_does_not_fail_the_job(sent: Any, kept: str | None) -> None:
    """litellm sends `trainingType=1`: the job must still read; the number is a type the bot does not know,
    shown as it came."""
    from bot import training_types

    job = FineTuningJob.model_validate({"id": "ftjob-1", "status": "running", "trainingType": sent})
    assert job.training_type == kept and job.is_active
    if isinstance(sent, int):
        assert training_types.parse(job.training_type) is None
        assert training_types.label(job.training_type) == kept
    page = page_of(FineTuningJob).model_validate({"data": [{"id": "ftjob-2", "trainingType": 1}]})
    assert page.data[0].training_type == "1"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("canceled", "cancelled"),
        ("Canceled", "cancelled"),
        ("cancelled", "cancelled"),
        ("Succeeded", "succeeded"),
        ("validating_files", "validating_files"),
        ("notRunning", "notRunning"),  # not one of the API's words: kept as sent, normalised where shown
        ("canceling", "canceling"),
        ("brand_new", "brand_new"),
        (None, "unknown"),
    ],
)
def test_job_status_has_one_spelling_for_known_statuses(sent: str | None, kept: str) -> None:
    """Azure spells the ending `canceled` too: code comparing with `cancelled` must hold either way."""
    assert FineTuningJob.model_validate({"id": "ftjob-1", "status": sent}).status == kept
