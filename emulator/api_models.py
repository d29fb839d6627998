"""Data plane: `GET /openai/models[/{id}]`, the base models with their capabilities and lifecycle, and the
account's fine-tuned models once their job has succeeded.

Shape of the authoring spec's `Model`: `{object:"model", id, status, created_at, capabilities:{fine_tune,
inference, completion, chat_completion, embeddings}, lifecycle_status, deprecation:{fine_tune, inference}}`
with the deprecation dates as Unix seconds; a fine-tuned model also names its base (`model`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulator import catalog
from emulator.catalog import BaseModel
from emulator.errors import not_found
from emulator.httputil import account_of, list_body
from emulator.state import AccountState

# When each model version was published (its version date); created_at of the model object.
_YEAR = 365 * 86400


def _unix(date: str) -> int:
    return int(datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp())


def _created(base: BaseModel) -> int:
    version = base.version
    try:
        return _unix(version) if len(version) == 10 else _unix("2023-06-13")
    except ValueError:
        return _unix("2023-06-13")


def base_model_json(base: BaseModel) -> dict[str, Any]:
    deprecation: dict[str, int] = {}
    if base.retires is not None:
        deprecation = {"fine_tune": _unix(base.retires), "inference": _unix(base.retires)}
    if base.retired:
        lifecycle = "deprecated"
    elif base.retires is not None:
        lifecycle = "deprecating"
    else:
        lifecycle = "generally-available"
    return {
        "object": "model",
        "id": base.name,
        "status": "succeeded",
        "created_at": _created(base),
        "capabilities": {
            "fine_tune": not base.retired,
            "inference": True,
            "completion": not base.chat,
            "chat_completion": base.chat,
            "embeddings": False,
        },
        "lifecycle_status": lifecycle,
        "deprecation": deprecation,
    }


def _fine_tuned(account: AccountState) -> list[dict[str, Any]]:
    out = []
    for job in account.jobs.values():
        if job.status != "succeeded" or job.fine_tuned_model is None:
            continue
        base = catalog.lookup(job.root_model)
        deprecation: dict[str, int] = {}
        if base is not None and base.retires is not None:
            # model-retirements.md: fine-tuned models stop training with their base model; deployments
            # retire one year later.
            deprecation = {"fine_tune": _unix(base.retires), "inference": _unix(base.retires) + _YEAR}
        out.append(
            {
                "object": "model",
                "id": job.fine_tuned_model,
                "status": "succeeded",
                "created_at": int(job.finished_at or job.created_at),
                "model": job.root_model,
                "fine_tune": job.id,
                "capabilities": {
                    "fine_tune": True,
                    "inference": True,
                    "completion": False,
                    "chat_completion": True,
                    "embeddings": False,
                },
                "lifecycle_status": "generally-available",
                "deprecation": deprecation,
            }
        )
    return out


def _all(account: AccountState) -> list[dict[str, Any]]:
    return [base_model_json(m) for m in catalog.BASE_MODELS.values()] + _fine_tuned(account)


async def list_models(request: web.Request) -> web.Response:
    return web.json_response(list_body(_all(account_of(request))))


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    found = next((m for m in _all(account_of(request)) if m["id"] == model_id), None)
    if found is None:
        raise not_found("Model", model_id)
    return web.json_response(found)
