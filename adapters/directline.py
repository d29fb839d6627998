"""The local chat page: Bot Framework Web Chat talking Direct Line 3.0 to a channel inside the bot.

    directline = mount_directline(app, settings, dispatcher, store, notifier, resource="emulator")

`GET /` serves the page (Web Chat's prebuilt bundle, installed by `make install`, served from here with
caching headers and gzip/br). The page speaks Direct Line 3.0 to `/v3/directline/...` (tokens, conversations,
activities by polling with watermarks or over the WebSocket stream), as it would to Azure's Direct Line.

This module plays the part of a Bot Framework channel: a user's activity becomes the Activity a channel would
deliver to `/api/messages` (personal conversation, `serviceUrl` pointing at a local connector served here) and
runs through the same turn as Teams (`adapters.teams.TeamsAdapter`, platform "web", same router, same Adaptive
Cards). The bot's replies, updates and proactive sends come back through that connector
(`/_ftbot/connector/<key>/v3/conversations/...`) and are appended to the conversation the page watches.

Web Chat only acts on `Action.Submit` and `Action.OpenUrl` (it ignores `Action.Execute`), and its Submit does
not say which message the button was on. So, as it delivers a card, the channel turns each `Action.Execute`
into an `Action.Submit` whose data also names the verb and the message, and turns the page's post-back back
into the `adaptiveCard/action` invoke Teams would send (a plain `Action.Submit` becomes a message with `value`
and `replyToId`). An invoke's card response replaces the card in place (same activity id; Web Chat replaces
an activity it already shows).

Who may connect: on a loopback host anyone on this machine (the Host and Origin headers must name a loopback
address, against DNS rebinding); on any other host only with FTBOT_DIRECTLINE_SECRET (HTTP Basic password on
the page, `Authorization: Bearer` for Direct Line clients), and without it the page and endpoint are off.
Conversations live in memory: a restart forgets them (reload the page).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gzip
import hashlib
import hmac
import html
import ipaddress
import itertools
import json
import logging
import re
import secrets
import stat
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from adapters.deferred import DeferredSender, LazyTeamsAdapter
from adapters.inflight import InFlight
from bot.config import Settings
from bot.model import Platform
from bot.notifier import Notifier
from bot.router import Dispatcher

__all__ = ["API", "DirectLine", "mount_directline"]

log = logging.getLogger(__name__)

API = "/v3/directline"
CONNECTOR = "/_ftbot/connector"
BUNDLE_ROUTE = "/webchat/webchat.js"
PLATFORM: Platform = "web"
INVOKE_EXECUTE = "adaptiveCard/action"  # adapters.teams.INVOKE_EXECUTE (a test checks they agree)

if TYPE_CHECKING:
    from adapters.teams import TeamsAdapter
CHANNEL_ID = "webchat"
BOT = {"id": "ftbot", "name": "ftbot", "role": "bot"}
TOKEN_TTL = 3600  # seconds; the page refreshes its token (Web Chat does this every 15 minutes)
MAX_ACTIVITIES = 1000  # per conversation; older ones are dropped (watermarks keep counting)
MAX_CONVERSATIONS = 500  # the least recently used one is forgotten beyond this
MAX_ACTIVITY_BYTES = 64 * 1024
# Turns in flight get this long on shutdown (Teams and Slack take 3 s each, the server 2 s: all under 9 s).
SHUTDOWN_GRACE = 1.0
# Keys this channel adds to a button's data to bring back what Web Chat's post-back does not carry.
REPLY_TO_KEY = "ftbot.replyTo"
EXECUTE_KEY = "ftbot.execute"
# What typed text may start with, as copied from a hint (`/ft list`, `@ftbot help`): the channel's "mention".
_TRIGGER = re.compile(r"^\s*(?:@ftbot|/ft)\b\s*", re.IGNORECASE)
_USER_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")

# Asks a browser for the page's password (user name: who you are; password: FTBOT_DIRECTLINE_SECRET).
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="ftbot local chat", charset="UTF-8"'}

BUNDLE_MISSING = (
    "Web Chat's bundle is not installed: run `make install` (it fetches botframework-webchat with npm), "
    "or point FTBOT_WEBCHAT_DIR at a folder holding webchat.js."
)


class DirectLineError(Exception):
    """A Direct Line error response: HTTP status plus the `ErrorResponse` code and message."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body = {"error": {"code": self.code, "message": self.message}}
        return web.json_response(body, status=self.status, headers=self.headers)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token allows: one conversation, as one user, until `expires` (epoch seconds)."""

    conversation_id: str
    user_id: str
    user_name: str
    expires: float


class Tokens:
    """Signed, self-contained tokens (HMAC-SHA256 with a key made at start): nothing to store or expire."""

    def __init__(self, key: bytes | None = None, ttl: int = TOKEN_TTL) -> None:
        self._key = key or secrets.token_bytes(32)
        self.ttl = ttl

    def issue(self, conversation_id: str, user_id: str, user_name: str) -> str:
        claims = {"c": conversation_id, "u": user_id, "n": user_name, "e": int(time.time()) + self.ttl}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def read(self, token: str) -> Grant:
        body, _, signature = token.partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            raise DirectLineError(403, "BadArgument", "The token is not valid.")
        try:
            claims = json.loads(_unb64(body))
            grant = Grant(str(claims["c"]), str(claims["u"]), str(claims["n"]), float(claims["e"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise DirectLineError(403, "BadArgument", "The token is not valid.") from None
        if grant.expires < time.time():
            raise DirectLineError(403, "TokenExpired", "The token has expired; generate a new one.")
        return grant

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:24])


@dataclass
class Conversation:
    """One Direct Line conversation: its activity log (numbered from 1) and whoever is waiting for more."""

    id: str
    user_id: str
    user_name: str
    log: deque[tuple[int, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=MAX_ACTIVITIES))
    last: int = 0  # number of the newest activity: the watermark after it
    started: bool = False
    timestamps: dict[str, str] = field(
        default_factory=dict
    )  # activity id -> first timestamp (updates keep it)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def append(self, activity: dict[str, Any]) -> int:
        if self.log and self.log[-1][1].get("type") == "typing":
            # A typing indicator is news only until the next activity: a reload must not replay it.
            self.log.pop()
        self.last += 1
        self.log.append((self.last, activity))
        if len(self.timestamps) > 2 * MAX_ACTIVITIES:  # forget the ids that left the log
            kept = {str(a.get("id")) for _, a in self.log}
            self.timestamps = {k: v for k, v in self.timestamps.items() if k in kept}
        # Wake everyone waiting, then give the next waiters a fresh event.
        self.changed.set()
        self.changed = asyncio.Event()
        return self.last

    def after(self, watermark: int) -> list[dict[str, Any]]:
        return [activity for number, activity in self.log if number > watermark]

    def new_id(self) -> str:
        return f"{self.id}|{self.last + 1:07d}"


def _user_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    user = body.get("user")
    return user if isinstance(user, Mapping) else {}


def _watermark(raw: str | None) -> int:
    if raw in (None, "", "-"):
        return 0
    try:
        return max(0, int(str(raw)))
    except ValueError:
        raise DirectLineError(400, "BadArgument", "The watermark is not one this service gave.") from None


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(authority: str) -> str:
    """`127.0.0.1:3978` -> `127.0.0.1`; `[::1]:3978` -> `::1`."""
    try:
        return urlsplit(f"//{authority}").hostname or ""
    except ValueError:
        return ""


# Web Chat renders card text and messages with markdown-it's typographer, which turns `[--epochs` or a
# leading `--training` into an en dash: people then copied `–training` from the examples. Escaped dashes
# (`\-\-`) are kept as they are and show as `--` (and copy as `--`). Link targets and bare URLs are left alone.
_DOUBLE_DASH = re.compile(r"(?<![-\\])--(?!-)")
_URL_PART = re.compile(r"\]\([^)\s]*\)|https?://\S+")


def keep_dashes(markdown: str) -> str:
    """`markdown` with every `--` (not part of a longer run of dashes, not in a URL) escaped for Web Chat."""
    if "--" not in markdown:
        return markdown
    out: list[str] = []
    pos = 0
    for url in _URL_PART.finditer(markdown):
        out.append(_DOUBLE_DASH.sub(r"\\-\\-", markdown[pos : url.start()]))
        out.append(url.group(0))
        pos = url.end()
    out.append(_DOUBLE_DASH.sub(r"\\-\\-", markdown[pos:]))
    return "".join(out)


def _page_text(node: dict[str, Any]) -> dict[str, Any]:
    """Markdown fields of one card element (TextBlock text, FactSet titles and values) made typography-safe;
    TextRuns and button titles are not markdown and stay as they are."""
    kind = node.get("type")
    if kind == "TextBlock" and isinstance(node.get("text"), str):
        return {**node, "text": keep_dashes(node["text"])}
    if kind == "FactSet" and isinstance(node.get("facts"), list):
        facts = [
            {k: keep_dashes(v) if k in ("title", "value") and isinstance(v, str) else v for k, v in f.items()}
            if isinstance(f, Mapping)
            else f
            for f in node["facts"]
        ]
        return {**node, "facts": facts}
    return node


def to_page_card(content: Any, activity_id: str) -> Any:
    """The card as Web Chat can act on it: `Action.Execute` -> `Action.Submit` carrying the verb, and every
    button's data naming the message it is on (nested cards and fallbacks included); `--` in its text kept
    from Web Chat's typography (`keep_dashes`)."""
    if isinstance(content, list):
        return [to_page_card(item, activity_id) for item in content]
    if not isinstance(content, Mapping):
        return content
    node = _page_text({key: to_page_card(value, activity_id) for key, value in content.items()})
    kind = node.get("type")
    if kind == "Action.Execute":
        data = node.get("data")
        node = {k: v for k, v in node.items() if k not in ("verb", "fallback")}
        node["type"] = "Action.Submit"
        if isinstance(data, Mapping):
            node["data"] = {**data, EXECUTE_KEY: content.get("verb") or "", REPLY_TO_KEY: activity_id}
    elif kind == "Action.Submit" and isinstance(node.get("data"), Mapping):
        node["data"] = {**node["data"], REPLY_TO_KEY: activity_id}
    return node


def _page_activity(activity: dict[str, Any], activity_id: str) -> dict[str, Any]:
    if isinstance(activity.get("text"), str) and activity.get("textFormat", "markdown") == "markdown":
        activity["text"] = keep_dashes(activity["text"])
    attachments = activity.get("attachments")
    if isinstance(attachments, list):
        activity["attachments"] = [
            {**a, "content": to_page_card(a.get("content"), activity_id)} if isinstance(a, Mapping) else a
            for a in attachments
        ]
    return activity


def from_page(activity: Mapping[str, Any]) -> dict[str, Any]:
    """The page's activity as the bot receives it: typed trigger stripped, a post-back from a converted
    `Action.Execute` turned into the `adaptiveCard/action` invoke, and the message a button was on as
    `replyToId`."""
    bot_side = dict(activity)
    text = bot_side.get("text")
    if isinstance(text, str):
        bot_side["text"] = _TRIGGER.sub("", text, count=1)
    value = bot_side.get("value")
    if not isinstance(value, Mapping) or REPLY_TO_KEY not in value:
        return bot_side
    data = {k: v for k, v in value.items() if k not in (REPLY_TO_KEY, EXECUTE_KEY)}
    bot_side["replyToId"] = str(value[REPLY_TO_KEY])
    if EXECUTE_KEY in value:
        bot_side.update(
            type="invoke",
            name=INVOKE_EXECUTE,
            value={
                "action": {"type": "Action.Execute", "verb": str(value[EXECUTE_KEY]), "data": data},
                "trigger": "manual",
            },
        )
        bot_side.pop("text", None)
    else:
        bot_side["value"] = data
    return bot_side


class Bundle:
    """Web Chat's `webchat.js` from disk, compressed once (br, gzip) in a worker thread and kept in memory."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "webchat.js"
        self._ready: asyncio.Task[dict[str, bytes]] | None = None
        self.version = ""
        with contextlib.suppress(OSError):
            # The bundle's identity for the page URL (?v=) and the ETag: its size and modification time, as a
            # static file server's ETag is (hashing its content read 3.9 MB at every start: ~6 ms of CPU).
            info = self.path.stat()
            if stat.S_ISREG(info.st_mode):
                self.version = hashlib.sha256(f"{info.st_size}:{info.st_mtime_ns}".encode()).hexdigest()[:16]

    @property
    def present(self) -> bool:
        return bool(self.version)

    def prepare(self) -> asyncio.Task[dict[str, bytes]]:
        """Start compressing (idempotent): the page asks for this before the browser asks for the bundle."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(asyncio.to_thread(self._encode))
        return self._ready

    def _encode(self) -> dict[str, bytes]:
        raw = self.path.read_bytes()
        encoded = {"identity": raw, "gzip": gzip.compress(raw, 6)}
        with contextlib.suppress(ImportError):
            import brotli

            encoded["br"] = brotli.compress(raw, quality=6)
        return encoded

    async def response(self, request: web.Request) -> web.Response:
        etag = f'"{self.version}"'
        headers = {
            # The URL carries the bundle's version (?v=...), so browsers may keep it for a year.
            "Cache-Control": "public, max-age=31536000, immutable",
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        ready = self.prepare()
        if not ready.done():
            # Still compressing (the page asked for it a moment ago): on this machine's loopback the plain
            # bytes are quicker than waiting; the next load gets the compressed ones.
            return web.Response(
                body=await asyncio.to_thread(self.path.read_bytes),
                headers=headers,
                content_type="text/javascript",
                charset="utf-8",
            )
        encoded = ready.result()
        accepted = request.headers.get("Accept-Encoding", "").lower()
        for coding in ("br", "gzip"):
            if coding in encoded and coding in accepted:
                headers["Content-Encoding"] = coding
                return web.Response(
                    body=encoded[coding], headers=headers, content_type="text/javascript", charset="utf-8"
                )
        return web.Response(
            body=encoded["identity"], headers=headers, content_type="text/javascript", charset="utf-8"
        )


def default_bundle_dir() -> Path:
    """`webchat/dist` next to the packages of a source checkout (filled by `make install`)."""
    return Path(__file__).resolve().parent.parent / "webchat" / "dist"


class DirectLine:
    """The page, the Direct Line 3.0 endpoint and the local connector; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        turns: LocalTurns,
        *,
        resource: str,
        secret: str | None,
        bundle: Bundle,
    ) -> None:
        self.settings = settings
        self.turns = turns
        self.resource = resource
        self.secret = secret
        self.bundle = bundle
        self.tokens = Tokens()
        self.conversations: OrderedDict[str, Conversation] = OrderedDict()
        self._by_user: dict[str, str] = {}
        self._users = itertools.count(1)
        self._connector_key = secrets.token_urlsafe(24)
        self._service_url: str | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._inflight = InFlight()
        self._closing = False

    # --- who may connect -----------------------------------------------------------------------------------

    def _check_origin(self, request: web.Request) -> None:
        """Against DNS rebinding and cross-site requests: on a loopback host the Host header must name a
        loopback address; an Origin, when sent, must be this very origin."""
        host = request.headers.get("Host", "")
        if self.secret is None and not _is_loopback(_host_name(host)):
            raise DirectLineError(403, "Forbidden", "This local endpoint answers only to a loopback Host.")
        origin = request.headers.get("Origin")
        if origin and origin != "null":
            parts = urlsplit(origin)
            if parts.netloc.lower() != host.lower() or parts.scheme not in ("http", "https"):
                raise DirectLineError(403, "Forbidden", "Cross-origin requests are not accepted.")

    def _credential(self, request: web.Request) -> tuple[str, str]:
        """(scheme, value) from `Authorization`: `bearer` + token/secret, or `basic` + user:password."""
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        return scheme.lower(), value.strip()

    def _secret_user(self, request: web.Request) -> str | None:
        """With a secret configured: None unless the request carries it; the Basic user name when given."""
        if self.secret is None:
            return ""
        scheme, value = self._credential(request)
        if scheme == "bearer" and hmac.compare_digest(value.encode(), self.secret.encode()):
            return ""
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, binascii.Error):
                return None
            if hmac.compare_digest(password.encode(), self.secret.encode()):
                return user
        return None

    def _grant(self, request: web.Request, conversation_id: str | None = None) -> Grant:
        scheme, value = self._credential(request)
        if scheme != "bearer" or not value:
            raise DirectLineError(401, "Unauthorized", "Send `Authorization: Bearer <token>`.")
        grant = self.tokens.read(value)
        if conversation_id is not None and grant.conversation_id != conversation_id:
            raise DirectLineError(403, "Forbidden", "The token is for another conversation.")
        return grant

    def _conversation(self, conversation_id: str) -> Conversation:
        conv = self.conversations.get(conversation_id)
        if conv is None:
            raise DirectLineError(404, "NotFound", "There is no such conversation (was the bot restarted?).")
        self.conversations.move_to_end(conversation_id)
        return conv

    # --- the page ------------------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        """GET /: the chat page (with a secret: behind HTTP Basic, the password being the secret)."""
        self._check_origin(request)
        if self._secret_user(request) is None:
            return web.Response(
                status=401,
                text="ftbot: this chat page needs the password set in FTBOT_DIRECTLINE_SECRET.",
                headers=BASIC_CHALLENGE,
            )
        if not self.bundle.present:
            return web.Response(status=503, text=f"ftbot: {BUNDLE_MISSING}")
        self.turns.warm()  # a message will follow: load the Teams adapter meanwhile
        self.bundle.prepare()
        template = (resources.files("adapters") / "directline_page.html").read_text(encoding="utf-8")
        body = template.replace("{{BUNDLE_URL}}", f"{BUNDLE_ROUTE}?v={self.bundle.version}").replace(
            "{{RESOURCE}}", html.escape(self.resource)
        )
        return web.Response(
            text=body,
            content_type="text/html",
            headers={
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def bundle_file(self, request: web.Request) -> web.StreamResponse:
        self._check_origin(request)
        if self._secret_user(request) is None:
            raise DirectLineError(401, "Unauthorized", "The password is missing.", BASIC_CHALLENGE)
        if not self.bundle.present:
            return web.Response(status=404, text=BUNDLE_MISSING)
        return await self.bundle.response(request)

    # --- Direct Line 3.0 -----------------------------------------------------------------------------------

    async def generate(self, request: web.Request) -> web.Response:
        """POST /tokens/generate: a token for a new (or this user's) conversation. Body `{"user": {"id"}}`
        is optional; without it the user is a new `local-user-N`."""
        self._check_origin(request)
        basic_user = self._secret_user(request)
        if basic_user is None:
            raise DirectLineError(
                401, "Unauthorized", "Send the Direct Line secret as a bearer token.", BASIC_CHALLENGE
            )
        body = await self._json(request, required=False)
        user = _user_of(body)
        user_id = basic_user or str(user.get("id") or "") or f"local-user-{next(self._users)}"
        if not _USER_ID.fullmatch(user_id):
            raise DirectLineError(400, "BadArgument", "user.id: use 1-64 letters, digits, or . _ @ -")
        name = str(user.get("name") or user_id)[:64]
        conv = self._open(user_id, name)
        return web.json_response(
            {
                "conversationId": conv.id,
                "token": self.tokens.issue(conv.id, user_id, name),
                "expires_in": self.tokens.ttl,
                "user": {"id": user_id, "name": name},
            }
        )

    async def refresh(self, request: web.Request) -> web.Response:
        self._check_origin(request)
        grant = self._grant(request)
        return web.json_response(
            {
                "conversationId": grant.conversation_id,
                "token": self.tokens.issue(grant.conversation_id, grant.user_id, grant.user_name),
                "expires_in": self.tokens.ttl,
            }
        )

    async def start(self, request: web.Request) -> web.Response:
        """POST /conversations: with a token, start its conversation (201 the first time, then 200); with the
        secret, a new conversation and a token for it (201)."""
        self._check_origin(request)
        scheme, value = self._credential(request)
        if (
            self.secret is not None
            and scheme == "bearer"
            and hmac.compare_digest(value.encode(), self.secret.encode())
        ):
            body = await self._json(request, required=False)
            user = _user_of(body)
            user_id = str(user.get("id") or f"local-user-{next(self._users)}")
            if not _USER_ID.fullmatch(user_id):
                raise DirectLineError(400, "BadArgument", "user.id: use 1-64 letters, digits, or . _ @ -")
            conv = self._new(user_id, str(user.get("name") or user_id)[:64])
            token = self.tokens.issue(conv.id, conv.user_id, conv.user_name)
        else:
            grant = self._grant(request)
            conv = self._conversation(grant.conversation_id)
            token = value
        self._service_url = self._service_url or self._own_url(request)
        self.turns.warm()
        status = 200 if conv.started else 201
        conv.started = True
        return web.json_response(self._conversation_body(request, conv, token), status=status)

    async def reconnect(self, request: web.Request) -> web.Response:
        """GET /conversations/{id}?watermark=: a fresh stream URL (after the WebSocket dropped)."""
        self._check_origin(request)
        conv_id = request.match_info["conversation"]
        self._grant(request, conv_id)
        conv = self._conversation(conv_id)
        watermark = _watermark(request.query.get("watermark"))
        body = self._conversation_body(request, conv, self._credential(request)[1])
        body["streamUrl"] += f"&watermark={watermark}"
        return web.json_response(body)

    async def post_activity(self, request: web.Request) -> web.Response:
        """POST /conversations/{id}/activities: echo the activity into the conversation, run the bot's turn in
        the background (its replies arrive through the connector), answer the new activity id."""
        if self._closing:
            raise DirectLineError(503, "ServiceUnavailable", "ftbot is restarting; try again in a moment.")
        self._check_origin(request)
        conv_id = request.match_info["conversation"]
        grant = self._grant(request, conv_id)
        conv = self._conversation(conv_id)
        body = await self._json(request, required=True)
        kind = body.get("type")
        if not isinstance(kind, str) or not kind:
            raise DirectLineError(400, "MissingProperty", "The activity needs a `type`.")
        self._service_url = self._service_url or self._own_url(request)
        activity_id = conv.new_id()
        timestamp = _now()
        echoed = {
            **body,
            "id": activity_id,
            "timestamp": timestamp,
            "channelId": CHANNEL_ID,
            # The token decides who speaks; a client cannot post as someone else.
            "from": {"id": grant.user_id, "name": grant.user_name, "role": "user"},
            "conversation": {"id": conv.id},
            "recipient": dict(BOT),
        }
        conv.timestamps[activity_id] = timestamp
        conv.append(echoed)
        if kind in ("message", "event", "invoke", "conversationUpdate"):
            bot_side = {
                **from_page(echoed),
                "serviceUrl": self._service_url,
                "conversation": {"id": conv.id, "conversationType": "personal"},
            }
            task = asyncio.ensure_future(self._turn(conv, bot_side))
            self._inflight.track(task)
        return web.json_response({"id": activity_id})

    async def get_activities(self, request: web.Request) -> web.Response:
        """GET /conversations/{id}/activities?watermark=: what came after the watermark, and the new one."""
        self._check_origin(request)
        conv_id = request.match_info["conversation"]
        self._grant(request, conv_id)
        conv = self._conversation(conv_id)
        watermark = _watermark(request.query.get("watermark"))
        return web.json_response({"activities": conv.after(watermark), "watermark": str(conv.last)})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """GET /conversations/{id}/stream?t=<token>[&watermark=]: a WebSocket of `ActivitySet` messages."""
        self._check_origin(request)
        conv_id = request.match_info["conversation"]
        grant = self.tokens.read(request.query.get("t", ""))
        if grant.conversation_id != conv_id:
            raise DirectLineError(403, "Forbidden", "The token is for another conversation.")
        conv = self._conversation(conv_id)
        watermark = _watermark(request.query.get("watermark"))
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        self._sockets.add(ws)
        reader = asyncio.ensure_future(self._drain(ws))
        try:
            while not ws.closed and not self._closing:
                changed = conv.changed
                fresh = conv.after(watermark)
                if fresh:
                    watermark = conv.last
                    await ws.send_json({"activities": fresh, "watermark": str(watermark)})
                    continue
                waiter = asyncio.ensure_future(changed.wait())
                await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if reader.done():
                    break
        except (ConnectionResetError, RuntimeError):  # the page went away mid-send
            pass
        finally:
            reader.cancel()
            self._sockets.discard(ws)
            await ws.close()
        return ws

    async def _drain(self, ws: web.WebSocketResponse) -> None:
        """The client sends nothing we use; read until it closes."""
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    def _conversation_body(self, request: web.Request, conv: Conversation, token: str) -> dict[str, Any]:
        scheme = "wss" if request.secure else "ws"
        return {
            "conversationId": conv.id,
            "token": token,
            "expires_in": self.tokens.ttl,
            "streamUrl": f"{scheme}://{request.host}{API}/conversations/{conv.id}/stream?t={token}",
        }

    def _open(self, user_id: str, name: str) -> Conversation:
        """The user's conversation (a second tab as the same user sees the same one), or a new one."""
        existing = self._by_user.get(user_id)
        if existing and existing in self.conversations:
            self.conversations.move_to_end(existing)
            return self.conversations[existing]
        return self._new(user_id, name)

    def _new(self, user_id: str, name: str) -> Conversation:
        conv = Conversation(id=secrets.token_hex(12), user_id=user_id, user_name=name)
        self.conversations[conv.id] = conv
        self._by_user[user_id] = conv.id
        while len(self.conversations) > MAX_CONVERSATIONS:
            old_id, old = self.conversations.popitem(last=False)
            if self._by_user.get(old.user_id) == old_id:
                del self._by_user[old.user_id]
        return conv

    def _own_url(self, request: web.Request) -> str:
        """The connector's base URL, on the address this request reached us at (reachable from here)."""
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        if not sock:
            return f"http://127.0.0.1:{self.settings.port}{CONNECTOR}/{self._connector_key}/"
        host, port = sock[0], sock[1]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{CONNECTOR}/{self._connector_key}/"

    @staticmethod
    async def _json(request: web.Request, *, required: bool) -> dict[str, Any]:
        raw = await request.read()
        if not raw:
            if required:
                raise DirectLineError(400, "MissingProperty", "The request needs a JSON body.")
            return {}
        if len(raw) > MAX_ACTIVITY_BYTES:
            raise DirectLineError(413, "MessageSizeTooBig", "The activity is too big.")
        try:
            body = json.loads(raw)
        except ValueError:
            raise DirectLineError(400, "BadSyntax", "The body is not JSON.") from None
        if not isinstance(body, dict):
            raise DirectLineError(400, "BadArgument", "The body must be a JSON object.")
        return body

    # --- the bot's turn and its connector -------------------------------------------------------------------

    async def _turn(self, conv: Conversation, activity: dict[str, Any]) -> None:
        try:
            status, answer = await self.turns.process(activity)
        except Exception:
            log.exception("Web chat: a turn failed")
            return
        if activity.get("type") != "invoke" or not isinstance(answer, Mapping):
            if status >= 400:
                log.warning("Web chat: the bot answered HTTP %s to a %s", status, activity.get("type"))
            return
        # The invoke response Teams would act on: a card replaces the clicked one; text is shown.
        kind, value = answer.get("type"), answer.get("value")
        source = str(activity.get("replyToId") or "")
        if kind == "application/vnd.microsoft.card.adaptive" and source and source in conv.timestamps:
            attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": value}
            self._deliver(conv, {"type": "message", "attachments": [attachment]}, source)
        elif isinstance(value, str):
            self._deliver(conv, {"type": "message", "text": value}, None, reply_to=source or None)
        elif isinstance(value, Mapping) and value.get("message"):
            self._deliver(
                conv, {"type": "message", "text": str(value["message"])}, None, reply_to=source or None
            )

    def _deliver(
        self, conv: Conversation, activity: dict[str, Any], update: str | None, reply_to: str | None = None
    ) -> str:
        """Append one bot activity: a new one, or `update` (same id, its first timestamp: Web Chat replaces
        the message where it is)."""
        activity_id = update or conv.new_id()
        timestamp = conv.timestamps.get(activity_id) or _now()
        conv.timestamps.setdefault(activity_id, timestamp)
        page = {
            **{
                k: v
                for k, v in activity.items()
                if k not in ("serviceUrl", "recipient", "from", "conversation")
            },
            "id": activity_id,
            "timestamp": timestamp,
            "channelId": CHANNEL_ID,
            "from": dict(BOT),
            "recipient": {"id": conv.user_id, "name": conv.user_name, "role": "user"},
            "conversation": {"id": conv.id},
        }
        if reply_to:
            page["replyToId"] = reply_to
        conv.append(_page_activity(page, activity_id))
        return activity_id

    def _connector_conversation(self, request: web.Request) -> Conversation:
        if not hmac.compare_digest(request.match_info["key"], self._connector_key):
            raise DirectLineError(403, "Forbidden", "Unknown connector.")
        return self._conversation(request.match_info["conversation"])

    async def connector_send(self, request: web.Request) -> web.Response:
        """POST .../v3/conversations/{id}/activities[/{replyTo}]: the bot posts into the conversation."""
        conv = self._connector_conversation(request)
        body = await self._json(request, required=True)
        reply_to = request.match_info.get("activity") or body.get("replyToId")
        return web.json_response({"id": self._deliver(conv, body, None, reply_to=reply_to)})

    async def connector_update(self, request: web.Request) -> web.Response:
        """PUT .../v3/conversations/{id}/activities/{activityId}: the bot replaces one of its messages."""
        conv = self._connector_conversation(request)
        activity_id = request.match_info["activity"]
        if activity_id not in conv.timestamps:
            raise DirectLineError(404, "NotFound", "There is no such activity in this conversation.")
        body = await self._json(request, required=True)
        return web.json_response({"id": self._deliver(conv, body, activity_id)})

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop taking activities; let turns in flight finish (up to `grace`); close the streams."""
        self._closing = True
        for conv in self.conversations.values():
            conv.changed.set()
        cancelled, _ = await asyncio.gather(self._inflight.settle(grace), self.turns.close(grace=grace))
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if cancelled:
            log.warning("Web chat: shutdown cancelled %d unfinished turn(s)", cancelled)

    async def on_shutdown(self, app: web.Application) -> None:
        await self.close()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answering_errors(handler: Handler) -> Handler:
    """One error route: a `DirectLineError` becomes Direct Line's `ErrorResponse` JSON."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DirectLineError as exc:
            return exc.response()

    return wrapped


class LocalTurns(LazyTeamsAdapter):
    """The channel's own anonymous Teams adapter, built on first use (or by `warm()` after start-up): the
    Bot Framework SDK it needs is not on the path to a healthy `/healthz` (see `adapters.deferred`)."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher, store: Any) -> None:
        async def build() -> TeamsAdapter:
            from adapters.teams import TeamsAdapter

            return TeamsAdapter(settings, dispatcher, store, platform=PLATFORM)

        super().__init__(build)

    async def process(self, activity: dict[str, Any]) -> Any:
        return await (await self.deferred.get()).process(activity)

    async def sender(self) -> Any:
        from adapters.teams import TeamsSender

        return TeamsSender(await self.deferred.get())

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        adapter = await self.deferred.settled()
        if adapter is not None:
            await adapter.close(grace=grace)


def mount_directline(
    app: web.Application,
    settings: Settings,
    dispatcher: Dispatcher,
    store: Any,
    notifier: Notifier,
    *,
    resource: str,
) -> DirectLine | None:
    """Serve the local chat page on `GET /` and Direct Line 3.0 under `/v3/directline`, and register the
    "web" sender on `notifier`; None (and a warning) when the host is not loopback and no secret is set.

    >>> directline = mount_directline(app, settings, dispatcher, store, notifier, resource="emulator")  # doctest: +SKIP
    >>> await notifier.send("web", conversation.reference, card)  # doctest: +SKIP
    """
    secret = settings.directline_secret.get_secret_value() if settings.directline_secret else None
    if not _is_loopback(settings.host) and not secret:
        log.warning(
            "Local chat page is off: FTBOT_HOST=%s is reachable from other machines and "
            "FTBOT_DIRECTLINE_SECRET is not set",
            settings.host,
        )
        return None
    # The channel runs its turns through its own anonymous Teams adapter: it is the channel, in-process, so
    # there is no Bot Framework token to check, and its connector is this process.
    local = settings.model_copy(update={"microsoft_app_id": "", "microsoft_app_password": None})
    turns = LocalTurns(local, dispatcher, store)
    bundle = Bundle(settings.webchat_dir or default_bundle_dir())
    if not bundle.present:
        log.warning("Local chat page: %s", BUNDLE_MISSING)
    directline = DirectLine(settings, turns, resource=resource, secret=secret, bundle=bundle)
    routes = [
        ("GET", "/", directline.page),
        ("GET", BUNDLE_ROUTE, directline.bundle_file),
        ("POST", f"{API}/tokens/generate", directline.generate),
        ("POST", f"{API}/tokens/refresh", directline.refresh),
        ("POST", f"{API}/conversations", directline.start),
        ("GET", f"{API}/conversations/{{conversation}}", directline.reconnect),
        ("POST", f"{API}/conversations/{{conversation}}/activities", directline.post_activity),
        ("GET", f"{API}/conversations/{{conversation}}/activities", directline.get_activities),
        ("GET", f"{API}/conversations/{{conversation}}/stream", directline.stream),
        (
            "POST",
            f"{CONNECTOR}/{{key}}/v3/conversations/{{conversation}}/activities",
            directline.connector_send,
        ),
        (
            "POST",
            f"{CONNECTOR}/{{key}}/v3/conversations/{{conversation}}/activities/{{activity}}",
            directline.connector_send,
        ),
        (
            "PUT",
            f"{CONNECTOR}/{{key}}/v3/conversations/{{conversation}}/activities/{{activity}}",
            directline.connector_update,
        ),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _answering_errors(handler))
    app.on_shutdown.append(directline.on_shutdown)
    notifier.register(DeferredSender(PLATFORM, turns.sender))
    return directline
