"""Jobs on the simulated clock: lifecycle, events, checkpoints, paging, queueing, quotas, determinism."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import httpx
import pytest

from emulator.server import RunningEmulator, start
from tests.emulator.conftest import (
    API,
    KEY,
    TERMINAL,
    all_events,
    create_job,
    get_job,
    make_config,
    run_job,
    upload,
)

# Real runs (gpt-4o-mini 2025-05, gpt-4.1 2025-09): `Step 100: training loss=0.0007721185684204102`.
STEP_MESSAGE = re.compile(r"^Step (\d+): training loss=\d+\.\d+(e-\d+)?$")


async def results(client: httpx.AsyncClient, job: dict[str, object]) -> list[dict[str, str]]:
    files = job["result_files"]
    assert isinstance(files, list)
    response = await client.get(f"/openai/files/{files[0]}/content")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_status_runs_pending_running_succeeded(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    training = await upload(client, "good_training")
    assert training["status"] == "pending"
    emulator.advance(5)
    assert (await client.get(f"/openai/files/{training['id']}")).json()["status"] == "processed"
    created = await create_job(
        client, model="gpt-4o-mini-2024-07-18", training_file=training["id"], suffix="v1"
    )
    assert created.status_code == 201
    pending = created.json()
    # gpt-4.1 transcript 2025-09: pending jobs echo -1 for what is still to be chosen, `result_files: null`,
    # and already carry an estimate.
    assert pending["hyperparameters"] == {"n_epochs": -1, "batch_size": -1, "learning_rate_multiplier": 1.0}
    assert pending["result_files"] is None and pending["fine_tuned_model"] is None
    assert pending["estimated_finish"] > pending["created_at"]
    assert (
        created.headers["Location"].split("?")[0].endswith(f"/openai/fine_tuning/jobs/{created.json()['id']}")
    )
    job_id = created.json()["id"]
    assert re.fullmatch(r"ftjob-[0-9a-f]{32}", job_id)
    seen = []
    for _ in range(200):
        job = await get_job(client, job_id)
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] == "running":
            assert job["estimated_finish"] > job["created_at"]
        if job["status"] == "succeeded":
            break
        emulator.advance(30)
    assert seen == ["pending", "running", "succeeded"]
    assert job["fine_tuned_model"] == f"gpt-4o-mini-2024-07-18.ft-{job_id.removeprefix('ftjob-')}-v1"
    assert job["finished_at"] >= job["created_at"] and job["trained_tokens"] > 0
    # 24 examples: the default rule gives 4 epochs (small sets get more; 10 examples got 10 in 2025-05).
    assert job["hyperparameters"] == {"n_epochs": 4, "batch_size": 1, "learning_rate_multiplier": 1.0}
    assert job["estimated_finish"] is not None  # kept after success


async def test_events_are_newest_first_and_page_by_after(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    job = await run_job(emulator, client)
    events = await all_events(client, job["id"], page=7)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"ftevent-[0-9a-f]{32}", i) for i in ids)
    assert [e["created_at"] for e in events] == sorted((e["created_at"] for e in events), reverse=True)
    assert events[-1]["message"].startswith("Job enqueued")
    # The ending as real runs write it, newest first.
    assert [e["message"].split(":")[0] for e in events[:4]] == [
        "Training tokens billed",
        "Completed results file",
        "Model Evaluation Passed.",
        "Job succeeded.",
    ]
    billed = int(events[0]["message"].rsplit(" ", 1)[1])
    assert 0 < billed < job["trained_tokens"] and billed % 1000 == 0
    metrics = [e for e in events if e["type"] == "metrics"]
    assert [m["data"]["step"] for m in reversed(metrics)] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 96]
    last = metrics[0]
    assert all(STEP_MESSAGE.match(m["message"]) for m in metrics)
    assert last["message"] == f"Step 96: training loss={last['data']['train_loss']!r}"
    assert "total_steps" not in last["data"] and "validation" not in last["message"]
    assert last["data"]["full_valid_loss"] is not None  # step 96 ends an epoch
    mid_epoch = next(e for e in metrics if e["data"]["step"] == 10)
    assert "full_valid_loss" not in mid_epoch["data"]
    assert not [e for e in events if e["message"].startswith(("Checkpoint created", "Training completed"))]
    assert (await all_events(client, job["id"], page=100)) == events


async def test_checkpoints_one_per_epoch_last_three_kept(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    job = await run_job(emulator, client, hyperparameters={"n_epochs": 5})
    body = (await client.get(f"/openai/fine_tuning/jobs/{job['id']}/checkpoints")).json()
    steps = [c["step_number"] for c in body["data"]]
    assert steps == [120, 96, 72] and body["has_more"] is False  # newest first (real runs)
    # The newest checkpoint is the fine-tuned model itself; the others are `:ckpt-step-N`.
    assert body["data"][0]["fine_tuned_model_checkpoint"] == job["fine_tuned_model"]
    for checkpoint in body["data"][1:]:
        assert (
            checkpoint["fine_tuned_model_checkpoint"]
            == f"{job['fine_tuned_model']}:ckpt-step-{checkpoint['step_number']}"
        )
    for checkpoint in body["data"]:
        assert re.fullmatch(r"ftchkpt-[0-9a-f]{32}", checkpoint["id"])
        assert checkpoint["metrics"]["full_valid_loss"] > 0
        assert checkpoint["metrics"]["step"] == float(checkpoint["step_number"])
    first = (
        await client.get(f"/openai/fine_tuning/jobs/{job['id']}/checkpoints", params={**API, "limit": 2})
    ).json()
    assert len(first["data"]) == 2 and first["has_more"] is True


async def test_results_csv_has_documented_columns_and_falling_loss(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    rows = await results(client, await run_job(emulator, client))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "validation_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    ]
    assert len(rows) == 96 and rows[0]["full_valid_loss"] == "" and rows[23]["full_valid_loss"] != ""
    first = sum(float(r["train_loss"]) for r in rows[:5])
    last = sum(float(r["train_loss"]) for r in rows[-5:])
    assert last < first / 3


async def test_same_seed_data_and_params_give_identical_curves(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    a = await results(client, await run_job(emulator, client, seed=105))
    b = await results(client, await run_job(emulator, client, seed=105))
    c = await results(client, await run_job(emulator, client, seed=106))
    assert a == b and a != c


async def test_many_epochs_on_few_examples_overfit(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    def full_valid(rows: list[dict[str, str]]) -> list[float]:
        return [float(r["full_valid_loss"]) for r in rows if r["full_valid_loss"]]

    overfit = full_valid(
        await results(
            client, await run_job(emulator, client, "overfit_training", hyperparameters={"n_epochs": 12})
        )
    )
    assert overfit[-1] > 1.5 * min(overfit)  # validation loss turned up
    good = full_valid(await results(client, await run_job(emulator, client)))
    assert good[-1] <= 1.05 * min(good)


async def test_list_jobs_pages_newest_first(emulator: RunningEmulator, client: httpx.AsyncClient) -> None:
    training = await upload(client, "good_training")
    made = [
        (await create_job(client, model="gpt-4o", training_file=training["id"])).json()["id"]
        for _ in range(5)
    ]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        body = (await client.get("/openai/fine_tuning/jobs", params={**API, **params})).json()
        seen += [j["id"] for j in body["data"]]
        if not body["has_more"]:
            break
        params["after"] = body["data"][-1]["id"]
    assert seen == list(reversed(made))


async def test_three_jobs_train_at_once_the_fourth_waits(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    """quotas-limits.md (2026-02-17): 3 training jobs run at once per resource; the next waits for a slot."""
    training = await upload(client, "good_training")
    made = [
        (await create_job(client, model="gpt-4o", training_file=training["id"])).json()["id"]
        for _ in range(4)
    ]
    emulator.advance(300)
    assert [(await get_job(client, j))["status"] for j in made] == ["running"] * 3 + ["pending"]
    emulator.advance(3000)
    done = await get_job(client, made[0])
    assert done["status"] == "succeeded"
    started = next(e for e in await all_events(client, made[3]) if e["message"] == "Job started.")
    assert started["created_at"] == done["finished_at"]


async def test_developer_training_has_its_own_limit_of_five(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    training = await upload(client, "good_training")
    dev = [
        (
            await create_job(
                client, model="gpt-4.1-mini", training_file=training["id"], trainingType="developerTier"
            )
        )
        for _ in range(6)
    ]
    assert dev[0].json()["trainingType"] == "developerTier"  # echoed as sent
    standard = (await create_job(client, model="gpt-4.1-mini", training_file=training["id"])).json()["id"]
    emulator.advance(300)
    statuses = [(await get_job(client, r.json()["id"]))["status"] for r in dev]
    assert statuses == ["running"] * 5 + ["pending"]
    assert (await get_job(client, standard))["status"] == "running"


async def test_cancel_pause_resume_delete(emulator: RunningEmulator, client: httpx.AsyncClient) -> None:
    training = await upload(client, "good_training")
    job_id = (await create_job(client, model="gpt-4o", training_file=training["id"])).json()["id"]
    base = f"/openai/fine_tuning/jobs/{job_id}"
    assert (await client.post(f"{base}/resume")).status_code == 400
    emulator.advance(400)
    assert (await client.post(f"{base}/pause")).json()["status"] == "pausing"
    emulator.advance(60)
    assert (await get_job(client, job_id))["status"] == "paused"
    steps_before = len([e for e in await all_events(client, job_id) if e["type"] == "metrics"])
    emulator.advance(86400)
    assert len([e for e in await all_events(client, job_id) if e["type"] == "metrics"]) == steps_before
    assert (await client.delete(base)).status_code == 400  # active jobs must be cancelled first
    assert (await client.post(f"{base}/resume")).json()["status"] == "resuming"
    emulator.advance(60)
    assert (await get_job(client, job_id))["status"] == "running"
    cancelled = await client.post(f"{base}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(f"{base}/cancel")
    assert again.status_code == 400 and again.json()["error"]["code"] == "unexpectedEntityState"
    assert (await client.delete(base)).status_code == 204
    assert (await client.get(base)).status_code == 404


async def test_unknown_or_unfit_model_is_refused(client: httpx.AsyncClient) -> None:
    chat = await upload(client, "good_training")
    unknown = await create_job(client, model="gpt-5-turbo-9999", training_file=chat["id"])
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "model"
    dpo_on_mini = await create_job(
        client, model="gpt-4o-mini-2024-07-18", training_file=chat["id"], method={"type": "dpo"}
    )
    assert dpo_on_mini.status_code == 400
    missing = await create_job(client, model="gpt-4o", training_file="file-nope")
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "training_file"
    bad_suffix = await create_job(
        client, model="gpt-4o", training_file=chat["id"], suffix="no spaces allowed"
    )
    assert bad_suffix.status_code == 400
    bad_epochs = await create_job(
        client, model="gpt-4o", training_file=chat["id"], hyperparameters={"n_epochs": 0}
    )
    assert bad_epochs.status_code == 400


async def test_dpo_job_on_preference_data(emulator: RunningEmulator, client: httpx.AsyncClient) -> None:
    method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}
    job = await run_job(emulator, client, "dpo_training", None, model="gpt-4o-2024-08-06", method=method)
    assert job["status"] == "succeeded" and job["method"]["dpo"]["hyperparameters"]["beta"] == 0.2
    chat = await upload(client, "good_training")
    wrong = await create_job(client, model="gpt-4o-2024-08-06", training_file=chat["id"], method=method)
    assert wrong.status_code == 400 and "dpo" in wrong.json()["error"]["message"]


async def test_continuous_fine_tuning_from_an_earlier_model(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    first = await run_job(emulator, client)
    second = await run_job(emulator, client, model=first["fine_tuned_model"])
    assert second["status"] == "succeeded" and second["model"] == first["fine_tuned_model"]
    assert second["fine_tuned_model"].startswith("gpt-4o-mini-2024-07-18.ft-")
    assert second["fine_tuned_model"] != first["fine_tuned_model"]


@pytest.mark.parametrize(
    ("dataset", "detail"),
    [
        ("invalid_jsonl", "Line 4: invalid JSON"),
        ("too_few_examples", "6 example(s); at least 10"),
    ],
)
async def test_bad_file_ends_in_error_and_fails_the_job(
    emulator: RunningEmulator, client: httpx.AsyncClient, dataset: str, detail: str
) -> None:
    stored = await upload(client, dataset)
    emulator.advance(10)
    file = (await client.get(f"/openai/files/{stored['id']}")).json()
    assert file["status"] == "error" and detail in file["status_details"]
    job = await run_job(emulator, client, dataset, None)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "jsonlValidationFailed" and job["error"]["param"] == "training_file"
    assert detail in job["error"]["message"] and job["fine_tuned_model"] is None


async def test_queue_and_total_quotas(emulator: RunningEmulator, client: httpx.AsyncClient) -> None:
    emulator.state.config.max_queued_jobs = 2
    emulator.state.config.max_total_jobs = 3
    training = await upload(client, "good_training")
    statuses = [
        (await create_job(client, model="gpt-4o", training_file=training["id"])).status_code for _ in range(3)
    ]
    assert statuses == [201, 201, 400]
    emulator.advance(300)  # the first starts: one running, one queued
    assert (await create_job(client, model="gpt-4o", training_file=training["id"])).status_code == 201
    over = await create_job(client, model="gpt-4o", training_file=training["id"])
    assert over.status_code == 400 and over.json()["error"]["code"] == "quotaExceeded"
    assert emulator.state.counters["jobs.create"] == 5 and emulator.state.counters["jobs.created"] == 3


async def test_files_list_get_content_delete(client: httpx.AsyncClient) -> None:
    stored = await upload(client, "good_validation")
    listed = (await client.get("/openai/files", params={**API, "purpose": "fine-tune"})).json()
    assert [f["id"] for f in listed["data"]] == [stored["id"]]
    content = await client.get(f"/openai/files/{stored['id']}/content")
    assert content.status_code == 200 and content.content.count(b"\n") == 10
    deleted = (await client.delete(f"/openai/files/{stored['id']}")).json()
    assert deleted == {"object": "file", "id": stored["id"], "deleted": True}
    gone = await client.get(f"/openai/files/{stored['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "notFound"


async def test_each_account_has_its_own_data_plane(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    job = await run_job(emulator, client, prefix="/accounts/second")
    assert job["status"] == "succeeded"
    assert (await client.get(f"/openai/fine_tuning/jobs/{job['id']}")).status_code == 404
    assert (await client.get(f"/accounts/second/openai/fine_tuning/jobs/{job['id']}")).status_code == 200
    assert (await client.get("/accounts/nowhere/openai/files")).status_code == 404
    assert emulator.account_url("second") == f"{emulator.url}/accounts/second"


async def test_a_fast_clock_finishes_a_job_by_itself() -> None:
    """The real-time path: at a high speed the job ends without any advance() (no duration is asserted)."""
    config = make_config()
    config.speed = 200_000.0
    fast = await start(config=config)
    try:
        async with httpx.AsyncClient(base_url=fast.url, headers=KEY, params=API) as http:
            training = await upload(http, "good_training")
            await asyncio.sleep(0.01)
            job_id = (await create_job(http, model="gpt-4o", training_file=training["id"])).json()["id"]
            for _ in range(2000):
                if (await get_job(http, job_id))["status"] in TERMINAL:
                    break
                await asyncio.sleep(0.005)
            assert (await get_job(http, job_id))["status"] == "succeeded"
    finally:
        await fast.close()


async def test_a_cancelled_job_frees_its_slot_at_that_instant(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    training = await upload(client, "good_training")
    made = [
        (await create_job(client, model="gpt-4o", training_file=training["id"])).json()["id"]
        for _ in range(4)
    ]
    emulator.advance(300)
    cancelled = (await client.post(f"/openai/fine_tuning/jobs/{made[1]}/cancel")).json()
    emulator.advance(5)
    started = next(e for e in await all_events(client, made[3]) if e["message"] == "Job started.")
    assert started["created_at"] == cancelled["finished_at"]
    assert (await get_job(client, made[3]))["status"] == "running"
