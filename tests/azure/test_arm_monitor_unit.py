"""ArmClient and MetricsClient against scripted answers: async operations, nextLink, cross-tenant, metrics."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.azure.arm import ArmClient
from bot.azure.auth import StaticTokenProvider
from bot.azure.errors import AzureError, BadRequest, Conflict, QuotaExceeded
from bot.azure.monitor import MetricsClient, parse_daily_totals

from .fakes import FakeTime, Script, error_response, json_response

ARM = "https://management.azure.com"
ACCOUNT = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct"
SPEC = Path(__file__).parent / "spec"
MODEL = "gpt-4o-mini-2024-07-18.ft-" + "b" * 32


def _deployment(name: str, state: str, model: str = MODEL) -> dict[str, Any]:
    return {
        "id": f"{ACCOUNT}/deployments/{name}",
        "name": name,
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "sku": {"name": "standard", "capacity": 1},
        "properties": {
            "model": {"format": "OpenAI", "name": model, "version": "1"},
            "provisioningState": state,
        },
    }


def _arm(script: Script, time: FakeTime, **options: Any) -> ArmClient:
    async def no_wait(seconds: float) -> None:
        time.sleeps.append(seconds)

    return ArmClient(
        "sub",
        "rg",
        "acct",
        tokens=StaticTokenProvider("dest-token"),
        http=script.client(),
        retry=time.policy(),
        poll_sleep=no_wait,
        **options,
    )


async def test_deploy_follows_the_async_operation() -> None:
    operation = f"{ARM}/subscriptions/sub/providers/Microsoft.CognitiveServices/locations/x/operationResults/op1?api-version=2024-10-01"
    polls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return json_response(201, _deployment("dep", "Accepted"), {"Azure-AsyncOperation": operation})
        if "operationResults" in request.url.path:
            polls["n"] += 1
            return json_response(200, {"status": "Succeeded" if polls["n"] >= 3 else "InProgress"})
        return json_response(200, _deployment("dep", "Succeeded"))

    script = Script(handler)
    time = FakeTime()
    async with _arm(script, time) as arm:
        deployment = await arm.deploy("dep", MODEL, poll_interval=7.0, sku="GlobalStandard", capacity=2)
    assert deployment.succeeded
    put = script.requests[0]
    assert put.url.path == f"{ACCOUNT}/deployments/dep"
    assert put.url.params["api-version"] == "2024-10-01"
    assert put.headers["authorization"] == "Bearer dest-token"
    assert "x-ms-authorization-auxiliary" not in put.headers
    assert json.loads(script.bodies[0]) == {
        "sku": {"name": "GlobalStandard", "capacity": 2},
        "properties": {"model": {"format": "OpenAI", "name": MODEL, "version": "1"}},
    }
    op_calls = [r for r in script.requests if "operationResults" in r.url.path]
    assert len(op_calls) == 3 and all(r.url.params["api-version"] == "2024-10-01" for r in op_calls)
    assert time.sleeps == [7.0, 7.0]


async def test_wait_without_operation_polls_the_deployment_and_is_bounded() -> None:
    script = Script(lambda r: json_response(200, _deployment("dep", "Creating")))
    time = FakeTime()
    async with _arm(script, time) as arm:
        with pytest.raises(AzureError, match="still Creating"):
            await arm.wait_for_deployment("dep", poll_interval=10.0, max_wait=0.0)


async def test_cross_tenant_deploy_sends_the_auxiliary_token() -> None:
    script = Script(lambda r: json_response(200, _deployment("dep", "Succeeded")))
    source = "/subscriptions/other/resourceGroups/rg2/providers/Microsoft.CognitiveServices/accounts/src"
    async with _arm(script, FakeTime(), auxiliary_tokens=StaticTokenProvider("source-token")) as arm:
        await arm.put_deployment("dep", MODEL, source_account=source)
        await arm.put_deployment("dep", MODEL, source=source)
    cross, regional = script.requests
    assert cross.headers["x-ms-authorization-auxiliary"] == "Bearer source-token"
    assert json.loads(script.bodies[0])["properties"]["model"]["sourceAccount"] == source
    assert "x-ms-authorization-auxiliary" not in regional.headers
    assert json.loads(script.bodies[1])["properties"]["model"]["source"] == source


async def test_cross_tenant_without_auxiliary_provider_is_refused_before_any_call() -> None:
    script = Script(lambda r: json_response(200, {}))
    async with _arm(script, FakeTime()) as arm:
        with pytest.raises(ValueError, match="auxiliary"):
            await arm.put_deployment("dep", MODEL, source_account="/subscriptions/x")
    assert script.requests == []


async def test_conflict_is_not_retried_and_same_model_same_name_counts_as_done() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return error_response(409, "Conflict", "already deployed")
        name = request.url.path.rsplit("/", 1)[1]
        if name == "mine":
            return json_response(200, _deployment("mine", "Succeeded"))
        return error_response(404, "DeploymentNotFound", "no")

    script = Script(handler)
    time = FakeTime()
    async with _arm(script, time) as arm:
        assert (await arm.put_deployment("mine", MODEL)).deployment.succeeded
        with pytest.raises(Conflict):
            await arm.put_deployment("other", MODEL)
    assert script.count("PUT", "/other") == 1
    assert time.sleeps == []


async def test_quota_error_is_typed() -> None:
    script = Script(lambda r: error_response(400, "InsufficientQuota", "max 5 fine-tuned deployments"))
    async with _arm(script, FakeTime()) as arm:
        with pytest.raises(QuotaExceeded):
            await arm.put_deployment("dep", MODEL)


async def test_list_follows_next_link_and_refuses_foreign_hosts() -> None:
    pages = {
        None: {
            "value": [_deployment("a", "Succeeded")],
            "nextLink": f"{ARM}{ACCOUNT}/deployments?api-version=2024-10-01&$skipToken=2",
        },
        "2": {
            "value": [_deployment("b", "Creating")],
            "nextLink": f"{ARM}{ACCOUNT}/deployments?api-version=2024-10-01&$skipToken=3",
        },
        "3": {"value": [_deployment("c", "Failed")], "nextLink": None},
    }
    script = Script(lambda r: json_response(200, pages[r.url.params.get("$skipToken")]))
    async with _arm(script, FakeTime()) as arm:
        assert [d.name for d in await arm.list_deployments()] == ["a", "b", "c"]
    assert [r.url.params.get("api-version") for r in script.requests] == ["2024-10-01"] * 3

    evil = Script(lambda r: json_response(200, {"value": [], "nextLink": "https://attacker.example/steal"}))
    async with _arm(evil, FakeTime()) as arm:
        with pytest.raises(BadRequest, match="another host"):
            await arm.list_deployments()
    assert len(evil.requests) == 1


async def test_delete_variants() -> None:
    answers = iter([httpx.Response(204), httpx.Response(200), error_response(404, "DeploymentNotFound", "x")])
    script = Script(lambda r: next(answers))
    async with _arm(script, FakeTime()) as arm:
        assert await arm.delete_deployment("gone") is False
        assert await arm.delete_deployment("there") is True
        assert await arm.delete_deployment("missing") is False


async def test_delete_waits_for_the_operation() -> None:
    operation = f"{ARM}/subscriptions/sub/providers/Microsoft.CognitiveServices/locations/x/operationResults/d1?api-version=2024-10-01"
    states = iter(["InProgress", "Succeeded"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(202, headers={"Azure-AsyncOperation": operation})
        return json_response(200, {"status": next(states)})

    time = FakeTime()
    async with _arm(Script(handler), time) as arm:
        assert await arm.delete_deployment("dep", wait=True, poll_interval=3.0)
    assert time.sleeps == [3.0]


# ---- metrics ---------------------------------------------------------------------------------------


def _series(name: str, points: list[tuple[str, float | None]]) -> dict[str, Any]:
    return {
        "metadatavalues": [{"name": {"value": "modeldeploymentname", "localizedValue": "x"}, "value": name}],
        "data": [{"timeStamp": ts, "total": total} for ts, total in points],
    }


async def test_metrics_query_and_daily_totals() -> None:
    body = {
        "value": [
            {
                "name": {"value": "AzureOpenAIRequests"},
                "errorCode": "Success",
                "timeseries": [
                    _series("dep-a", [("2025-01-01T00:00:00Z", 3.0), ("2025-01-02T00:00:00Z", None)]),
                    _series("dep-b", [("2025-01-01T00:00:00Z", 0.0)]),
                ],
            }
        ]
    }
    script = Script(lambda r: json_response(200, body))
    time = FakeTime()
    async with MetricsClient(
        tokens=StaticTokenProvider("t"), http=script.client(), retry=time.policy()
    ) as metrics:
        usage = await metrics.deployment_daily_totals(
            ACCOUNT, start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2025, 1, 3)
        )
    request = script.requests[0]
    assert request.url.path == f"{ACCOUNT}/providers/Microsoft.Insights/metrics"
    assert dict(request.url.params) == {
        "metricnames": "AzureOpenAIRequests",
        "timespan": "2025-01-01T00:00:00Z/2025-01-03T00:00:00Z",
        "interval": "P1D",
        "aggregation": "Total",
        "$filter": "ModelDeploymentName eq '*'",
        "top": "1000",  # Azure answers 10 series unless asked for more
        "api-version": "2023-10-01",
    }
    assert usage["dep-a"].daily == {date(2025, 1, 1): 3.0, date(2025, 1, 2): 0.0}
    assert usage["dep-a"].total == 3.0 and usage["dep-a"].last_used == date(2025, 1, 1)
    assert usage["dep-b"].total == 0.0 and usage["dep-b"].last_used is None


def test_metric_error_in_the_spec_example_is_raised() -> None:
    body = json.loads((SPEC / "monitor-2023-10-01_GetMetricError.json").read_text())["responses"]["200"][
        "body"
    ]
    with pytest.raises(AzureError) as raised:
        parse_daily_totals(body)
    assert raised.value.code == "InvalidSamplingType"


def test_no_series_means_no_traffic() -> None:
    assert parse_daily_totals({"value": [{"errorCode": "Success", "timeseries": []}]}) == {}
    assert parse_daily_totals({}) == {}


async def test_per_call_auxiliary_tokens_and_developer_api_version() -> None:
    script = Script(lambda r: json_response(200, _deployment("dep", "Succeeded")))
    source = "/subscriptions/other/resourceGroups/rg2/providers/Microsoft.CognitiveServices/accounts/src"
    async with _arm(script, FakeTime()) as arm:
        await arm.put_deployment(
            "dep", MODEL, source_account=source, auxiliary_tokens=StaticTokenProvider("per-call")
        )
        await arm.put_deployment("dev", MODEL, sku="DeveloperTier", capacity=50)
        await arm.put_deployment("std", MODEL, sku="Standard")
        await arm.put_deployment("dev-low", MODEL, sku="developertier", capacity=50)
    cross, developer, standard, lower = script.requests
    assert cross.headers["x-ms-authorization-auxiliary"] == "Bearer per-call"
    # DeveloperTier exists only from api-version 2025-07-01-preview on (in any case); other SKUs keep the
    # configured one.
    assert developer.url.params["api-version"] == "2025-07-01-preview"
    assert lower.url.params["api-version"] == "2025-07-01-preview"
    assert standard.url.params["api-version"] == "2024-10-01"
