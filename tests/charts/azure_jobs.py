"""Jobs made on the emulator over HTTP, for end-to-end chart tests (Slack and Teams)."""

from __future__ import annotations

from typing import Any

import httpx

from emulator import datasets

API = {"api-version": "2025-04-01-preview"}
MODEL = "gpt-4o-mini-2024-07-18"


async def finished_job(emulator: Any, *, validation: bool = True, epochs: int = 3) -> str:
    """A succeeded job (good training data, the good validation file when asked), its results file made."""
    async with httpx.AsyncClient(base_url=emulator.url, headers={"api-key": "k"}, params=API) as azure:
        ids = {}
        names = {
            "training_file": "good_training",
            **({"validation_file": "good_validation"} if validation else {}),
        }
        for key, name in names.items():
            uploaded = await azure.post(
                "/openai/files",
                data={"purpose": "fine-tune"},
                files={"file": (f"{name}.jsonl", datasets.path(name).read_bytes())},
            )
            assert uploaded.status_code == 201, uploaded.text
            ids[key] = uploaded.json()["id"]
        emulator.advance(60)
        created = await azure.post(
            "/openai/fine_tuning/jobs",
            json={"model": MODEL, "seed": 105, "hyperparameters": {"n_epochs": epochs}, **ids},
        )
        assert created.status_code == 201, created.text
        job_id: str = created.json()["id"]
        for _ in range(200):
            emulator.advance(600)
            job = (await azure.get(f"/openai/fine_tuning/jobs/{job_id}")).json()
            if job["status"] == "succeeded":
                return job_id
        raise AssertionError(f"job did not finish: {job}")
