"""The guide's whole flow through the bot's clients against the real emulator over HTTP, with and without
faults injected through the emulator's admin API."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.azure.arm import ArmClient
from bot.azure.auth import StaticTokenProvider
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.errors import Conflict, NotFound
from bot.azure.models import is_checkpoint_id, is_fine_tuned_model, is_job_id, parse_results_csv
from bot.azure.monitor import MetricsClient

from .fakes import FakeTime

emulator_server = pytest.importorskip("emulator.server")

DATASETS = Path(__file__).resolve().parents[2] / "emulator" / "datasets"
BASE_MODEL = "gpt-4o-mini-2024-07-18"


@dataclass
class World:
    """The emulator plus the bot's three clients pointed at it; sleeping moves the simulated clock."""

    emulator: Any
    admin: httpx.AsyncClient
    dataplane: AzureOpenAIClient
    arm: ArmClient
    metrics: MetricsClient
    time: FakeTime

    async def advance(self, seconds: float) -> None:
        response = await self.admin.post("/_emulator/clock/advance", json={"seconds": seconds})
        response.raise_for_status()

    async def set_faults(self, surface: str, **spec: float) -> None:
        (await self.admin.put(f"/_emulator/faults/{surface}", json=spec)).raise_for_status()

    async def clear_faults(self) -> None:
        (await self.admin.delete("/_emulator/faults")).raise_for_status()

    async def state(self) -> dict[str, Any]:
        response = await self.admin.get("/_emulator/state")
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture
async def world() -> AsyncIterator[World]:
    emulator = await emulator_server.start(speed=0)  # frozen clock: only the test moves it
    time = FakeTime()
    # Generous attempt budget: with 30% faults, 12 failures in a row would be a 1-in-2-million event.
    policy = time.policy(max_attempts=12, max_total_seconds=3600.0)
    admin = httpx.AsyncClient(base_url=emulator.url)

    async def poll_sleep(seconds: float) -> None:
        await admin.post("/_emulator/clock/advance", json={"seconds": seconds})

    tokens = StaticTokenProvider("emulator-token")
    world = World(
        emulator=emulator,
        admin=admin,
        dataplane=AzureOpenAIClient(
            emulator.url, api_key="emulator-key", retry=policy, poll_sleep=poll_sleep
        ),
        arm=ArmClient(
            emulator.subscription_id,
            emulator.resource_group,
            emulator.account_name,
            tokens=tokens,
            base_url=emulator.arm_url,
            retry=policy,
            poll_sleep=poll_sleep,
        ),
        metrics=MetricsClient(tokens=tokens, base_url=emulator.arm_url, retry=policy),
        time=time,
    )
    try:
        yield world
    finally:
        await world.dataplane.aclose()
        await world.arm.aclose()
        await world.metrics.aclose()
        await admin.aclose()
        await emulator.close()


async def run_guide_flow(world: World, deployment_name: str) -> dict[str, Any]:
    """Upload train+validation, create (seed=105), get, events, checkpoints, wait, results.csv, deploy, chat."""
    client = world.dataplane
    training = await client.upload_file(DATASETS / "good_training.jsonl")
    validation = await client.upload_file(
        (DATASETS / "good_validation.jsonl").read_bytes(), filename="val.jsonl"
    )
    for file in (training, validation):
        assert (await client.wait_for_file(file.id, poll_interval=5.0)).is_processed

    job = await client.create_job(
        BASE_MODEL, training.id, validation_file=validation.id, seed=105, suffix="guide"
    )
    assert is_job_id(job.id) and job.seed == 105
    assert (await client.get_job(job.id)).id == job.id

    done = await client.wait_for_job(job.id, poll_interval=120.0)
    assert done.succeeded, done.error
    assert done.fine_tuned_model and is_fine_tuned_model(done.fine_tuned_model)

    events = [e async for e in client.events(job.id, limit=5)]  # small pages: exercises `after`
    assert len(events) > 5 and len({e.id for e in events}) == len(events)
    assert events[-1].message.startswith("Job enqueued")
    assert any(e.is_metrics for e in events)
    checkpoints = [c async for c in client.checkpoints(job.id, limit=1)]
    assert 1 <= len(checkpoints) <= 3
    assert all(is_checkpoint_id(c.id) and c.fine_tuning_job_id == job.id for c in checkpoints)

    raw = await client.file_content(done.result_files[0])
    rows = parse_results_csv(raw)
    assert rows and rows[0].train_loss is not None
    assert rows[-1].train_loss is not None and rows[-1].train_loss < rows[0].train_loss
    assert "step" in next(csv.reader(io.StringIO(raw.decode())))
    streamed = b"".join([chunk async for chunk in client.file_content_stream(done.result_files[0])])
    assert streamed == raw

    deployment = await world.arm.deploy(deployment_name, done.fine_tuned_model, poll_interval=60.0)
    assert deployment.succeeded and deployment.model_name == done.fine_tuned_model
    assert [d.name for d in await world.arm.list_deployments()] == [deployment_name]

    reply = await client.chat_completion(
        deployment_name, [{"role": "user", "content": "Hello"}], max_tokens=20
    )
    assert reply.text
    return {"job": done, "training": training, "validation": validation, "rows": rows}


async def test_guide_flow_end_to_end(world: World) -> None:
    result = await run_guide_flow(world, "guide-model")
    job = result["job"]

    # Deploying the same model under another name is refused; under the same name it is a no-op.
    with pytest.raises(Conflict):
        await world.arm.put_deployment("guide-model-2", job.fine_tuned_model)
    again = await world.arm.put_deployment("guide-model", job.fine_tuned_model)
    assert again.deployment.name == "guide-model"

    now = datetime.fromtimestamp((await world.admin.get("/_emulator/clock")).json()["now"], UTC)
    usage = await world.metrics.deployment_daily_totals(
        world.arm.account_id, start=now - timedelta(days=2), end=now + timedelta(hours=1)
    )
    assert usage["guide-model"].total == 1
    assert usage["guide-model"].last_used is not None

    # Clean-up: deployment, job, files.
    assert await world.arm.delete_deployment("guide-model", wait=True, poll_interval=30.0)
    assert not await world.arm.delete_deployment("guide-model")
    with pytest.raises(NotFound):
        await world.arm.get_deployment("guide-model")
    await world.dataplane.delete_job(job.id)
    for file in (result["training"], result["validation"]):
        assert (await world.dataplane.delete_file(file.id)).deleted
    assert world.time.sleeps == []  # nothing failed, nothing was retried


async def test_guide_flow_with_30_percent_faults(world: World) -> None:
    for surface in ("dataplane", "arm", "metrics"):
        await world.set_faults(surface, throttle=0.15, error=0.15, retry_after=3.0)
    result = await run_guide_flow(world, "faulty-model")

    state = await world.state()
    counters = state["counters"]
    injected = state["faults"]["injected"]
    assert injected.get("dataplane.throttle", 0) > 0 and injected.get("dataplane.error", 0) > 0
    assert counters["jobs.created"] == 1  # one create call took effect, not two
    assert counters["files.upload"] == 2
    assert counters["deployments.put"] == 1
    account = next(iter(state["accounts"].values()))
    assert list(account["jobs"]) == [result["job"].id]
    assert len(account["files"]) == 3  # training, validation, results.csv

    # Every throttled answer asked for 3 s and got exactly that wait (jittered backoff with the fixed
    # random 0.5 only yields 0.25, 0.5, 1, 2, 4, ... s, never 3 s).
    throttles = sum(n for key, n in injected.items() if key.endswith(".throttle"))
    assert world.time.sleeps.count(3.0) == throttles
    assert len(world.time.sleeps) == sum(injected.values())  # one wait per injected fault, no more


async def test_creates_are_not_duplicated_when_replies_are_lost(world: World) -> None:
    """`drop_after`: Azure did the work but the reply never arrived; the client must find it, not redo it."""
    client = world.dataplane
    training = await client.upload_file(DATASETS / "good_training.jsonl")
    await client.wait_for_file(training.id, poll_interval=5.0)
    await world.set_faults("dataplane", drop_after=0.3, drop=0.2, throttle=0.1)
    jobs = [await client.create_job(BASE_MODEL, training.id, seed=105, suffix=f"run{n}") for n in range(6)]
    state = await world.state()  # before clearing: clearing also resets the injected counts
    await world.clear_faults()
    assert state["faults"]["injected"].get("dataplane.drop_after", 0) > 0
    assert state["counters"]["jobs.created"] == 6
    account = next(iter(state["accounts"].values()))
    assert sorted(account["jobs"]) == sorted(j.id for j in jobs)


async def test_pause_resume_cancel_under_faults(world: World) -> None:
    client = world.dataplane
    training = await client.upload_file(DATASETS / "good_training.jsonl")
    await client.wait_for_file(training.id, poll_interval=5.0)
    job = await client.create_job(BASE_MODEL, training.id, seed=1)
    while (await client.get_job(job.id)).status != "running":
        await world.advance(30)
    await world.advance(150)  # Azure pauses only a running job that has trained at least one step
    await world.set_faults("dataplane", drop_after=0.3, error=0.2)
    paused = await client.pause_job(job.id)
    assert paused.status in {"pausing", "paused"}
    while (await client.get_job(job.id)).status != "paused":
        await world.advance(10)
    assert (await client.resume_job(job.id)).status in {"resuming", "running"}
    assert (await client.cancel_job(job.id)).status == "cancelled"
    state = await world.state()
    await world.clear_faults()
    assert state["faults"]["injected"].get("dataplane.drop_after", 0) > 0
    assert state["counters"]["jobs.pause"] == 1 and state["counters"]["jobs.cancel"] == 1


async def test_cross_tenant_deploy_with_auxiliary_token() -> None:
    """A model trained in another tenant's account deploys here with `sourceAccount` + auxiliary token."""
    from emulator.config import AccountConfig, EmulatorConfig

    source = AccountConfig(
        name="source-aoai",
        subscription_id="00000000-0000-0000-0000-0000000000b2",
        resource_group="source-rg",
        tenant_id="00000000-0000-0000-0000-0000000000bb",
    )
    emulator = await emulator_server.start(speed=0, config=EmulatorConfig(extra_accounts=[source]))
    admin = httpx.AsyncClient(base_url=emulator.url)

    async def poll_sleep(seconds: float) -> None:
        await admin.post("/_emulator/clock/advance", json={"seconds": seconds})

    source_client = AzureOpenAIClient(
        emulator.account_url("source-aoai"), tokens=StaticTokenProvider("source-data"), poll_sleep=poll_sleep
    )
    arm = ArmClient(
        emulator.subscription_id,
        emulator.resource_group,
        emulator.account_name,
        tokens=StaticTokenProvider("destination-arm"),
        auxiliary_tokens=StaticTokenProvider("source-arm"),
        base_url=emulator.arm_url,
        poll_sleep=poll_sleep,
    )
    try:
        training = await source_client.upload_file(DATASETS / "good_training.jsonl")
        await source_client.wait_for_file(training.id, poll_interval=5.0)
        job = await source_client.create_job(BASE_MODEL, training.id, seed=105)
        done = await source_client.wait_for_job(job.id, poll_interval=300.0)
        assert done.succeeded and done.fine_tuned_model
        deployment = await arm.deploy("from-source", done.fine_tuned_model, source_account=source.arm_id)
        assert deployment.succeeded
    finally:
        await source_client.aclose()
        await arm.aclose()
        await admin.aclose()
        await emulator.close()
