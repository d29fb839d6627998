"""Every emulator response has the shape of the spec excerpts' examples: same keys, same value types.

Examples are the verbatim files in `shared/reference/spec-excerpts/`; our answers may carry more keys
(Azure's examples are minimal), but every key an example shows must be there with the same JSON type.
Object definitions of the stable spec are also checked with jsonschema.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from emulator.server import RunningEmulator
from tests.emulator.conftest import API, deploy, deployment_path, run_job, upload

EXCERPTS = Path("/work/shared/reference/spec-excerpts")
WANDB = [{"type": "wandb", "wandb": {"project": "custom-wandb-project", "tags": ["project:tag", "lineage"]}}]

pytestmark = pytest.mark.skipif(not EXCERPTS.is_dir(), reason="spec excerpts not available")


def json_type(value: Any) -> str:
    # JSON has one number type; real runs send checkpoint `step` as 100.0 where the spec example has 10.
    for name, kind in (
        ("bool", bool),
        ("number", int),
        ("number", float),
        ("str", str),
        ("list", list),
        ("dict", dict),
    ):
        if isinstance(value, kind):
            return name
    return "null"


def assert_shape(example: Any, ours: Any, path: str = "$", nullable: frozenset[str] = frozenset()) -> None:
    assert json_type(ours) == json_type(example), (
        f"{path}: {json_type(ours)} where the example has {example!r}"
    )
    if isinstance(example, dict):
        for key, value in example.items():
            if key in nullable and ours.get(key) is None:
                continue
            assert key in ours, f"{path}: key {key!r} missing (have {sorted(ours)})"
            assert_shape(value, ours[key], f"{path}.{key}", nullable)
    elif isinstance(example, list) and example:
        assert ours, f"{path}: empty list where the example has items"
        if all(isinstance(item, dict) for item in example):
            common = set.intersection(*(set(item) for item in example))
            merged = {k: next(item[k] for item in example if k in item) for k in common}
            # Prefer a value that is a non-empty list, so nested items get checked too.
            for k in common:
                merged[k] = max(
                    (item[k] for item in example), key=lambda v: bool(v) if isinstance(v, list) else 0
                )
            for i, item in enumerate(ours):
                assert_shape(merged, item, f"{path}[{i}]", nullable)
        else:
            for i, item in enumerate(ours):
                assert_shape(example[0], item, f"{path}[{i}]", nullable)


class World:
    """A job run to success, a deployment with traffic: what the examples describe."""

    def __init__(self, emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient) -> None:
        self.emulator, self.client, self.arm = emulator, client, arm
        self.job: dict[str, Any] = {}

    async def build(self) -> None:
        self.job = await run_job(self.emulator, self.client, seed=105, integrations=WANDB)
        assert self.job["status"] == "succeeded"
        assert (
            await deploy(self.arm, self.emulator, "dep-a", self.job["fine_tuned_model"])
        ).status_code == 201
        self.emulator.advance(600)
        chat = {"messages": [{"role": "user", "content": "hi"}]}
        assert (
            await self.client.post("/openai/deployments/dep-a/chat/completions", json=chat)
        ).status_code == 200


Producer = Callable[[World], Awaitable[tuple[Any, frozenset[str]]]]


async def get_job(w: World) -> tuple[Any, frozenset[str]]:
    return (await w.client.get(f"/openai/fine_tuning/jobs/{w.job['id']}")).json(), frozenset()


async def pause_job(w: World) -> tuple[Any, frozenset[str]]:
    training = await upload(w.client, "good_training")
    created = await w.client.post(
        "/openai/fine_tuning/jobs",
        json={"model": "gpt-4o-mini-2024-07-18", "training_file": training["id"], "integrations": WANDB},
    )
    w.emulator.advance(400)
    paused = await w.client.post(f"/openai/fine_tuning/jobs/{created.json()['id']}/pause")
    assert paused.status_code == 200, paused.text
    # The example shows `finished_at` on a paused job; a job that has not finished has none (key left out).
    return paused.json(), frozenset({"finished_at"})


async def events(w: World) -> tuple[Any, frozenset[str]]:
    return (await w.client.get(f"/openai/fine_tuning/jobs/{w.job['id']}/events")).json(), frozenset()


async def checkpoints(w: World) -> tuple[Any, frozenset[str]]:
    return (await w.client.get(f"/openai/fine_tuning/jobs/{w.job['id']}/checkpoints")).json(), frozenset()


async def put_created(w: World) -> tuple[Any, frozenset[str]]:
    response = await deploy(w.arm, w.emulator, "dep-b", "gpt-4o-mini")
    assert response.status_code == 201
    return response.json(), frozenset()


async def put_updated(w: World) -> tuple[Any, frozenset[str]]:
    response = await deploy(w.arm, w.emulator, "dep-a", w.job["fine_tuned_model"])
    assert response.status_code == 200
    return response.json(), frozenset()


async def list_deployments(w: World) -> tuple[Any, frozenset[str]]:
    return (await w.arm.get(deployment_path(w.emulator))).json(), frozenset()


async def delete_accepted(w: World) -> tuple[Any, frozenset[str]]:
    response = await w.arm.delete(deployment_path(w.emulator, "dep-a"))
    assert response.status_code == 202
    return {k.lower(): v for k, v in response.headers.items()}, frozenset()


async def delete_absent(w: World) -> tuple[Any, frozenset[str]]:
    response = await w.arm.delete(deployment_path(w.emulator, "never-made"))
    assert response.status_code == 204
    return {}, frozenset()


async def metrics(w: World) -> tuple[Any, frozenset[str]]:
    params = {
        "api-version": "2023-10-01",
        "metricnames": "AzureOpenAIRequests,ModelRequests",
        "aggregation": "average",
        "interval": "FULL",
        "$filter": "ModelDeploymentName eq '*'",
    }
    url = f"{w.emulator.account_id}/providers/Microsoft.Insights/metrics"
    response = await w.arm.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json(), frozenset()


CASES: dict[tuple[str, str, str], Producer] = {
    ("azure-authoring-2025-04-01-preview_get_finetuning_job.json", "200", "body"): get_job,
    ("azure-authoring-2025-04-01-preview_pause_finetuning_job.json", "200", "body"): pause_job,
    ("azure-authoring-2025-04-01-preview_get_finetuning_job_events.json", "200", "body"): events,
    ("azure-authoring-2025-04-01-preview_get_finetuning_job_checkpoints.json", "200", "body"): checkpoints,
    ("arm-cognitiveservices-2024-10-01_PutDeployment.json", "201", "body"): put_created,
    ("arm-cognitiveservices-2024-10-01_PutDeployment.json", "200", "body"): put_updated,
    ("arm-cognitiveservices-2024-10-01_ListDeployments.json", "200", "body"): list_deployments,
    ("arm-cognitiveservices-2024-10-01_DeleteDeployment.json", "202", "headers"): delete_accepted,
    ("arm-cognitiveservices-2024-10-01_DeleteDeployment.json", "204", "body"): delete_absent,
    ("monitor-2023-10-01_GetMetricError.json", "200", "body"): metrics,
}


def test_every_example_file_is_covered() -> None:
    example_files = {p.name for p in EXCERPTS.glob("*.json") if "finetuning-definitions" not in p.name}
    assert example_files == {name for name, _, _ in CASES}


@pytest.mark.parametrize(("name", "status", "part"), list(CASES), ids=lambda v: str(v).split("_", 1)[-1])
async def test_response_has_the_example_shape(
    name: str,
    status: str,
    part: str,
    emulator: RunningEmulator,
    client: httpx.AsyncClient,
    arm: httpx.AsyncClient,
) -> None:
    example = json.loads((EXCERPTS / name).read_text())["responses"][status].get(part, {})
    if part == "headers":
        example = {k.lower(): v for k, v in example.items()}
    world = World(emulator, client, arm)
    await world.build()
    ours, nullable = await CASES[(name, status, part)](world)
    assert_shape(example, ours, nullable=nullable)


def _validator(definition: str) -> jsonschema.Draft4Validator:
    spec = json.loads((EXCERPTS / "azure-authoring-2024-10-21_finetuning-definitions.json").read_text())
    definitions = spec["definitions"]
    # The 2025-04-01-preview states (pause/resume) extend the stable enum.
    definitions["FineTuningState"]["enum"] += ["pausing", "paused", "resuming"]
    return jsonschema.Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": definitions})


async def test_objects_match_the_stable_definitions(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    world = World(emulator, client, arm)
    await world.build()
    job_id = world.job["id"]
    checks = {
        "FineTuningJob": (await client.get(f"/openai/fine_tuning/jobs/{job_id}")).json(),
        "FineTuningJobList": (await client.get("/openai/fine_tuning/jobs")).json(),
        "FineTuningJobEventList": (await client.get(f"/openai/fine_tuning/jobs/{job_id}/events")).json(),
        "FineTuningJobCheckpointList": (
            await client.get(f"/openai/fine_tuning/jobs/{job_id}/checkpoints")
        ).json(),
        "FileList": (await client.get("/openai/files")).json(),
        "File": (await client.get(f"/openai/files/{world.job['result_files'][0]}")).json(),
        "ErrorResponse": (await client.get("/openai/files/file-missing")).json(),
        "FileDelete": (await client.delete(f"/openai/files/{world.job['training_file']}", params=API)).json(),
    }
    for definition, body in checks.items():
        errors = [e.message for e in _validator(definition).iter_errors(body)]
        assert not errors, f"{definition}: {errors[:3]}"
