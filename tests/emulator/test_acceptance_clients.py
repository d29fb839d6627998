"""Acceptance: the emulator driven only through unmodified clients, each point asserted with its source.

Clients: the openai SDK as `AsyncAzureOpenAI` (api-version) and as the v1 `AsyncOpenAI(base_url=.../openai/v1/)`,
azure-mgmt-cognitiveservices (`begin_create_or_update(...).result()` with its default poller) and
azure-mgmt-monitor, both with a static token against the emulator's ARM. The azure-mgmt clients are synchronous,
so they run in a worker thread while the emulator serves on this loop.

Sources named in the comments: [transcript 2025-05] a gpt-4o-mini run and [transcript 2025-09] a gpt-4.1 run
pasted into public notebooks (see tests/fixtures/azure/), [supported-models] fine-tune-supported-models.md
(2026-03-05), [quotas] quotas-limits.md (2026-02-17), [rest] fine-tuning-rest.md, [deploy]
fine-tuning-deploy.md, [retirements] the model retirement schedule, [lifecycle] the api-version lifecycle
page, [spec] the authoring spec excerpts in shared/reference/spec-excerpts/.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import openai
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku
from azure.mgmt.monitor import MonitorManagementClient

from emulator import datasets
from emulator.server import RunningEmulator, start
from tests.emulator.conftest import make_config

API_VERSION = "2025-04-01-preview"
RG_NO_TLS = {
    "enforce_https": False
}  # azure-core refuses bearer tokens over http unless told; the emulator is http


class StaticToken:
    """A TokenCredential that hands out one fixed token (the emulator accepts any bearer token)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("static-test-token", int(time.time()) + 3600)


def unix(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    running = await start(config=make_config())
    yield running
    await running.close()


async def upload(client: openai.AsyncOpenAI, name: str) -> str:
    content = datasets.path(name).read_bytes()
    return (await client.files.create(file=(f"{name}.jsonl", content), purpose="fine-tune")).id


async def until(emu: RunningEmulator, check: Any, step: float = 30.0, limit: int = 400) -> None:
    for _ in range(limit):
        if await check():
            return
        emu.advance(step)
    raise AssertionError("condition never became true")


def arm_client(emu: RunningEmulator) -> CognitiveServicesManagementClient:
    return CognitiveServicesManagementClient(StaticToken(), emu.subscription_id, base_url=emu.arm_url)  # type: ignore[arg-type]


def deployment(model: str, sku: str = "Standard", capacity: int = 1) -> Deployment:
    return Deployment(
        sku=Sku(name=sku, capacity=capacity),
        properties=DeploymentProperties(model=DeploymentModel(format="OpenAI", name=model, version="1")),
    )


async def test_azure_openai_client_sees_azure_as_real_runs_show_it(emu: RunningEmulator) -> None:
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=emu.url, api_key="k", api_version=API_VERSION, max_retries=0
    )
    training = await upload(client, "good_training")
    validation = await upload(client, "good_validation")
    emu.advance(10)
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=training, validation_file=validation, seed=105
    )
    # [transcript 2025-09] a pending job echoes -1 for what the service will choose, result_files null, and
    # already carries an estimated_finish.
    assert job.status == "pending"
    assert (job.hyperparameters.n_epochs, job.hyperparameters.batch_size) == (-1, -1)
    assert job.result_files is None and job.fine_tuned_model is None and job.estimated_finish

    emu.advance(60)  # started (queue 30 s) but still setting up: no step trained yet
    running = await client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"
    # [transcript 2025-05/2025-09] defaults resolved when training starts; small sets get more epochs
    # (24 examples -> 4, as 10 -> 10 and 40 -> 3 in the real runs).
    assert (running.hyperparameters.n_epochs, running.hyperparameters.batch_size) == (4, 1)
    # [rest] only a running job that has trained at least one step can be paused.
    with pytest.raises(openai.BadRequestError):
        await client.fine_tuning.jobs.pause(job.id)

    emu.advance(300)  # 40 steps in
    assert (await client.fine_tuning.jobs.pause(job.id)).status == "pausing"
    emu.advance(30)
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "paused"
    emu.advance(120)
    # [rest] a paused job gets a deployable checkpoint once its safety evaluation is done.
    paused_checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
    assert paused_checkpoints[0].fine_tuned_model_checkpoint.endswith(
        f":ckpt-step-{paused_checkpoints[0].step_number}"
    )
    with ThreadedArm(emu) as arm:
        emu.state.clock.set_speed(2000)
        made = await arm.deploy("paused-ckpt", paused_checkpoints[0].id)
        assert made.properties.provisioning_state == "Succeeded"
        emu.state.clock.set_speed(0)
    assert (await client.fine_tuning.jobs.resume(job.id)).status == "resuming"

    async def finished() -> bool:
        return (await client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded"

    await until(emu, finished)
    done = await client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model == f"gpt-4o-mini-2024-07-18.ft-{job.id.removeprefix('ftjob-')}"
    assert done.estimated_finish  # [transcript 2025-05] estimated_finish is kept after success
    # Results file named results.csv [rest].
    assert (await client.files.retrieve(done.result_files[0])).filename == "results.csv"

    events = [e async for e in client.fine_tuning.jobs.list_events(fine_tuning_job_id=job.id, limit=7)]
    # [transcript 2025-05/2025-09] the ending, newest first, and billed tokens differ from trained_tokens.
    assert [e.message.split(":")[0] for e in events[:4]] == [
        "Training tokens billed",
        "Completed results file",
        "Model Evaluation Passed.",
        "Job succeeded.",
    ]
    assert int(events[0].message.rsplit(" ", 1)[1]) != done.trained_tokens
    metrics = [e for e in events if e.type == "metrics"]
    # [transcripts] a metrics event every 10 steps, `Step N: training loss=<full float>`, no total anywhere.
    assert [int(m.data["step"]) for m in reversed(metrics)] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 96]
    for m in metrics:
        assert m.message == f"Step {m.data['step']}: training loss={m.data['train_loss']!r}"
        assert "total_steps" not in m.data and "/" not in m.message

    checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
    # [transcripts] checkpoints newest first; the newest is the fine-tuned model itself.
    steps = [c.step_number for c in checkpoints]
    assert steps == sorted(steps, reverse=True)
    assert checkpoints[0].fine_tuned_model_checkpoint == done.fine_tuned_model

    models = {m.id: m for m in (await client.models.list()).data}
    # [supported-models] + [retirements]: the 2026 catalogue with lifecycle dates; fine-tuned models listed.
    mini = models["gpt-4o-mini-2024-07-18"].model_dump()
    assert mini["capabilities"]["fine_tune"] is True
    assert mini["deprecation"]["fine_tune"] == unix("2026-10-01")
    assert models["gpt-4.1-2025-04-14"].model_dump()["deprecation"]["fine_tune"] == unix("2026-10-14")
    assert models["o4-mini-2025-04-16"].model_dump()["deprecation"]["fine_tune"] == unix("2026-10-16")
    assert {
        "gpt-4o-2024-08-06",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "gpt-5-2025-08-07",
    } <= set(models)
    assert done.fine_tuned_model in models

    # [supported-models] retired models and gated/unsupported methods are refused with the service's wording.
    with pytest.raises(openai.BadRequestError, match="does not support fine-tuning"):
        await client.fine_tuning.jobs.create(model="gpt-35-turbo-0125", training_file=training)
    with pytest.raises(openai.BadRequestError, match="invitation"):
        await client.fine_tuning.jobs.create(model="gpt-5-2025-08-07", training_file=training)
    with pytest.raises(openai.BadRequestError, match="supervised"):
        await client.fine_tuning.jobs.create(
            model="o4-mini", training_file=training, method={"type": "supervised"}
        )
    # [supported-models] trainingType in the docs' spellings, echoed; o4-mini has no Developer training.
    typed = await client.fine_tuning.jobs.create(
        model="gpt-4.1-nano", training_file=training, extra_body={"trainingType": "globalstandard"}
    )
    assert typed.model_dump()["trainingType"] == "globalstandard"
    with pytest.raises(openai.BadRequestError, match="Developer"):
        await client.fine_tuning.jobs.create(
            model="o4-mini",
            training_file=training,
            validation_file=validation,
            method={"type": "reinforcement", "reinforcement": {"grader": {"type": "string_check"}}},
            extra_body={"trainingType": "developerTier"},
        )
    await client.close()


async def test_api_versions_are_validated_and_gate_features(emu: RunningEmulator) -> None:
    def at(version: str) -> openai.AsyncAzureOpenAI:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=emu.url, api_key="k", api_version=version, max_retries=0
        )

    # [lifecycle] unknown versions and retired ones (2023-12-01-preview, retired 2024-07-01) are refused.
    for version in ("2099-01-01", "2023-12-01-preview"):
        async with at(version) as refused:
            with pytest.raises(openai.BadRequestError, match="API version not supported"):
                await refused.files.list()
    # The versions the guide's own code uses keep working unless retired.
    for version in ("2023-05-15", "2024-02-01", "2024-05-01-preview", "2024-10-21"):
        async with at(version) as working:
            assert (await working.files.list()).data == []
    async with at(API_VERSION) as latest, at("2024-10-21") as old:
        training = await upload(latest, "good_training")
        emu.advance(10)
        # [spec] `method` and pause/resume arrive with 2025-04-01-preview; the stable 2024-10-21 has neither.
        with pytest.raises(openai.BadRequestError, match="2025-04-01-preview"):
            await old.fine_tuning.jobs.create(
                model="gpt-4o", training_file=training, method={"type": "supervised"}
            )
        job = await old.fine_tuning.jobs.create(model="gpt-4o", training_file=training)
        emu.advance(400)
        with pytest.raises(openai.NotFoundError):
            await old.fine_tuning.jobs.pause(job.id)
        assert (await latest.fine_tuning.jobs.pause(job.id)).status == "pausing"


async def test_v1_openai_client_uses_the_same_routes_without_api_version(emu: RunningEmulator) -> None:
    # [lifecycle] v1 API: `OpenAI(base_url=f"{endpoint}/openai/v1/")`, no api-version.
    client = openai.AsyncOpenAI(base_url=f"{emu.url}/openai/v1/", api_key="k", max_retries=0)
    training = await upload(client, "good_training")
    emu.advance(10)
    assert (await client.files.retrieve(training)).status == "processed"
    job = await client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=training)
    # [transcript 2025-09] gpt-4.1 models choose a learning-rate multiplier of 2.0, shown while pending.
    assert job.hyperparameters.learning_rate_multiplier == 2.0
    emu.advance(400)
    assert (await client.fine_tuning.jobs.pause(job.id)).status == "pausing"
    emu.advance(30)
    assert (await client.fine_tuning.jobs.resume(job.id)).status == "resuming"

    async def finished() -> bool:
        return (await client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded"

    await until(emu, finished)
    done = await client.fine_tuning.jobs.retrieve(job.id)
    events = (await client.fine_tuning.jobs.list_events(job.id, limit=4)).data
    assert events[0].message.startswith("Training tokens billed: ")
    assert (await client.fine_tuning.jobs.checkpoints.list(job.id)).data[0].fine_tuned_model_checkpoint == (
        done.fine_tuned_model
    )
    assert done.fine_tuned_model in {m.id async for m in client.models.list()}
    other = await client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=training)
    assert (await client.fine_tuning.jobs.cancel(other.id)).status == "cancelled"
    content = await client.files.content(done.result_files[0])
    assert content.text.startswith("step,train_loss")

    with ThreadedArm(emu) as arm:
        emu.state.clock.set_speed(2000)
        await arm.deploy("v1-dep", done.fine_tuned_model)
        emu.state.clock.set_speed(0)
    reply = await client.chat.completions.create(model="v1-dep", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.role == "assistant" and reply.model == done.fine_tuned_model
    await client.close()


class ThreadedArm:
    """azure-mgmt-cognitiveservices, unmodified, run in a worker thread (its client is synchronous)."""

    def __init__(self, emu: RunningEmulator) -> None:
        self.emu = emu
        self.client = arm_client(emu)

    def __enter__(self) -> ThreadedArm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    async def deploy(self, name: str, model: str, sku: str = "Standard") -> Deployment:
        def run() -> Deployment:
            poller = self.client.deployments.begin_create_or_update(
                self.emu.resource_group, self.emu.account_name, name, deployment(model, sku), **RG_NO_TLS
            )
            return poller.result()

        return await asyncio.to_thread(run)


async def test_arm_and_monitor_through_the_azure_sdks(emu: RunningEmulator) -> None:
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=emu.url, api_key="k", api_version=API_VERSION, max_retries=0
    )
    training = await upload(client, "good_training")
    emu.advance(10)
    # DeveloperTier below: for o4-mini and the gpt-4.1 family only (fine-tuning-deploy.md, 2026-02-11).
    job = await client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=training)

    async def finished() -> bool:
        return (await client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded"

    await until(emu, finished)
    model = (await client.fine_tuning.jobs.retrieve(job.id)).fine_tuned_model
    assert model is not None
    with ThreadedArm(emu) as arm:
        account = await asyncio.to_thread(
            arm.client.accounts.get, emu.resource_group, emu.account_name, **RG_NO_TLS
        )
        # ARM `accounts/{name}` GET names the data-plane endpoint.
        assert account.properties.endpoint == f"{emu.url}/"

        emu.state.clock.set_speed(2000)  # provisioning (240 simulated s) takes ~0.1 real s
        started = time.monotonic()
        made = await arm.deploy("ft-dev", model, sku="DeveloperTier")
        # `Retry-After` on 201 and on the operation: the default poller would otherwise sleep 30 s.
        assert time.monotonic() - started < 20
        assert made.properties.provisioning_state == "Succeeded" and made.sku.name == "DeveloperTier"
        emu.state.clock.set_speed(0)

        # [deploy] SKUs are validated per model; anything else is InvalidResourceProperties.
        with pytest.raises(HttpResponseError) as bad:
            await arm.deploy("bad-sku", "gpt-4o-mini", sku="Premium")
        assert bad.value.error is not None and bad.value.error.code == "InvalidResourceProperties"
        assert "The specified SKU 'Premium'" in str(bad.value.message)

        reply = await client.chat.completions.create(
            model="ft-dev", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content

        monitor = MonitorManagementClient(StaticToken(), emu.subscription_id, base_url=emu.arm_url)  # type: ignore[arg-type]
        start_text = datetime.fromtimestamp(emu.state.now() - 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for timespan in ("PT86400.0S", f"{start_text}/PT7200.0S"):  # what real clients send
            metrics = await asyncio.to_thread(
                monitor.metrics.list,
                emu.account_id.lstrip("/"),
                timespan=timespan,
                interval="PT1H",
                metricnames="AzureOpenAIRequests",
                aggregation="Total",
                filter="ModelDeploymentName eq '*'",
                **RG_NO_TLS,
            )
            series = metrics.value[0].timeseries
            assert [s.metadatavalues[0].value for s in series] == ["ft-dev"]
            assert sum(point.total or 0 for point in series[0].data) == 1
        monitor.close()

        # [deploy] Developer deployments are deleted 24 h after creation, whatever their use.
        emu.advance(24 * 3600 + 60)
        with pytest.raises(ResourceNotFoundError):
            await asyncio.to_thread(
                arm.client.deployments.get, emu.resource_group, emu.account_name, "ft-dev", **RG_NO_TLS
            )
    await client.close()
