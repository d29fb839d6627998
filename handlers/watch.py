"""Watching jobs: the poll as a pure step, and the verbs watch / unwatch / subscribe / unsubscribe /
subscriptions / quiet.

`poll_step(state, cursor, job, events, targets, now=...)` is the whole decision of one poll of one job:
given what the watcher stored last time and what Azure says now, it returns the notifications to put in the
outbox (keyed so each is sent once), the new cursor and state, whether the job is done and when to look
again. It does no I/O: the runner (`handlers/watcher.py`) claims jobs, calls Azure, runs this, and commits
the result in one transaction; tests call it with recorded pages.

Statuses go through `bot.azure.models.normalise_status` once, at the top of the step: decisions use its
kind (`canceled`/`cancelled`, `canceling`, `notRunning`, `pausing`, `resuming` all behave as what they
mean), the state and the cards keep its word, and a status Azure adds later is shown as it came, polled
with back-off like a quiet job and never taken for an ending.

Triggers (STYLE.md #13): a batch of new events -> one message in the job card's thread; a new status or
step -> the job card updated in place; a terminal status -> one alert per conversation (with the RAI
notice for safety failures). Dedupe keys: (job, event range | status | step, conversation).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot import params as p
from bot import training_types
from bot.azure.models import (
    Checkpoint,
    FineTuningJob,
    JobEvent,
    NormalStatus,
    StatusKind,
    is_terminal,
    normalise_status,
)
from bot.azure.rai import rai_failure
from bot.context import Context
from bot.model import Command, Reply
from bot.router import Arg, Opt, Router
from bot.store import Queued
from cards.alerts import (
    AlertExtras,
    AlertView,
    StreamLine,
    alert_key,
    event_batch_card,
    terminal_alert,
)
from cards.format import when
from cards.jobs import job_card, job_key
from cards.markup import code, literal
from cards.model import Card, Fact, Table, Tone
from cards.serial import card_to_json
from cards.views import epoch
from handlers.estimates import money
from handlers.jobs import RAI_WORDS, job_view

if TYPE_CHECKING:
    from bot.dataprep.prices import PriceTable

router = Router("watch")

# Statuses in which a job produces events every interval (by kind; OpenAI's `validating_files` waits but
# logs as it goes); others (queued, paused, unknown) back off.
ACTIVE_KINDS = frozenset({StatusKind.RUNNING, StatusKind.PAUSING, StatusKind.RESUMING, StatusKind.CANCELLING})
ACTIVE_WORDS = frozenset({"validating_files"})
TERMINAL = ("succeeded", "failed", "cancelled")
MAX_BACKOFF = 4  # a quiet job is looked at least every 4 intervals
KEPT_LOSSES = 5

_STEP = re.compile(r"\bstep\s+(\d+)", re.IGNORECASE)
_LOSS = re.compile(r"training\s+loss\s*=\s*([-+0-9.eE]+)", re.IGNORECASE)
_BILLED = re.compile(r"training\s+tokens\s+billed\s*:\s*([0-9,]+)", re.IGNORECASE)


# -- the pure step -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A conversation that hears about a job: `stream` = events in the card's thread and the card kept
    up to date; otherwise only the terminal alert. `statuses` that alert here; `since` (unix seconds):
    only a job that ended at or after it alerts (a subscription does not replay old results)."""

    conversation: str
    stream: bool
    statuses: frozenset[str] = frozenset(TERMINAL)
    since: float | None = None


@dataclass(frozen=True, slots=True)
class WatchState:
    """What the watcher remembers between polls (stored as JSON on the job row)."""

    status: str | None = None
    step: int | None = None
    losses: tuple[float, ...] = ()
    posted_step: int = 0  # last metrics step streamed (thinning)
    card_step: int = 0  # step shown when the job card was last updated (progress updates are thinned too)
    changed_at: float | None = None  # when the status last changed (back-off grows with quiet time)
    billed_tokens: int | None = None
    pause_checkpoint: str | None = (
        None  # the deployable checkpoint of this pause, once seen (its card has it)
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "step": self.step,
            "losses": list(self.losses),
            "posted_step": self.posted_step,
            "card_step": self.card_step,
            "changed_at": self.changed_at,
            "billed_tokens": self.billed_tokens,
            "pause_checkpoint": self.pause_checkpoint,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> WatchState:
        data = data or {}
        return cls(
            status=data.get("status"),
            step=data.get("step"),
            losses=tuple(float(x) for x in data.get("losses") or ()),
            posted_step=int(data.get("posted_step") or 0),
            card_step=int(data.get("card_step") or 0),
            changed_at=data.get("changed_at"),
            billed_tokens=data.get("billed_tokens"),
            pause_checkpoint=data.get("pause_checkpoint"),
        )


@dataclass(frozen=True, slots=True)
class PollResult:
    queued: tuple[Queued, ...]
    state: WatchState
    cursor: str | None
    done: bool
    next_poll_in: float | None  # seconds; None when done


def is_active(status: NormalStatus) -> bool:
    """A job that logs events every interval (running, pausing, resuming, cancelling, validating files)."""
    return status.kind in ACTIVE_KINDS or status.word in ACTIVE_WORDS


def wants_events(
    state: WatchState, cursor: str | None, status: str | None, targets: Sequence[Target]
) -> bool:
    """Page events only for a job that moved and that some conversation streams: never for quiet jobs
    that did not change status, never for alert-only followers. `status` is Azure's, as it came."""
    if not any(t.stream for t in targets):
        return False
    normal = normalise_status(status)
    return cursor is None or normal.word != state.status or is_active(normal) or normal.terminal


def unseen(events: Sequence[JobEvent], cursor: str | None) -> list[JobEvent]:
    """The events newer than `cursor`, oldest first, from pages as the service sends them (newest first).
    A service that sends oldest first (as one of Azure's examples does) is recognised by the timestamps."""
    ordered = list(events)
    stamps = [e.created_at for e in ordered if e.created_at is not None]
    if len(stamps) >= 2 and stamps[0] < stamps[-1]:
        ordered.reverse()  # oldest-first service: make it newest first like the rest
    fresh: list[JobEvent] = []
    for event in ordered:
        if event.id == cursor:
            break
        fresh.append(event)
    fresh.reverse()
    return fresh


def metric_of(event: JobEvent) -> tuple[int | None, float | None]:
    """(step, training loss) from a metrics event: `data` when it has them, else the message
    (`Step 120: training loss=0.43`; Azure's data carry no total step count)."""
    step = event.metric("step")
    loss = event.metric("train_loss")
    if step is None:
        m = _STEP.search(event.message)
        step = float(m.group(1)) if m else None
    if loss is None:
        m = _LOSS.search(event.message)
        try:
            loss = float(m.group(1)) if m else None
        except ValueError:
            loss = None
    return (int(step) if step is not None else None), loss


def is_metric_line(event: JobEvent) -> bool:
    return event.is_metrics or bool(_LOSS.search(event.message))


def keep_metric(step: int, posted_step: int) -> bool:
    """Thinning: stream a metrics line when the job has moved on by a quarter of where it was (at least 10
    steps), so a 10,000-step job posts a few dozen lines, not a thousand."""
    return step - posted_step >= max(10, posted_step // 4)


@lru_cache(maxsize=1)
def default_prices() -> PriceTable:
    # the price table's module on first use, not at start-up (issue 17)
    from bot.dataprep.prices import PriceTable

    return PriceTable.default()


def cost_text(job: FineTuningJob, prices: PriceTable | None = None) -> str | None:
    if not job.trained_tokens or not job.model:
        return None
    method = "dpo" if job.method_type == "dpo" else "sft"
    kind = training_types.parse(job.training_type)  # priced at its training type's rate when Azure says it
    estimate = (prices or default_prices()).estimate(job.model, job.trained_tokens, method, kind)
    if estimate is None:
        return None
    typed = f" {training_types.LABELS[estimate.training_type]} training" if estimate.training_type else ""
    return (
        f"about {money(estimate.amount, estimate.currency)} ({estimate.price_key}{typed} at "
        f"{money(estimate.per_million, estimate.currency)} per 1M trained tokens; illustrative price table)"
    )


def alert_view(
    job: FineTuningJob,
    *,
    billed_tokens: int | None = None,
    cancelled_by: str | None = None,
    resource: str | None = None,
    prices: PriceTable | None = None,
) -> AlertView:
    normal = normalise_status(job.status)
    rai = rai_failure(job) if normal.kind is StatusKind.FAILED else None
    started = job.created_at
    return AlertView(
        job_id=job.id,
        status=normal.word,
        model=job.model or "?",
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        billed_tokens=billed_tokens,
        duration_seconds=(job.finished_at - started) if job.finished_at and started else None,
        cost=cost_text(job, prices) if normal.kind is StatusKind.SUCCEEDED else None,
        error_code=job.error.code if job.error else None,
        error_message=job.error.message if job.error else None,
        cancelled_by=cancelled_by,
        rai_phase=rai.phase if rai else None,
        rai_categories=tuple(RAI_WORDS.get(c, c.replace("_", " ")) for c in rai.categories) if rai else (),
        resource=resource,
    )


def progress_note(state: WatchState) -> str:
    if state.step is None:
        return ""
    latest = f": training loss {state.losses[-1]:.3f}" if state.losses else ""
    recent = ", ".join(f"{x:.2f}" for x in state.losses)
    trend = f" (recent: {recent})" if len(state.losses) > 1 else ""
    return f"**Step {state.step:,}**{latest}{trend}"


def _payload(op: str, card: Card, anchor: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op, "card": card_to_json(card)}
    if anchor:
        out["anchor"] = anchor
    return out


def card_update_key(job_id: str, status: str, step: int | None, point: str, conversation: str) -> str:
    """The outbox key of one update of a job's card: one per status, step and pause checkpoint."""
    return f"card:{job_id}:{status}:{step}{point}:{conversation}"


def final_card_update(key: str) -> bool:
    """Whether `card_update_key` names a job's ending: nothing a card can show is newer than that."""
    parts = key.split(":", 3)
    return len(parts) > 2 and parts[0] == "card" and normalise_status(parts[2]).terminal


def poll_step(
    state: WatchState,
    cursor: str | None,
    job: FineTuningJob,
    events: Sequence[JobEvent],
    targets: Sequence[Target],
    *,
    now: float,
    interval: float,
    resource: str | None = None,
    extras: AlertExtras | None = None,
    cancelled_by: str | None = None,
    prices: PriceTable | None = None,
    pause_checkpoint: Checkpoint | None = None,
    holders: Collection[str] = (),
) -> PollResult:
    """One poll of one job: (stored state and cursor, the job and its events as Azure sends them now) ->
    (notifications, new state and cursor, done, next poll). Pure: the same inputs give the same keys.
    `pause_checkpoint`: a paused job's deployable checkpoint (handlers/paused.py), looked for by the runner
    until the state has one; when it first appears the card is updated to offer it.
    `holders`: conversations that show a card of this job (stored message refs); on a status change each of
    them gets its card updated too, not only the streaming targets (a quiet home, a `status` elsewhere)."""
    normal = normalise_status(job.status)
    status = normal.word  # what the state keeps and the cards show; decisions below use `normal.kind`
    fresh = unseen(events, cursor)
    new_cursor = fresh[-1].id if fresh else cursor

    # Fold the new events into the state; pick the lines worth streaming.
    step, losses, posted, billed = state.step, list(state.losses), state.posted_step, state.billed_tokens
    lines: list[StreamLine] = []
    thinned = 0
    for event in fresh:
        billed_match = _BILLED.search(event.message)
        if billed_match:
            billed = int(billed_match.group(1).replace(",", ""))
        if is_metric_line(event):
            at_step, loss = metric_of(event)
            if at_step is not None and (step is None or at_step >= step):
                step = at_step
                if loss is not None:
                    losses = [*losses, loss][-KEPT_LOSSES:]
            if at_step is not None and not keep_metric(at_step, posted):
                thinned += 1
                continue
            posted = at_step if at_step is not None else posted
        lines.append(StreamLine(epoch(event.created_at), event.level, event.message))

    changed = status != state.status
    paused = normal.kind is StatusKind.PAUSED
    point_id = (pause_checkpoint.id if pause_checkpoint else state.pause_checkpoint) if paused else None
    # The card is updated on every status change, for progress as often as metric lines are streamed
    # (chat.update is rate-limited per channel as much as posting is), and when a pause becomes deployable.
    update_card = (
        changed
        or (step is not None and step != state.step and keep_metric(step, state.card_step))
        or point_id != state.pause_checkpoint
    )
    new_state = WatchState(
        status=status,
        step=step,
        losses=tuple(losses),
        posted_step=posted,
        card_step=(step or 0) if update_card else state.card_step,
        changed_at=now if changed or state.changed_at is None else state.changed_at,
        billed_tokens=billed,
        pause_checkpoint=point_id,
    )
    terminal = normal.terminal
    queued: list[Queued] = []
    streams = [t for t in targets if t.stream]

    if fresh and (lines or thinned):
        batch = event_batch_card(job.id, lines, thinned) if lines else None
        span = f"{fresh[0].id}..{fresh[-1].id}"
        for t in streams:
            if batch is not None:
                queued.append(
                    Queued(
                        f"ev:{job.id}:{span}:{t.conversation}",
                        t.conversation,
                        _payload("thread", batch, job_key(job.id)),
                    )
                )

    if update_card:
        view = replace(job_view(job, pause_checkpoint=pause_checkpoint), status=status, step=step)
        footer = f"Updated {when(epoch(now), seconds=True)} · watched"
        card = job_card(view, footer, note=progress_note(new_state))
        point = f":{point_id}" if point_id else ""
        showing = [t.conversation for t in streams]
        if changed:
            showing += sorted(set(holders) - set(showing))
        for conversation in showing:
            queued.append(
                Queued(
                    card_update_key(job.id, status, step, point, conversation),
                    conversation,
                    _payload("update", card, job_key(job.id)),
                )
            )

    if terminal:
        summary = alert_view(
            job, billed_tokens=billed, cancelled_by=cancelled_by, resource=resource, prices=prices
        )
        alert = terminal_alert(summary, extras)
        ended = job.finished_at
        for t in targets:
            if status not in t.statuses:
                continue
            if t.since is not None and ended is not None and ended < t.since:
                continue
            queued.append(
                Queued(f"alert:{job.id}:{status}:{t.conversation}", t.conversation, _payload("post", alert))
            )
            if normal.kind is StatusKind.SUCCEEDED and extras is not None:
                for i, follow in enumerate(extras.follow_ups):
                    queued.append(
                        Queued(
                            f"alert:{job.id}:{status}:{t.conversation}:+{i}",
                            t.conversation,
                            _payload("thread", follow, alert_key(job.id)),
                        )
                    )
        # Azure logs a few lines after `Job succeeded.` (evaluation, results file, billed tokens): a job
        # streamed into a thread gets one closing look for them, unless the billed line is already in.
        closing = (
            normal.kind is StatusKind.SUCCEEDED
            and bool(streams)
            and not is_terminal(state.status)
            and billed is None
        )
        if closing:
            return PollResult(tuple(queued), new_state, new_cursor, False, interval)
        return PollResult(tuple(queued), new_state, new_cursor, True, None)

    if not targets:
        return PollResult(tuple(queued), new_state, new_cursor, True, None)
    if is_active(normal) or changed:
        wait = interval
    else:
        quiet_for = now - (new_state.changed_at or now)
        wait = min(interval * MAX_BACKOFF, max(interval, quiet_for / 2))
    return PollResult(tuple(queued), new_state, new_cursor, False, wait)


# -- targets -------------------------------------------------------------------------------------------------

ALL_STATUSES = frozenset(TERMINAL)
STATUS_CHOICES = {
    "all": ALL_STATUSES,
    "succeeded": frozenset({"succeeded"}),
    "failed": frozenset({"failed", "cancelled"}),
}


def targets_for(
    home: str | None,
    watchers: Mapping[str, str],
    quiet_homes: set[str],
    subscriptions: Sequence[tuple[str, frozenset[str], float]],
) -> list[Target]:
    """Who hears about a job: its home conversation (where it was started; quiet if that conversation
    says so), conversations that `watch` it (`stream`/`quiet`; `off` silences even the home), and
    subscriptions of its resource (terminal alerts only, for jobs ending after they subscribed)."""
    found: dict[str, Target] = {}
    if home and home not in watchers:
        found[home] = Target(home, stream=home not in quiet_homes)
    for conv, mode in watchers.items():
        if mode in ("stream", "quiet"):
            found[conv] = Target(conv, stream=mode == "stream")
    for conv, statuses, since in subscriptions:
        if conv in found:
            continue  # a follower hears every terminal status already
        found[conv] = Target(conv, stream=False, statuses=statuses, since=since)
    return list(found.values())


# -- verbs ---------------------------------------------------------------------------------------------------

RESOURCE = Opt("resource", p.resource_name, metavar="NAME", help="which Azure resource (default: the first)")


def _resource(ctx: Context, name: str | None) -> str:
    return str(ctx.azure.resource(name).name)


@router.command(
    "watch",
    summary="Follow a job: events in its card's thread, an alert when it ends",
    example="watch ftjob-0123456789abcdef0123456789abcdef --quiet",
    args=(Arg("job", p.job_id),),
    options=(
        Opt("quiet", flag=True, default=False, help="only the final alert, no events"),
        RESOURCE,
    ),
)
async def watch(ctx: Context, cmd: Command) -> Reply:
    resource = _resource(ctx, cmd.params["resource"])
    job = await ctx.azure.data(resource).get_job(cmd.params["job"])
    await ctx.store.save_conversation(cmd.conversation)
    quiet = bool(cmd.params["quiet"])
    await ctx.store.follow_job(
        job.id,
        resource=resource,
        conversation_key=cmd.conversation.key,
        mode="quiet" if quiet else "stream",
        model=job.model,
        status=None,
    )
    note = (
        "Watching quietly: only the final result is posted here."
        if quiet
        else "Watching: new events go into this card's thread, and the result is posted when it ends."
    )
    if job.is_terminal:
        note = f"This job already {normalise_status(job.status).word}; its result is posted here now."
    return Reply(job_card(job_view(job), f"Watched from {when(ctx.clock(), seconds=True)}", note=note))


@router.command(
    "unwatch",
    summary="Stop following a job here",
    example="unwatch ftjob-0123456789abcdef0123456789abcdef",
    args=(Arg("job", p.job_id),),
    options=(RESOURCE,),
)
async def unwatch(ctx: Context, cmd: Command) -> Card:
    resource = _resource(ctx, cmd.params["resource"])
    job_id = cmd.params["job"]
    await ctx.store.follow_job(job_id, resource=resource, conversation_key=cmd.conversation.key, mode="off")
    return Card(
        title=f"Stopped watching {literal(job_id)}",
        text="No more events or alerts for this job here. `/ft watch` it again any time.",
        summary=f"Stopped watching {literal(job_id)}.",
    )


@router.command(
    "subscribe",
    summary="Get the final alert of every job of a resource here",
    example="subscribe --status failed",
    options=(
        Opt(
            "status",
            p.one_of(*STATUS_CHOICES),
            default="all",
            metavar="succeeded|failed|all",
            help="which endings (failed includes cancelled; default all)",
        ),
        RESOURCE,
    ),
)
async def subscribe(ctx: Context, cmd: Command) -> Card:
    resource = _resource(ctx, cmd.params["resource"])
    statuses = STATUS_CHOICES[cmd.params["status"]]
    await ctx.store.save_conversation(cmd.conversation)
    await ctx.store.subscribe(cmd.conversation.key, resource, statuses, cmd.user.id)
    await ctx.store.audit(
        platform=cmd.platform,
        actor=cmd.user,
        action="watch.subscribe",
        subject=f"resource:{resource}",
        detail={"conversation": cmd.conversation.key, "statuses": sorted(statuses)},
    )
    said = "every ending" if statuses == ALL_STATUSES else " and ".join(sorted(statuses))
    return Card(
        title=f"Subscribed to {literal(resource)}",
        tone=Tone.SUCCESS,
        text=(
            f"This conversation now hears about {said} of every fine-tuning job in {code(resource)}, "
            "including jobs started outside chat (portal, SDK). Jobs that already ended are not replayed."
        ),
        summary=f"Subscribed to {literal(resource)}.",
    )


@router.command(
    "unsubscribe",
    summary="Stop a resource's alerts here",
    example="unsubscribe --resource sweden",
    options=(Opt("resource", p.resource_name, metavar="NAME", help="only this resource (default: all)"),),
)
async def unsubscribe(ctx: Context, cmd: Command) -> Card:
    removed = await ctx.store.unsubscribe(cmd.conversation.key, cmd.params["resource"])
    text = (
        "No more alerts for other people's jobs here."
        if removed
        else "This conversation had no subscription."
    )
    return Card(title="Unsubscribed" if removed else "Nothing to unsubscribe", text=text, summary=text)


@router.command("subscriptions", summary="What this conversation is subscribed to", example="subscriptions")
async def list_subscriptions(ctx: Context, cmd: Command) -> Card:
    subs = await ctx.store.subscriptions(conversation_key=cmd.conversation.key)
    quiet = cmd.conversation.key in await ctx.store.quiet_conversations([cmd.conversation.key])
    setting = Fact("Jobs started here", "final alert only (quiet)" if quiet else "events and final alert")
    if not subs:
        return Card(
            title="Subscriptions",
            text="None. `/ft subscribe` posts the final result of every job of a resource here.",
            facts=(setting,),
            summary="No subscriptions here.",
        )
    rows = tuple((code(s.resource), ", ".join(sorted(s.statuses)), when(s.created_at)) for s in subs)
    return Card(
        title="Subscriptions",
        facts=(setting,),
        tables=(Table(columns=("Resource", "Alerts on", "Since"), rows=rows),),
        summary=f"{len(subs)} subscription(s) here.",
    )


@router.command(
    "quiet",
    summary="Jobs started here: only the final alert (on) or events too (off)",
    example="quiet on",
    args=(Arg("setting", p.one_of("on", "off")),),
)
async def quiet(ctx: Context, cmd: Command) -> Card:
    on = cmd.params["setting"] == "on"
    await ctx.store.set_quiet(cmd.conversation.key, on)
    text = (
        "Jobs started here now post only their final result."
        if on
        else "Jobs started here now stream their events into their card's thread."
    )
    return Card(title=f"Quiet {'on' if on else 'off'}", text=text, summary=text)


__all__ = [
    "PollResult",
    "Target",
    "WatchState",
    "poll_step",
    "router",
    "targets_for",
    "unseen",
    "wants_events",
]
