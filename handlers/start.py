"""`start`: check the data and the settings, upload, create the fine-tuning job, post its card; and `validate`.

Everything the documented rules can refuse is refused here, before anything is sent: suffix shape, seed,
hyperparameter ranges, DPO on a model that cannot do it, invalid data (the validation report is posted with
line numbers instead). The conversation becomes the job's home for later alerts.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, suppress
from typing import Any, Literal

from bot import params as p
from bot.azure import ids
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.models import FineTuningJob
from bot.context import Context
from bot.dataprep import dpo_models, known_models, model_info
from bot.errors import NotAllowed, UsageError
from bot.model import Command, Reply
from bot.policy import Act
from bot.router import Arg, Opt, Router
from cards.format import plural, when
from cards.jobs import job_card
from cards.markup import code, literal
from cards.validation_report import validation_report_card
from handlers.data import (
    Source,
    SourceResolver,
    StillProcessing,
    remove_uploads,
    upload_source,
    validate_source,
    wait_until_ready,
)
from handlers.jobs import RESOURCE, job_view, remember_examples

router = Router("start")

SEED_MAX = 2**31 - 1
CLEANUP_WITHIN = 2.0  # seconds for deleting a failed start's uploads


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


def _unknown_model_check(model: str, refs: list[str | None]) -> None:
    """Refuse a base model we do not know can be fine-tuned, but only when data would be uploaded for it.

    Uploading first and letting Azure refuse costs an upload of up to 512 MB for nothing. But the known
    list ages as Azure adds models, so with data already in Azure (`file-...` ids) nothing is at stake and
    Azure decides: that is the way around for a newer model. Fine-tuned names (continuous fine-tuning)
    are resolved to their base by `model_info`, and a fine-tuned model of an unknown base is left to Azure."""
    info = model_info(model)
    if info is not None and info.retired and not ids.is_fine_tuned_model(model):
        known = ", ".join(f"`{m}`" for m in known_models())
        raise UsageError(f"`{model}` is retired for fine-tuning; models that can be: {known}.", verb="start")
    if info is not None or ids.is_fine_tuned_model(model):
        return
    if all(ref is not None and ids.is_file_id(ref.strip()) for ref in refs):
        return
    known = ", ".join(f"`{m}`" for m in known_models())
    raise UsageError(
        f"`{model}` is not a model I know can be fine-tuned: known: {known}.",
        verb="start",
        hint="If your resource offers a newer one, upload the data to Azure first and start with its "
        "file id (`--training file-...`): then Azure decides.",
    )


def _refusal(checked: list[tuple[str, Source]]) -> list[Reply]:
    """Data that failed the check: one outcome, "No job started", with the failing report(s) only."""
    failed = [(role, s) for role, s in checked if s.report is not None and not s.report.ok]
    passed = [(role, s) for role, s in checked if s.report is not None and s.report.ok]
    which = " and ".join(f"{code(s.label)} ({role} data)" for role, s in failed)
    title = f"No job started: fix {which}"
    note = "; ".join(
        f"The {role} data {code(s.label)} passed ({plural(s.report.valid, 'example')})."
        for role, s in passed
        if s.report is not None
    )
    cards = []
    for index, (role, source) in enumerate(failed):
        assert source.report is not None
        cards.append(
            validation_report_card(
                source.report,
                filename=source.label,
                role=role,
                title=title if index == 0 else None,
                note=note if index == 0 else "",
            )
        )
    return [Reply(card) for card in cards]


def _short(n: int) -> str:
    """6,612 -> 6.6k; 1,250,000 -> 1.2M (an estimate needs no more digits)."""
    for size, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + unit
    return str(n)


def _money(amount: float, currency: str) -> str:
    digits = 2 if amount >= 0.01 or amount == 0 else 4
    return f"${amount:,.{digits}f}" if currency == "USD" else f"{amount:,.{digits}f} {currency}"


def data_summary(training: Source, validation: Source | None) -> str:
    """One line for the job card: what was checked, and the estimate from the training data only (the
    validation data is not trained on). E.g. "24 training + 10 validation examples checked · ≈6.6k trained
    tokens (3 epochs) · ≈$0.02 (illustrative prices)"."""
    counted = [
        (s.report.valid, role)
        for role, s in (("training", training), ("validation", validation))
        if s is not None and s.report is not None
    ]
    if not counted:
        return ""
    if len(counted) == 1:
        checked = plural(counted[0][0], f"{counted[0][1]} example") + " checked"
    else:
        checked = " + ".join(f"{n:,} {role}" for n, role in counted) + " examples checked"
    parts = [checked]
    report = training.report
    if report is not None and report.estimated_trained_tokens is not None and report.epochs is not None:
        how = ", the usual default: Azure picks its own" if report.epochs_is_default else ""
        epochs = plural(report.epochs, "epoch")
        parts.append(f"≈{_short(report.estimated_trained_tokens)} trained tokens ({epochs}{how})")
        if report.estimated_cost is not None:
            cost = report.estimated_cost
            parts.append(f"≈{_money(cost.amount, cost.currency)} (illustrative prices)")
    return " · ".join(parts)


@router.command(
    "start",
    summary="Check data and start a fine-tuning job",
    example="start gpt-4o-mini-2024-07-18 --training file-0123456789abcdef0123456789abcdef --epochs 3",
    args=(Arg("model", p.model_name),),
    options=(
        Opt("training", metavar="SRC", help="file id, attached file, chat file link, https URL"),
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
    await may_start(ctx, cmd, prm["resource"])
    model: str = prm["model"]
    method: str = prm["method"]
    _dpo_check(model, method, prm["beta"])
    if prm["training"] is None and not cmd.attachments:
        raise UsageError("`start` needs training data: `--training SRC` or an attached file.", verb="start")
    refs = [prm["training"]] + ([prm["validation"]] if prm["validation"] is not None else [])
    _unknown_model_check(model, refs)
    client = ctx.azure.data(prm["resource"])
    async with AsyncExitStack() as stack:
        resolver = SourceResolver(ctx, cmd, stack)
        sources: list[tuple[str, Source]] = []
        training = await resolver.resolve(prm["training"], "training")
        assert training is not None
        sources.append(("training", training))
        validation = await resolver.resolve(prm["validation"], "validation")
        if validation is not None:
            sources.append(("validation", validation))
        vmethod: Literal["sft", "dpo"] = "dpo" if method == "dpo" else "sft"
        for role, source in sources:
            # Only the training data is trained on: no token or cost estimate for the validation data.
            epochs = prm["epochs"] if role == "training" else None
            await validate_source(source, model=model, method=vmethod, epochs=epochs)
        if any(s.report is not None and not s.report.ok for _, s in sources):
            # Invalid data is never uploaded: show what is wrong, start nothing.
            return _refusal(sources)
        job = await _upload_and_create(client, sources, model, prm)
    if training.report is not None and job.training_file:
        remember_examples(job.training_file, training.report.examples)  # the progress bar's total later
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
    note = data_summary(training, validation)
    return [
        Reply(
            job_card(
                job_view(job),
                f"Started by {literal(by)} at {when(ctx.azure_now(prm['resource']), seconds=True)}",
                note=note,
            )
        )
    ]


async def _upload_and_create(
    client: AzureOpenAIClient, sources: list[tuple[str, Source]], model: str, prm: dict[str, Any]
) -> FineTuningJob:
    """Upload what is not in Azure yet, wait until it is processed, create the job. A failure on the way
    (an upload refused, Azure refusing the job: quota, model, permissions) deletes what this command
    uploaded; a file still processing is kept so the user can start again with its id."""
    try:
        for _, source in sources:
            if source.azure_file is None:
                await upload_source(client, source)
        for _, source in sources:
            if source.uploaded:
                await wait_until_ready(client, source)
        training = sources[0][1]
        validation = sources[1][1] if len(sources) > 1 else None
        return await client.create_job(
            model,
            training.azure_file or "",
            validation_file=validation.azure_file if validation else None,
            **job_request(prm),
        )
    except StillProcessing as exc:
        files = " ".join(f"--{role.lower()} {s.azure_file}" for role, s in sources if s.azure_file)
        raise StillProcessing(
            exc.message,
            hint=f"Try again in a few minutes with the files kept in Azure: `/ft start {model} {files}"
            f"{_options_again(prm)}`.",
        ) from None
    except BaseException:
        # Also on cancellation (the bot restarting): shielded, and bounded so shutdown is not held up.
        with suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout(CLEANUP_WITHIN):
                await asyncio.shield(remove_uploads(client, [s for _, s in sources]))
        raise


def _options_again(prm: dict[str, Any]) -> str:
    """The options the user gave, to repeat in a retry hint (a DPO start must not come back as SFT)."""
    names = {
        "suffix": "suffix",
        "seed": "seed",
        "epochs": "epochs",
        "batch_size": "batch-size",
        "lr_multiplier": "lr-multiplier",
        "beta": "beta",
    }
    given = [f" --{flag} {prm[key]}" for key, flag in names.items() if prm.get(key) is not None]
    if prm.get("method") == "dpo":
        given.insert(0, " --method dpo")
    return "".join(given)


async def may_start(ctx: Context, cmd: Command, resource: str | None) -> None:
    """Starting needs Act.START_JOB (everybody allowed, unless `starters` is configured); fail closed."""
    if ctx.policy is None:
        raise NotAllowed(
            "Nobody may start jobs: no authorization policy is configured.", act=Act.START_JOB.value
        )
    name = client_name(ctx, resource)
    await ctx.policy.require(cmd.user, Act.START_JOB, resource=name, subject=name)


def client_name(ctx: Context, resource: str | None) -> str:
    return str(ctx.azure.resource(resource).name)


@router.command(
    "validate",
    summary="Check a training file without starting anything",
    example="validate https://example.com/train.jsonl --model gpt-4o-mini-2024-07-18",
    args=(Arg("src", required=False, help="attached file, chat file link, https URL"),),
    options=(
        Opt("model", p.model_name, metavar="MODEL", help="check limits and tokens for this base model"),
        Opt("method", p.one_of("sft", "dpo"), default="sft", metavar="sft|dpo", help="data format"),
        Opt("epochs", p.int_between(1, 50), metavar="N", help="for the trained-token estimate"),
    ),
)
async def validate(ctx: Context, cmd: Command) -> list[Reply]:
    if cmd.params["src"] is None and not cmd.attachments:
        raise UsageError(
            "`validate` needs a file: an attached file, a chat file link, an https URL.", verb="validate"
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
        assert source.report is not None
        return [Reply(validation_report_card(source.report, filename=source.label))]
