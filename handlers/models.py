"""`models [--resource R]`: the fine-tunable base models (methods, training types, context limit, retirement)
and the resource's fine-tuned models.

From `GET /openai/models` where the resource answers it (the dated APIs and v1 both do), with methods,
training types and context limits from the bundled catalogue (the service does not say them); from the
catalogue and the resource's succeeded jobs where it does not.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot import params as p
from bot.azure import errors as az
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.models import ServiceModel
from bot.azure.paging import Scan
from bot.context import Context
from bot.dataprep.models import (
    CATALOGUE_DATE,
    TRAINING_TYPES,
    ModelInfo,
    all_models,
    model_info,
    served_until,
)
from bot.model import Command
from bot.router import Opt, Router
from cards.model import Card
from cards.models import BaseModelRow, FineTunedRow, ModelsView, models_card

router = Router("models")

RESOURCE = Opt("resource", p.resource_name, metavar="NAME", help="which Azure resource (default: the first)")
# Jobs read at most for the fine-tuned models when the resource does not list its models (Azure keeps 100).
MAX_JOBS = 200


def _day(unix: int | None) -> date | None:
    return datetime.fromtimestamp(unix, UTC).date() if unix is not None else None


def _iso_day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _row(name: str, info: ModelInfo | None, retires: date | None) -> BaseModelRow:
    return BaseModelRow(
        name=name,
        methods=tuple(sorted(info.methods, key=("supervised", "dpo", "reinforcement").index)) if info else (),
        training_types=tuple(t for t in TRAINING_TYPES if info and t in info.training_types),
        context=info.token_limit if info else None,
        retires=retires,
        gated=bool(info and info.gated),
    )


def _from_service(models: list[ServiceModel]) -> tuple[list[BaseModelRow], list[FineTunedRow]]:
    bases, tuned = [], []
    for m in models:
        if m.fine_tuned:
            tuned.append(
                FineTunedRow(
                    m.id,
                    base=m.model or "",
                    job=m.fine_tune or "",
                    retires=_day(m.deprecation_at("inference")),
                )
            )
        elif m.fine_tunable:
            bases.append(_row(m.id, model_info(m.id), _day(m.deprecation_at("fine_tune"))))
    return bases, tuned


async def _from_catalogue(
    client: AzureOpenAIClient, scan: Scan
) -> tuple[list[BaseModelRow], list[FineTunedRow]]:
    bases = [
        _row(info.key, info, _iso_day(info.retires))
        for info in all_models()
        if not info.retired and not info.key.startswith("gpt-3.5")
    ]
    tuned = []
    async for job in client.jobs(status="succeeded", limit=100, max_items=MAX_JOBS, scan=scan):
        if job.fine_tuned_model:
            info = model_info(job.model)
            retires = served_until(_iso_day(info.retires)) if info else None
            tuned.append(
                FineTunedRow(job.fine_tuned_model, base=job.model or "", job=job.id, retires=retires)
            )
    return bases, tuned


@router.command(
    "models",
    summary="Fine-tunable base models (methods, training types, limits, retirement) and the fine-tuned ones",
    example="models --resource default",
    options=(RESOURCE,),
)
async def models(ctx: Context, cmd: Command) -> Card:
    resource = ctx.azure.resource(cmd.params["resource"]).name
    client = ctx.azure.data(resource)
    source = "service"
    searched = ""
    try:
        bases, tuned = _from_service(await client.list_models())
    except (az.NotFound, az.BadRequest):
        # Not every resource (or api-version) answers `GET /openai/models`: the bundled catalogue instead.
        source = "catalogue"
        scan = client.scan()
        bases, tuned = await _from_catalogue(client, scan)
        searched = scan.note("jobs", "Fine-tuned models of older jobs are not listed.")
    today = ctx.azure.now(resource).date()
    return models_card(
        ModelsView(
            resource=resource,
            today=today,
            bases=sorted(bases, key=lambda b: b.name),
            fine_tuned=sorted(tuned, key=lambda m: m.name),
            source=source,
            catalogue_date=CATALOGUE_DATE,
            notes=(searched,) if searched else (),
        )
    )
