"""The watcher's moving parts around the pure step (`handlers/watch.py`): claim due jobs, ask Azure as little
as possible, run the step, commit its result; and deliver the outbox, exactly once, within the platforms'
rate limits.

Poll cost per interval: one job-list call per resource (a page of 100 holds every job of a resource under
Azure's quotas), an events call only for a job that moved and that some conversation streams, nothing for
quiet followers, a growing back-off for queued and paused jobs, nothing once a job has ended.

Delivery: rows are leased (one replica at a time) and sent in order per conversation. Each new post is
recorded as `sending` in its own commit first, carries its dedupe key (Slack: message metadata), and is
marked sent after. A row found still `sending` after its owner's lease ran out (the owner died between the
send and the mark, or the send timed out) is looked for in its channel or thread first (bounded, from when
that send began) and only posted if it is not there: no repeat on Slack. Teams gives a bot no way to read a
conversation back, so there such a crash repeats at most that one message; updates in place are simply
redone (idempotent), unless the card shows something newer than the row (posted or replaced after the
row was queued: `Store.find_card`), which an older update must not overwrite. A 429 (or an outage) puts the row back with `not_before` = now + Retry-After, and the
rest of that conversation waits behind it so order holds.

Test-only fault hook: `FTBOT_TEST_EXIT_AFTER_POSTS=N` (or `N:post` / `N:thread` to count only top-level
posts / thread replies) makes the process `os._exit(70)` right after the Nth successful new post of the
outbox, before it is marked sent: the crash window, made deterministic for tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.azure.errors import AzureError, NotFound
from bot.azure.models import FineTuningJob, JobEvent, StatusKind, normalise_status
from bot.context import Context
from bot.model import MessageRef
from bot.store import OutboxItem, StoredConversation, Subscription, WatchedJob
from bot.store.base import utcnow
from cards.alerts import AlertExtras
from cards.jobs import job_key
from cards.model import Card
from cards.serial import card_from_json
from handlers.paused import find_pause_checkpoint
from handlers.watch import PollResult, WatchState, final_card_update, poll_step, targets_for, wants_events

log = logging.getLogger(__name__)

LIST_PAGE = 100  # jobs per list call (Azure's resource quota is 100 jobs in total)
MAX_LIST_PAGES = 3  # a watched job older than this is fetched on its own
# How long before its record a card's content may have been read (see `Watcher._update`).
CARD_READ_MARGIN = timedelta(seconds=15)
EVENTS_PAGE = 100
FIRST_EVENTS_PAGE = 50  # with a cursor, the newest events of one page usually hold everything new
ANCHOR_WAIT = 2.0  # seconds between looks for a job card that is being posted right now
ANCHOR_TRIES = 10
MAX_ATTEMPTS = 12
MAX_BACKOFF = 120.0
EXIT_AFTER_POSTS = "FTBOT_TEST_EXIT_AFTER_POSTS"

SuccessExtras = Callable[[Context, FineTuningJob, str], Awaitable[AlertExtras]]
_success_extras: list[SuccessExtras] = []


def register_success_extras(hook: SuccessExtras) -> SuccessExtras:
    """Let another capability add buttons, images or follow-up cards to every success alert (charts,
    deploy). `hook(ctx, job, resource) -> AlertExtras`; a hook that fails is logged and left out.

    >>> @register_success_extras
    ... async def loss_chart(ctx, job, resource):
    ...     return AlertExtras(images=(Image(url, "loss"),))
    """
    if not asyncio.iscoroutinefunction(hook):
        raise TypeError(f"success-extras hook {hook!r} must be an `async def` function")
    if hook not in _success_extras:  # registering twice (several bots in one process) adds it once
        _success_extras.append(hook)
    return hook


def replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Watcher:
    ctx: Context
    interval: float
    owner: str = field(default_factory=replica_id)
    batch: int = 2000
    concurrency: int = 32  # Azure calls in flight per poll
    # One delivery at a time in this process, so a conversation's messages leave in order.
    _delivering: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _tick_started: datetime = field(default_factory=utcnow, repr=False)
    _kicker: asyncio.Future[None] | None = field(default=None, repr=False)
    _kick_again: bool = field(default=False, repr=False)
    _posts: int = field(default=0, repr=False)
    _exit_after: tuple[int, str | None] = field(default_factory=lambda: _exit_hook(), repr=False)

    @property
    def lease(self) -> timedelta:
        # Long enough to cover a slow poll; short enough that a dead replica's jobs move on quickly.
        return timedelta(seconds=max(10.0, 3 * self.interval))

    # -- polling ---------------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """One scheduler tick: poll what is due (each job's messages leave as soon as its step is
        committed), then send whatever is still due."""
        try:
            await self.poll_once()
        finally:
            if self._kicker is not None:
                await self._kicker
        await self.deliver_once()

    def _kick(self) -> None:
        """Deliver now (in the background of this tick) instead of after the whole poll."""
        self._kick_again = True
        if self._kicker is None or self._kicker.done():
            self._kicker = asyncio.ensure_future(self._deliver_kicked())

    async def _deliver_kicked(self) -> None:
        while self._kick_again:
            self._kick_again = False
            try:
                await self.deliver_once()
            except Exception as exc:  # the scheduled delivery tries again
                log.warning("outbox: delivery failed: %s", _short(exc))

    async def poll_once(self) -> int:
        """Poll every due job once; the number of jobs looked at."""
        store = self.ctx.store
        self._tick_started = utcnow()
        claimed = await store.claim_due_watches(self.owner, limit=self.batch, lease=self.lease)
        subs = await store.subscriptions()
        by_resource: dict[str, list[WatchedJob]] = defaultdict(list)
        for w in claimed:
            by_resource[w.job.resource].append(w)
        subs_by_resource: dict[str, list[Subscription]] = defaultdict(list)
        for s in subs:
            subs_by_resource[s.resource].append(s)
        resources = set(by_resource) | set(subs_by_resource)
        gate = asyncio.Semaphore(self.concurrency)
        await asyncio.gather(
            *(
                self._poll_resource(r, by_resource.get(r, []), subs_by_resource.get(r, []), gate)
                for r in sorted(resources)
            )
        )
        return len(claimed)

    async def _poll_resource(
        self,
        resource: str,
        watched: list[WatchedJob],
        subs: list[Subscription],
        gate: asyncio.Semaphore,
    ) -> None:
        store = self.ctx.store
        ids = [w.job.job_id for w in watched]
        try:
            client = self.ctx.azure.data(resource)
            listing = await self._list(client, set(ids))
        except Exception as exc:  # Azure down, throttled past retries, resource removed: try next tick
            log.warning("watch: listing jobs of %s failed: %s", resource, _short(exc))
            await store.release_watches(ids, self.owner)
            return
        if subs:
            known = await store.known_job_ids(listing)
            fresh = [(j.id, j.model) for j in listing.values() if j.id not in known]
            if fresh:
                await store.discover_jobs(resource, fresh)
        if not watched:
            return
        watchers = await store.watchers_of(ids)
        shown = await store.card_holders(job_key(i) for i in ids)
        holders = {i: [conv for conv, _ in shown.get(job_key(i), ())] for i in ids}
        homes = {w.job.home_conversation for w in watched if w.job.home_conversation}
        quiet = await store.quiet_conversations(homes)
        sub_targets = [(s.conversation_key, s.statuses, s.created_at.timestamp()) for s in subs]
        results = await asyncio.gather(
            *(
                self._poll_job(
                    client,
                    resource,
                    w,
                    listing.get(w.job.job_id),
                    watchers,
                    quiet,
                    sub_targets,
                    gate,
                    holders.get(w.job.job_id, []),
                )
                for w in watched
            )
        )
        # Jobs where nothing happened: release them in a few statements instead of one per job.
        idle: dict[datetime, list[str]] = defaultdict(list)
        for job_id, when_next in results:
            if when_next is not None:
                idle[when_next].append(job_id)
        await store.reschedule_watches(idle, self.owner)

    async def _list(self, client: Any, wanted: set[str]) -> dict[str, FineTuningJob]:
        page = await client.list_jobs(limit=LIST_PAGE)
        found = {j.id: j for j in page.data}
        pages = 1
        while page.has_more and page.data and wanted - found.keys() and pages < MAX_LIST_PAGES:
            page = await client.list_jobs(after=page.data[-1].id, limit=LIST_PAGE)
            found.update((j.id, j) for j in page.data)
            pages += 1
        return found

    async def _poll_job(
        self,
        client: Any,
        resource: str,
        watched: WatchedJob,
        listed: FineTuningJob | None,
        watchers: dict[str, dict[str, str]],
        quiet: set[str],
        subs: Sequence[tuple[str, frozenset[str], float]],
        gate: asyncio.Semaphore,
        holders: Sequence[str] = (),
    ) -> tuple[str, datetime | None]:
        """Run one job's step; returns (job id, next poll) when nothing needs writing but the reschedule."""
        stored = watched.job
        async with gate:
            try:
                job = listed or await client.get_job(stored.job_id)
                targets = targets_for(stored.home_conversation, watchers.get(stored.job_id, {}), quiet, subs)
                state = WatchState.from_json(watched.state)
                events: list[JobEvent] = []
                if wants_events(state, stored.events_cursor, job.status, targets):
                    events = await self._events(client, stored.job_id, stored.events_cursor)
                # Azure's status in the bot's terms (`canceled`, `notRunning`, ... and unknown ones as they
                # came); the pure step normalises it the same way.
                kind = normalise_status(job.status).kind
                extras = (
                    await self._extras(job, resource) if kind is StatusKind.SUCCEEDED and targets else None
                )
                cancelled_by = await self._cancelled_by(job) if kind is StatusKind.CANCELLED else None
                # A paused job's deployable checkpoint, looked for until its card offers it.
                point = None
                if (
                    kind is StatusKind.PAUSED
                    and state.pause_checkpoint is None
                    and any(t.stream for t in targets)
                ):
                    point = await find_pause_checkpoint(client, job)
                result = poll_step(
                    state,
                    stored.events_cursor,
                    job,
                    events,
                    targets,
                    now=self.ctx.clock().timestamp(),
                    interval=self.interval,
                    resource=resource,
                    extras=extras,
                    cancelled_by=cancelled_by,
                    pause_checkpoint=point,
                    holders=holders,
                )
            except NotFound:
                log.info("watch: job %s no longer exists; not watching it any more", stored.job_id)
                await self.ctx.store.commit_poll(
                    stored.job_id,
                    self.owner,
                    queued=(),
                    state=watched.state,
                    status=stored.status,
                    cursor=None,
                    next_poll_at=None,
                    done=True,
                )
                return stored.job_id, None
            except Exception as exc:
                log.warning("watch: polling %s failed: %s", stored.job_id, _short(exc))
                await self.ctx.store.release_watches([stored.job_id], self.owner)
                return stored.job_id, None
        return await self._commit(watched, result)

    async def _commit(self, watched: WatchedJob, result: PollResult) -> tuple[str, datetime | None]:
        stored = watched.job
        # Waits count from the start of this tick, less a fifth of an interval: the scheduler's next tick
        # (at least one interval later) finds the job due, while another replica ticking half an interval
        # later does not poll it a second time.
        next_at = (
            self._tick_started + timedelta(seconds=max(0.0, result.next_poll_in - 0.2 * self.interval))
            if result.next_poll_in is not None
            else None
        )
        unchanged = (
            not result.queued
            and not result.done
            and result.cursor == stored.events_cursor
            and result.state.to_json() == dict(watched.state)
        )
        if unchanged and next_at is not None:
            # Round to the second so idle jobs share a statement.
            return stored.job_id, next_at.replace(microsecond=0)
        ok = await self.ctx.store.commit_poll(
            stored.job_id,
            self.owner,
            queued=result.queued,
            state=result.state.to_json(),
            status=result.state.status,
            cursor=result.cursor,
            next_poll_at=next_at,
            done=result.done,
        )
        if not ok:
            log.info("watch: lease on %s lost to another replica; its step is theirs", stored.job_id)
        elif result.queued:
            self._kick()
        return stored.job_id, None

    async def _events(self, client: Any, job_id: str, cursor: str | None) -> list[JobEvent]:
        """Newest first, down to the stored cursor: one small page when the cursor is in it, then pages of
        100 with `after` until it is (or the events end, or `azure_list_pages` pages were read: a cursor
        Azure no longer has must not make every poll read a long job's whole history)."""
        found: list[JobEvent] = []
        page = await client.list_events(job_id, limit=FIRST_EVENTS_PAGE if cursor else EVENTS_PAGE)
        pages, max_pages = 1, self.ctx.settings.azure_list_pages
        while True:
            for event in page.data:
                found.append(event)
                if event.id == cursor:
                    return found
            if not page.has_more or not page.data:
                return found
            if pages >= max_pages:
                log.info(
                    "watch: %s: cursor not within the newest %d events; posting from there",
                    job_id,
                    len(found),
                )
                return found
            page = await client.list_events(job_id, after=page.data[-1].id, limit=EVENTS_PAGE)
            pages += 1

    async def _extras(self, job: FineTuningJob, resource: str) -> AlertExtras | None:
        if not _success_extras:
            return None
        buttons: list[Any] = []
        images: list[Any] = []
        follow: list[Any] = []
        for hook in _success_extras:
            try:
                got = await hook(self.ctx, job, resource)
            except Exception as exc:
                log.warning(
                    "watch: success-alert hook %s failed: %s", getattr(hook, "__name__", hook), _short(exc)
                )
                continue
            buttons += got.buttons
            images += got.images
            follow += got.follow_ups
        return AlertExtras(tuple(buttons), tuple(images), tuple(follow))

    async def _cancelled_by(self, job: FineTuningJob) -> str | None:
        for entry in reversed(await self.ctx.store.audit_trail(job.id)):
            if entry.action == "job.cancel":
                return entry.actor_name or entry.actor
        return None

    # -- delivery --------------------------------------------------------------------------------------------

    async def deliver_once(self, limit: int = 500) -> int:
        """Send what is due in the outbox; the number of rows worked."""
        async with self._delivering:
            return await self._deliver_due(limit)

    async def _deliver_due(self, limit: int) -> int:
        items = await self.ctx.store.claim_due_outbox(self.owner, limit=limit, lease=self.lease)
        if not items:
            return 0
        groups: dict[str, list[OutboxItem]] = defaultdict(list)
        for item in items:
            groups[item.conversation_key].append(item)
        gate = asyncio.Semaphore(8)

        async def run(key: str, rows: list[OutboxItem]) -> None:
            async with gate:
                await self._deliver_conversation(key, rows)

        await asyncio.gather(*(run(k, rows) for k, rows in groups.items()))
        return len(items)

    async def _deliver_conversation(self, key: str, rows: list[OutboxItem]) -> None:
        store = self.ctx.store
        conv = await store.get_conversation(key)
        if conv is None:
            for item in rows:
                await store.mark_failed(item.id, self.owner, "conversation not known", give_up=True)
            return
        for i, item in enumerate(rows):
            try:
                done = await self._deliver(conv, item)
            except _LeaseLost:
                log.warning(
                    "outbox: lease on %s lost before the send; another replica has it", item.dedupe_key
                )
                return
            except Exception as raised:
                # A row that was `sending` stays so until it is sent: a later attempt looks again first.
                maybe_sent = isinstance(raised, _MaybeSent) or item.status == "sending"
                exc = raised.cause if isinstance(raised, _MaybeSent) else raised
                wait = self._retry_delay(exc, item)
                if wait is None:
                    log.warning("outbox: giving up on %s: %s", item.dedupe_key, _short(exc))
                    await store.mark_failed(item.id, self.owner, _short(exc), give_up=True)
                    continue
                log.info("outbox: %s later (%.1f s): %s", item.dedupe_key, wait, _short(exc))
                await self._hold(rows[i:], wait, _short(exc), maybe_sent=maybe_sent)
                return
            if not isinstance(done, _Sent):
                await self._hold(
                    rows[i:],
                    done,
                    "waiting for the job card to be posted",
                    maybe_sent=item.status == "sending",
                )
                return
            if not await store.mark_sent(item.id, self.owner, remember=done.remember, shown=done.shown):
                log.warning("outbox: lease on %s ran out during the send", item.dedupe_key)

    async def _hold(
        self, rows: Sequence[OutboxItem], wait: float, why: str, *, maybe_sent: bool = False
    ) -> None:
        """Put the first row back for `wait` seconds (one attempt counted) and the rest behind it, so a
        conversation's messages keep their order. `maybe_sent`: the first row's send got no answer."""
        until = utcnow() + timedelta(seconds=wait)
        for n, item in enumerate(rows):
            await self.ctx.store.defer_outbox(
                item.id, self.owner, until=until, error=why, attempt=n == 0, maybe_sent=maybe_sent and n == 0
            )

    def _retry_delay(self, exc: Exception, item: OutboxItem) -> float | None:
        if item.attempts + 1 >= MAX_ATTEMPTS or getattr(exc, "retryable", True) is False:
            return None
        after = getattr(exc, "retry_after", None)
        if isinstance(after, int | float) and after > 0:
            return min(float(after), MAX_BACKOFF)
        return min(MAX_BACKOFF, 2.0 ** min(item.attempts, 7))

    async def _deliver(self, conv: StoredConversation, item: OutboxItem) -> _Sent | float:
        """Send one row; a number means "not yet, look again in that many seconds"."""
        notifier = self.ctx.notifier
        assert notifier is not None
        payload = item.payload
        op = payload.get("op", "post")
        card = card_from_json(payload["card"])
        anchor_key = payload.get("anchor")
        shown = await self.ctx.store.find_card(anchor_key, conv.key) if anchor_key else None
        anchor = shown[0] if shown is not None else None
        if op == "update":
            if shown is None or not anchor_key:
                # No card here to update (yet: one being posted right now is waited for a little).
                if item.attempts < 3:
                    return ANCHOR_WAIT
                log.info("outbox: %s: no card here to update; dropped", item.dedupe_key)
                return _Sent()
            return await self._update(conv, item, card, str(anchor_key), *shown)
        thread: str | None = None
        if op == "thread":
            if anchor is None and item.attempts < ANCHOR_TRIES:
                return ANCHOR_WAIT
            # Teams personal chats have no threads: plain follow-up messages there.
            if anchor is not None and not (conv.platform == "teams" and conv.kind == "personal"):
                thread = anchor.message_id
        store = self.ctx.store
        if item.status == "sending" and notifier.can_find_sent(conv.platform):
            # An earlier attempt was interrupted after it started: look before posting again.
            since = item.send_started or utcnow() - timedelta(hours=1)
            found = await notifier.find_sent(
                conv.platform, conv.reference, item.dedupe_key, thread=thread, since=since
            )
            if found is not None:
                log.info("outbox: %s went out before an interruption; not posting it again", item.dedupe_key)
                return _Sent((card.key, conv.key, found) if card.key else None)
        if await store.mark_sending(item.id, self.owner, lease=self.lease) is None:
            raise _LeaseLost
        try:
            ref = await notifier.send(conv.platform, conv.reference, card, thread=thread, key=item.dedupe_key)
        except Exception as exc:
            # A platform's answer (a refusal, a 429) means nothing was posted; anything else (a timeout, a
            # dropped connection) may have posted it.
            if getattr(exc, "retryable", None) is None:
                raise _MaybeSent(exc) from exc
            raise
        exit_after, exit_op = self._exit_after
        if exit_after and exit_op in (None, op):
            self._posts += 1
            if self._posts >= exit_after:
                log.warning("outbox: %s reached; exiting between a send and its record", EXIT_AFTER_POSTS)
                os._exit(70)
        # Recorded with the row's `sent`, in one commit: the window a crash can fall into is that commit.
        return _Sent((card.key, conv.key, ref) if card.key and ref.message_id else None)

    async def _update(
        self,
        conv: StoredConversation,
        item: OutboxItem,
        card: Card,
        anchor_key: str,
        anchor: MessageRef,
        shown_at: datetime,
    ) -> _Sent:
        """Replace the card with this row's, unless what the card shows is newer than this row: a card
        posted or replaced after the row was queued (`status`, a click in `list`, the answer to Pause) is
        not overwritten with older news. The card's version becomes the row's, in the row's commit.

        A card's content was read from Azure before it was recorded (a chart takes seconds to draw; replicas'
        clocks differ a little): a row queued up to CARD_READ_MARGIN before the card's record is applied. A
        job's ending is always applied: nothing newer can follow it, and no later poll would send it again."""
        queued = item.created_at
        if (
            queued is not None
            and shown_at - CARD_READ_MARGIN > queued
            and not final_card_update(item.dedupe_key)
        ):
            log.info("outbox: %s is older than the card it would replace; not applied", item.dedupe_key)
            return _Sent()
        assert self.ctx.notifier is not None
        await self.ctx.notifier.update(conv.platform, conv.reference, anchor, card)
        version = (anchor_key, conv.key, anchor.message_id, queued) if queued is not None else None
        return _Sent(shown=version)


@dataclass(frozen=True)
class _Sent:
    """A row done: what to record with it (card key, conversation key, the posted message; or for an
    update in place, the card's new version: card key, conversation key, message id, as of)."""

    remember: tuple[str, str, MessageRef] | None = None
    shown: tuple[str, str, str, datetime] | None = None


class _LeaseLost(Exception):
    """Another replica took this row over before its send began."""


class _MaybeSent(Exception):
    """A send failed without an answer from the platform: the message may have been posted."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _exit_hook() -> tuple[int, str | None]:
    """`FTBOT_TEST_EXIT_AFTER_POSTS` as (N, op or None); (0, None) when unset."""
    count, _, op = (os.environ.get(EXIT_AFTER_POSTS) or "").partition(":")
    return (int(count), op or None) if count else (0, None)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


__all__ = ["AzureError", "Watcher", "register_success_extras", "replica_id"]
