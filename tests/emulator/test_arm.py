"""ARM deployments, async operations, the idle rule, cross-tenant deploys and Monitor metrics."""

from __future__ import annotations

from typing import Any

import httpx

from emulator.server import RunningEmulator
from tests.emulator.conftest import BEARER, KEY, deploy, deployment_path, run_job

DAY = 86400
CHAT = {"messages": [{"role": "user", "content": "hello"}]}


async def state_of(arm: httpx.AsyncClient, emulator: RunningEmulator, name: str) -> str:
    response = await arm.get(deployment_path(emulator, name))
    if response.status_code == 404:
        return "absent"
    state: str = response.json()["properties"]["provisioningState"]
    return state


async def test_deployment_goes_accepted_creating_succeeded(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    job = await run_job(emulator, client)
    created = await deploy(arm, emulator, "ft-one", job["fine_tuned_model"])
    assert created.status_code == 201 and created.json()["properties"]["provisioningState"] == "Accepted"
    operation = created.headers["Azure-AsyncOperation"]
    assert "/operationResults/" in operation and "api-version=2024-10-01" in operation
    assert (await arm.get(operation)).json()["status"] == "InProgress"
    too_early = await client.post("/openai/deployments/ft-one/chat/completions", json=CHAT)
    assert too_early.status_code == 404 and too_early.json()["error"]["code"] == "DeploymentNotFound"
    emulator.advance(15)
    assert await state_of(arm, emulator, "ft-one") == "Creating"
    emulator.advance(300)
    assert await state_of(arm, emulator, "ft-one") == "Succeeded"
    assert (await arm.get(operation)).json()["status"] == "Succeeded"
    reply = await client.post("/openai/deployments/ft-one/chat/completions", json=CHAT)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["role"] == "assistant"
    assert reply.json()["model"] == job["fine_tuned_model"]
    updated = await deploy(arm, emulator, "ft-one", job["fine_tuned_model"])
    assert updated.status_code == 200 and updated.json()["properties"]["provisioningState"] == "Succeeded"


async def test_one_deployment_per_model_and_checkpoints_deploy(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    job = await run_job(emulator, client)
    checkpoints = (await client.get(f"/openai/fine_tuning/jobs/{job['id']}/checkpoints")).json()["data"]
    assert (await deploy(arm, emulator, "final", job["fine_tuned_model"])).status_code == 201
    twin = await deploy(arm, emulator, "final-again", job["fine_tuned_model"])
    assert twin.status_code == 409 and twin.json()["error"]["code"] == "Conflict"
    # Checkpoints come newest first; the newest is the fine-tuned model itself.
    final_checkpoint = await deploy(arm, emulator, "final-ckpt", checkpoints[0]["id"])
    assert final_checkpoint.status_code == 409
    assert (await deploy(arm, emulator, "by-id", checkpoints[-1]["id"])).status_code == 201
    by_name = await deploy(arm, emulator, "by-name", checkpoints[1]["fine_tuned_model_checkpoint"])
    assert by_name.status_code == 201
    same_ckpt = await deploy(arm, emulator, "by-name-2", checkpoints[-1]["fine_tuned_model_checkpoint"])
    assert same_ckpt.status_code == 409
    unknown = await deploy(arm, emulator, "nope", "gpt-35-turbo-0125.ft-00000000000000000000000000000000")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "DeploymentModelNotSupported"
    base = await deploy(arm, emulator, "base", "gpt-4o-mini")
    assert base.status_code == 201


async def test_fine_tuned_deployment_quota(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    assert emulator.state.config.fine_tuned_deployment_quota == 10  # quotas-limits.md, 2026-02-17
    emulator.state.config.fine_tuned_deployment_quota = 5
    models: list[str] = []
    for _ in range(2):
        job = await run_job(emulator, client)
        checkpoints = (await client.get(f"/openai/fine_tuning/jobs/{job['id']}/checkpoints")).json()["data"]
        models += [job["fine_tuned_model"], checkpoints[1]["id"], checkpoints[2]["id"]]
    codes = [(await deploy(arm, emulator, f"d{i}", m)).status_code for i, m in enumerate(models)]
    assert codes == [201, 201, 201, 201, 201, 400]
    over = await deploy(arm, emulator, "d5", models[5])
    assert over.json()["error"]["code"] == "InsufficientQuota"
    assert (await deploy(arm, emulator, "plain", "gpt-4o")).status_code == 201  # base models do not count


async def test_list_pages_with_next_link_and_delete(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    emulator.state.config.arm_page_size = 2
    for i in range(5):
        assert (await deploy(arm, emulator, f"base-{i}", "gpt-4o-mini")).status_code == 201
    names: list[str] = []
    body: dict[str, Any] = (await arm.get(deployment_path(emulator))).json()
    pages = 1
    # nextLink is followed verbatim (a client with default params would rewrite its query).
    async with httpx.AsyncClient(headers=BEARER) as plain:
        while True:
            names += [d["name"] for d in body["value"]]
            if "nextLink" not in body or pages > 5:
                break
            body = (await plain.get(body["nextLink"])).json()
            pages += 1
    assert names == [f"base-{i}" for i in range(5)] and pages == 3
    deleted = await arm.delete(deployment_path(emulator, "base-0"))
    assert deleted.status_code == 202 and "Azure-AsyncOperation" in deleted.headers
    assert await state_of(arm, emulator, "base-0") == "Deleting"
    emulator.advance(60)
    assert await state_of(arm, emulator, "base-0") == "absent"
    assert (await arm.get(deleted.headers["Azure-AsyncOperation"])).json()["status"] == "Succeeded"
    assert (await arm.delete(deployment_path(emulator, "base-0"))).status_code == 204


async def test_arm_needs_a_bearer_token_and_a_known_account(emulator: RunningEmulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.arm_url, headers=KEY) as http:
        response = await http.get(deployment_path(emulator), params={"api-version": "2024-10-01"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "AuthenticationFailed"
    async with httpx.AsyncClient(base_url=emulator.arm_url, headers=BEARER) as http:
        no_version = await http.get(deployment_path(emulator))
        assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
        wrong = deployment_path(emulator).replace(emulator.resource_group, "other-rg")
        missing = await http.get(wrong, params={"api-version": "2024-10-01"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"


async def test_cross_tenant_needs_the_auxiliary_header(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    foreign = await run_job(emulator, client, prefix="/accounts/foreign")
    sibling = await run_job(emulator, client, prefix="/accounts/second")
    foreign_id = emulator.state.account("foreign").config.arm_id
    sibling_id = emulator.state.account("second").config.arm_id
    model = foreign["fine_tuned_model"]
    refused = await deploy(arm, emulator, "x-tenant", model, sourceAccount=foreign_id)
    assert refused.status_code == 401 and "x-ms-authorization-auxiliary" in refused.json()["error"]["message"]
    wrong_field = await deploy(arm, emulator, "x-tenant", model, source=foreign_id)
    assert wrong_field.status_code == 403
    body = {
        "sku": {"name": "Standard", "capacity": 1},
        "properties": {"model": {"name": model, "sourceAccount": foreign_id}},
    }
    aux = {"x-ms-authorization-auxiliary": "Bearer source-tenant-token"}
    allowed = await arm.put(deployment_path(emulator, "x-tenant"), json=body, headers=aux)
    assert allowed.status_code == 201
    same_tenant = await deploy(arm, emulator, "x-sub", sibling["fine_tuned_model"], source=sibling_id)
    assert same_tenant.status_code == 201
    local_only = await deploy(arm, emulator, "no-source", sibling["fine_tuned_model"])
    assert local_only.status_code == 400


async def test_idle_fine_tuned_deployment_is_deleted_after_15_days(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    job = await run_job(emulator, client)
    assert (await deploy(arm, emulator, "used", job["fine_tuned_model"])).status_code == 201
    checkpoint = (await client.get(f"/openai/fine_tuning/jobs/{job['id']}/checkpoints")).json()["data"][1]
    assert (await deploy(arm, emulator, "idle", checkpoint["id"])).status_code == 201
    assert (await deploy(arm, emulator, "base", "gpt-4o")).status_code == 201
    emulator.advance(10 * DAY)
    assert (await client.post("/openai/deployments/used/chat/completions", json=CHAT)).status_code == 200
    emulator.advance(5 * DAY + 60)
    assert await state_of(arm, emulator, "idle") == "absent"
    assert await state_of(arm, emulator, "used") == "Succeeded"
    emulator.advance(10 * DAY)
    assert await state_of(arm, emulator, "used") == "absent"
    assert await state_of(arm, emulator, "base") == "Succeeded"  # the rule is for custom models
    assert [name for name, _ in emulator.state.default_account.idle_deleted] == ["idle", "used"]


async def test_monitor_counts_calls_per_deployment(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    for name in ("alpha", "beta", "quiet"):
        assert (await deploy(arm, emulator, name, "gpt-4o-mini")).status_code == 201
    emulator.advance(DAY)
    start = float(int(emulator.state.now()))  # timespans have whole seconds
    for name, calls in (("alpha", 3), ("beta", 1)):
        for _ in range(calls):
            assert (
                await client.post(f"/openai/deployments/{name}/chat/completions", json=CHAT)
            ).status_code == 200
    emulator.advance(DAY)
    assert (
        await client.post("/openai/deployments/alpha/completions", json={"prompt": "hi"})
    ).status_code == 200
    end = start + 2 * DAY

    def iso(ts: float) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    params = {
        "api-version": "2023-10-01",
        "metricnames": "AzureOpenAIRequests",
        "timespan": f"{iso(start)}/{iso(end)}",
        "interval": "P1D",
        "aggregation": "Total",
        "$filter": "ModelDeploymentName eq '*'",
    }
    url = f"{emulator.account_id}/providers/Microsoft.Insights/metrics"
    body = (await arm.get(url, params=params)).json()
    assert body["interval"] == "P1D"
    series = {
        s["metadatavalues"][0]["value"]: [p["total"] for p in s["data"]]
        for s in body["value"][0]["timeseries"]
    }
    assert series == {"alpha": [3.0, 1.0], "beta": [1.0, 0.0]}  # no series for a deployment without calls
    one = (
        await arm.get(
            url,
            params={**params, "$filter": "ModelDeploymentName eq 'quiet'", "metricnames": "ModelRequests"},
        )
    ).json()
    assert [p["total"] for p in one["value"][0]["timeseries"][0]["data"]] == [0.0, 0.0]
    unsplit = (await arm.get(url, params={k: v for k, v in params.items() if k != "$filter"})).json()
    assert [p["total"] for p in unsplit["value"][0]["timeseries"][0]["data"]] == [4.0, 1.0]
    bad = await arm.get(url, params={**params, "metricnames": "Nonsense"})
    assert bad.status_code == 400 and "Valid metrics" in bad.json()["error"]["message"]


DEVELOPER_API = {"api-version": "2025-07-01-preview"}  # DeveloperTier needs this ARM version or later
RFT = {"type": "reinforcement", "reinforcement": {"grader": {"type": "string_check"}}}


async def put_sku(
    arm: httpx.AsyncClient, emulator: RunningEmulator, name: str, model: str, sku: str
) -> httpx.Response:
    body = {
        "sku": {"name": sku, "capacity": 50},
        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
    }
    return await arm.put(deployment_path(emulator, name), json=body, params=DEVELOPER_API)


async def test_developer_tier_follows_the_per_model_table_and_takes_any_case(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    # fine-tuning-deploy.md (2026-02-11): Developer deployments for o4-mini and the gpt-4.1 family only; gpt-4o
    # and gpt-4o-mini train as Developer but do not deploy so.
    mini = await run_job(emulator, client)
    refused = await put_sku(arm, emulator, "dev-4o-mini", mini["fine_tuned_model"], "DeveloperTier")
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "InvalidResourceProperties"
    assert error["message"] == (
        "The specified SKU 'DeveloperTier' for model 'gpt-4o-mini 2024-07-18' is not supported in this region "
        f"'{emulator.state.default_account.config.location}'."
    )
    assert "dev-4o-mini" not in emulator.state.default_account.deployments
    # Any case, as ARM takes it, and echoed as sent; the lower-case one is still a 24-hour Developer deployment.
    four_one = await run_job(emulator, client, model="gpt-4.1-mini-2025-04-14")
    made = await put_sku(arm, emulator, "dev-41-mini", four_one["fine_tuned_model"], "developertier")
    assert made.status_code == 201, made.text
    assert made.json()["sku"] == {"name": "developertier", "capacity": 50}
    assert emulator.state.default_account.deployments["dev-41-mini"].developer
    rft = await run_job(emulator, client, model="o4-mini-2025-04-16", method=RFT)
    assert rft["status"] == "succeeded", rft
    o4 = await put_sku(arm, emulator, "dev-o4-mini", rft["fine_tuned_model"], "DeveloperTier")
    assert o4.status_code == 201, o4.text
    # Standard spelled as Microsoft's REST samples spell it works for any of them.
    standard = await put_sku(arm, emulator, "std-4o-mini", mini["fine_tuned_model"], "standard")
    assert (
        standard.status_code == 201
        and not emulator.state.default_account.deployments["std-4o-mini"].developer
    )
