"""Neutral replies and cards -> Slack Web API calls (`chat.postMessage`, `chat.postEphemeral`, `chat.update`).

A card with charts gets its picture too: after the card is posted, the PNG (drawn in a worker thread) goes
into the card's thread with the external upload flow (`files.getUploadURLExternal`, a POST of the bytes,
`files.completeUploadExternal` with `channel_id`/`thread_ts`); `files.upload` is retired. A card whose blocks
Slack refuses (`invalid_blocks`: a workspace without the newer blocks; `msg_blocks_too_long`) is sent once more
without charts and tables and with less text, on every path (post, ephemeral, update, response_url).

`SlackSender` is the platform's `bot.notifier.Sender` (proactive sends) and also delivers the replies to a
command or a click (`deliver`). Slack's refusals (`not_in_channel`, `ratelimited` after the retries, ...) are
logged by method and error code only, never with the token, and never crash the caller of `deliver`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack_translate import PLATFORM, Origin
from bot.model import Conversation, MessageRef, Platform, Reply
from bot.store.health import best_effort
from cards.model import Card
from cards.render_slack import SlackLimits, render_blocks

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Errors after which the channel itself cannot take our message, but a slash command's response_url still can.
_CHANNEL_UNREACHABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})


class SlackStore(Protocol):
    """The part of `bot.store.Store` the Slack adapter uses."""

    async def save_conversation(self, conv: Conversation) -> None: ...

    async def remember_message(self, card_key: str, conversation_key: str, ref: MessageRef) -> None: ...

    async def seen_event(self, source: str, event_id: str) -> bool: ...


class SlackDeliveryError(Exception):
    """A proactive send or update was refused by Slack; `error` is Slack's code (e.g. `not_in_channel`)."""

    def __init__(self, method: str, error: str, retry_after: float | None = None) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error
        # Seconds Slack asked us to wait (429 `Retry-After`), for the outbox to try again after.
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth trying later (throttled, Slack-side trouble); not when the channel cannot take messages."""
        return self.error not in _CHANNEL_UNREACHABLE and self.error not in _REFUSED


# Refusals that a later attempt would meet again.
_REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "invalid_blocks",
        "msg_blocks_too_long",
        "msg_too_long",
        "message_not_found",
        "cant_update_message",
    }
)


# Refusals of a message's blocks that a plainer rendering of the card may get past: blocks the workspace does
# not have yet (charts, tables), or more block text than Slack takes in one message (undocumented).
_BLOCKS_REFUSED = frozenset({"invalid_blocks", "msg_blocks_too_long"})


class _WebhookRefused(Exception):
    """A `response_url` post refused (Slack answers those with an HTTP error and the code as the body)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"response_url answered HTTP {status}: {code}")
        self.status = status
        self.code = code


# Message metadata that tags an outbox send (Slack: `event_type` is an alphanumeric-and-underscore name).
METADATA_EVENT = "ftbot_outbox"
FIND_PAGE = 100  # messages per history/replies page when looking for an interrupted send
FIND_PAGES = 3  # ... and at most this many pages back
CLOCK_SLACK = 60.0  # seconds: how far Slack's clock may be behind ours


def _outbox_key(message: Mapping[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT:
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return str(key) if key is not None else None


def _error_retry_after(exc: SlackApiError) -> float | None:
    try:
        headers = exc.response.headers or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Retry a 429 after Slack's `Retry-After` seconds, capped at `max_wait` so a reply is not held for long.

    slack_sdk's own handler adds up to a second of jitter and cannot be given another sleep; tests pass one.
    """

    def __init__(
        self,
        max_retry_count: int = 2,
        max_wait: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self._sleep = sleep

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:  # only called for 429 responses; nothing to wait on otherwise
            raise error or RuntimeError("rate-limit retry without a response")
        state.next_attempt_requested = True
        await self._sleep(min(self.max_wait, _retry_after(response)))
        state.increment_current_attempt()


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list | tuple) and values else values
            try:
                return max(0.0, float(str(value)))
            except ValueError:
                break
    return 1.0


def retry_handlers(sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> list[AsyncRetryHandler]:
    return [AsyncConnectionErrorRetryHandler(), RateLimitRetry(sleep=sleep)]


def _text_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "plain_text", "text": text}}]


def _error_code(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or f"http_{exc.response.status_code}")
    except Exception:  # a malformed response object: the code is only for the log line
        return "unknown"


class SlackSender:
    """Posts and updates cards in Slack; records keyed cards so they can be updated in place later."""

    platform: Platform = PLATFORM

    def __init__(
        self,
        client: AsyncWebClient,
        store: SlackStore,
        session: Callable[[], aiohttp.ClientSession | None] = lambda: None,
    ) -> None:
        self.client = client
        self.store = store
        self._session = session

    # -- bot.notifier.Sender ---------------------------------------------------------------------------------

    async def send(
        self, reference: Mapping[str, Any], card: Card, *, thread: str | None = None, key: str | None = None
    ) -> MessageRef:
        """Post a card into the referenced channel; raises `SlackDeliveryError` when Slack refuses. `key`
        (an outbox dedupe key) rides along as message metadata, for `find_sent`."""
        channel = str(reference["channel"])
        try:
            ref = await self._post(channel, card, thread, key)
        except SlackApiError as exc:
            code = _error_code(exc)
            log.warning("slack chat.postMessage to %s failed: %s", channel, code)
            raise SlackDeliveryError("chat.postMessage", code, _error_retry_after(exc)) from None
        await self._remember(card, ref)
        return ref

    async def update(self, reference: Mapping[str, Any], message: MessageRef, card: Card) -> None:
        """Replace an earlier message; raises `SlackDeliveryError` when Slack refuses. Where the card is is
        known already; as of when its new content is true is the caller's to record (`Store.card_shown`):
        the watcher's update is as old as its outbox row, not as the moment it went out."""
        try:
            await self._update(message, card)
        except SlackApiError as exc:
            code = _error_code(exc)
            log.warning("slack chat.update of %s failed: %s", message.message_id, code)
            raise SlackDeliveryError("chat.update", code, _error_retry_after(exc)) from None

    async def find_sent(
        self, reference: Mapping[str, Any], key: str, *, thread: str | None, since: datetime
    ) -> MessageRef | None:
        """The message `send(..., key=key)` posted at or after `since`, looked up in the channel's history
        (or the thread's replies) with their metadata, at most `FIND_PAGES` pages back. None when not there,
        or when Slack will not show us (no `*:history` scope, not a member): the caller then posts again,
        which repeats at most that one message. Throttling raises `SlackDeliveryError` (try again later)."""
        channel = str(reference["channel"])
        method = "conversations.replies" if thread else "conversations.history"
        # Slack's clock and ours may disagree by a little: start the window a minute early.
        oldest = f"{max(0.0, since.timestamp() - CLOCK_SLACK):.6f}"
        cursor: str | None = None
        try:
            for _ in range(FIND_PAGES):
                if thread:
                    resp = await self.client.conversations_replies(
                        channel=channel,
                        ts=thread,
                        oldest=oldest,
                        limit=FIND_PAGE,
                        include_all_metadata=True,
                        cursor=cursor,
                    )
                else:
                    resp = await self.client.conversations_history(
                        channel=channel,
                        oldest=oldest,
                        limit=FIND_PAGE,
                        include_all_metadata=True,
                        cursor=cursor,
                    )
                for message in resp.get("messages") or []:
                    if _outbox_key(message) == key:
                        return MessageRef(
                            platform=PLATFORM, conversation_id=channel, message_id=str(message["ts"])
                        )
                cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                if not resp.get("has_more") or not cursor:
                    return None
        except SlackApiError as exc:
            code = _error_code(exc)
            status = getattr(exc.response, "status_code", 200)
            if code == "ratelimited" or status == 429 or status >= 500:
                raise SlackDeliveryError(method, code, _error_retry_after(exc)) from None
            log.warning(
                "slack %s in %s failed: %s; an interrupted send will be posted again", method, channel, code
            )
            return None
        log.warning("slack %s in %s: not found within %d pages; posting again", method, channel, FIND_PAGES)
        return None

    # -- replies to a command or a click ---------------------------------------------------------------------

    async def deliver(self, origin: Origin, replies: Sequence[Reply]) -> None:
        """Show each reply where it belongs; a refused reply is logged and the others still go out."""
        for reply in replies:
            try:
                await self._deliver_one(origin, reply)
            except SlackApiError as exc:
                log.warning("slack reply in %s not delivered: %s", origin.conversation.id, _error_code(exc))
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("slack reply in %s not delivered: %s", origin.conversation.id, type(exc).__name__)
            except Exception:
                log.exception("slack reply in %s not delivered", origin.conversation.id)

    async def _deliver_one(self, origin: Origin, reply: Reply) -> None:
        channel = origin.conversation.id
        if reply.update is not None:
            await self._update(reply.update, reply.card)
            await self._remember(reply.card, reply.update)
        elif reply.replace_source and origin.source is not None:
            if origin.source_ephemeral and origin.response_url:
                # Ephemeral messages have no ts Slack lets us update; their response_url can replace them.
                await self._respond(origin.response_url, reply.card, replace_original=True)
            else:
                try:
                    await self._update(origin.source, reply.card)
                except SlackApiError as exc:
                    if _error_code(exc) not in _CHANNEL_UNREACHABLE or not origin.response_url:
                        raise
                    # A card sent through a response_url (a private channel the bot is not in, a DM between
                    # two people): chat.update cannot reach it, the click's own response_url can.
                    await self._respond(origin.response_url, reply.card, replace_original=True)
                    return
                await self._remember(reply.card, origin.source)
        elif reply.ephemeral:
            await self._ephemeral(origin, reply.card)
        else:
            thread = origin.anchor_ts if reply.in_thread else origin.thread_ts
            try:
                ref = await self._post(channel, reply.card, thread)
            except SlackApiError as exc:
                if _error_code(exc) not in _CHANNEL_UNREACHABLE or not origin.response_url:
                    raise
                # The bot is not in this channel (slash commands work anywhere): answer through the command.
                log.info(
                    "slack channel %s unreachable (%s); answering via response_url", channel, _error_code(exc)
                )
                await self._respond(origin.response_url, reply.card, response_type="in_channel")
                return
            await self._remember(reply.card, ref)

    async def notice(self, response_url: str, text: str) -> None:
        """A short text only the clicking user sees, through the click's `response_url` (the card stays)."""
        webhook = AsyncWebhookClient(response_url, session=self._session())
        resp = await webhook.send(
            text=text, blocks=_text_blocks(text), response_type="ephemeral", replace_original=False
        )
        if resp.status_code != 200:
            log.warning("slack response_url answered HTTP %s", resp.status_code)

    async def ephemeral_text(self, channel: str, user: str, text: str, *, thread: str | None = None) -> None:
        """A short text only `user` sees in `channel` (no retries: it is a notice, not an answer)."""
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=_text_blocks(text), thread_ts=thread
            )
        except SlackApiError as exc:
            log.warning("slack notice in %s not delivered: %s", channel, _error_code(exc))

    async def _ephemeral(self, origin: Origin, card: Card) -> None:
        async def send(message: dict[str, Any]) -> None:
            await self.client.chat_postEphemeral(
                channel=origin.conversation.id, user=origin.user.id, thread_ts=origin.thread_ts, **message
            )

        try:
            await self._send_card(card, send, origin.conversation.id)
        except SlackApiError as exc:
            if _error_code(exc) not in _CHANNEL_UNREACHABLE or not origin.response_url:
                raise
            await self._respond(origin.response_url, card, response_type="ephemeral")

    # -- Web API calls ---------------------------------------------------------------------------------------

    async def _post(self, channel: str, card: Card, thread: str | None, key: str | None = None) -> MessageRef:
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": key}} if key else None
        client = self.client
        if key:
            # A dropped connection may have carried the post: no blind retry (slack_sdk's connection-error
            # handler would post it twice); the outbox looks for it by its key before trying again.
            client = copy.copy(self.client)
            client.retry_handlers = [
                h for h in self.client.retry_handlers if not isinstance(h, AsyncConnectionErrorRetryHandler)
            ]

        async def send(message: dict[str, Any]) -> Any:
            return await client.chat_postMessage(
                channel=channel, thread_ts=thread, metadata=metadata, **message
            )

        resp = await self._send_card(card, send, channel)
        ref = MessageRef(platform=PLATFORM, conversation_id=str(resp["channel"]), message_id=str(resp["ts"]))
        if card.charts:
            # The picture goes into the card's thread; the card is out already, so a failure is only logged.
            try:
                await self.upload_chart(ref.conversation_id, thread or ref.message_id, card)
            except SlackApiError as exc:
                log.warning("slack chart upload in %s failed: %s", channel, _error_code(exc))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("slack chart upload in %s failed: %s", channel, type(exc).__name__)
        return ref

    async def upload_chart(self, channel: str, thread_ts: str | None, card: Card) -> str:
        """Draw the card's charts as one PNG and share it into `channel` (in `thread_ts`); the file id."""
        from cards.charts import render_png

        png = await asyncio.to_thread(render_png, card.charts)
        alt = " ".join(c.alt for c in card.charts)[:1000] or card.title
        name = re.sub(r"[^A-Za-z0-9]+", "-", card.title).strip("-")[:80].lower() or "chart"
        got = await self.client.files_getUploadURLExternal(
            filename=f"{name}.png", length=len(png), alt_txt=alt
        )
        await self._post_bytes(str(got["upload_url"]), png)
        await self.client.files_completeUploadExternal(
            files=[{"id": str(got["file_id"]), "title": card.title}], channel_id=channel, thread_ts=thread_ts
        )
        return str(got["file_id"])

    async def _post_bytes(self, url: str, data: bytes) -> None:
        session = self._session()
        if session is None:
            async with aiohttp.ClientSession() as own:
                await self._post_with(own, url, data)
        else:
            await self._post_with(session, url, data)

    @staticmethod
    async def _post_with(session: aiohttp.ClientSession, url: str, data: bytes) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        headers = {"Content-Type": "image/png"}
        async with session.post(url, data=data, headers=headers, timeout=timeout) as resp:
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message="upload refused"
                )

    async def _update(self, message: MessageRef, card: Card) -> None:
        async def send(rendered: dict[str, Any]) -> None:
            await self.client.chat_update(channel=message.conversation_id, ts=message.message_id, **rendered)

        await self._send_card(card, send, message.conversation_id)

    async def _respond(self, response_url: str, card: Card, **how: Any) -> None:
        webhook = AsyncWebhookClient(response_url, session=self._session(), retry_handlers=retry_handlers())

        async def send(message: dict[str, Any]) -> None:
            resp = await webhook.send(**message, **how)
            if resp.status_code != 200:
                raise _WebhookRefused(resp.status_code, (resp.body or "").strip())

        try:
            await self._send_card(card, send, "a response_url")
        except _WebhookRefused as exc:
            log.warning("slack response_url answered HTTP %s: %s", exc.status, exc.code[:100])

    async def _send_card(self, card: Card, send: Callable[[dict[str, Any]], Awaitable[_T]], where: str) -> _T:
        """`send` the card's message; when Slack refuses its blocks (`_BLOCKS_REFUSED`), once more as plainer
        blocks: without charts and tables (a workspace without them), and with half the text budget after
        `msg_blocks_too_long`. Every way a card leaves (post, ephemeral, update, response_url) goes through
        here; `send` raises `SlackApiError` or `_WebhookRefused` for a refusal."""
        message = render_blocks(card)
        try:
            return await send(message)
        except (SlackApiError, _WebhookRefused) as exc:
            code = exc.code if isinstance(exc, _WebhookRefused) else _error_code(exc)
            if code not in _BLOCKS_REFUSED:
                raise
            budget = (
                SlackLimits.BLOCKS_TEXT // 2 if code == "msg_blocks_too_long" else SlackLimits.BLOCKS_TEXT
            )
            plainer = render_blocks(card, native=False, text_budget=budget)
            if plainer == message:
                raise
            # Charts and tables are new blocks; where they are not available the text carries the facts.
            log.info("slack refused the card's blocks in %s (%s); sending plainer blocks", where, code)
            return await send(plainer)

    async def _remember(self, card: Card, ref: MessageRef) -> None:
        if card.key:
            # Bookkeeping after the post: without it the card is not updated in place later, nothing worse.
            await best_effort(
                self.store.remember_message(card.key, f"{PLATFORM}:{ref.conversation_id}", ref),
                "remember the posted card",
                default=None,
                store=self.store,
            )
