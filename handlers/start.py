"""`start`: check the data and the settings, upload, create the fine-tuning job, post its card; and `validate`.

Everything the documented rules can refuse is refused here, before anything is sent: suffix shape, seed,
hyperparameter ranges, DPO on a model that cannot do it, a training type the model does not offer, invalid
data (the validation report is posted with line numbers instead). The conversation becomes the job's home for
later alerts. The card says the training type and the cost at its price, and warns of a base model that
retires soon and of a job that will queue behind running ones (`handlers.start_notes`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

from bot import params as p
from bot import training_types as tt
from bot.azure import ids
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.errors import AzureError
from bot.azure.models import FineTuningJob
from bot.context import Context
from bot.dataprep import dpo_models, known_models, model_info
from bot.errors import FtbotError, NotAllowed, UsageError
from bot.model import Command, Reply
from bot.policy import Act
from bot.router import Arg, Opt, Router
from bot.store import IntentFile
from bot.store.base import utcnow
from bot.store.intents import (
    ABANDONED,
    CREATED,
    DUE,
    FAILED,
    OPEN_STATES,
    SENT,
    UNKNOWN,
    UPLOADING,
    upload_prefix,
)
from cards.format import plural, when
from cards.jobs import job_card
from cards.markup import code, literal
from cards.model import Card, Fact, Tone
from cards.validation_report import validation_report_card
from handlers.data import (
    Source,
    SourceResolver,
    StillProcessing,
    upload_source,
    validate_source,
    wait_until_ready,
)
from handlers.estimates import money, remember_estimate, short_count
from handlers.help import error_reply_card, trigger_for
from handlers.jobs import RESOURCE, job_view, remember_examples
from handlers.reconcile import REPLICA, delete_files, pending_note, spawn
from handlers.start_notes import (
    choose_training_type,
    cost_estimate,
    cost_words,
    queue_warning,
    retirement_warning,
    training_type_note,
)

log = logging.getLogger(__name__)
router = Router("start")

SEED_MAX = 2**31 - 1
CLEANUP_WITHIN = 2.0  # seconds for deleting a failed start's uploads (the rest is retried in the background)
INTENT_LEASE = timedelta(seconds=60)  # a start in flight renews its intent's lease every third of this
RECORD_ATTEMPTS = 10  # background retries of recording a created job (about 4 minutes)


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
        supported = ", ".join(code(m) for m in dpo_models())
        raise UsageError(
            f"{code(model)} cannot be fine-tuned with DPO. Models that can: {supported}.", verb="start"
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
    if prm.get("training_type"):
        request["training_type"] = tt.wire(prm["training_type"])
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
        known = ", ".join(code(m) for m in known_models())
        raise UsageError(
            f"{code(model)} is retired for fine-tuning; models that can be: {known}.", verb="start"
        )
    if info is not None or ids.is_fine_tuned_model(model):
        return
    if all(ref is not None and ids.is_file_id(ref.strip()) for ref in refs):
        return
    known = ", ".join(code(m) for m in known_models())
    raise UsageError(
        f"{code(model)} is not a model I know can be fine-tuned: known: {known}.",
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


def data_summary(
    training: Source, validation: Source | None, training_type: str | None = None, method: str = "sft"
) -> str:
    """One line for the job card: what was checked, and the estimate from the training data only (the
    validation data is not trained on), at the price of `training_type` when given. E.g. "24 training + 10
    validation examples checked · ≈6.6k trained tokens (3 epochs) · ≈$0.02 for Global training (illustrative
    prices, 2026-02-11)"."""
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
        parts.append(f"≈{short_count(report.estimated_trained_tokens)} trained tokens ({epochs}{how})")
        cost = report.estimated_cost
        if training_type is not None and report.model:
            cost = cost_estimate(report.model, report.estimated_trained_tokens, method, training_type)
        if cost is not None:
            words = cost_words(cost, training_type) if training_type else "(illustrative prices)"
            parts.append(f"≈{money(cost.amount, cost.currency)} {words}")
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
        Opt(
            "training-type",
            tt.word,
            metavar=tt.USAGE,
            help="where it trains: Global is cheaper than Standard, Developer cheaper still but "
            "pre-emptible (default: the resource's setting, else the cheapest the model offers that is not pre-emptible)",
        ),
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
    choice = choose_training_type(ctx, model, prm["training_type"], prm["resource"])
    prm["training_type"] = choice.name  # sent, recorded on the intent, repeated in a retry hint
    client = ctx.azure.data(prm["resource"])
    attempt = StartAttempt(ctx, cmd, client, client_name(ctx, prm["resource"]), prm)
    # One bounded look at the resource's running jobs, alongside the data check and upload.
    queue_check = asyncio.create_task(queue_warning(client, ctx.settings, choice.name))
    try:
        return await _start(ctx, cmd, attempt, choice, queue_check)
    finally:
        queue_check.cancel()


async def _start(
    ctx: Context, cmd: Command, attempt: StartAttempt, choice: tt.Choice, queue_check: asyncio.Task[str]
) -> list[Reply]:
    prm = attempt.prm
    model: str = prm["model"]
    method: str = prm["method"]
    # Recorded from here on: a crash while fetching, checking or uploading is found and told at restart.
    async with attempt.recorded(), AsyncExitStack() as stack:
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
            await attempt.end("invalid_data")
            return _refusal(sources)
        outcome = await attempt.run(sources)
    if isinstance(outcome, Reply):
        return [outcome]
    if training.report is not None and outcome.training_file:
        remember_examples(outcome.training_file, training.report.examples)  # the progress bar's total later
    by = cmd.user.name or cmd.user.id
    now = ctx.azure_now(prm["resource"])
    lines = [
        data_summary(training, validation, choice.name, method),
        retirement_warning(model, now.date()),
        await queue_check,
    ]
    # The type that was sent, and why it was this one (Azure's echo, when it sends one, says the same).
    view = replace(job_view(outcome), training_type=choice.label, training_note=training_type_note(choice))
    stamp = when(now, seconds=True)
    card = job_card(view, f"Started by {literal(by)} at {stamp}", note="\n".join(x for x in lines if x))
    if training.report is not None:  # later cards of the job: the same line, with Azure's epochs once known
        remember_estimate(outcome.id, training.report, validation.report if validation else None)
    return [] if await attempt.announce(card) else [Reply(card)]


class StartInterrupted(FtbotError):
    title = "The start did not happen"


class StartAttempt:
    """One `start` from upload to job, recorded as an intent (see `bot.store.intents`) before anything is
    sent to Azure, so that whatever happens in between (a crash, a lost reply, a store failure) ends in
    exactly one of: a recorded job, or no job and no files left, and the user is told which.

    - Uploads get names unique to this attempt (`ftbot-<intent>-training.jsonl`) and are recorded on the
      intent as they land, so a lost reply is recovered by name only and a crash's leftovers are found.
    - Before the create is sent the intent moves to `sent`; from then on the uploads are never deleted here
      (a job may be using them). A clear refusal from Azure (4xx) is `failed` and the uploads go; no clear
      answer (5xx, dropped connection, cancellation) is `unknown`: the user hears "may have been created",
      and `handlers.reconcile` settles it with Azure's job list and tells the conversation.
    - The job card is posted even when recording the job fails; the write is retried in the background.
    """

    def __init__(
        self, ctx: Context, cmd: Command, client: AzureOpenAIClient, resource: str, prm: dict[str, Any]
    ) -> None:
        self.ctx, self.cmd, self.client, self.resource, self.prm = ctx, cmd, client, resource, prm
        self.model: str = prm["model"]
        self.id = secrets.token_hex(8)
        self.sources: list[tuple[str, Source]] = []
        self.files: list[IntentFile] = []
        self.uploading = False  # an upload was sent: something may be in Azure under our names
        self.given_up = False
        self.sent = False  # the intent is `sent`: from now on only Azure's answer (or a reconciler) decides
        self.announced_by_us = False  # the job is recorded with its outcome due: we post its card ourselves
        self.left: list[str] = []  # our uploads Azure did not let us delete yet (retried in the background)

    @asynccontextmanager
    async def recorded(self) -> AsyncIterator[None]:
        """The intent is written first and its lease held while the block runs; leaving the block with an
        error before the create was sent gives the start up (its uploads deleted)."""
        store = self.ctx.store
        await store.save_conversation(self.cmd.conversation)
        await store.open_intent(
            self.id,
            resource=self.resource,
            model=self.model,
            request=job_request(self.prm),
            files=[],
            conversation=self.cmd.conversation,
            user=self.cmd.user,
            owner=REPLICA,
            lease=INTENT_LEASE,
        )
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            yield
        except BaseException as exc:
            await self._give_up()
            if self.left:  # the answer says the files will still go
                _mention(exc, pending_note(self.left))
            raise
        finally:
            heartbeat.cancel()

    async def end(self, outcome: str) -> None:
        """Nothing was sent to Azure and nothing will be (e.g. the data failed the check)."""
        with suppress(Exception):
            await self.ctx.store.move_intent(
                self.id, (UPLOADING,), FAILED, outcome=outcome, lease_owner=None, lease_until=None
            )

    async def run(self, sources: list[tuple[str, Source]]) -> FineTuningJob | Reply:
        self.sources = sources
        self.files = [
            IntentFile(role, s.label, s.azure_file) for role, s in sources if s.azure_file is not None
        ]
        await self._upload()
        await self._mark_sent()
        return await self._create(job_request(self.prm))

    async def _heartbeat(self) -> None:
        """Keep the lease while the start runs, so no reconciler takes it for an orphan."""
        while True:
            await asyncio.sleep(INTENT_LEASE.total_seconds() / 3)
            with suppress(Exception):
                await self.ctx.store.renew_intent(self.id, REPLICA, INTENT_LEASE)

    async def _upload(self) -> None:
        """Upload what is not in Azure yet and wait until it is processed. A failure deletes what this start
        uploaded; a file still processing is kept so the user can start again with its id."""
        try:
            for role, source in self.sources:
                if source.azure_file is None:
                    name = f"{upload_prefix(self.id)}{role}.jsonl"
                    self.uploading = True
                    await upload_source(self.client, source, name=name)
                    assert source.azure_file is not None
                    self.files.append(IntentFile(role, source.label, source.azure_file, name, ours=True))
                    if not await self.ctx.store.set_intent_files(self.id, self.files):
                        raise StartInterrupted("The bot gave this start up while it was uploading.")
            for _, source in self.sources:
                if source.uploaded:
                    await wait_until_ready(self.client, source)
        except StillProcessing as exc:
            # The files are the user's now (named in the answer): the intent ends without deleting them.
            self.given_up = True
            with suppress(Exception):
                await self.ctx.store.move_intent(
                    self.id, OPEN_STATES, FAILED, outcome="kept", files=self.files, lease_owner=None
                )
            files = " ".join(f"--{f.role} {f.file_id}" for f in self.files)
            raise StillProcessing(
                exc.message,
                hint="Try again in a few minutes with the files kept in Azure: "
                + code(f"/ft start {self.model} {files}{_options_again(self.prm)}")
                + ".",
            ) from None
        except BaseException:
            await self._give_up()
            raise

    async def _give_up(self) -> None:
        """Nothing was sent to create a job: delete this start's uploads (queued, so a refused delete is
        retried) and leave the intent for a late sweep by name. Also on cancellation (the bot restarting):
        shielded, and bounded so shutdown is not held up."""
        if self.given_up or self.sent:  # once the create was sent, the uploads are never deleted here
            return
        self.given_up = True
        with suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout(CLEANUP_WITHIN):
                await asyncio.shield(self._abandon())

    async def _abandon(self) -> list[str]:
        settle = timedelta(seconds=self.ctx.settings.start_settle)
        if not self.uploading:  # nothing ever went to Azure: nothing to sweep either
            await self.end("gave_up")
            return []
        with suppress(Exception):
            await self.ctx.store.move_intent(
                self.id,
                (UPLOADING,),
                ABANDONED,
                outcome="gave_up",
                files=self.files,
                lease_owner=None,
                lease_until=utcnow() + settle,
            )
        ours = [f.file_id for f in self.files if f.ours]
        self.left = await delete_files(
            self.ctx, self.client, self.resource, ours, intent_id=self.id, within=CLEANUP_WITHIN
        )
        for _, source in self.sources:
            if source.uploaded and source.azure_file not in self.left:
                source.azure_file, source.uploaded = None, False
        return self.left

    async def _mark_sent(self) -> None:
        training = next(f.file_id for f in self.files if f.role == "training")
        try:
            moved = await self.ctx.store.move_intent(
                self.id, (UPLOADING,), SENT, training_file=training, files=self.files, sent_at=utcnow()
            )
        except BaseException:
            await self._give_up()
            raise
        self.sent = moved
        if not moved:  # a reconciler declared this start dead (its lease ran out): do not create now
            await self._give_up()
            raise StartInterrupted(
                "The bot lost track of this start before creating the job, so it did not create it.",
                hint=f"Start again: {code(f'{trigger_for(self.cmd.platform)} start {self.model} ...')}.",
            )

    async def _create(self, request: dict[str, Any]) -> FineTuningJob | Reply:
        training = next(f.file_id for f in self.files if f.role == "training")
        validation = next((f.file_id for f in self.files if f.role == "validation"), None)
        try:
            job = await self.client.create_job(self.model, training, validation_file=validation, **request)
        except asyncio.CancelledError:
            # Stopped while the create was on the wire: it may have happened. The reconciler settles it at
            # the next start-up (or round) and tells the conversation; the files stay.
            with suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(CLEANUP_WITHIN):
                    await asyncio.shield(self._unknown())
            raise
        except Exception as exc:
            if _refused(exc):
                return await self._refused(exc)
            log.warning("start %s: no clear answer to the job create (%s)", self.id, type(exc).__name__)
            with suppress(Exception):
                await self._unknown()
            return Reply(self._maybe_created_card(exc))
        try:
            await self._complete(job)
            self.announced_by_us = True
        except Exception as exc:
            # The job exists: show it anyway, and record it as soon as the store takes it.
            log.warning(
                "start %s: job %s created but not recorded yet (%s)", self.id, job.id, type(exc).__name__
            )
            spawn(self.ctx, self._complete_later(job))
        return job

    async def _unknown(self) -> None:
        not_before = utcnow() + timedelta(seconds=self.ctx.settings.start_settle)
        if not await self.ctx.store.move_intent(
            self.id, (SENT,), UNKNOWN, outcome="no_answer", lease_owner=None
        ):
            return
        # Look again soon: a lost reply is usually found at once; "no job" is only concluded after settling.
        soon = min(not_before, utcnow() + timedelta(seconds=self.ctx.settings.reconcile_interval))
        await self.ctx.store.release_intent(self.id, not_before=soon)

    async def _refused(self, exc: Exception) -> Reply:
        """Azure said no to the create (quota, model, permissions, throttled): no job, the uploads go."""
        with suppress(Exception):
            await self.ctx.store.move_intent(
                self.id, (SENT,), FAILED, outcome="refused", lease_owner=None, lease_until=None
            )
        ours = [f.file_id for f in self.files if f.ours]
        left: list[str] = []
        with suppress(Exception, asyncio.CancelledError):
            left = await asyncio.shield(
                delete_files(
                    self.ctx, self.client, self.resource, ours, intent_id=self.id, within=CLEANUP_WITHIN
                )
            )
        if not left:
            raise exc
        card = error_reply_card(exc, None)
        return Reply(replace(card, text=f"{card.text}\n{pending_note(left)}"))

    async def _complete(self, job: FineTuningJob, *, told: bool = False) -> None:
        """Record the job. Until the user has seen its card the outcome stays due, under our lease: if the
        bot dies before the card is out, the reconciler posts it (`announce` marks it told)."""
        store = self.ctx.store
        notice = (
            {} if told else {"notice": DUE, "lease_owner": REPLICA, "lease_until": utcnow() + INTENT_LEASE}
        )
        await store.move_intent(
            self.id,
            (SENT, UNKNOWN),
            CREATED,
            job_id=job.id,
            outcome="created",
            **({"lease_owner": None, "lease_until": None} | notice),
        )
        await store.record_job(
            job.id,
            resource=self.resource,
            home=self.cmd.conversation,
            user=self.cmd.user,
            model=self.model,
            status=job.status,
        )
        await store.audit(
            platform=self.cmd.platform,
            actor=self.cmd.user,
            action="job.start",
            subject=job.id,
            detail={
                "model": self.model,
                "training_file": job.training_file,
                "validation_file": job.validation_file,
            },
        )

    async def announce(self, card: Card) -> bool:
        """Post the job card to the conversation and only then mark the outcome told, so a crash in between
        is made good by the reconciler. False: answer with the card as a plain reply instead (no sender for
        this platform, the platform refused, or the outcome could not be recorded)."""
        if not self.announced_by_us or self.ctx.notifier is None:
            return False
        conv = self.cmd.conversation
        try:
            await self.ctx.notifier.send(conv.platform, conv.reference, card, thread=conv.thread)
            sent = True
        except Exception as exc:
            log.info("start %s: posting the job card proactively failed (%s)", self.id, type(exc).__name__)
            sent = False
        with suppress(Exception):
            await self.ctx.store.notice_told(self.id)  # either way the answer is on its way now
        return sent

    async def _complete_later(self, job: FineTuningJob) -> None:
        for attempt in range(RECORD_ATTEMPTS):
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
            try:
                await self._complete(job, told=True)  # the card went out with the answer
                await self.ctx.store.notice_told(self.id)  # in case the first try got as far as the intent
            except Exception as exc:
                log.info("start %s: recording job %s failed again (%s)", self.id, job.id, type(exc).__name__)
                continue
            log.info("start %s: job %s recorded", self.id, job.id)
            return
        # Still not recorded: the intent stays `sent`; the reconciler finds the job and records it.
        log.warning("start %s: job %s not recorded; left to the reconciler", self.id, job.id)

    def _maybe_created_card(self, exc: Exception) -> Card:
        trigger = trigger_for(self.cmd.platform)
        why = exc.user_message() if isinstance(exc, AzureError) else "the answer was lost"
        kept = [f for f in self.files if f.ours]
        files = " I kept the uploaded files, because a job may be using them." if kept else ""
        text = (
            f"Azure did not confirm the new {code(self.model)} job ({literal(why)}), so the job may have been created."
            f"{files}\n**What to do:** check with `{trigger} list` before starting again; I will check with "
            "Azure and tell you here what happened."
        )
        facts = tuple(
            Fact(f"{f.role.capitalize()} file", f"{code(f.file_id)} ({literal(f.label)})") for f in self.files
        )
        return Card(
            title="The job may have been created",
            tone=Tone.WARNING,
            text=text,
            facts=facts,
            summary=f"The {code(self.model)} job may have been created: check `{trigger} list`.",
        )


def _mention(exc: BaseException, note: str) -> None:
    """Add `note` to what the error route will show for `exc`."""
    if isinstance(exc, FtbotError):
        exc.hint = f"{exc.hint} {note}".strip()
    elif isinstance(exc, AzureError):
        exc.message = f"{exc.message} {note}"


def _refused(exc: BaseException) -> bool:
    """A clear no from Azure (4xx but 408): the request was judged and nothing was created."""
    return (
        isinstance(exc, AzureError)
        and exc.status is not None
        and 400 <= exc.status < 500
        and exc.status != 408
    )


def _options_again(prm: dict[str, Any]) -> str:
    """The options the user gave, to repeat in a retry hint (a DPO start must not come back as SFT)."""
    names = {
        "suffix": "suffix",
        "seed": "seed",
        "epochs": "epochs",
        "batch_size": "batch-size",
        "lr_multiplier": "lr-multiplier",
        "beta": "beta",
        "training_type": "training-type",
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
