"""Two dated routes the v1 API does not have (azure-v1-v1-generated.yaml): `POST files/import` and
`DELETE fine_tuning/jobs/{id}`. On `/openai/v1/...` they answer as any unknown route there (404 `Resource not
found`, after the key check), and nothing happens; on a dated api-version they still work."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.server import RunningEmulator
from tests.emulator.conftest import API, KEY, run_job
from tests.support import datasets_app, serve

PREFIXES = ("", "/accounts/second")  # the default account and any other one


async def unknown_on_v1(http: httpx.AsyncClient, prefix: str) -> httpx.Response:
    """What the v1 API answers to a route it does not have: the answer both routes must give."""
    return await http.post(f"{prefix}/openai/v1/fine_tuning/no_such_route", json={})


def import_body(url: str) -> dict[str, Any]:
    return {
        "purpose": "fine-tune",
        "filename": "good_training.jsonl",
        "content_url": f"{url}/good_training.jsonl",
    }


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_v1_has_no_files_import(emulator: RunningEmulator, prefix: str) -> None:
    account = emulator.state.account(prefix.rsplit("/", 1)[-1] or None)
    async with serve(datasets_app()) as blob, httpx.AsyncClient(base_url=emulator.url, headers=KEY) as http:
        unknown = await unknown_on_v1(http, prefix)
        answer = await http.post(f"{prefix}/openai/v1/files/import", json=import_body(blob))
        no_key = await http.post(
            f"{prefix}/openai/v1/files/import", json=import_body(blob), headers={"api-key": ""}
        )
    assert unknown.status_code == 404
    assert (answer.status_code, answer.json()) == (404, unknown.json())
    assert answer.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert no_key.status_code == 401  # the key is checked first, as for any data-plane route
    assert account.files == {} and emulator.state.counters["files.import"] == 0


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_v1_cannot_delete_a_job(emulator: RunningEmulator, prefix: str) -> None:
    async with httpx.AsyncClient(base_url=emulator.url, headers=KEY, params=API) as dated:
        job = await run_job(emulator, dated, prefix=prefix)
    assert job["status"] == "succeeded"
    async with httpx.AsyncClient(base_url=emulator.url, headers=KEY) as http:
        unknown = await unknown_on_v1(http, prefix)
        path = f"{prefix}/openai/v1/fine_tuning/jobs/{job['id']}"
        answer = await http.delete(path)
        still = await http.get(path)
    assert (answer.status_code, answer.json()) == (404, unknown.json())
    assert still.status_code == 200 and still.json()["fine_tuned_model"] == job["fine_tuned_model"]


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_dated_versions_still_import_and_delete(emulator: RunningEmulator, prefix: str) -> None:
    async with (
        serve(datasets_app()) as blob,
        httpx.AsyncClient(base_url=emulator.url, headers=KEY, params=API) as dated,
    ):
        imported = await dated.post(f"{prefix}/openai/files/import", json=import_body(blob))
        assert imported.status_code == 201, imported.text
        emulator.advance(10)
        got = await dated.get(f"{prefix}/openai/files/{imported.json()['id']}")
        assert got.json()["status"] == "processed"
        job = await run_job(emulator, dated, prefix=prefix)
        path = f"{prefix}/openai/fine_tuning/jobs/{job['id']}"
        assert (await dated.delete(path)).status_code == 204
        assert (await dated.get(path)).status_code == 404
