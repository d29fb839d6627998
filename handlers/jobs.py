"""Fine-tuning jobs from chat: list, status, events, checkpoints, and cancel / pause / resume.

Ids are checked for shape by the router before anything reaches Azure; state checks happen here so the user
hears "this job already finished" rather than a raw 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from typing import Any

from bot import params as p
from bot import training_types
from bot.azure import errors as az
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.errors import AzureError, rai_failure
from bot.azure.models import Checkpoint, FineTuningJob, JobEvent, JobStatus, normalise_status
from bot.context import Context
from bot.errors import InvalidState, NotAllowed, NotFound, UsageError
from bot.model import Action, Command, Conversation, MessageRef, Reply, User
from bot.policy import Act
from bot.router import Arg, Opt, Router
from bot.store import StoredJob
from cards.checkpoints import checkpoints_card
from cards.events import events_card
from cards.format import when
from cards.jobs import CANCEL, CHECKPOINTS, EVENTS, PAUSE, REFRESH, RESUME, SHOW, job_card, job_list_card
from cards.markup import code, literal
from cards.model import Button, Card, Tone
from cards.views import CheckpointView, EventPageView, EventView, JobView, epoch
from handlers.estimates import estimate_note
from handlers.job_cards import refresh_job_cards
from handlers.paused import find_pause_checkpoint, is_paused

router = Router("jobs")

# Azure's harm categories in plain words.
RAI_WORDS = {
    "violence": "violence",
    "sexual": "sexual content",
    "hate_fairness": "hate and fairness",
    "self_harm": "self-harm",
}

RESOURCE = Opt("resource", p.resource_name, metavar="NAME", help="which Azure resource (default: the first)")
PROGRESS_EVENTS = 25  # newest events read to find the latest step for the progress bar
LIST_LOOKUPS = 8  # Azure status reads at once for `list` (one per job of the conversation)


# -- who may see and change a job (bot/policy.py decides; these only say who owns what) ------------------------


def _resource_name(ctx: Context, stored: StoredJob | None, resource: str | None) -> str | None:
    if stored is not None:
        return stored.resource
    try:
        return str(ctx.azure.resource(resource).name)
    except Exception:  # an unknown --resource is reported by the Azure call that follows
        return resource


async def may_view(ctx: Context, user: User, where: Conversation, job_id: str, resource: str | None) -> None:
    """Everybody allowed here sees the jobs of their own conversation; a job of another conversation (or one
    not started from chat) only its starter and operators. Raises `NotAllowed`."""
    if ctx.policy is None:
        raise NotAllowed(
            "Nobody may see jobs: no authorization policy is configured.", act=Act.VIEW_JOB.value
        )
    stored = await ctx.store.get_job(job_id)
    if stored is not None and stored.home_conversation == where.key:
        return
    name = _resource_name(ctx, stored, resource)
    owner = stored.requested_by if stored else None
    if (
        stored is None
        and not (await ctx.policy.check(user, Act.VIEW_JOB, resource=name, owner=owner)).allowed
    ):
        # A mistyped id deserves "not found" rather than a refusal (ids are unguessable: nothing leaks).
        await ctx.azure.data(resource).get_job(job_id)
    await ctx.policy.require(user, Act.VIEW_JOB, resource=name, owner=owner, subject=job_id)


async def may_manage(ctx: Context, user: User, job_id: str, resource: str | None) -> None:
    """Cancel, pause, resume: the job's starter (as stored when it was started from chat) or an operator."""
    if ctx.policy is None:
        raise NotAllowed(
            "Nobody may change jobs: no authorization policy is configured.", act=Act.MANAGE_JOB.value
        )
    stored = await ctx.store.get_job(job_id)
    await ctx.policy.require(
        user,
        Act.MANAGE_JOB,
        resource=_resource_name(ctx, stored, resource),
        owner=stored.requested_by if stored else None,
        subject=job_id,
    )


# Example counts of training files by file id, known from pre-flight (`start`) or counted from the file once
# (files never change). Bounded: the oldest entries go first.
_EXAMPLES: dict[str, int] = {}
_EXAMPLES_KEPT = 512
COUNT_FILES_UP_TO = 64 * 1024 * 1024  # bytes; bigger training files are not downloaded just for a percentage


def remember_examples(file_id: str, examples: int) -> None:
    """Record how many examples a training file holds (pre-flight knows it before Azure does)."""
    _EXAMPLES[file_id] = examples
    while len(_EXAMPLES) > _EXAMPLES_KEPT:
        del _EXAMPLES[next(iter(_EXAMPLES))]


def _positive_int(value: object) -> int | None:
    """A resolved hyperparameter; `-1` (Azure: not chosen yet), `"auto"` and None are unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1 or value != int(value):
        return None
    return int(value)


def planned_steps(job: FineTuningJob, examples: int | None) -> int | None:
    """Azure sends no step total: it is `n_epochs × ceil(examples / batch_size)` once the defaults are resolved
    (a 40-example gpt-4.1 run, batch 1, 3 epochs, ended at step 120). None while anything is unknown."""
    hyper = job.hyperparameters
    if not examples or hyper is None:
        return None
    epochs, batch = _positive_int(hyper.n_epochs), _positive_int(hyper.batch_size)
    if epochs is None or batch is None:
        return None
    return math.ceil(examples / batch) * epochs


def job_view(
    job: FineTuningJob,
    progress: JobEvent | None = None,
    examples: int | None = None,
    pause_checkpoint: Checkpoint | None = None,
) -> JobView:
    """The card view of a job. `progress` is its newest metrics event (the step); `examples` the training
    file's example count, which with the resolved hyperparameters gives the step total; `pause_checkpoint`
    the deployable checkpoint of a paused job (handlers/paused.py)."""
    hyper: dict[str, Any] = {}
    if job.hyperparameters is not None:
        hyper = {k: v for k, v in job.hyperparameters.model_dump().items() if v is not None}
    beta = (((job.method or {}).get("dpo") or {}).get("hyperparameters") or {}).get("beta")
    if beta is not None:
        hyper["beta"] = beta
    if job.seed is not None:
        hyper["seed"] = job.seed
    step = None
    if progress is not None:
        step_value = progress.metric("step")
        step = int(step_value) if step_value is not None else None
    total = planned_steps(job, examples if examples is not None else _EXAMPLES.get(job.training_file or ""))
    if total is not None and step is not None and step > total:
        total = None  # our count disagrees with Azure's steps: say "step N" rather than a wrong percentage
    rai = rai_failure(job)
    return JobView(
        id=job.id,
        model=job.model or "?",
        status=normalise_status(job.status).word,
        fine_tuned_model=job.fine_tuned_model,
        training_file=job.training_file,
        validation_file=job.validation_file,
        hyperparameters=hyper,
        suffix=job.suffix,
        created_at=epoch(job.created_at),
        finished_at=epoch(job.finished_at),
        estimated_finish=epoch(job.estimated_finish),
        trained_tokens=job.trained_tokens,
        step=step,
        total_steps=total,
        error_code=job.error.code if job.error else None,
        error_message=job.error.message if job.error else None,
        rai_phase=rai.phase if rai else None,
        rai_categories=tuple(RAI_WORDS.get(c, c.replace("_", " ")) for c in rai.categories) if rai else (),
        pause_checkpoint=checkpoint_view(pause_checkpoint, True) if pause_checkpoint else None,
        data_note=estimate_note(job),
        training_type=training_types.label(job.training_type),
        training_note=training_types.DEVELOPER_NOTE
        if training_types.parse(job.training_type) == training_types.DEVELOPER
        else "",
    )


_PROGRESS_STATUSES = (JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.PAUSING, JobStatus.RESUMING)


async def latest_progress(client: AzureOpenAIClient, job: FineTuningJob) -> JobEvent | None:
    """The newest metrics event (its `data.step`), looked for only among the newest few events. Azure writes
    one every 10 steps, so between them the step shown is the last one written."""
    if job.status_kind not in _PROGRESS_STATUSES:
        return None
    seen = 0
    async for event in client.events(job.id, limit=PROGRESS_EVENTS):
        if event.is_metrics and event.metric("step") is not None:
            return event
        seen += 1
        if seen >= PROGRESS_EVENTS:
            break
    return None


async def training_examples(client: AzureOpenAIClient, job: FineTuningJob) -> int | None:
    """How many examples the job trains on: known from pre-flight, else counted once from the training file
    (non-blank JSONL lines). None for jobs without progress, files too big to fetch, or when Azure refuses."""
    file_id = job.training_file
    if not file_id or job.status_kind not in _PROGRESS_STATUSES:
        return None
    if file_id in _EXAMPLES:
        return _EXAMPLES[file_id]
    try:
        meta = await client.get_file(file_id)
        if meta.bytes is None or meta.bytes > COUNT_FILES_UP_TO:
            return None
        count, tail = 0, b""
        async with contextlib.aclosing(client.file_content_stream(file_id)) as chunks:
            async for chunk in chunks:
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()
                count += sum(1 for line in lines if line.strip())
        count += 1 if tail.strip() else 0
    except AzureError:
        return None  # progress then says "step N"; the card still shows everything else
    remember_examples(file_id, count)
    return count


async def job_status_card(ctx: Context, job_id: str, resource: str | None) -> Card:
    client = ctx.azure.data(resource)
    job = await client.get_job(job_id)
    progress = await latest_progress(client, job)
    examples = await training_examples(client, job) if progress is not None else None
    point = await find_pause_checkpoint(client, job)
    card = job_card(
        job_view(job, progress, examples, point), f"Updated {when(ctx.azure_now(resource), seconds=True)}"
    )
    return card


@router.command(
    "list",
    summary="Recent fine-tuning jobs",
    example="list --status running",
    options=(
        Opt(
            "status",
            p.one_of(*(s.value for s in JobStatus)),
            metavar="STATUS",
            help="only jobs in this state",
        ),
        Opt("limit", p.int_between(1, 50), default=10, metavar="N", help="how many (1-50, default 10)"),
        Opt(
            "all",
            flag=True,
            default=False,
            help="every job on the resource, not only this conversation's (operators)",
        ),
        Opt("since", p.since_day, metavar="YYYY-MM-DD", help="only jobs created on or after this day (UTC)"),
        RESOURCE,
    ),
)
async def list_jobs(ctx: Context, cmd: Command) -> Card:
    wanted: str | None = cmd.params["status"]
    limit: int = cmd.params["limit"]
    since: float | None = cmd.params["since"]
    shown = " ".join(
        part
        for part in (f"status={wanted}" if wanted else "", f"since={_day(since)}" if since else "")
        if part
    )
    if cmd.params["all"]:
        if ctx.policy is None:
            raise NotAllowed(
                "Nobody may list every job: no authorization policy is configured.",
                act=Act.LIST_ALL_JOBS.value,
            )
        resource = _resource_name(ctx, None, cmd.params["resource"])
        await ctx.policy.require(cmd.user, Act.LIST_ALL_JOBS, resource=resource, subject=resource or "-")
        client = ctx.azure.data(cmd.params["resource"])
        # One more than asked tells whether there are more; the client filters (the service cannot), so a
        # filter that matches little reads many pages: the scan bounds them and the card says what it missed.
        scan = client.scan()
        jobs = client.jobs(status=wanted, created_after=since, limit=50, max_items=limit + 1, scan=scan)
        found = [job_view(j) async for j in jobs]
        more = len(found) > limit
        hint = f"More: `/ft list --all --limit {min(50, limit * 2)}`" if more and limit < 50 else ""
        narrow = "Narrow with `--since YYYY-MM-DD`" + ("." if cmd.params["resource"] else " or `--resource`.")
        searched = scan.note("jobs", narrow) if not more else ""
        return job_list_card(found[:limit], shown, hint, searched=searched)
    return await _conversation_jobs(ctx, cmd, wanted, limit, since, shown)


def _day(unix: float | None) -> str:
    return f"{epoch(unix):%Y-%m-%d}" if unix else ""


async def _conversation_jobs(
    ctx: Context, cmd: Command, wanted: str | None, limit: int, since: float | None, shown: str
) -> Card:
    """The jobs started (or followed) in this conversation, newest first, with their status now in Azure."""
    resource = cmd.params["resource"]
    name = _resource_name(ctx, None, resource) if resource else None
    stored = [
        j
        for j in await ctx.store.jobs_in(cmd.conversation.key, limit=50)
        if name is None or j.resource == name
    ]
    if not wanted and not since:  # without a filter, one more than asked tells whether there are more
        stored = stored[: limit + 1]
    gate = asyncio.Semaphore(LIST_LOOKUPS)

    async def current(job: StoredJob) -> JobView | None:
        async with gate:
            try:
                return job_view(await ctx.azure.data(job.resource).get_job(job.job_id))
            except (az.NotFound, NotFound):  # deleted in Azure since, or its resource is gone from settings
                return None

    views = [v for v in await asyncio.gather(*(current(j) for j in stored)) if v is not None]
    if wanted:
        views = [v for v in views if v.status == wanted]
    if since:
        views = [v for v in views if v.created_at is not None and v.created_at.timestamp() >= since]
    more = len(views) > limit
    hint = f"More: `/ft list --limit {min(50, limit * 2)}`" if more and limit < 50 else ""
    return job_list_card(views[:limit], shown, hint)


@router.command(
    "status",
    summary="Show a job's status and progress",
    example="status ftjob-0123456789abcdef0123456789abcdef",
    args=(Arg("job", p.job_id),),
    options=(RESOURCE,),
)
async def status(ctx: Context, cmd: Command) -> Card:
    await may_view(ctx, cmd.user, cmd.conversation, cmd.params["job"], cmd.params["resource"])
    return await job_status_card(ctx, cmd.params["job"], cmd.params["resource"])


async def event_page(ctx: Context, job_id: str, resource: str | None, limit: int, after: str | None) -> Card:
    client = ctx.azure.data(resource)
    job = await client.get_job(job_id)  # a clear "not found" rather than an empty page for an unknown job
    events: list[EventView] = []
    has_more = False
    async for event in client.events(job_id, after=after, limit=min(limit + 1, 100)):
        if len(events) == limit:
            has_more = True
            break
        events.append(EventView(event.id, epoch(event.created_at), event.level, event.message))
    page = EventPageView(job_id, tuple(events), has_more, events[-1].id if has_more and events else None)
    return events_card(page, job_status=job.status)


@router.command(
    "events",
    summary="A job's events, newest first",
    example="events ftjob-0123456789abcdef0123456789abcdef --limit 20",
    args=(Arg("job", p.job_id),),
    options=(
        Opt("limit", p.int_between(1, 100), default=20, metavar="N", help="how many (1-100, default 20)"),
        Opt("after", p.event_id, metavar="EVENT", help="older than this event id (next page)"),
        RESOURCE,
    ),
)
async def events(ctx: Context, cmd: Command) -> Card:
    prm = cmd.params
    await may_view(ctx, cmd.user, cmd.conversation, prm["job"], prm["resource"])
    return await event_page(ctx, prm["job"], prm["resource"], prm["limit"], prm["after"])


def checkpoint_view(c: Checkpoint, deployable: bool) -> CheckpointView:
    m = c.metrics
    return CheckpointView(
        id=c.id,
        step=c.step_number or int(m.step or 0),
        model=c.fine_tuned_model_checkpoint or "",
        train_loss=m.train_loss,
        valid_loss=m.valid_loss,
        full_valid_loss=m.full_valid_loss,
        train_accuracy=m.train_mean_token_accuracy,
        valid_accuracy=m.full_valid_mean_token_accuracy or m.valid_mean_token_accuracy,
        created_at=epoch(c.created_at),
        deployable=deployable,
    )


@router.command(
    "checkpoints",
    summary="A job's checkpoints and their metrics",
    example="checkpoints ftjob-0123456789abcdef0123456789abcdef",
    args=(Arg("job", p.job_id),),
    options=(RESOURCE,),
)
async def checkpoints(ctx: Context, cmd: Command) -> Card:
    await may_view(ctx, cmd.user, cmd.conversation, cmd.params["job"], cmd.params["resource"])
    return await checkpoints_of(ctx, cmd.params["job"], cmd.params["resource"])


async def checkpoints_of(ctx: Context, job_id: str, resource: str | None) -> Card:
    client = ctx.azure.data(resource)
    job = await client.get_job(job_id)
    items = [c async for c in client.checkpoints(job.id, limit=10)]
    # After a successful job the last three epochs are deployable (Azure keeps only those); while a job is
    # paused, the checkpoint made where it stopped, once it passed the safety evaluation.
    deployable = (
        {c.id for c in sorted(items, key=lambda c: c.step_number or 0)[-3:]} if job.succeeded else set()
    )
    if is_paused(job):
        point = await find_pause_checkpoint(client, job)
        deployable = {point.id} if point is not None else set()
    views = [checkpoint_view(c, c.id in deployable) for c in items]
    return checkpoints_card(job.id, views, job_status=normalise_status(job.status).word)


# -- changing a job ------------------------------------------------------------------------------------------

_ALLOWED = {
    "cancel": {
        JobStatus.CREATED,
        JobStatus.PENDING,
        JobStatus.RUNNING,
        JobStatus.PAUSED,
        JobStatus.QUEUED,
        JobStatus.VALIDATING_FILES,
        JobStatus.PAUSING,
        JobStatus.RESUMING,
    },
    "pause": {JobStatus.RUNNING},
    "resume": {JobStatus.PAUSED},
}
_REFUSAL = {
    "cancel": "Job {id} {state}; there is nothing to cancel.",
    "pause": "Job {id} {state}; only a running job can be paused.",
    "resume": "Job {id} {state}; only a paused job can be resumed.",
}
_STATE_WORDS = {
    "succeeded": "has already succeeded",
    "failed": "has already failed",
    "cancelled": "was already cancelled",
}


def _state(status: str) -> str:
    return _STATE_WORDS.get(status, f"is {status}")


def _check_allowed(verb: str, job: FineTuningJob) -> None:
    if job.status_kind is not None and job.status_kind not in _ALLOWED[verb]:
        refusal = _REFUSAL[verb].format(id=code(job.id), state=literal(_state(job.status)))
        raise InvalidState(refusal, hint=f"See {code(f'/ft status {job.id}')}.")


async def change_job(
    ctx: Context,
    verb: str,
    job_id: str,
    resource: str | None,
    who: User,
    platform: str,
    *,
    source: MessageRef | None = None,
) -> Card:
    """Cancel, pause or resume; the job's card as it is now. The job's cards elsewhere (its home channel,
    wherever someone ran `status`) are updated too, all but `source` (the card being answered in place)."""
    await may_manage(ctx, who, job_id, resource)
    client = ctx.azure.data(resource)
    job = await client.get_job(job_id)
    _check_allowed(verb, job)
    call = {"cancel": client.cancel_job, "pause": client.pause_job, "resume": client.resume_job}[verb]
    changed = await call(job.id)
    await ctx.store.audit(
        platform=platform,
        actor=who,
        action=f"job.{verb}",
        subject=job.id,
        detail={"status_before": job.status, "status_after": changed.status},
    )
    await ctx.store.set_job_status(job.id, changed.status)
    card = job_card(
        job_view(changed),
        f"{verb.capitalize()} requested by {literal(who.name or who.id)} at {when(ctx.azure_now(resource), seconds=True)}",
    )
    refresh_job_cards(ctx, job.id, card, skip=source)
    return card


def cancel_confirmation(job_id: str, resource: str | None) -> Card:
    payload: Mapping[str, str] = {"job": job_id, **({"resource": resource} if resource else {})}
    # This card is the confirmation: its button acts at once (a second "are you sure?" asked twice).
    return Card(
        title=f"Cancel {literal(job_id)}?",
        tone=Tone.WARNING,
        text="Cancelling stops training now; this cannot be undone. Run the command with `--yes` to skip this step.",
        buttons=(Button("Yes, cancel the job", CANCEL, payload, style="danger"),),
        summary=f"Confirm cancelling {literal(job_id)}",
    )


@router.command(
    "cancel",
    summary="Cancel a job (asks to confirm)",
    example="cancel ftjob-0123456789abcdef0123456789abcdef",
    args=(Arg("job", p.job_id),),
    options=(Opt("yes", flag=True, default=False, help="skip the confirmation"), RESOURCE),
)
async def cancel(ctx: Context, cmd: Command) -> Reply:
    if not cmd.params["yes"]:
        # Refuse someone who may not cancel, or a finished job, now rather than after they confirmed.
        await may_manage(ctx, cmd.user, cmd.params["job"], cmd.params["resource"])
        _check_allowed("cancel", await ctx.azure.data(cmd.params["resource"]).get_job(cmd.params["job"]))
        return Reply(cancel_confirmation(cmd.params["job"], cmd.params["resource"]))
    card = await change_job(ctx, "cancel", cmd.params["job"], cmd.params["resource"], cmd.user, cmd.platform)
    return Reply(card)


@router.command(
    "pause",
    summary="Pause a running job",
    example="pause ftjob-0123456789abcdef0123456789abcdef",
    args=(Arg("job", p.job_id),),
    options=(RESOURCE,),
)
async def pause(ctx: Context, cmd: Command) -> Card:
    return await change_job(ctx, "pause", cmd.params["job"], cmd.params["resource"], cmd.user, cmd.platform)


@router.command(
    "resume",
    summary="Resume a paused job",
    example="resume ftjob-0123456789abcdef0123456789abcdef",
    args=(Arg("job", p.job_id),),
    options=(RESOURCE,),
)
async def resume(ctx: Context, cmd: Command) -> Card:
    return await change_job(ctx, "resume", cmd.params["job"], cmd.params["resource"], cmd.user, cmd.platform)


# -- buttons on job cards ---------------------------------------------------------------------------------


def _payload_job(action: Action) -> tuple[str, str | None]:
    try:
        job_id = p.job_id(action.payload.get("job", ""))
    except ValueError as exc:
        raise UsageError("This button carries no valid job id.") from exc
    return job_id, action.payload.get("resource") or None


@router.action(REFRESH)
async def refresh_button(ctx: Context, action: Action) -> Reply:
    job_id, resource = _payload_job(action)
    await may_view(ctx, action.user, action.conversation, job_id, resource)
    return Reply(await job_status_card(ctx, job_id, resource), replace_source=True)


@router.action(EVENTS)
async def events_button(ctx: Context, action: Action) -> Reply:
    job_id, resource = _payload_job(action)
    await may_view(ctx, action.user, action.conversation, job_id, resource)
    after = action.payload.get("after")
    try:
        after = p.event_id(after) if after else None
    except ValueError as exc:
        raise UsageError("This button carries no valid event id.") from exc
    return Reply(await event_page(ctx, job_id, resource, 20, after), in_thread=True)


@router.action(SHOW)
async def show_button(ctx: Context, action: Action) -> Reply:
    """A row of the job list: that job's card as a new message (the list stays)."""
    job_id, resource = _payload_job(action)
    await may_view(ctx, action.user, action.conversation, job_id, resource)
    return Reply(await job_status_card(ctx, job_id, resource))


@router.action(CHECKPOINTS)
async def checkpoints_button(ctx: Context, action: Action) -> Reply:
    job_id, resource = _payload_job(action)
    await may_view(ctx, action.user, action.conversation, job_id, resource)
    return Reply(await checkpoints_of(ctx, job_id, resource), in_thread=True)


async def _change_button(ctx: Context, action: Action, verb: str) -> list[Reply]:
    """A press on a job card. On a stale card (the job moved on: a cancelled job's old "paused" card still
    offering Resume) the card is brought up to date in place and the presser alone is told why nothing
    changed, instead of an error card."""
    job_id, resource = _payload_job(action)
    try:
        card = await change_job(
            ctx, verb, job_id, resource, action.user, action.platform, source=action.message
        )
    except InvalidState as exc:
        current = await job_status_card(ctx, job_id, resource)
        note = Card(title="Nothing changed", tone=Tone.INFO, text=exc.message, summary=exc.message)
        return [Reply(current, replace_source=True), Reply(note, ephemeral=True)]
    return [Reply(card, replace_source=True)]


@router.action(PAUSE)
async def pause_button(ctx: Context, action: Action) -> list[Reply]:
    return await _change_button(ctx, action, "pause")


@router.action(RESUME)
async def resume_button(ctx: Context, action: Action) -> list[Reply]:
    return await _change_button(ctx, action, "resume")


@router.action(CANCEL)
async def cancel_button(ctx: Context, action: Action) -> list[Reply]:
    return await _change_button(ctx, action, "cancel")
