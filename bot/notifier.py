"""Outbound messages that are not answers to a request: proactive sends and in-place updates.

Each adapter implements `Sender` for its platform; the notifier picks the sender by the conversation's
platform. Handlers and the scheduler only ever talk to the notifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bot.model import MessageRef, Platform
from cards.model import Card


class Sender(Protocol):
    platform: Platform

    async def send(
        self, reference: Mapping[str, Any], card: Card, *, thread: str | None = None
    ) -> MessageRef:
        """Post a new message into the referenced conversation (optionally in a thread)."""
        ...

    async def update(self, reference: Mapping[str, Any], message: MessageRef, card: Card) -> None:
        """Replace an earlier message in place."""
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
        self, platform: str, reference: Mapping[str, Any], card: Card, *, thread: str | None = None
    ) -> MessageRef:
        return await self.sender(platform).send(reference, card, thread=thread)

    async def update(
        self, platform: str, reference: Mapping[str, Any], message: MessageRef, card: Card
    ) -> None:
        await self.sender(platform).update(reference, message, card)
