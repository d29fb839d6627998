"""Outbound messages that are not answers to a request: proactive sends and in-place updates.

Each adapter implements `Sender` for its platform; the notifier picks the sender by the conversation's
platform. Handlers and the scheduler only ever talk to the notifier.

Exactly-once support: `send(..., key=...)` tags the message with the outbox's dedupe key where the platform
can carry it (Slack message metadata), and a sender that can read its conversation back implements
`find_sent` (see `SentFinder`), so a send interrupted by a crash is found instead of posted again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.model import MessageRef, Platform
from cards.model import Card


class Sender(Protocol):
    platform: Platform

    async def send(
        self, reference: Mapping[str, Any], card: Card, *, thread: str | None = None, key: str | None = None
    ) -> MessageRef:
        """Post a new message into the referenced conversation (optionally in a thread); `key`, when the
        platform can carry it, tags the message so `SentFinder.find_sent` can find it later."""
        ...

    async def update(self, reference: Mapping[str, Any], message: MessageRef, card: Card) -> None:
        """Replace an earlier message in place. Where it is is stored already; as of when its new content
        is true is the caller's to record (`Store.card_shown`), not the sender's."""
        ...


@runtime_checkable
class SentFinder(Protocol):
    """A sender that can tell whether a message tagged with `key` was already posted (Slack can, through
    `conversations.history` / `conversations.replies`; a Teams bot cannot read its conversations back)."""

    async def find_sent(
        self, reference: Mapping[str, Any], key: str, *, thread: str | None, since: datetime
    ) -> MessageRef | None:
        """The message posted with `send(..., key=key)` in that conversation (or thread) at or after
        `since`, looking back a bounded number of messages; None when not found."""
        ...


class Notifier:
    def __init__(self) -> None:
        self._senders: dict[str, Sender] = {}

    def register(self, sender: Sender) -> None:
        self._senders[sender.platform] = sender

    def sender(self, platform: str) -> Sender:
        try:
            return self._senders[platform]
        except KeyError:
            raise LookupError(f"no sender for platform {platform!r} is configured") from None

    async def send(
        self,
        platform: str,
        reference: Mapping[str, Any],
        card: Card,
        *,
        thread: str | None = None,
        key: str | None = None,
    ) -> MessageRef:
        """Post `card`; `key` (an outbox dedupe key) tags the message where the platform allows it."""
        sender = self.sender(platform)
        if key is None:
            return await sender.send(reference, card, thread=thread)
        return await sender.send(reference, card, thread=thread, key=key)

    def can_find_sent(self, platform: str) -> bool:
        return isinstance(self._senders.get(platform), SentFinder)

    async def find_sent(
        self, platform: str, reference: Mapping[str, Any], key: str, *, thread: str | None, since: datetime
    ) -> MessageRef | None:
        """The message sent earlier with `key`, if the platform can tell; None if not found (or it cannot)."""
        sender = self.sender(platform)
        if not isinstance(sender, SentFinder):
            return None
        return await sender.find_sent(reference, key, thread=thread, since=since)

    async def update(
        self, platform: str, reference: Mapping[str, Any], message: MessageRef, card: Card
    ) -> None:
        await self.sender(platform).update(reference, message, card)
