"""Helpers for the idle guard's acceptance test and bench: fine-tuned models in the emulator, deployments made
straight through ARM (as the portal or a script would), calls, and metrics read back from the emulator."""

from __future__ import annotations

from typing import Any

import httpx

from tests.deploy.support import API, EmulatorProcess

ARM_API = {"api-version": "2025-07-01-preview"}  # DeveloperTier needs this version or later
BEARER = {"Authorization": "Bearer emulator-token-not-secret"}


def account_path(emu: EmulatorProcess, account: str | None = None) -> str:
    return (
        f"/subscriptions/{emu.subscription_id}/resourceGroups/{emu.resource_group}"
        f"/providers/Microsoft.CognitiveServices/accounts/{account or emu.account_name}"
    )


async def deployable_models(emu: EmulatorProcess, job_id: str, account: str | None = None) -> list[str]:
    """The fine-tuned model and its kept checkpoints' models (each can have one deployment)."""
    base = emu.account_url(account) if account else emu.url
    async with httpx.AsyncClient(base_url=base, headers={"api-key": "k"}, params=API) as azure:
        job = (await azure.get(f"/openai/fine_tuning/jobs/{job_id}")).json()
        page = (await azure.get(f"/openai/fine_tuning/jobs/{job_id}/checkpoints")).json()
    models = [job["fine_tuned_model"]]
    models += [c["fine_tuned_model_checkpoint"] for c in page["data"]]
    return list(dict.fromkeys(models))


async def arm_deploy(
    http: httpx.AsyncClient,
    emu: EmulatorProcess,
    name: str,
    model: str,
    sku: str = "Standard",
    account: str | None = None,
) -> None:
    body = {
        "sku": {"name": sku, "capacity": 50 if sku.lower() == "developertier" else 1},
        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
    }
    resp = await http.put(
        f"{emu.url}{account_path(emu, account)}/deployments/{name}", params=ARM_API, json=body, headers=BEARER
    )
    assert resp.status_code in (200, 201), resp.text


async def call(http: httpx.AsyncClient, emu: EmulatorProcess, deployment: str) -> None:
    resp = await http.post(
        f"{emu.url}/openai/deployments/{deployment}/chat/completions",
        params=API,
        headers={"api-key": "k"},
        json={"messages": [{"role": "user", "content": "hello"}], "max_tokens": 5},
    )
    assert resp.status_code == 200, resp.text


async def metrics_total(http: httpx.AsyncClient, emu: EmulatorProcess, deployment: str) -> float:
    """The deployment's request total over the last 2 days, as Azure Monitor (the emulator's) reports it."""
    resp = await http.get(
        f"{emu.url}{account_path(emu)}/providers/Microsoft.Insights/metrics",
        params={
            "api-version": "2023-10-01",
            "metricnames": "AzureOpenAIRequests",
            "timespan": "P2D",
            "interval": "P1D",
            "aggregation": "Total",
            "$filter": f"ModelDeploymentName eq '{deployment}'",
        },
        headers=BEARER,
    )
    resp.raise_for_status()
    total = 0.0
    for metric in resp.json()["value"]:
        for series in metric["timeseries"]:
            total += sum(point.get("total", 0.0) for point in series["data"])
    return total


def counters(state: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in state["counters"].items()}
