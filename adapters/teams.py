"""Microsoft Teams: botbuilder-core `CloudAdapter` on `POST /api/messages`, translating only.

    adapter = mount_teams(app, settings, dispatcher, store, notifier)

Incoming Activities are authenticated (Bot Framework JWT whenever `MicrosoftAppId` is set; none when it is
absent, for local use, which is logged as a warning at mount time), de-duplicated by activity id, and turned
into a neutral `Command` (a message, bot mention stripped; in a personal chat any message) or `Action` (an
`Action.Submit` value, or an `adaptiveCard/action` invoke). The dispatcher's replies go back as Adaptive Card
attachments; an invoke gets its invoke response in the HTTP body (the updated card when a reply replaces the
clicked card). Work that takes longer than `answer_within` seconds is answered at once ("working on it" /
a typing indicator) and its replies are sent proactively when ready. Every conversation reference is stored
for proactive sends, which `TeamsSender` (registered on the notifier for platform "teams") makes later.
Connector clients (and their credentials' token cache) are kept across turns, per app id, service URL and
audience (adapters/teams_connectors.py), instead of botbuilder's new clients on every turn.

The local chat page's Direct Line channel (`adapters/directline.py`) runs its activities through a second,
anonymous instance of this adapter (`platform="web"`, via `process`), so the page gets the same turn.

With credentials, a request without a bearer token is refused (401) before its body is read; Bot Framework's
signing keys are fetched off the request path (adapters/teams_keys.py); a request from a tenant not allowed
(`FTBOT_TEAMS_ALLOWED_TENANTS`, default: MicrosoftAppTenantId; neither: nobody) gets 403 before any work.
Without credentials requests are served only when `teams_no_auth` says so (FTBOT_TEAMS_NO_AUTH=1 or the
embedded default) and only from this machine (`Host`/`Origin` loopback, adapters/local_only.py); otherwise
401. Bodies must be exactly `application/json` in a charset that decodes (else 415 / 400, one log line).
On shutdown (`close`), new requests get 503 and work in flight gets `SHUTDOWN_GRACE` seconds before it is
cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, ConversationReference

from adapters.inflight import BUSY, InFlight
from adapters.local_only import not_local
from adapters.teams_connectors import CachedConnectors
from adapters.teams_delivery import Sleep, TeamsDeliveryError, connector_call
from adapters.teams_keys import KeyRefresher, install_signing_keys
from adapters.teams_translate import (
    INVOKE_EXECUTE,
    bot_was_added,
    card_activity,
    card_response,
    command_from,
    conversation_of,
    error_response,
    execute_action,
    is_command_message,
    is_personal,
    load_reference,
    message_response,
    plain_summary,
    strip_bot_mention,
    submit_action,
    tenant_of,
)
from bot.config import Settings
from bot.errors import UsageError
from bot.grammar import parse_command_text
from bot.model import Action, Command, Conversation, MessageRef, Platform, Reply
from bot.notifier import Notifier
from bot.router import Dispatcher
from bot.store.health import best_effort
from cards.model import Card, Image
from cards.render_teams import MAX_CARD_BYTES, card_bytes, render_adaptive

__all__ = ["ROUTE", "TeamsAdapter", "TeamsDeliveryError", "TeamsSender", "TeamsStore", "mount_teams"]

log = logging.getLogger(__name__)

ROUTE = "/api/messages"
_ANSWERED = "ftbot.invoke_answered"  # turn_state flag: the invoke response is set
# Teams gives up on a reply after ~10-15 s (504); answer well before and finish proactively.
ANSWER_WITHIN = 4.0
# On shutdown, work still in flight gets this long to post its replies before it is cancelled (the app's
# whole stop stays under 10 s).
TYPING_EVERY = 3.0  # seconds at least between two typing indicators sent for one command's progress
SHUTDOWN_GRACE = 3.0  # both adapters may use theirs in turn; with the server's 2 s the stop stays under 10 s

WORKING = "Working on it… the result will follow in this conversation."
DONE = "Done."
FAILED = "Sorry, I could not finish that. Try again in a moment."
SHUTTING_DOWN = "ftbot is restarting and could not finish that. Try again in a moment."
ALREADY_HANDLED = "Already handled."
FOREIGN_BUTTON = "That button is not one ftbot can handle. Run the command again for a fresh card."
NO_AUTH_WARNING = (
    "Teams: MicrosoftAppId is not set, so requests to %s are NOT authenticated. "
    "Fine for local use with the Bot Framework Emulator; never expose this endpoint like this."
)


class ImageHost(Protocol):
    """Serves a picture at a URL Teams can fetch (bot.chart_images.ChartImages)."""

    async def publish(self, png: bytes, job_id: str | None = None) -> str: ...


class TeamsStore(Protocol):
    """The part of `bot.store.Store` this adapter uses."""

    async def save_conversation(self, conv: Conversation) -> None: ...

    async def remember_message(self, card_key: str, conversation_key: str, ref: MessageRef) -> None: ...

    async def seen_event(self, source: str, event_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class _BotConfig:
    """The attribute names `ConfigurationBotFrameworkAuthentication` reads its settings from."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TENANTID: str
    APP_TYPE: str


def bot_authentication(settings: Settings) -> ConfigurationBotFrameworkAuthentication:
    """Bot Framework authentication from settings; an empty app id disables JWT validation (local use)."""
    password = settings.microsoft_app_password.get_secret_value() if settings.microsoft_app_password else ""
    return ConfigurationBotFrameworkAuthentication(
        _BotConfig(
            APP_ID=settings.microsoft_app_id,
            APP_PASSWORD=password,
            APP_TENANTID=settings.microsoft_app_tenant_id,
            APP_TYPE=settings.microsoft_app_type,
        )
    )


class TeamsAdapter:
    """The `/api/messages` endpoint and the proactive side, over one botbuilder `CloudAdapter`."""

    def __init__(
        self,
        settings: Settings,
        dispatcher: Dispatcher,
        store: TeamsStore,
        *,
        answer_within: float = ANSWER_WITHIN,
        sleep: Sleep = asyncio.sleep,
        platform: Platform = "teams",
    ) -> None:
        # "teams"; "web" when the local Direct Line channel (adapters/directline.py) runs its turns here.
        self.platform: Platform = platform
        self.settings = settings
        self._sleep = sleep
        self.dispatcher = dispatcher
        self.store = store
        self.answer_within = answer_within
        self.app_id = settings.microsoft_app_id
        # Outbound connector clients (and their credentials' token cache) are kept across turns.
        self.connectors = CachedConnectors(bot_authentication(settings))
        self.cloud = CloudAdapter(self.connectors)
        self.sender = TeamsSender(self)
        self._background: set[asyncio.Task[None]] = set()
        # The dispatcher's work for turns still in their HTTP request (not yet handed to `_background`).
        self._in_turn: set[asyncio.Future[list[Reply]]] = set()
        # Requests being handled and both sets above, for `close`; past the limit new work is answered BUSY.
        self._inflight = InFlight(limit=settings.max_inflight)
        self._closing = False
        self._closed = False
        self.no_auth = not self.app_id and settings.teams_no_auth
        own_tenant = [settings.microsoft_app_tenant_id] if settings.microsoft_app_tenant_id else []
        self.tenants = frozenset(settings.teams_allowed_tenants or own_tenant)
        self.keys: KeyRefresher | None = None
        if self.app_id:
            self.keys = KeyRefresher(install_signing_keys(settings.teams_openid_metadata_url))
        # Set by the app: where chart pictures are served from (None: inline data URI when small enough).
        self.chart_images: ImageHost | None = None

    @property
    def authenticates(self) -> bool:
        return bool(self.app_id)

    async def start(self) -> None:
        """Start loading Bot Framework's signing keys (tokens are refused until they are there)."""
        if self.keys is not None:
            await self.keys.start()

    # --- inbound -------------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """POST /api/messages: authenticate, de-duplicate, run one turn, answer (invoke response or 200)."""
        if self._closing:
            # Bot Framework retries a failed delivery; the restarted bot takes it.
            return web.Response(status=503, text="shutting down")
        if not self.authenticates and not self.no_auth:
            # Fail closed: no credentials and no opt-in to serve unauthenticated (FTBOT_TEAMS_NO_AUTH=1).
            log.warning("Teams: rejected a request: MicrosoftAppId is not set and unauthenticated use is off")
            return web.Response(status=401)
        if self.authenticates and not has_bearer_token(request.headers.get("Authorization", "")):
            # The JWT check needs the body (its serviceUrl claim); a request with no token at all cannot
            # pass it, so it is refused before an anonymous client makes the bot read up to the size cap.
            log.warning("Teams: rejected a request without a bearer token")
            return web.Response(status=401)
        if self.no_auth:
            refusal = not_local(request)
            if refusal is not None:
                log.warning(
                    "Teams: rejected an unauthenticated request not made on this machine (%s)", refusal
                )
                return web.Response(status=403)
        with self._inflight.request():
            return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.Response:
        # Exactly JSON: a browser may post `text/plain` (or a form) cross-site without asking first.
        if request.content_type != "application/json":
            return web.Response(status=415, text="expected application/json")
        try:
            body = await request.json()
        except (LookupError, UnicodeDecodeError):  # a bogus charset, or bytes it cannot decode
            log.warning("Teams: rejected a request whose body cannot be decoded with its charset")
            return web.Response(status=400, text="the body cannot be decoded with its charset")
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        status, answer = await self.process(body, request.headers.get("Authorization", ""))
        if isinstance(answer, str):
            return web.Response(status=status, text=answer)
        return web.json_response(answer, status=status) if answer is not None else web.Response(status=status)

    async def process(self, body: object, authorization: str = "") -> tuple[int, Any]:
        """One incoming Activity (JSON) through authentication, de-duplication and a turn: the HTTP status
        and the body to answer (an invoke's response, a short error text, or None). The local Direct Line
        channel calls this in-process with the activities of the chat page."""
        if not isinstance(body, dict) or not body.get("type"):
            return 400, "body is not a Bot Framework Activity"
        try:
            activity = Activity().deserialize(body)
        except Exception:  # msrest raises its own DeserializationError for malformed fields
            return 400, "body is not a Bot Framework Activity"
        try:
            auth = await self.cloud.bot_framework_authentication.authenticate_request(activity, authorization)
        except Exception as exc:  # PermissionError, but also jwt decode errors for a malformed token
            log.warning("Teams: rejected an unauthenticated request (%s)", type(exc).__name__)
            return 401, None
        if self.authenticates:
            tenant = tenant_of(activity, body)
            if tenant not in self.tenants:
                log.warning("Teams: rejected a request from tenant %s (not allowed)", tenant or "(none)")
                return 403, None
        if await self._seen(activity):
            if activity.type == ActivityTypes.invoke:
                return 200, message_response(ALREADY_HANDLED)
            return 200, None
        try:
            invoke = await self.cloud.process_activity(
                auth, activity, functools.partial(self._on_turn, raw=body)
            )
        except Exception:
            log.exception("Teams: could not process a %s activity", activity.type)
            return 500, None
        if invoke is None:  # not an invoke: nothing to say in the HTTP response
            return 200, None
        # botbuilder has two InvokeResponse classes (core and schema); both carry `status` and `body`.
        return int(getattr(invoke, "status", None) or 200), getattr(invoke, "body", None)

    async def _seen(self, activity: Activity) -> bool:
        """Bot Framework retries a delivery it thinks failed; the activity id repeats, the work must not."""
        if activity.type not in (ActivityTypes.message, ActivityTypes.invoke) or not activity.id:
            return False
        conversation = activity.conversation.id if activity.conversation else ""
        # Without the database a redelivery cannot be recognised: answering twice beats not answering.
        return await best_effort(
            self.store.seen_event(self.platform, f"{conversation}|{activity.id}"),
            "record the activity",
            default=False,
            store=self.store,
        )

    async def _on_turn(self, turn: TurnContext, *, raw: Mapping[str, Any]) -> None:
        """One turn; a failure to deliver is logged, not turned into a 500 (a retry would be de-duplicated)."""
        try:
            await self._route(turn, raw)
        except Exception:
            log.exception("Teams: could not answer a %s activity", turn.activity.type)
            if turn.activity.type == ActivityTypes.invoke and not turn.turn_state.get(_ANSWERED):
                await self._invoke_response(turn, error_response(500, FAILED))

    async def _route(self, turn: TurnContext, raw: Mapping[str, Any]) -> None:
        """Explicit match order: invokes first, then buttons (Submit), then commands, then installs."""
        activity = turn.activity
        if activity.type == ActivityTypes.invoke:
            if activity.name == INVOKE_EXECUTE:
                await self._on_execute(turn, raw)
            # Other invokes (message extensions, task modules) are not ours: the SDK answers 501.
        elif activity.type == ActivityTypes.message:
            if activity.value is not None and not (activity.text or "").strip():
                action = submit_action(activity, raw, self.platform)
                if action is not None:
                    await self._on_action(turn, action, invoke=False)
            elif is_command_message(activity):
                await self._on_message(turn, raw)
        elif activity.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
            # The bot was added somewhere: keep the reference so alerts can be sent there later.
            conversation = conversation_of(activity, raw, self.platform)
            await self._save_conversation(conversation)
            # Say hello once per conversation (an install in a personal chat sends both activities); with the
            # database down nobody can tell whether it was said, so it stays unsaid rather than repeated.
            said = await best_effort(
                self.store.seen_event(f"{self.platform}-welcome", conversation.id),
                "record the welcome",
                default=True,
                store=self.store,
            )
            if bot_was_added(activity) and not said:
                personal = conversation.kind == "personal"
                welcome = self.dispatcher.presenter.welcome(self.platform, personal=personal)
                await self._deliver(turn, [welcome], conversation.id, source=None)

    async def _on_message(self, turn: TurnContext, raw: Mapping[str, Any]) -> None:
        text = strip_bot_mention(turn.activity)
        try:
            parsed = parse_command_text(text)
        except UsageError as exc:
            conversation = conversation_of(turn.activity, raw, self.platform)
            await self._save_conversation(conversation)
            usage = self.dispatcher.presenter.usage(self.dispatcher.router, None, exc.message, self.platform)
            await self._deliver(turn, [usage], conversation.id, source=None)
            return
        cmd: Command = command_from(turn.activity, raw, text, parsed, self.platform)
        cmd = replace(cmd, interim=self._typing(cmd.conversation))
        await self._save_conversation(cmd.conversation)
        await self._answer(turn, self.dispatcher.on_command(cmd), cmd.conversation, source=None, invoke=False)

    def _typing(self, conversation: Conversation) -> Callable[[str], Awaitable[None]]:
        """`Command.interim` here: progress shows as a typing indicator (kept light: the text is not posted,
        and at most one indicator every `TYPING_EVERY` seconds), sent proactively since the turn may be over."""
        last = [-TYPING_EVERY]

        async def typing(_text: str) -> None:
            now = asyncio.get_running_loop().time()
            if now - last[0] < TYPING_EVERY or self._closing:
                return
            last[0] = now
            try:

                async def post(turn: TurnContext) -> None:
                    await self.post_in(turn, Activity(type=ActivityTypes.typing))

                await self.continue_in(load_reference(conversation.reference), None, post)
            except Exception as exc:  # a courtesy: the work goes on without it
                log.info("Teams: typing indicator not sent: %s", type(exc).__name__)

        return typing

    async def _save_conversation(self, conversation: Conversation) -> None:
        # Stored without the message's own id: proactive sends name what they reply to (`continue_in`), and
        # with it every message changed the row, so each turn waited for a write that said nothing new.
        if "activityId" in conversation.reference:
            kept = {k: v for k, v in conversation.reference.items() if k != "activityId"}
            conversation = replace(conversation, reference=kept)
        # Bookkeeping: a database that is down or hung must not stop the answer (logged, tried again next time).
        await best_effort(
            self.store.save_conversation(conversation),
            "save the conversation",
            default=None,
            store=self.store,
        )

    async def _on_execute(self, turn: TurnContext, raw: Mapping[str, Any]) -> None:
        action = execute_action(turn.activity, raw, self.platform)
        if action is None:
            await self._invoke_response(turn, error_response(400, FOREIGN_BUTTON))
            return
        await self._on_action(turn, action, invoke=True)

    async def _on_action(self, turn: TurnContext, action: Action, *, invoke: bool) -> None:
        await self._save_conversation(action.conversation)
        source = action.message.message_id if action.message else None
        await self._answer(
            turn, self.dispatcher.on_action(action), action.conversation, source, invoke=invoke
        )

    async def _answer(
        self,
        turn: TurnContext,
        work: Coroutine[Any, Any, list[Reply]],
        conversation: Conversation,
        source: str | None,
        *,
        invoke: bool,
    ) -> None:
        """Reply within the turn if the work is quick; otherwise acknowledge now and reply proactively."""
        if self._closed:
            # Shutdown finished while this request was being read: nothing would wait for or cancel the work.
            work.close()
            await self._abandoned(turn, invoke=invoke)
            return
        if self._inflight.full:  # over capacity: a short answer now instead of an unbounded queue
            work.close()
            self._inflight.refused += 1
            if invoke:
                await self._invoke_response(turn, message_response(BUSY))
            else:
                await self.post_in(turn, Activity(type=ActivityTypes.message, text=BUSY))
            return
        task = asyncio.ensure_future(work)
        self._in_turn.add(task)
        task.add_done_callback(self._in_turn.discard)
        self._inflight.track(task)
        done, _ = await asyncio.wait({task}, timeout=self.answer_within)
        if task.cancelled():  # by `close`, after its grace
            await self._abandoned(turn, invoke=invoke)
            return
        if task not in done:
            self._spawn(self._finish_later(task, conversation, source))
            if invoke:
                await self._invoke_response(turn, message_response(WORKING))
            else:
                await self.post_in(turn, Activity(type=ActivityTypes.typing))
            return
        replies = task.result()
        if invoke:
            replies = await self._answer_invoke(turn, replies, conversation, source)
        await self._deliver(turn, replies, conversation.id, source)

    async def _abandoned(self, turn: TurnContext, *, invoke: bool) -> None:
        log.warning("Teams: a %s was not finished because the bot is shutting down", turn.activity.type)
        if invoke:
            await self._invoke_response(turn, error_response(503, SHUTTING_DOWN))

    async def _answer_invoke(
        self, turn: TurnContext, replies: Sequence[Reply], conversation: Conversation, source: str | None
    ) -> list[Reply]:
        """Answer the invoke: the first reply that replaces the clicked card becomes the card response."""
        rest = list(replies)
        replacing = next((r for r in rest if r.replace_source and r.update is None), None)
        if replacing is not None:
            rest.remove(replacing)
            await self._invoke_response(
                turn, card_response(replacing.card, personal=is_personal(turn.activity))
            )
            if source:
                await self.remember(replacing.card, MessageRef(self.platform, conversation.id, source))
        elif rest and rest[0].ephemeral:
            # Teams has no ephemeral messages; the invoke response is seen by the clicking user alone.
            await self._invoke_response(turn, message_response(plain_summary(rest.pop(0).card)))
        else:
            first = rest[0] if rest else None
            await self._invoke_response(turn, message_response(plain_summary(first.card) if first else DONE))
            if first is not None and first.ephemeral:
                # Shown to the one who clicked, in the invoke response; not posted for everybody.
                rest.remove(first)
        return rest

    async def _invoke_response(self, turn: TurnContext, body: dict[str, Any]) -> None:
        status = int(body.get("statusCode", 200))
        value = InvokeResponse(status=200 if status < 400 else status, body=body)
        await turn.send_activity(Activity(type=ActivityTypes.invoke_response, value=value))
        turn.turn_state[_ANSWERED] = True

    async def _finish_later(
        self, task: asyncio.Future[list[Reply]], conversation: Conversation, source: str | None
    ) -> None:
        replies = await task
        reference = load_reference(conversation.reference)
        await self.continue_in(
            reference,
            reference.activity_id,
            lambda turn: self._deliver(turn, replies, conversation.id, source),
        )

    # --- outbound ------------------------------------------------------------------------------------------

    async def _deliver(
        self, turn: TurnContext, replies: Sequence[Reply], conversation_id: str, source: str | None
    ) -> None:
        """Post each reply as a new message, or update the message it replaces; remember keyed cards."""
        for reply in replies:
            if reply.update is not None and reply.update.conversation_id != conversation_id:
                # Another conversation (e.g. a channel thread): same service and tenant, other id.
                reference = TurnContext.get_conversation_reference(turn.activity).serialize()
                await self.sender.update(reference, reply.update, reply.card)
                await self.remember(reply.card, reply.update)
                continue
            target = reply.update.message_id if reply.update else (source if reply.replace_source else None)
            if target:
                await self.update_in(turn, target, reply.card)
                ref = MessageRef(self.platform, conversation_id, target)
            else:
                pictured = await self.pictured(reply.card)
                ref = MessageRef(
                    self.platform,
                    conversation_id,
                    await self.post_in(turn, card_activity(pictured, personal=is_personal(turn.activity))),
                )
            await self.remember(reply.card, ref)

    async def post_in(self, turn: TurnContext, activity: Activity) -> str:
        """Send a message in this turn (throttling retried); the new activity id."""
        response = await connector_call("send", lambda: turn.send_activity(activity), self._sleep)
        return str(getattr(response, "id", "") or "")

    async def pictured(self, card: Card) -> Card:
        """A card with charts gets their picture as an Image (with alt text): at the bot's expiring URL, or
        inline as a data URI when no host is set and the whole message stays within Teams' size limit."""
        if not card.charts:
            return card
        from cards.charts import render_png

        png = await asyncio.to_thread(render_png, card.charts)
        alt = " ".join(c.alt for c in card.charts) or card.title
        if self.chart_images is not None:
            try:
                url = await self.chart_images.publish(png)
            except Exception:  # the database is down: the card still goes out, with its native charts
                log.exception("Teams: could not store a chart picture")
            else:
                return replace(card, images=(*card.images, Image(url, alt)))
        uri = data_uri(png)
        # Inline only when the whole message, everything else kept as it is, stays within the size limit
        # (counted as `card_bytes` does: the base64 once per character, the rest in UTF-16).
        if card_bytes(render_adaptive(card)) + len(uri) + 2 * (len(alt) + 200) <= MAX_CARD_BYTES:
            return replace(card, images=(*card.images, Image(uri, alt)))
        return card

    async def update_in(self, turn: TurnContext, message_id: str, card: Card) -> None:
        """Replace message `message_id` of this turn's conversation with `card` (throttling retried)."""
        activity = card_activity(await self.pictured(card), personal=is_personal(turn.activity))
        activity.id = message_id
        await connector_call("update", lambda: turn.update_activity(activity), self._sleep)

    async def remember(self, card: Card, ref: MessageRef) -> None:
        """Record where a keyed card was posted or replaced (best effort: the card is out either way)."""
        if card.key and ref.message_id:
            await best_effort(
                self.store.remember_message(
                    card.key, Conversation(self.platform, ref.conversation_id).key, ref
                ),
                "remember the posted card",
                default=None,
                store=self.store,
            )

    async def continue_in(
        self,
        reference: ConversationReference,
        reply_to: str | None,
        logic: Callable[[TurnContext], Awaitable[None]],
    ) -> None:
        """Run `logic` in a proactive turn; its sends reply to `reply_to`, or start a new post when None."""

        async def callback(turn: TurnContext) -> None:
            # Sends are addressed as replies to the turn's activity id: the continuation activity's own id
            # is a fresh uuid Teams does not know, so point it at the message we mean (or none).
            turn.activity.id = reply_to
            await logic(turn)

        await self.cloud.continue_conversation(reference, callback, bot_app_id=self.app_id)

    # --- background work -----------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)
        self._inflight.track(task)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Teams: a late reply could not be sent", exc_info=task.exception())

    async def wait_idle(self) -> None:
        """Wait until every late reply has been sent (tests, orderly shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Refuse new requests; let requests in flight, their work and late replies finish for up to `grace`
        seconds, then cancel what is left (work may be waiting minutes on Azure)."""
        self._closing = True
        if self.keys is not None:
            await self.keys.stop()
        cancelled = await self._inflight.settle(grace)
        self._closed = True
        if cancelled:
            log.warning("Teams: shutdown cancelled %d unfinished task(s) after %.1f s", cancelled, grace)

    async def on_shutdown(self, app: web.Application) -> None:
        await self.close()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def has_bearer_token(authorization: str) -> bool:
    """`Authorization: Bearer <token>` with a non-empty token (validity is the JWT check's business)."""
    scheme, _, token = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


class TeamsSender:
    """`bot.notifier.Sender` for Teams: proactive posts and in-place updates with a stored reference."""

    platform: Platform = "teams"

    def __init__(self, adapter: TeamsAdapter) -> None:
        self._adapter = adapter
        self.platform = adapter.platform

    async def send(
        self, reference: Mapping[str, Any], card: Card, *, thread: str | None = None, key: str | None = None
    ) -> MessageRef:
        """Post `card` into the referenced conversation, as a reply to message `thread` when given; a keyed
        card (a job card) is recorded where it went, so it can be updated in place later.

        `key` (an outbox dedupe key) is not sent: a bot cannot read a Teams conversation back to look for
        it, so this sender is no `SentFinder`, and a crash between this post and the outbox's record of it
        repeats that one message after a restart.

        Raises `TeamsDeliveryError` when Teams refuses (403: the bot was removed or blocked; `.retryable`
        tells throttling and outages from refusals).
        """
        ref = load_reference(reference)
        conversation_id = ref.conversation.id if ref.conversation else ""
        posted: list[str] = []

        pictured = await self._adapter.pictured(card)

        async def post(turn: TurnContext) -> None:
            activity = card_activity(pictured, personal=is_personal(turn.activity))
            tenant = ref.conversation.tenant_id if ref.conversation else None
            if tenant:
                # Teams wants the tenant on proactive messages.
                activity.channel_data = {"tenant": {"id": tenant}}
            posted.append(await self._adapter.post_in(turn, activity))

        await self._adapter.continue_in(ref, thread, post)
        message = MessageRef(self._adapter.platform, conversation_id, posted[0] if posted else "")
        # Where a keyed card went (the job card `start` posts), so it is updated in place later, as the
        # Slack sender does: without it the watcher's updates find no card to update.
        await self._adapter.remember(card, message)
        return message

    async def update(self, reference: Mapping[str, Any], message: MessageRef, card: Card) -> None:
        """Replace message `message` (in its own conversation, e.g. a channel thread) with `card`.

        Raises `TeamsDeliveryError` when Teams refuses.
        """
        ref = load_reference(reference, message.conversation_id)

        async def replace(turn: TurnContext) -> None:
            await self._adapter.update_in(turn, message.message_id, card)

        await self._adapter.continue_in(ref, None, replace)


def mount_teams(
    app: web.Application,
    settings: Settings,
    dispatcher: Dispatcher,
    store: TeamsStore,
    notifier: Notifier,
    *,
    answer_within: float = ANSWER_WITHIN,
    sleep: Sleep = asyncio.sleep,
) -> TeamsAdapter:
    """Serve Teams on `POST /api/messages` of `app` and register the Teams sender on `notifier`.

    >>> adapter = mount_teams(app, settings, dispatcher, store, notifier)  # doctest: +SKIP
    >>> await notifier.send("teams", conversation.reference, card)  # doctest: +SKIP
    """
    adapter = TeamsAdapter(settings, dispatcher, store, answer_within=answer_within, sleep=sleep)
    if adapter.no_auth:
        log.warning(NO_AUTH_WARNING, ROUTE)
    elif not adapter.authenticates:
        log.warning(
            "Teams: MicrosoftAppId is not set and FTBOT_TEAMS_NO_AUTH is off: %s refuses everything", ROUTE
        )
    elif not adapter.tenants:
        log.warning(
            "Teams: no allowed tenant (FTBOT_TEAMS_ALLOWED_TENANTS or MicrosoftAppTenantId): %s refuses everything",
            ROUTE,
        )

    async def on_startup(_: web.Application) -> None:
        await adapter.start()

    app.router.add_post(ROUTE, adapter.handle)
    app.on_startup.append(on_startup)
    app.on_shutdown.append(adapter.on_shutdown)
    notifier.register(adapter.sender)
    return adapter
