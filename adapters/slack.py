"""The Slack adapter: slack-bolt `AsyncApp` on `POST /slack/events` of the shared aiohttp app.

Bolt verifies the signature (`v0=` HMAC-SHA256, timestamps over 5 minutes old refused with 401) and the
listeners below only acknowledge: the real work (parse, dispatch, post) runs in background tasks the adapter
tracks, so Slack gets its answer in milliseconds and shutdown can wait for work in flight (`drain`).

    adapter = mount_slack(app, settings, dispatcher, store, notifier)   # None when Slack is not configured

Inputs: `/ft ...` slash commands, `block_actions` of our buttons (`cards.payload` prefix), `app_mention` events
in channels and `message` events in the bot's direct messages (with shared files as `Attachment`s). Events API
retries are de-duplicated by `event_id` through the store. Shared files are read with `fetch_slack_file`,
which is also registered for handlers as `ctx.file_fetchers["slack"]` (see `adapters.slack_files`).

A request without Slack's signature headers, or with a stale timestamp, is refused before its body is read;
one whose body cannot be decoded (a bogus `charset`) gets 400. After Bolt verified the signature, a request
from a workspace not allowed (`FTBOT_SLACK_ALLOWED_WORKSPACES`, default: the bot token's own) gets 403 before
any work, and a replay of a signed request (same signature, hence same timestamp and body, within Slack's
5-minute window) is acknowledged and ignored, across replicas (the signature's digest is kept in the store).
User groups (`S...`) in the roles are resolved for bot/policy.py with `usergroups.users.list`, cached briefly.
On shutdown (`close`), work in flight gets `SHUTDOWN_GRACE` seconds, then it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.middleware.authorization.async_single_team_authorization import AsyncSingleTeamAuthorization
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.inflight import BUSY, InFlight
from adapters.slack_files import SlackFiles
from adapters.slack_interim import SlackInterim
from adapters.slack_sender import SlackSender, SlackStore, retry_handlers
from adapters.slack_translate import (
    PLATFORM,
    Origin,
    action_origin,
    attachments,
    event_origin,
    is_user_message,
    make_action,
    make_command,
    slash_origin,
    strip_mention,
    unescape_text,
)
from bot.config import Settings
from bot.errors import UsageError
from bot.grammar import parse_command_text
from bot.model import Attachment, Conversation, Reply, User
from bot.notifier import Notifier
from bot.router import Dispatcher
from bot.store.health import best_effort
from cards.payload import PREFIX, unpack_slack

log = logging.getLogger(__name__)

ROUTE = "/slack/events"
COMMAND = "/ft"
EVENT_SOURCE = "slack"
SAVED_CONVERSATIONS_MAX = 10_000
QUIET_TURNS = 3
# Slack refuses replays older than 5 minutes; Bolt checks the same after reading the body.
MAX_CLOCK_SKEW = 5 * 60
# On shutdown, acknowledged work gets this long to post its replies before it is cancelled (as for Teams).
SHUTDOWN_GRACE = 3.0  # both adapters may use theirs in turn; with the server's 2 s the stop stays under 10 s
SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
# Every button click is acknowledged (Slack shows an error otherwise); only our prefix is dispatched.
_ANY_ACTION = re.compile(".*")
REPLAY_SOURCE = "slack-signature"  # seen_events source for the digests of signatures already handled
REPLAYS_REMEMBERED = 10_000  # in this process, on top of the store (which all replicas share)
GROUP_TTL = 60.0  # seconds a user group's members are cached
BUSY_NOTICES = 16  # "busy" notices (clicks, mentions) being sent at once; past it the request is only acked


class AckFirst:
    """Acks before work: work waits while Slack requests are being answered (at most `max_hold` seconds).

    A burst of commands would otherwise interleave each command's work (parsing, database, the Azure request)
    with the acknowledgements still to send, and the last ack of the burst would wait for all of it.
    """

    def __init__(self, max_hold: float = 0.5) -> None:
        self.max_hold = max_hold
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __enter__(self) -> None:
        self._busy += 1
        self._idle.clear()

    def __exit__(self, *exc: object) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    async def _quiet(self) -> None:
        # Idle for a few loop turns: a request already read from its socket takes that long to reach `handle`.
        while True:
            await self._idle.wait()
            for _ in range(QUIET_TURNS):
                await asyncio.sleep(0)
            if self._idle.is_set():
                return

    async def then(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            # At least one loop turn, so the request that scheduled this work writes its response first.
            await asyncio.sleep(0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.max_hold):
                    await self._quiet()
        except asyncio.CancelledError:
            work.close()  # never started: close it so it is not reported as never awaited
            raise
        await work


SSL_CHECK_MAX_BYTES = 1024


async def _is_ssl_check(request: web.Request) -> bool:
    """An unsigned certificate check from Slack: a tiny form body with `ssl_check=1`. Only small bodies are
    read, so an anonymous client still cannot make the bot read a large one."""
    length = request.content_length
    if (
        length is None
        or length > SSL_CHECK_MAX_BYTES
        or request.content_type != "application/x-www-form-urlencoded"
    ):
        return False
    form = urllib.parse.parse_qs((await request.read()).decode("utf-8", "replace"))
    return form.get("ssl_check") == ["1"]


class SlackAdapter:
    """Translates Slack requests to neutral commands/actions and the dispatcher's replies back to Slack."""

    def __init__(
        self,
        settings: Settings,
        dispatcher: Dispatcher,
        store: SlackStore,
        *,
        client: AsyncWebClient | None = None,
    ) -> None:
        if settings.slack_bot_token is None or settings.slack_signing_secret is None:
            raise ValueError("SlackAdapter needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
        token = settings.slack_bot_token.get_secret_value()
        self.dispatcher = dispatcher
        self.store = store
        self.session: aiohttp.ClientSession | None = None
        self.client = client or AsyncWebClient(
            token=token, base_url=settings.slack_api_url, retry_handlers=retry_handlers(), logger=log
        )
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            # The listeners only ack and schedule; answering after they return avoids Bolt's 10 ms ack polling.
            process_before_response=True,
            name="ftbot",
            logger=logging.getLogger("ftbot.slack.bolt"),
        )
        self._verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
        self.sender = SlackSender(self.client, store, session=lambda: self.session)
        self.files = SlackFiles(self.client, token, settings.slack_api_url, session=lambda: self.session)
        self._inflight = InFlight(limit=settings.max_inflight)
        self._tasks = self._inflight.tasks  # the work started by acknowledged requests
        self._notices = 0  # "busy" notices being sent
        self._acking = AckFirst()
        self._closing = False
        self._closed = False
        self.clock = time.time  # seconds since the epoch, as Slack's timestamps; replaceable in tests
        self._saved: dict[str, tuple[object, ...]] = {}
        self._allowed_setting = frozenset(settings.slack_allowed_workspaces)
        self._auth_result: Mapping[str, Any] | None = None
        self._auth_lock = asyncio.Lock()
        self._recent: dict[str, float] = {}  # signature digest -> when first seen (replays, this process)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._group_lookups: dict[str, asyncio.Task[frozenset[str]]] = {}
        self.bolt.use(self._only_allowed_workspaces)
        self._register_listeners()

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """aiohttp handler for `POST /slack/events`: Bolt verifies, routes and acknowledges."""
        if self._closing:
            # Slack retries events answered with an error; the next instance (or this one restarted) takes them.
            return web.Response(status=503, text="shutting down")
        refusal = self._unsigned(request)
        if refusal is not None and await _is_ssl_check(request):
            # Slack checks the certificate of a slash command URL with an unsigned `ssl_check=1` POST and
            # expects a 200 (Bolt does the same); nothing is done with it.
            return web.Response(status=200)
        if refusal is not None:
            log.warning("Slack: refused a request before reading it (%s)", refusal)
            return web.Response(status=401)
        with self._inflight.request(), self._acking:
            if self._over_capacity():
                busy = await self._busy_slash_command(request)
                if busy is not None:
                    return busy
            try:
                bolt_request = await to_bolt_request(request)
            except (LookupError, UnicodeDecodeError) as exc:  # unknown charset, or bytes it cannot decode
                log.warning("Slack: refused a request whose body cannot be decoded (%s)", type(exc).__name__)
                return web.Response(status=400, text="the body cannot be decoded with its charset")
            bolt_response = await self.bolt.async_dispatch(bolt_request)
            return await to_aiohttp_response(bolt_response)

    async def _busy_slash_command(self, request: web.Request) -> web.Response | None:
        """Over capacity, a signed slash command is answered "busy" here, without Bolt's dispatch: under a
        flood the busy answers themselves took most of the loop (bench/ack.py), starving the work in flight.
        Anything else (events, clicks, a bad signature) goes through Bolt as usual (None)."""
        if request.content_type != "application/x-www-form-urlencoded":
            return None
        try:
            body = await request.read()
            form = urllib.parse.parse_qs(body.decode())
        except (UnicodeDecodeError, ValueError):
            return None
        if form.get("command") != [COMMAND] or not self._verifier.is_valid(
            body, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
        ):
            return None
        self._refuse("slash command")
        return web.json_response({"text": BUSY, "response_type": "ephemeral"})

    def _unsigned(self, request: web.Request) -> str | None:
        """Why the request cannot be one Slack signed, judged on its headers alone (None: read and verify it).

        Every request Slack sends carries both headers; checking them first means an anonymous client cannot
        make the bot read (and hash) a body of up to the app's size cap.
        """
        if not request.headers.get(SIGNATURE_HEADER, "").startswith("v0="):
            return f"no {SIGNATURE_HEADER}"
        try:
            sent_at = int(request.headers.get(TIMESTAMP_HEADER, ""))
        except ValueError:
            return f"no {TIMESTAMP_HEADER}"
        if abs(self.clock() - sent_at) > MAX_CLOCK_SKEW:
            return "stale timestamp"
        return None

    async def start(self) -> None:
        """One HTTP session for every Web API call, file download and response_url post."""
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession()
            self.client.session = self.session
        await self._prime_authorization()

    async def _prime_authorization(self) -> None:
        """Bolt calls `auth.test` on the first request and caches it; a burst of first requests would each
        call it before the cache fills, delaying their acks. One call at start fills the cache (and says early
        when the token is wrong). Slack being unreachable at start is not fatal: Bolt retries on demand."""
        try:
            result = await self.client.auth_test()
        except Exception as exc:
            log.warning(
                "Slack auth.test at start failed (%s); will retry on the first request", type(exc).__name__
            )
            return
        log.info("Slack: connected as %s in team %s", result.get("user"), result.get("team"))
        self._auth_result = result.data if isinstance(result.data, dict) else None
        for middleware in getattr(self.bolt, "_async_middleware_list", ()):
            if isinstance(middleware, AsyncSingleTeamAuthorization) and middleware.auth_test_result is None:
                middleware.auth_test_result = result

    # -- who may talk to the bot at all ----------------------------------------------------------------------

    async def allowed_workspaces(self) -> frozenset[str]:
        """FTBOT_SLACK_ALLOWED_WORKSPACES, or else the bot token's own workspace (and Enterprise Grid org for
        an org-wide install) from `auth.test`. Empty when that cannot be learnt yet: nobody is let in."""
        if self._allowed_setting:
            return self._allowed_setting
        if self._auth_result is None:
            async with self._auth_lock:
                if self._auth_result is None:
                    await self._prime_authorization()
        result = self._auth_result or {}
        own = {str(result.get("team_id") or "")}
        if result.get("is_enterprise_install"):
            own.add(str(result.get("enterprise_id") or ""))
        return frozenset(own - {""})

    async def _only_allowed_workspaces(
        self, req: AsyncBoltRequest, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """Bolt middleware, after its signature check: a signed request from another workspace gets 403."""
        allowed = await self.allowed_workspaces()
        team, enterprise = req.context.team_id, req.context.enterprise_id
        if (team and team in allowed) or (enterprise and enterprise in allowed):
            return await next()
        if not allowed:
            log.warning("Slack: refused a request: the allowed workspaces are not known (auth.test failed)")
            return BoltResponse(status=503, body="")
        log.warning("Slack: refused a request from workspace %s (not allowed)", team or enterprise or "?")
        return BoltResponse(status=403, body="")

    async def group_members(self, group_id: str) -> frozenset[str]:
        """Members of Slack user group `group_id` (`usergroups.users.list`), cached for `GROUP_TTL` seconds;
        concurrent lookups of one group share one call. Raises when Slack will not say (the policy then
        grants nothing through that group)."""
        cached = self._groups.get(group_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lookup = self._group_lookups.get(group_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup_group(group_id))
            self._group_lookups[group_id] = lookup
            lookup.add_done_callback(lambda _: self._group_lookups.pop(group_id, None))
        return await asyncio.shield(lookup)

    async def _lookup_group(self, group_id: str) -> frozenset[str]:
        try:
            response = await self.client.usergroups_users_list(usergroup=group_id)
        except Exception as exc:
            log.warning("Slack: members of user group %s unknown (%s): it grants nothing", group_id, exc)
            raise
        members = frozenset(str(u) for u in response.get("users") or ())
        self._groups[group_id] = (time.monotonic() + GROUP_TTL, members)
        return members

    async def _first_delivery(self, signature: str) -> bool:
        """False for a replay: a request whose signature was already handled here or by another replica.

        Slack signs `v0:timestamp:body`, so an equal signature is the same request; Bolt refuses timestamps
        over 5 minutes old, so remembering signatures for a day (the seen_events pruning) covers the window.
        """
        digest = hashlib.sha256(signature.encode()).hexdigest()
        if digest in self._recent:
            return False
        now = self.clock()
        if len(self._recent) >= REPLAYS_REMEMBERED:
            self._recent = {d: t for d, t in self._recent.items() if now - t <= 2 * MAX_CLOCK_SKEW}
        self._recent[digest] = now
        # The store is down or hung: this process's memory still stops replays here (bounded, like all
        # bookkeeping, so an outage does not hold up the answer).
        seen = await best_effort(
            self.store.seen_event(REPLAY_SOURCE, digest),
            "record a request signature",
            default=False,
            store=self.store,
        )
        return not seen

    async def drain(self) -> None:
        """Wait for the work started by requests already acknowledged (and any work that work starts).

        No time limit: for tests and callers that know the work ends; shutdown uses `close(grace)`.
        """
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Refuse new requests; let requests in flight and acknowledged work finish for up to `grace` seconds,
        cancel what is left (work may be waiting minutes on Azure), then close the HTTP session."""
        self._closing = True
        cancelled = await self._inflight.settle(grace)
        self._closed = True
        if cancelled:
            log.warning("Slack: shutdown cancelled %d unfinished task(s) after %.1f s", cancelled, grace)
        if self.session is not None:
            self.client.session = None
            await self.session.close()
            self.session = None

    async def fetch_slack_file(
        self, file_id_or_link: str, *, user: User, conversation: Conversation
    ) -> tuple[str, AsyncIterator[bytes]]:
        """A shared file's name and content stream, from its id (`F...`) or link, for `user` asking in
        `conversation` (the file must be shared there or uploaded by them); raises `SlackFileError`."""
        return await self.files.fetch(file_id_or_link, user=user, conversation=conversation)

    # -- listeners (ack only) --------------------------------------------------------------------------------

    def _register_listeners(self) -> None:
        self.bolt.command(COMMAND)(self._on_command)
        self.bolt.action(_ANY_ACTION)(self._on_action)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.event("message")(self._on_message)

    def _over_capacity(self) -> bool:
        """Too much work under way (commands, or store writes queued behind them): say "busy" instead of
        queueing more, so memory and the time to acknowledge stay bounded under any load."""
        if self._inflight.full:
            return True
        backed_up = getattr(self.store, "writes_backed_up", None)
        return bool(backed_up()) if callable(backed_up) else False

    def _refuse(self, what: str, notice: Coroutine[Any, Any, None] | None = None) -> None:
        self._inflight.refused += 1
        if self._inflight.refused % 100 == 1:
            log.warning(
                "Slack: over capacity, a %s was answered busy (%d so far)", what, self._inflight.refused
            )
        if notice is None:
            return
        if self._notices >= BUSY_NOTICES or self._closed:
            notice.close()
            return
        self._notices += 1
        task = asyncio.create_task(notice, name=f"slack busy notice ({what})")
        self._inflight.track(task)
        task.add_done_callback(self._notice_sent)

    def _notice_sent(self, task: asyncio.Task[None]) -> None:
        self._notices -= 1
        if not task.cancelled() and task.exception() is not None:
            log.warning("Slack: a busy notice was not delivered (%s)", type(task.exception()).__name__)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        if self._over_capacity():
            # The answer to a slash command is shown to its user only (ephemeral): nothing else to send.
            await ack(text=BUSY, response_type="ephemeral")
            self._refuse("slash command")
            return
        await ack()
        self._spawn(self._run_command(body, _signature(request)), "slash command")

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        await ack()
        if self._over_capacity():
            response_url = str(body.get("response_url") or "")
            notice = None
            if response_url:
                notice = self.sender.notice(response_url, BUSY)
            self._refuse("button click", notice)
            return
        self._spawn(self._run_actions(body, _signature(request)), "button click")

    def _refuse_event(self, body: Mapping[str, Any], what: str) -> None:
        event: Mapping[str, Any] = body.get("event") or {}
        channel, user = str(event.get("channel") or ""), str(event.get("user") or "")
        thread = event.get("thread_ts")
        notice = None
        if channel and user:
            notice = self.sender.ephemeral_text(channel, user, BUSY, thread=str(thread) if thread else None)
        self._refuse(what, notice)

    async def _on_mention(
        self, body: dict[str, Any], context: AsyncBoltContext, request: AsyncBoltRequest
    ) -> None:
        # Events are acknowledged by Bolt itself once this returns.
        if self._over_capacity():
            self._refuse_event(body, "app_mention")
            return
        self._spawn(self._run_event(body, context.bot_user_id, _signature(request)), "app_mention")

    async def _on_message(
        self, body: dict[str, Any], context: AsyncBoltContext, request: AsyncBoltRequest
    ) -> None:
        event: Mapping[str, Any] = body.get("event") or {}
        # In channels the bot answers mentions (app_mention); in its direct messages every message is for it,
        # and Slack sends no app_mention there.
        if event.get("channel_type") == "im" and is_user_message(event):
            if self._over_capacity():
                self._refuse_event(body, "direct message")
                return
            self._spawn(self._run_event(body, context.bot_user_id, _signature(request)), "direct message")

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run `work` after the ack. The work is given plain values (the body, the signature), never Bolt's
        request: that holds Bolt's whole per-request context (a Web API client, ack/say/respond...), which
        the work would keep alive for seconds, in the way of the garbage collector (bench/ack.py)."""
        if self._closed:
            # A request that was already being read when shutdown finished: nothing would wait for or cancel
            # the work, and the HTTP session it needs is closed.
            work.close()
            log.warning("Slack: %s arrived after shutdown; not handled", what)
            return
        task = asyncio.create_task(self._acking.then(work), name=f"slack {what}")
        self._inflight.track(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("slack %s failed", task.get_name(), exc_info=task.exception())

    # -- the work after the ack ------------------------------------------------------------------------------

    async def _save_conversation(self, conversation: Conversation) -> None:
        """Record the conversation once per process (and again when it changes), not on every command:
        a burst of commands in one channel would otherwise queue a database write behind each ack."""
        state = (conversation.kind, conversation.team, tuple(sorted(conversation.reference.items())))
        if self._saved.get(conversation.key) == state:
            return
        # Bookkeeping: a database that is down or hung must not stop the answer (logged, tried again next time).
        await best_effort(
            self._store_conversation(conversation, state),
            "save the conversation",
            default=None,
            store=self.store,
        )

    async def _store_conversation(self, conversation: Conversation, state: tuple[object, ...]) -> None:
        await self.store.save_conversation(conversation)
        if len(self._saved) >= SAVED_CONVERSATIONS_MAX:
            self._saved.clear()
        self._saved[conversation.key] = state

    async def _run_command(self, body: Mapping[str, Any], signature: str) -> None:
        if not await self._first_delivery(signature):
            log.warning("Slack: a replayed slash command (same signature) was ignored")
            return
        origin = slash_origin(body)
        await self._save_conversation(origin.conversation)
        replies = await self._dispatch_text(origin, str(body.get("text", "")), body, ())
        await self.sender.deliver(origin, replies)

    async def _run_event(self, body: Mapping[str, Any], bot_user_id: str | None, signature: str) -> None:
        if not await self._first_delivery(signature):
            log.warning("Slack: a replayed event delivery (same signature) was ignored")
            return
        event: Mapping[str, Any] = body.get("event") or {}
        event_id = str(body.get("event_id") or "")
        # Without the database a retry cannot be recognised: answering twice beats not answering.
        seen = event_id != "" and await best_effort(
            self.store.seen_event(EVENT_SOURCE, event_id),
            "record the event",
            default=False,
            store=self.store,
        )
        if seen:
            log.info("slack event %s already handled: a retried delivery, ignored", event_id)
            return
        if not is_user_message(event):  # app_mention from another bot, or a message subtype we do not take
            return
        origin = event_origin(body)
        await self._save_conversation(origin.conversation)
        text = strip_mention(str(event.get("text", "")), bot_user_id)
        replies = await self._dispatch_text(origin, text, body, attachments(event))
        await self.sender.deliver(origin, replies)

    async def _run_actions(self, body: Mapping[str, Any], signature: str) -> None:
        if not await self._first_delivery(signature):
            log.warning("Slack: a replayed button click (same signature) was ignored")
            return
        origin = action_origin(body)
        for clicked in body.get("actions") or ():
            packed = unpack_slack(str(clicked.get("action_id", "")), clicked.get("value"))
            if packed is None:  # a link button, another app's element, or a payload we cannot read
                if str(clicked.get("action_id", "")).startswith(f"{PREFIX}:"):
                    log.warning(
                        "slack action %r has an unreadable payload; ignored", clicked.get("action_id")
                    )
                continue
            await self._save_conversation(origin.conversation)
            replies = await self.dispatcher.on_action(
                make_action(packed.action, packed.payload, origin, body)
            )
            await self.sender.deliver(origin, replies)

    async def _dispatch_text(
        self, origin: Origin, text: str, raw: Mapping[str, Any], files: tuple[Attachment, ...]
    ) -> list[Reply]:
        text = unescape_text(text)
        try:
            parsed = parse_command_text(text)
        except UsageError as exc:
            usage = self.dispatcher.presenter.usage(self.dispatcher.router, None, exc.message, PLATFORM)
            return [replace(usage, ephemeral=True)]
        # Progress lines for long work (`/ft start` downloading a file), private to the one who asked; the
        # line goes away when the answer is ready.
        interim = SlackInterim(self.client, origin, self.session)
        cmd = replace(make_command(parsed, origin, text, raw, files), interim=interim)
        try:
            return await self.dispatcher.on_command(cmd)
        finally:
            await interim.clear()


def _signature(request: AsyncBoltRequest) -> str:
    return str(request.headers.get("x-slack-signature", [""])[0])


def mount_slack(
    app: web.Application,
    settings: Settings,
    dispatcher: Dispatcher,
    store: SlackStore,
    notifier: Notifier | None,
) -> SlackAdapter | None:
    """Serve Slack on `POST /slack/events` of `app`; None (and nothing mounted) when Slack is not configured.

    Registers the adapter's `Sender` for platform "slack" on `notifier`, its file fetcher for handlers in
    `dispatcher.ctx.file_fetchers["slack"]`, and start/shutdown hooks on `app`.
    """
    if settings.slack_bot_token is None or settings.slack_signing_secret is None:
        log.info("Slack is not configured (SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET); /slack/events is off")
        return None
    adapter = SlackAdapter(settings, dispatcher, store)
    app.router.add_post(ROUTE, adapter.handle)
    if notifier is not None:
        notifier.register(adapter.sender)
    dispatcher.ctx.file_fetchers["slack"] = adapter.fetch_slack_file
    if dispatcher.ctx.policy is not None:
        dispatcher.ctx.policy.set_group_resolver(adapter.group_members)

    async def on_startup(_: web.Application) -> None:
        await adapter.start()

    async def on_shutdown(_: web.Application) -> None:
        await adapter.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return adapter
