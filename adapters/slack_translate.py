"""Slack payloads -> the neutral model. Pure functions: no I/O, no Bolt objects, easy to test on recorded payloads.

Three inputs reach the bot: slash commands (`/ft ...`, form fields), `block_actions` (button clicks) and Events
API messages (`app_mention` in channels, `message` in the bot's direct-message channel). Each becomes an
`Origin`: who and where, plus what a reply needs (thread, the clicked message, the `response_url`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.grammar import ParsedText
from bot.model import Action, Attachment, Command, Conversation, ConversationKind, MessageRef, Platform, User

PLATFORM: Platform = "slack"
# Keys of a Slack payload that are credentials of sorts (the legacy verification token); never kept in `raw`.
_SECRET_KEYS = frozenset({"token"})
# `<@U123>` or `<@U123|name>`: how Slack writes a user mention in message text.
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
# Message subtypes that are people writing to the bot; every other subtype is an edit, a join, a bot post...
_USER_MESSAGE_SUBTYPES = frozenset({"", "file_share", "thread_broadcast"})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an input came from and how to answer it.

    `thread_ts` is the thread every reply goes to (None: the channel itself); `anchor_ts` is the message an
    `in_thread` reply hangs under; `source` is the clicked message, for `replace_source`.
    """

    conversation: Conversation
    user: User
    thread_ts: str | None = None
    anchor_ts: str | None = None
    source: MessageRef | None = None
    source_ephemeral: bool = False
    response_url: str | None = None


def scrub(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload without its verification token, for `raw` (which may end up in logs)."""
    return {k: v for k, v in payload.items() if k not in _SECRET_KEYS}


def conversation_kind(channel_id: str, channel_type: str = "") -> ConversationKind:
    """Slack channel ids say what they are: `D` direct message, `G`/mpim group; `C` public channel."""
    if channel_type == "im" or channel_id.startswith("D"):
        return "personal"
    if channel_type == "mpim":
        return "group"
    return "channel"


def make_conversation(
    channel: str, team: str, *, kind: ConversationKind, thread: str | None = None
) -> Conversation:
    return Conversation(
        platform=PLATFORM,
        id=channel,
        kind=kind,
        team=team or None,
        thread=thread,
        reference={"channel": channel, "team": team},
    )


def slash_origin(body: Mapping[str, Any]) -> Origin:
    """A slash command's form fields (`channel_id`, `user_id`, `team_id`, `response_url`...)."""
    channel = str(body.get("channel_id", ""))
    kind = _slash_kind(channel, str(body.get("channel_name", "")))
    conversation = make_conversation(channel, str(body.get("team_id", "")), kind=kind)
    user = User(id=str(body.get("user_id", "")), name=str(body.get("user_name", "")))
    return Origin(conversation=conversation, user=user, response_url=_opt_str(body.get("response_url")))


def _slash_kind(channel: str, channel_name: str) -> ConversationKind:
    # Slash commands carry no channel type, only a name: `directmessage` or `mpdm-...` for group DMs.
    if channel_name == "directmessage":
        return "personal"
    if channel_name.startswith("mpdm-"):
        return "group"
    return conversation_kind(channel)


def event_origin(body: Mapping[str, Any]) -> Origin:
    """An Events API envelope (`event_callback`) carrying an `app_mention` or `message` event."""
    event: Mapping[str, Any] = body.get("event") or {}
    channel = str(event.get("channel", ""))
    team = str(body.get("team_id") or event.get("team") or "")
    thread = _opt_str(event.get("thread_ts"))
    conversation = make_conversation(
        channel, team, kind=conversation_kind(channel, str(event.get("channel_type", ""))), thread=thread
    )
    ts = _opt_str(event.get("ts"))
    return Origin(
        conversation=conversation,
        user=User(id=str(event.get("user", ""))),
        thread_ts=thread,
        anchor_ts=thread or ts,
    )


def action_origin(body: Mapping[str, Any]) -> Origin:
    """A `block_actions` payload: the clicked message is in `container` (and `message` when not ephemeral)."""
    container: Mapping[str, Any] = body.get("container") or {}
    channel_info: Mapping[str, Any] = body.get("channel") or {}
    message: Mapping[str, Any] = body.get("message") or {}
    channel = str(channel_info.get("id") or container.get("channel_id") or "")
    team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
    thread = _opt_str(message.get("thread_ts"))
    source_ts = _opt_str(container.get("message_ts") or message.get("ts"))
    conversation = make_conversation(channel, team, kind=conversation_kind(channel), thread=thread)
    raw_user: Mapping[str, Any] = body.get("user") or {}
    user = User(
        id=str(raw_user.get("id", "")), name=str(raw_user.get("name") or raw_user.get("username") or "")
    )
    source = (
        MessageRef(platform=PLATFORM, conversation_id=channel, message_id=source_ts) if source_ts else None
    )
    return Origin(
        conversation=conversation,
        user=user,
        thread_ts=thread,
        anchor_ts=thread or source_ts,
        source=source,
        source_ephemeral=bool(container.get("is_ephemeral")),
        response_url=_opt_str(body.get("response_url")),
    )


def strip_mention(text: str, bot_user_id: str | None) -> str:
    """Remove the bot's `<@BOTID>` mentions; without a known bot id, a leading mention is taken to be ours."""
    if bot_user_id:
        return _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), text).strip()
    return _MENTION.sub("", text.strip(), count=1).strip() if text.strip().startswith("<@") else text.strip()


def is_user_message(event: Mapping[str, Any]) -> bool:
    """A message a person wrote (not a bot post, an edit, a join notice, ...)."""
    return (
        not event.get("bot_id")
        and str(event.get("subtype") or "") in _USER_MESSAGE_SUBTYPES
        and bool(event.get("user"))
    )


def attachments(event: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """Files shared with a message; their content is fetched later by id (`SlackFiles.fetch`)."""
    found: list[Attachment] = []
    for file in event.get("files") or ():
        if not isinstance(file, Mapping) or not file.get("id"):
            continue
        size = file.get("size")
        found.append(
            Attachment(
                name=str(file.get("name") or file.get("title") or file["id"]),
                url=str(file.get("url_private_download") or file.get("url_private") or ""),
                content_type=str(file.get("mimetype") or ""),
                size=size if isinstance(size, int) else None,
                platform_id=str(file["id"]),
            )
        )
    return tuple(found)


def unescape_text(text: str) -> str:
    """Slack sends `&`, `<`, `>` typed by people as `&amp;`, `&lt;`, `&gt;` (its own link markup uses bare
    `<...>`). `&amp;` is restored, so URLs with several query parameters (SAS URLs) arrive whole; `&lt;`
    and `&gt;` stay, so they cannot be confused with Slack's link markup."""
    return text.replace("&amp;", "&")


def make_command(
    parsed: ParsedText,
    origin: Origin,
    text: str,
    raw: Mapping[str, Any],
    files: tuple[Attachment, ...] = (),
) -> Command:
    return Command(
        verb=parsed.verb,
        args=parsed.args,
        options=dict(parsed.options),
        user=origin.user,
        conversation=origin.conversation,
        platform=PLATFORM,
        text=text,
        attachments=files,
        raw=scrub(raw),
    )


def make_action(name: str, payload: Mapping[str, str], origin: Origin, raw: Mapping[str, Any]) -> Action:
    return Action(
        action=name,
        payload=dict(payload),
        user=origin.user,
        conversation=origin.conversation,
        platform=PLATFORM,
        message=origin.source,
        raw=scrub(raw),
    )


def _opt_str(value: object) -> str | None:
    return str(value) if value else None
