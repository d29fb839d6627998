"""`start`: check the data and the settings, upload, create the fine-tuning job, post its card; and `validate`.

Everything the documented rules can refuse is refused here, before anything is sent: suffix shape, seed,
hyperparameter ranges, DPO on a model that cannot do it, invalid data (the validation report is posted with
line numbers instead). The conversation becomes the job's home for later alerts.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any, Literal

from bot import params as p
from bot.azure import ids
from bot.context import Context
from bot.dataprep import dpo_models, model_info
from bot.errors import UsageError
from bot.model import Command, Reply
from bot.router import Arg, Opt, Router
from cards.format import clock
from cards.jobs import job_card
from cards.model import Card
from cards.validation_report import validation_report_card
from handlers.data import Source, SourceResolver, upload_source, validate_source
from handlers.jobs import RESOURCE, job_view

router = Router("start")

SEED_MAX = 2**31 - 1


def suffix(text: str) -> str:
    if not ids.is_suffix(text):
        raise ValueError("use 1-40 of the characters a-z A-Z 0-9 _ - (e.g. `support-v2`)")
    return text


def _dpo_check(model: str, method: str, beta: float | None) -> None:
    if beta is not None and method != "dpo":
        raise UsageError("`--beta` is a DPO setting: add `--method dpo`.", verb="start")
    if method != "dpo":
        return
    info = model_info(model)
    if info is None or not info.supports_dpo:
        supported = ", ".join(f"`{m}`" for m in dpo_models())
        raise UsageError(
            f"`{model}` cannot be fine-tuned with DPO. Models that can: {supported}.", verb="start"
        )


def job_request(prm: dict[str, Any]) -> dict[str, Any]:
    """The create-job parameters from the checked command options (only what was given)."""
    hyper = {
        k: v
        for k, v in (
            ("n_epochs", prm["epochs"]),
            ("batch_size", prm["batch_size"]),
            ("learning_rate_multiplier", prm["lr_multiplier"]),
        )
        if v is not None
    }
    request: dict[str, Any] = {"seed": prm["seed"], "suffix": prm["suffix"]}
    if prm["method"] == "dpo":
        dpo_hyper = dict(hyper)
        if prm["beta"] is not None:
            dpo_hyper["beta"] = prm["beta"]
        request["method"] = {"type": "dpo", "dpo": {"hyperparameters": dpo_hyper}}
    else:
        request["hyperparameters"] = hyper or None
    return {k: v for k, v in request.items() if v is not None}


def _reports(sources: list[tuple[str, Source]]) -> list[Card]:
    return [
        validation_report_card(source.report, filename=f"{source.label} ({role.lower()})")
        for role, source in sources
        if source.report is not None
    ]


@router.command(
    "start",
    summary="Check data and start a fine-tuning job",
    example="start gpt-4o-mini-2024-07-18 --training file-0123456789abcdef0123456789abcdef --epochs 3",
    args=(Arg("model", p.model_name),),
    options=(
        Opt("training", metavar="SRC", help="file id, attached file, Slack file, https URL"),
        Opt("validation", metavar="SRC", help="validation data, same kinds as --training"),
        Opt("suffix", suffix, metavar="S", help="name tag of the fine-tuned model (1-40 of a-z 0-9 _ -)"),
        Opt("seed", p.int_between(0, SEED_MAX), metavar="N", help="same seed and data give the same result"),
        Opt("epochs", p.int_between(1, 50), metavar="N", help="passes over the data (1-50)"),
        Opt("batch-size", p.int_between(1, 256), metavar="N", help="examples per step (1-256)"),
        Opt("lr-multiplier", p.float_between(0, 10, low_open=True), metavar="X", help="try 0.02-0.2"),
        Opt("method", p.one_of("sft", "dpo"), default="sft", metavar="sft|dpo", help="supervised or DPO"),
        Opt("beta", p.float_between(0, 2, low_open=True), metavar="X", help="DPO beta in (0, 2]"),
        RESOURCE,
    ),
)
async def start(ctx: Context, cmd: Command) -> list[Reply]:
    prm = dict(cmd.params)
    model: str = prm["model"]
    method: str = prm["method"]
    _dpo_check(model, method, prm["beta"])
    if prm["training"] is None and not cmd.attachments:
        raise UsageError("`start` needs training data: `--training <src>` or an attached file.", verb="start")
    client = ctx.azure.data(prm["resource"])
    async with AsyncExitStack() as stack:
        resolver = SourceResolver(ctx, cmd, stack)
        sources: list[tuple[str, Source]] = []
        training = await resolver.resolve(prm["training"], "training")
        assert training is not None
        sources.append(("Training", training))
        validation = await resolver.resolve(prm["validation"], "validation")
        if validation is not None:
            sources.append(("Validation", validation))
        vmethod: Literal["sft", "dpo"] = "dpo" if method == "dpo" else "sft"
        for _, source in sources:
            await validate_source(source, model=model, method=vmethod, epochs=prm["epochs"])
        reports = _reports(sources)
        if any(s.report is not None and not s.report.ok for _, s in sources):
            # Invalid data is never uploaded: show what is wrong, start nothing.
            return [Reply(card) for card in reports]
        for _, source in sources:
            if source.azure_file is None:
                await upload_source(client, source)
        job = await client.create_job(
            model,
            training.azure_file or "",
            validation_file=validation.azure_file if validation else None,
            **job_request(prm),
        )
    await ctx.store.save_conversation(cmd.conversation)
    await ctx.store.record_job(
        job.id,
        resource=client_name(ctx, prm["resource"]),
        home=cmd.conversation,
        user=cmd.user,
        model=model,
        status=job.status,
    )
    await ctx.store.audit(
        platform=cmd.platform,
        actor=cmd.user,
        action="job.start",
        subject=job.id,
        detail={"model": model, "training_file": job.training_file, "validation_file": job.validation_file},
    )
    by = cmd.user.name or cmd.user.id
    card = job_card(job_view(job), f"Started by {by} at {clock(ctx.clock())} UTC")
    return [*(Reply(c) for c in reports), Reply(card)]


def client_name(ctx: Context, resource: str | None) -> str:
    return str(ctx.azure.resource(resource).name)


@router.command(
    "validate",
    summary="Check a training file without starting anything",
    example="validate F0123ABCD --model gpt-4o-mini-2024-07-18",
    args=(Arg("src", required=False),),
    options=(
        Opt("model", p.model_name, metavar="MODEL", help="check limits and tokens for this base model"),
        Opt("method", p.one_of("sft", "dpo"), default="sft", metavar="sft|dpo", help="data format"),
        Opt("epochs", p.int_between(1, 50), metavar="N", help="for the trained-token estimate"),
    ),
)
async def validate(ctx: Context, cmd: Command) -> list[Reply]:
    if cmd.params["src"] is None and not cmd.attachments:
        raise UsageError(
            "`validate` needs a file: a Slack file id or link, a URL, or an attached file.", verb="validate"
        )
    async with AsyncExitStack() as stack:
        resolver = SourceResolver(ctx, cmd, stack)
        source = await resolver.resolve(cmd.params["src"], "src")
        assert source is not None
        if source.spooled is None:
            raise UsageError(
                "That file is already in Azure; `validate` checks files before upload.", verb="validate"
            )
        prm = cmd.params
        method: Literal["sft", "dpo"] = "dpo" if prm["method"] == "dpo" else "sft"
        await validate_source(source, model=prm["model"], method=method, epochs=prm["epochs"])
        return [Reply(card) for card in _reports([("Training", source)])]
