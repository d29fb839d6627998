"""Faults per surface, auth on the data plane, and the admin API over HTTP."""

from __future__ import annotations

import httpx
import pytest
from aiohttp import web

from emulator import datasets
from emulator.server import RunningEmulator
from tests.emulator.conftest import API, create_job, deploy, upload


async def set_faults(emulator: RunningEmulator, surface: str, **spec: float) -> httpx.Response:
    async with httpx.AsyncClient(base_url=emulator.url) as admin:
        return await admin.put(f"/_emulator/faults/{surface}", json=spec)


async def test_throttling_answers_429_with_retry_after(
    emulator: RunningEmulator, client: httpx.AsyncClient, arm: httpx.AsyncClient
) -> None:
    assert (await set_faults(emulator, "dataplane", throttle=1.0, retry_after=7)).status_code == 200
    response = await client.get("/openai/fine_tuning/jobs")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.headers["retry-after-ms"] == "7000" and response.json()["error"]["code"] == "429"
    assert (
        await deploy(arm, emulator, "still-fine", "gpt-4o")
    ).status_code == 201  # other surfaces unaffected
    await set_faults(emulator, "arm", error=1.0, error_status=500)
    failed = await arm.get(f"{emulator.account_id}/deployments")
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "InternalFailure"
    async with httpx.AsyncClient(base_url=emulator.url) as admin:
        assert (await admin.delete("/_emulator/faults")).json()["specs"] == {}
    assert (await client.get("/openai/fine_tuning/jobs")).status_code == 200


async def test_a_fraction_of_requests_fail_reproducibly(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    async def run() -> list[int]:
        await set_faults(emulator, "dataplane", throttle=0.15, error=0.15, latency_ms=1)
        codes = [(await client.get("/openai/files")).status_code for _ in range(60)]
        async with httpx.AsyncClient(base_url=emulator.url) as admin:
            await admin.delete("/_emulator/faults")  # clearing all also re-seeds the draws
        return codes

    first = await run()
    assert 8 <= sum(1 for c in first if c != 200) <= 30
    assert {429, 503, 200} == set(first)
    assert await run() == first


async def test_dropped_connections_before_and_after_processing(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    training = await upload(client, "good_training")
    await set_faults(emulator, "dataplane", drop=1.0)
    with pytest.raises(httpx.TransportError):
        await create_job(client, model="gpt-4o", training_file=training["id"])
    assert emulator.state.counters["jobs.create"] == 0  # never reached the service
    await set_faults(emulator, "dataplane", drop_after=1.0)
    with pytest.raises(httpx.TransportError):
        await create_job(client, model="gpt-4o", training_file=training["id"])
    assert emulator.state.counters["jobs.created"] == 1  # processed, but the reply was lost
    assert len(emulator.state.default_account.jobs) == 1
    assert emulator.state.faults.injected == {"dataplane.drop": 1, "dataplane.drop_after": 1}


async def test_invalid_fault_specs_are_refused(emulator: RunningEmulator) -> None:
    assert (await set_faults(emulator, "dataplane", throttle=0.8, error=0.5)).status_code == 400
    assert (await set_faults(emulator, "nowhere", throttle=0.1)).status_code == 400
    assert (await set_faults(emulator, "arm", error=0.1, error_status=404)).status_code == 400


async def test_data_plane_auth_and_api_version(emulator: RunningEmulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.url, params=API) as anonymous:
        denied = await anonymous.get("/openai/files")
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "401"
        bearer = await anonymous.get("/openai/files", headers={"Authorization": "Bearer entra-token"})
        assert bearer.status_code == 200
    async with httpx.AsyncClient(base_url=emulator.url, headers={"api-key": "k"}) as keyed:
        assert (await keyed.get("/openai/files")).status_code == 404  # no api-version
        assert (await keyed.get("/openai/files", params={"api-version": "2024-10-21"})).status_code == 200
        emulator.state.config.api_key = "the-key"
        assert (await keyed.get("/openai/files", params=API)).status_code == 401
        assert (
            await keyed.get("/openai/files", params=API, headers={"api-key": "the-key"})
        ).status_code == 200


async def test_admin_clock_state_and_reset(emulator: RunningEmulator, client: httpx.AsyncClient) -> None:
    await upload(client, "good_training")
    async with httpx.AsyncClient(base_url=emulator.url) as admin:
        before = (await admin.get("/_emulator/clock")).json()
        after = (await admin.post("/_emulator/clock/advance", json={"days": 2, "hours": 1})).json()
        assert after["now"] - before["now"] == pytest.approx(2 * 86400 + 3600)
        assert (await admin.post("/_emulator/clock/advance", json={"days": -1})).status_code == 400
        assert (await admin.put("/_emulator/clock/speed", json={"speed": 0})).json()["speed"] == 0
        state = (await admin.get("/_emulator/state")).json()
        assert state["counters"]["files.upload"] == 1
        assert list(state["accounts"]["emulated-aoai"]["files"].values()) == ["processed"]
        assert set(state["accounts"]) == {"emulated-aoai", "second", "foreign"}
        reset = (await admin.post("/_emulator/reset")).json()
        assert reset["counters"] == {} and reset["accounts"]["emulated-aoai"]["files"] == {}


async def test_import_fetches_the_url(emulator: RunningEmulator, client: httpx.AsyncClient) -> None:
    app = web.Application()
    content = datasets.path("good_validation").read_bytes()

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=content)

    app.router.add_get("/blob/valid.jsonl", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        body = {
            "purpose": "fine-tune",
            "filename": "valid.jsonl",
            "content_url": f"http://{host}:{port}/blob/valid.jsonl",
        }
        imported = await client.post("/openai/files/import", json=body)
        assert imported.status_code == 201 and imported.json()["bytes"] == len(content)
        missing = await client.post(
            "/openai/files/import", json={**body, "content_url": f"http://{host}:{port}/nope"}
        )
        emulator.advance(10)
        got = (await client.get(f"/openai/files/{imported.json()['id']}")).json()
        failed = (await client.get(f"/openai/files/{missing.json()['id']}")).json()
        assert got["status"] == "processed"
        assert failed["status"] == "error" and "HTTP 404" in failed["status_details"]
    finally:
        await runner.cleanup()


async def test_faults_limited_to_some_requests_sit_side_by_side(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    """`only` aims a spec at matching "METHOD /path" requests; one per `only`, in front of the surface's own."""
    training = await upload(client, "good_training")
    async with httpx.AsyncClient(base_url=emulator.url) as admin:
        await admin.put(
            "/_emulator/faults/dataplane", json={"only": "^POST .*/fine_tuning/jobs$", "drop_after": 1}
        )
        body = (
            await admin.put("/_emulator/faults/dataplane", json={"only": "^GET .*/jobs$", "error": 1})
        ).json()
        assert [r["only"] for r in body["rules"]["dataplane"]] == [
            "^POST .*/fine_tuning/jobs$",
            "^GET .*/jobs$",
        ]
        assert body["specs"] == {}
        bad = await admin.put("/_emulator/faults/dataplane", json={"only": "(unclosed"})
        assert bad.status_code == 400 and "regular expression" in bad.text
    with pytest.raises(httpx.TransportError):
        await create_job(client, model="gpt-4o", training_file=training["id"])
    assert (await client.get("/openai/fine_tuning/jobs")).status_code == 503
    assert (await client.get("/openai/files")).status_code == 200  # not matched: untouched
    assert emulator.state.counters["jobs.created"] == 1


async def test_latency_after_holds_the_answer_to_work_already_done(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    import asyncio

    await set_faults(emulator, "dataplane", latency_after_ms=2000)
    pending = asyncio.create_task(upload(client, "good_training"))
    for _ in range(100):
        if emulator.state.default_account.files:
            break
        await asyncio.sleep(0.02)
    assert len(emulator.state.default_account.files) == 1 and not pending.done()
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
