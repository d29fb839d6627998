"""An in-process emulator on an ephemeral port with a frozen clock: tests move time explicitly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emulator import datasets
from emulator.config import AccountConfig, EmulatorConfig
from emulator.server import RunningEmulator, start

API = {"api-version": "2025-04-01-preview"}
ARM_API = {"api-version": "2024-10-01"}
KEY = {"api-key": "test-key"}
BEARER = {"Authorization": "Bearer test-token"}
OTHER_TENANT = "00000000-0000-0000-0000-0000000000bb"
TERMINAL = {"succeeded", "failed", "cancelled"}


def make_config(**overrides: Any) -> EmulatorConfig:
    config = EmulatorConfig(
        speed=0,
        extra_accounts=[
            AccountConfig(name="second", subscription_id="00000000-0000-0000-0000-000000000002"),
            AccountConfig(name="foreign", tenant_id=OTHER_TENANT),
        ],
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    running = await start(config=make_config())
    yield running
    await running.close()


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.url, headers=KEY, params=API) as http:
        yield http


@pytest.fixture
async def arm(emulator: RunningEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.arm_url, headers=BEARER, params=ARM_API) as http:
        yield http


def deployment_path(emulator: RunningEmulator, name: str = "", account: str | None = None) -> str:
    base = emulator.account_id
    if account is not None:
        base = emulator.state.account(account).config.arm_id
    return f"{base}/deployments/{name}" if name else f"{base}/deployments"


async def upload(client: httpx.AsyncClient, dataset: str, prefix: str = "") -> dict[str, Any]:
    content = datasets.path(dataset).read_bytes()
    response = await client.post(
        f"{prefix}/openai/files", data={"purpose": "fine-tune"}, files={"file": (f"{dataset}.jsonl", content)}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_job(client: httpx.AsyncClient, prefix: str = "", **body: Any) -> httpx.Response:
    return await client.post(f"{prefix}/openai/fine_tuning/jobs", json=body)


async def get_job(client: httpx.AsyncClient, job_id: str, prefix: str = "") -> dict[str, Any]:
    response = await client.get(f"{prefix}/openai/fine_tuning/jobs/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_job(
    emulator: RunningEmulator,
    client: httpx.AsyncClient,
    training: str = "good_training",
    validation: str | None = "good_validation",
    prefix: str = "",
    **params: Any,
) -> dict[str, Any]:
    """Upload, create, play the clock until the job ends; returns the final job."""
    body: dict[str, Any] = {"model": "gpt-4o-mini-2024-07-18", **params}
    body["training_file"] = (await upload(client, training, prefix))["id"]
    if validation is not None:
        body["validation_file"] = (await upload(client, validation, prefix))["id"]
    response = await create_job(client, prefix, **body)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    for _ in range(1000):
        emulator.advance(600)
        job = await get_job(client, job_id, prefix)
        if job["status"] in TERMINAL:
            return job
    raise AssertionError("job did not finish")


async def all_events(client: httpx.AsyncClient, job_id: str, page: int = 20) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": page}
    while True:
        body = (
            await client.get(f"/openai/fine_tuning/jobs/{job_id}/events", params={**API, **params})
        ).json()
        events.extend(body["data"])
        if not body["has_more"]:
            return events
        params["after"] = body["data"][-1]["id"]


async def deploy(
    arm: httpx.AsyncClient, emulator: RunningEmulator, name: str, model: str, **extra: Any
) -> httpx.Response:
    body = {
        "sku": {"name": "Standard", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1", **extra}},
    }
    return await arm.put(deployment_path(emulator, name), json=body)
