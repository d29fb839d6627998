"""The guide's whole flow, driven by the official `openai` package (unchanged) against the emulator."""

from __future__ import annotations

import csv
import io

import httpx
from openai import AsyncAzureOpenAI

from emulator import datasets
from emulator.server import RunningEmulator
from tests.emulator.conftest import ARM_API, BEARER, TERMINAL, deployment_path


async def test_openai_package_runs_the_guide_flow(emulator: RunningEmulator) -> None:
    client = AsyncAzureOpenAI(
        azure_endpoint=emulator.url, api_key="test-key", api_version="2025-04-01-preview", max_retries=0
    )
    async with client:
        training = await client.files.create(file=datasets.path("good_training"), purpose="fine-tune")
        validation = await client.files.create(file=datasets.path("good_validation"), purpose="fine-tune")
        assert training.id.startswith("file-") and validation.id != training.id

        job = await client.fine_tuning.jobs.create(
            training_file=training.id, validation_file=validation.id, model="gpt-4o-mini-2024-07-18", seed=105
        )
        assert job.id.startswith("ftjob-") and job.status == "pending" and job.seed == 105

        retrieved = await client.fine_tuning.jobs.retrieve(job.id)
        assert retrieved.id == job.id and retrieved.training_file == training.id

        emulator.advance(300)  # the job has started and is training
        events = await client.fine_tuning.jobs.list_events(fine_tuning_job_id=job.id, limit=10)
        assert 0 < len(events.data) <= 10
        assert events.data[0].created_at >= events.data[-1].created_at  # newest first

        while retrieved.status not in TERMINAL:
            emulator.advance(120)
            retrieved = await client.fine_tuning.jobs.retrieve(job.id)
        assert retrieved.status == "succeeded", retrieved.error
        assert retrieved.fine_tuned_model == f"gpt-4o-mini-2024-07-18.ft-{job.id.removeprefix('ftjob-')}"
        assert retrieved.trained_tokens and retrieved.trained_tokens > 0

        checkpoints = await client.fine_tuning.jobs.checkpoints.list(job.id)
        assert len(checkpoints.data) == 3
        assert all(
            c.fine_tuned_model_checkpoint.startswith(retrieved.fine_tuned_model) for c in checkpoints.data
        )

        all_events = [
            e async for e in client.fine_tuning.jobs.list_events(fine_tuning_job_id=job.id, limit=25)
        ]
        metrics = [e for e in all_events if e.type == "metrics"]
        assert len(metrics) == 72 and all_events[0].message == "Job succeeded."

        content = await client.files.content(retrieved.result_files[0])
        rows = list(csv.DictReader(io.StringIO(content.text)))
        assert len(rows) == 72 and float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])

        async with httpx.AsyncClient(base_url=emulator.arm_url, headers=BEARER, params=ARM_API) as arm:
            body = {
                "sku": {"name": "standard", "capacity": 1},
                "properties": {
                    "model": {"format": "OpenAI", "name": retrieved.fine_tuned_model, "version": "1"}
                },
            }
            put = await arm.put(deployment_path(emulator, "support-bot"), json=body)
            assert put.status_code == 201 and put.json()["properties"]["provisioningState"] == "Accepted"
            emulator.advance(600)
            got = await arm.get(deployment_path(emulator, "support-bot"))
            assert got.json()["properties"]["provisioningState"] == "Succeeded"

        reply = await client.chat.completions.create(
            model="support-bot", messages=[{"role": "user", "content": "Where is my order?"}]
        )
        assert reply.choices[0].message.content and "support-bot" in reply.choices[0].message.content
