"""Nothing lost, nothing doubled: unfinished starts reconciled with Azure, failed deletions retried.

Runs at start-up and every `reconcile_interval` seconds (wired in `bot/app.py`):

- a start whose create was sent but never answered (`sent` / `unknown`, its handler gone or given up) is
  matched with Azure's job list by its training file, which is unique to the attempt (a user-given file id:
  file + model + settings, created after the intent and not already known). Found: the job is recorded with
  its home conversation (so it is watched) and the user gets its card. Not found `start_settle` seconds after
  the create: no job, the uploads are deleted and the user is told;
- a start that died before its create (`uploading`): nothing was started; the user is told, and its uploads
  (recorded, or found by their unique name) are deleted;
- files whose deletion failed (throttled, refused, Azure down) are deleted again with a growing pause.

Every decision is a compare-and-set on the intent's state (`bot.store.intents`), so the outcome is told once
even with several replicas; the notice itself is marked done only after the platform took it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Coroutine, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.errors import AzureError, NotFound
from bot.azure.ids import same_model
from bot.azure.models import FineTuningJob
from bot.azure.paging import Scan
from bot.context import Context
from bot.store import StoredIntent
from bot.store.base import utcnow
from bot.store.intents import (
    ABANDONED,
    CREATED,
    DUE,
    FAILED,
    SENT,
    UNKNOWN,
    UPLOADING,
)
from cards.format import when
from cards.jobs import job_card
from cards.markup import code, literal
from cards.model import Card, Fact, Tone
from handlers.help import trigger_for
from handlers.jobs import job_view

log = logging.getLogger(__name__)

# Who holds a lease: one id per process (two replicas, or a restarted process, are different owners).
REPLICA = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
BATCH = 20
CLAIM_LEASE = timedelta(minutes=5)
NOTICE_ATTEMPTS = 8
DELETE_RETRY_MAX = timedelta(hours=1)
INTENTS_KEPT = timedelta(days=30)  # finished starts are kept this long (what happened, for whoever asks)
# How far before the intent a job created from a user's own file id may be stamped (clock skew with Azure).
CLOCK_SKEW = 300.0
_GONE = (NotFound,)
_AZURE_TROUBLE = (AzureError, httpx.HTTPError, OSError, TimeoutError)


# -- background work that must outlive a request --------------------------------------------------------------


def spawn(ctx: Context, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run `work` after the request is answered; kept referenced, cancelled by `stop_background`."""
    tasks: set[asyncio.Task[Any]] = ctx.extras.setdefault("background", set())
    task = asyncio.create_task(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def stop_background(ctx: Context, grace: float = 1.0) -> None:
    """At shutdown, before the store closes: no new round; a round in progress gets `grace` seconds to end
    (cancelled in the middle of a database call, the SQLite driver can hang the event loop's shutdown), then
    it and the other background work are cancelled."""
    ctx.extras["stopping"] = True
    rounds = [t for t in ctx.extras.get("rounds", set()) if not t.done()]
    if rounds:
        await asyncio.wait(rounds, timeout=grace)
    tasks = [t for t in (*rounds, *ctx.extras.get("background", set())) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


# -- deleting files, with a memory ----------------------------------------------------------------------------


def _retry_at(attempts: int, interval: float) -> datetime:
    pause = min(DELETE_RETRY_MAX.total_seconds(), interval * 2 ** max(0, attempts - 1))
    return utcnow() + timedelta(seconds=pause)


async def delete_files(
    ctx: Context,
    client: AzureOpenAIClient,
    resource: str,
    file_ids: Sequence[str],
    *,
    intent_id: str | None = None,
    within: float | None = None,
) -> list[str]:
    """Delete Azure files; those Azure did not let go (throttled, refused, unreachable, out of time) stay
    queued in the store and are retried in the background. Returns the ids still to delete."""
    if not file_ids:
        return []
    try:
        await ctx.store.queue_deletions(resource, file_ids, intent_id=intent_id)
    except Exception as exc:  # the store is down: still try now, and say what was left
        log.warning("could not queue the deletion of %d file(s): %s", len(file_ids), type(exc).__name__)
    left: list[str] = []
    deadline = None if within is None else asyncio.get_running_loop().time() + within
    for file_id in file_ids:
        try:
            remaining = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
            async with asyncio.timeout(remaining):
                await client.delete_file(file_id)
        except _GONE:
            pass
        except _AZURE_TROUBLE as exc:
            left.append(file_id)
            log.info("deleting %s failed (%s); it is retried in the background", file_id, type(exc).__name__)
            try:
                await ctx.store.deletion_failed(
                    resource, file_id, _brief(exc), retry_at=_retry_at(1, ctx.settings.reconcile_interval)
                )
            except Exception:
                log.warning("could not record the failed deletion of %s", file_id)
            continue
        try:
            await ctx.store.deletion_done(resource, file_id)
        except Exception:
            log.warning("could not forget the deletion of %s (retried harmlessly later)", file_id)
    return left


async def retry_deletions(ctx: Context) -> int:
    """One round of the deletions still to do; returns how many Azure confirmed."""
    done = 0
    for row in await ctx.store.claim_deletions(REPLICA, limit=50, lease=CLAIM_LEASE):
        try:
            await ctx.azure.data(row.resource).delete_file(row.file_id)
        except _GONE:
            pass
        except (*_AZURE_TROUBLE, LookupError) as exc:
            retry_at = _retry_at(row.attempts + 1, ctx.settings.reconcile_interval)
            await ctx.store.deletion_failed(row.resource, row.file_id, _brief(exc), retry_at=retry_at)
            if row.attempts + 1 in (5, 20):
                log.warning("deleting %s still fails after %d attempts", row.file_id, row.attempts + 1)
            continue
        await ctx.store.deletion_done(row.resource, row.file_id)
        done += 1
    return done


def _brief(exc: BaseException) -> str:
    if isinstance(exc, AzureError):
        return f"HTTP {exc.status} {exc.code or ''}".strip()
    return type(exc).__name__


def pending_note(left: Iterable[str]) -> str:
    """What to tell a user whose uploads could not be deleted yet."""
    ids = ", ".join(code(f) for f in left)
    return (
        f"Azure did not let me delete {ids} yet; I keep trying in the background and they will be removed."
        if ids
        else ""
    )


# -- reconciling starts ---------------------------------------------------------------------------------------


async def take_over(ctx: Context) -> None:
    """At start-up on SQLite (one replica): starts leased by a process that died are ours to finish now."""
    if ctx.store.dialect != "sqlite":
        return
    try:
        taken = await ctx.store.take_over_intents(REPLICA)
    except Exception as exc:
        log.warning("could not take over unfinished starts: %s", type(exc).__name__)
        return
    if taken:
        log.info("taking over %d unfinished start(s) left by an earlier run", taken)


async def sweep(ctx: Context) -> None:
    """The scheduled round: unfinished starts, then deletions still to do. Never raises. Tracked, so that
    shutting down lets a round end before the store closes under it (`stop_background`)."""
    if ctx.extras.get("stopping"):
        return
    task = asyncio.current_task()
    rounds: set[asyncio.Task[Any]] = ctx.extras.setdefault("rounds", set())
    if task is not None:
        rounds.add(task)
    try:
        await _sweep(ctx)
    except asyncio.CancelledError:
        log.info("reconciling stopped by shutdown; the next start-up carries on")
    finally:
        if task is not None:
            rounds.discard(task)


async def _sweep(ctx: Context) -> None:
    try:
        await record_created(ctx)
    except Exception as exc:
        log.info("recording created jobs failed: %s", _brief(exc))
    try:
        await reconcile_starts(ctx)
    except Exception:
        log.exception(
            "reconciling unfinished starts failed; next round in %gs", ctx.settings.reconcile_interval
        )
    try:
        await retry_deletions(ctx)
    except Exception:
        log.exception("retrying file deletions failed")
    try:
        await ctx.store.forget_intents_before(utcnow() - INTENTS_KEPT)
    except Exception as exc:
        log.info("pruning finished starts failed: %s", type(exc).__name__)


async def record_created(ctx: Context) -> int:
    """Jobs Azure created for a start whose job row was lost (a kill between marking the intent created and
    recording the job): recorded now with their home conversation, so they are known and watched."""
    lost = await ctx.store.created_without_job()
    for intent in lost:
        assert intent.job_id is not None
        await ctx.store.record_job(
            intent.job_id,
            resource=intent.resource,
            home=intent.conversation,
            user=intent.user,
            model=intent.model,
            status=None,
        )
        log.info("recorded job %s of start %s (its record was lost)", intent.job_id, intent.id)
    return len(lost)


async def reconcile_starts(ctx: Context) -> int:
    """Reconcile the intents that need it (lease free); returns how many were looked at."""
    claimed = await ctx.store.claim_intents(REPLICA, limit=BATCH, lease=CLAIM_LEASE)
    for intent in claimed:
        try:
            await reconcile_one(ctx, intent)
        except Exception as exc:
            # Azure or the store did not answer: the intent stays as it is and comes back next round.
            log.info("start %s not reconciled yet: %s", intent.id, _brief(exc))
            await ctx.store.release_intent(intent.id)
    return len(claimed)


async def reconcile_one(ctx: Context, intent: StoredIntent) -> None:
    store = ctx.store
    settle = timedelta(seconds=ctx.settings.start_settle)
    job: FineTuningJob | None = None
    if intent.state in (SENT, UNKNOWN):
        client = ctx.azure.data(intent.resource)
        scan = client.scan()
        job = await find_job(ctx, client, intent, scan=scan)
        if job is not None:
            if await store.move_intent(
                intent.id, (SENT, UNKNOWN), CREATED, job_id=job.id, outcome="found", notice=DUE
            ):
                await _record(ctx, intent, job)
        else:
            sent = intent.sent_at or intent.created_at
            if scan.truncated:
                # The bounded read stopped before the day the start was sent: "no job" would be a guess.
                log.warning(
                    "reconcile: intent %s: Azure's job list was not read back to its start (%d jobs in %d "
                    "pages); looking again later",
                    intent.id,
                    scan.items,
                    scan.pages,
                )
            if utcnow() < sent + settle or scan.truncated:
                await store.release_intent(intent.id, not_before=sent + settle)
                return
            if await store.move_intent(intent.id, (SENT, UNKNOWN), FAILED, outcome="no_job", notice=DUE):
                await _delete_leftovers(ctx, client, intent)
    elif intent.state == UPLOADING:
        # Its handler is gone and no create was sent: nothing started. Tell now; sweep by name after a
        # settle, in case an upload that was on the wire still lands.
        if await store.move_intent(intent.id, (UPLOADING,), ABANDONED, outcome="not_sent", notice=DUE):
            client = ctx.azure.data(intent.resource)
            await delete_files(
                ctx, client, intent.resource, [f.file_id for f in intent.ours], intent_id=intent.id
            )
    elif intent.state == ABANDONED:
        # Claimed only once its lease ran out, i.e. `start_settle` after it was given up: sweep by name.
        client = ctx.azure.data(intent.resource)
        await _delete_leftovers(ctx, client, intent)
        await store.move_intent(intent.id, (ABANDONED,), FAILED)
    current = await store.get_intent(intent.id)
    if current is None:
        return
    if current.notice == DUE:
        await tell(ctx, current, job)
    if current.state == ABANDONED:
        await store.release_intent(current.id, not_before=utcnow() + settle)
    elif current.notice != DUE:
        await store.release_intent(current.id)


async def _record(ctx: Context, intent: StoredIntent, job: FineTuningJob) -> None:
    await ctx.store.record_job(
        job.id,
        resource=intent.resource,
        home=intent.conversation,
        user=intent.user,
        model=intent.model,
        status=job.status,
    )
    await ctx.store.audit(
        platform=intent.platform,
        actor=intent.user,
        action="job.start",
        subject=job.id,
        detail={
            "model": intent.model,
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "reconciled": True,
        },
    )


async def _delete_leftovers(ctx: Context, client: AzureOpenAIClient, intent: StoredIntent) -> list[str]:
    """The start's own uploads: those recorded, and any file under its unique names (a reply lost in a crash)."""
    ids = [f.file_id for f in intent.ours]
    named = await client.files_named(intent.upload_prefix)
    ids += [f.id for f in named if f.id not in ids]
    return await delete_files(ctx, client, intent.resource, ids, intent_id=intent.id)


async def find_job(
    ctx: Context, client: AzureOpenAIClient, intent: StoredIntent, *, scan: Scan | None = None
) -> FineTuningJob | None:
    """The job this start created, if Azure has one. Our own upload's id is unique to the attempt: the
    match is exact. For a user-given file id: same file, model and settings, created after the intent, and
    not a job the bot already knows (another start's). None with `scan.truncated` means "not found in what
    the bounded read reached", not "no such job"."""
    training = intent.training_file
    if not training:
        return None
    validation = next((f.file_id for f in intent.files if f.role == "validation"), None)
    ours = any(f.ours and f.file_id == training for f in intent.files)
    since = (intent.sent_at or intent.created_at).timestamp()
    found: list[FineTuningJob] = []
    # Newest first; a day before the intent is far enough back for any clock difference.
    async for job in client.jobs(limit=50, created_after=since - 86400, scan=scan):
        if job.training_file != training or not same_model(intent.model, job.model):
            continue
        if job.validation_file != validation:
            continue
        if not ours:
            request = intent.request
            if job.created_at is not None and job.created_at < since - CLOCK_SKEW:
                continue
            if request.get("suffix") is not None and job.suffix != request.get("suffix"):
                continue
            if request.get("seed") is not None and job.seed != request.get("seed"):
                continue
            if await ctx.store.get_job(job.id) is not None:
                continue
        found.append(job)
    return min(found, key=lambda j: (j.created_at or 0, j.id), default=None)


# -- telling the conversation ---------------------------------------------------------------------------------


async def tell(ctx: Context, intent: StoredIntent, job: FineTuningJob | None = None) -> bool:
    """Send the decided outcome to the start's conversation; marked told only once the platform took it."""
    if ctx.notifier is None:
        return False
    try:
        card = await outcome_card(ctx, intent, job)
        await ctx.notifier.send(
            intent.platform, intent.conversation.reference, card, thread=intent.conversation.thread
        )
    except Exception as exc:
        attempts = intent.notice_attempts + 1
        give_up = attempts >= NOTICE_ATTEMPTS
        log.log(
            logging.WARNING if give_up else logging.INFO,
            "telling %s the outcome of start %s failed (%s)%s",
            intent.conversation.key,
            intent.id,
            type(exc).__name__,
            "; giving up" if give_up else "",
        )
        await ctx.store.notice_failed(
            intent.id, give_up=give_up, retry_at=_retry_at(attempts, ctx.settings.reconcile_interval)
        )
        return False
    await ctx.store.notice_told(intent.id)
    return True


def _asked(intent: StoredIntent) -> str:
    by = intent.user.name or intent.user.id
    return f"the {code(intent.model)} job {literal(by)} asked for at {when(intent.created_at, seconds=True)}"


def _files_fact(intent: StoredIntent) -> tuple[Fact, ...]:
    return tuple(
        Fact(f"{f.role.capitalize()} file", f"{code(f.file_id)} ({literal(f.label)})")
        for f in intent.files
        if f.ours
    )


async def outcome_card(ctx: Context, intent: StoredIntent, job: FineTuningJob | None) -> Card:
    trigger = trigger_for(intent.platform)
    if intent.state == CREATED and intent.job_id:
        if job is None or job.id != intent.job_id:
            job = await ctx.azure.data(intent.resource).get_job(intent.job_id)
        by = intent.user.name or intent.user.id
        note = (
            "The answer to this start was lost (the bot restarted or Azure did not reply), but Azure created "
            "the job: it is recorded here and watched now."
        )
        return job_card(
            job_view(job), f"Started by {literal(by)} at {when(intent.created_at, seconds=True)}", note=note
        )
    pending = {d.file_id for d in await ctx.store.pending_deletions() if d.intent_id == intent.id}
    removed = (
        "Azure did not let me delete them yet; I keep trying and they will be removed."
        if pending
        else ("I removed them.")
    )
    files = "" if not intent.ours else f" The files uploaded for it are not needed: {removed}"
    if intent.outcome == "no_job":
        title = "No job was started"
        text = f"Azure has no job for {_asked(intent)}: the create did not take effect.{files}"
    else:
        title = "The start did not happen"
        text = f"The bot stopped before it created {_asked(intent)}. No job was started.{files}"
    text += f"\n**What to do:** start again ({code(f'{trigger} start {intent.model} ...')}); `{trigger} list` shows the jobs."
    return Card(title=title, tone=Tone.WARNING, text=text, facts=_files_fact(intent), summary=f"{title}.")
