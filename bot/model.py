"""The neutral input and output model: what adapters produce and handlers consume.

Platform payloads are flattened into these small frozen dataclasses at the edge (adapters/*); the raw payload
is kept for debugging only. Nothing here knows Slack or Teams beyond the `platform` tag.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cards.model import Card

Platform = Literal["slack", "teams", "web"]
ConversationKind = Literal["channel", "personal", "group"]


@dataclass(frozen=True, slots=True)
class User:
    """Who: the platform's own user id (Slack `U...`, Teams `29:...`) and what we know besides."""

    id: str
    name: str = ""
    aad_object_id: str | None = None  # Teams: the Entra ID object id, used for approver checks
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """Where: enough to answer now and, through `reference`, to send proactively later."""

    platform: Platform
    id: str  # Slack channel id; Teams conversation id
    kind: ConversationKind = "channel"
    team: str | None = None  # Slack team id; Teams tenant id
    thread: str | None = None  # Slack thread_ts; Teams reply-to activity id
    # JSON-serialisable platform reference for proactive sends (Teams ConversationReference as a dict,
    # Slack {"channel", "team"}); stored as-is by the store.
    reference: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """A stable identity across messages: platform plus conversation id."""
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message (Slack file share, Teams file download info)."""

    name: str
    url: str
    content_type: str = ""
    size: int | None = None
    platform_id: str | None = None  # Slack file id


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot posted, so it can be updated in place (Slack channel+ts, Teams activity id)."""

    platform: Platform
    conversation_id: str
    message_id: str


Interim = Callable[[str], Awaitable[None]]
"""Shows a short progress line (neutral markup) to the person who typed a command, while it is being worked on:
Slack a private (ephemeral) line replaced in place, Teams and the chat page a typing indicator. Provided by the
adapter on `Command.interim`; it never raises and may drop lines (platform limits)."""


@dataclass(frozen=True, slots=True)
class Command:
    """A chat command: `/ft <verb> args --options` (Slack) or `@ftbot <verb> ...` (Teams)."""

    verb: str
    args: tuple[str, ...]
    options: Mapping[str, str | bool]
    user: User
    conversation: Conversation
    platform: Platform
    text: str = ""  # the text after the trigger, as typed
    attachments: tuple[Attachment, ...] = ()
    # Filled by the router from the verb's declared arguments and options, already converted and checked.
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Set by the adapter: progress lines for long work (see `Interim`); None where nothing can be shown.
    interim: Interim | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Action:
    """A button press: the action id and its typed payload, from the message it was on."""

    action: str
    payload: Mapping[str, str]
    user: User
    conversation: Conversation
    platform: Platform
    message: MessageRef | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Reply:
    """One thing a handler wants shown.

    `replace_source` updates the message the action came from (a status card refreshed in place);
    `update` updates an earlier message by reference; `ephemeral` shows it only to the asking user where the
    platform can (Slack); `in_thread` answers in the thread of the source message.
    """

    card: Card
    ephemeral: bool = False
    in_thread: bool = False
    replace_source: bool = False
    update: MessageRef | None = None
