"""Conversations (references for proactive sends) and the messages posted in them (cards updated in place)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from bot.model import Conversation, MessageRef
from bot.schema import card_messages, conversations
from bot.store.base import StoreBase, as_utc, utcnow

if TYPE_CHECKING:
    from bot.store.rows import StoredConversation


SAVED_CONVERSATIONS_MAX = 10_000  # conversations whose saved state this process remembers


class _SavedConversations:
    """What this process last saved for each conversation, and the saves under way: a burst of commands in one
    conversation writes it once, not once per command (the saves waiting meanwhile share that write)."""

    def __init__(self) -> None:
        self.saved: OrderedDict[str, tuple[object, ...]] = OrderedDict()
        self.saving: dict[str, tuple[tuple[object, ...], asyncio.Future[None]]] = {}

    def remember(self, key: str, state: tuple[object, ...]) -> None:
        self.saved[key] = state
        self.saved.move_to_end(key)
        while len(self.saved) > SAVED_CONVERSATIONS_MAX:
            self.saved.popitem(last=False)


def _state(conv: Conversation) -> tuple[object, ...]:
    return (conv.platform, conv.id, conv.kind, conv.team, repr(sorted(conv.reference.items())))


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class ConversationStore(StoreBase):
    # -- conversations --------------------------------------------------------------------------------------

    @property
    def _saved_conversations(self) -> _SavedConversations:
        saved: _SavedConversations | None = self.__dict__.get("_saved_conversations_")
        if saved is None:
            saved = self.__dict__["_saved_conversations_"] = _SavedConversations()
        return saved

    async def save_conversation(self, conv: Conversation) -> None:
        """Record the conversation (its reference, for later proactive sends). A conversation this process
        saved in the same state is not written again; concurrent saves of one state share one write, which is
        committed with the other request-path writes of the moment (`bot.store.batch`)."""
        cache, state = self._saved_conversations, _state(conv)
        if cache.saved.get(conv.key) == state:
            cache.saved.move_to_end(conv.key)
            return
        under_way = cache.saving.get(conv.key)
        if under_way is not None and under_way[0] == state:
            await asyncio.shield(under_way[1])
            return
        values = {
            "key": conv.key,
            "platform": conv.platform,
            "conversation_id": conv.id,
            "kind": conv.kind,
            "team": conv.team,
            "reference": dict(conv.reference),
        }
        write = asyncio.ensure_future(self.batch.save_conversation(values))
        write.add_done_callback(_retrieve)  # every waiter may have given up (timed out) by the time it fails
        cache.saving[conv.key] = (state, write)
        try:
            await asyncio.shield(write)
        finally:
            if cache.saving.get(conv.key, (None, None))[1] is write:
                del cache.saving[conv.key]
        cache.remember(conv.key, state)

    def forget_saved_conversations(self) -> None:
        """Write every conversation again on its next save (after rows were removed behind the store)."""
        self._saved_conversations.saved.clear()

    async def get_conversation(self, key: str) -> StoredConversation | None:
        from bot.store.rows import StoredConversation

        async with self.engine.connect() as conn:
            row = (await conn.execute(select(conversations).where(conversations.c.key == key))).first()
        if row is None:
            return None
        return StoredConversation(
            row.key, row.platform, row.conversation_id, row.kind, row.team, row.reference or {}
        )

    # -- card messages (update in place) ----------------------------------------------------------------------

    async def remember_message(self, card_key: str, conversation_key: str, ref: MessageRef) -> None:
        """Record where a keyed card was posted (to update it in place later); committed with the other
        request-path writes of the moment (`bot.store.batch`), durable when it returns."""
        await self.batch.remember_message(card_key, conversation_key, ref)

    async def find_message(self, card_key: str, conversation_key: str) -> MessageRef | None:
        found = await self.find_card(card_key, conversation_key)
        return found[0] if found is not None else None

    async def find_card(self, card_key: str, conversation_key: str) -> tuple[MessageRef, datetime] | None:
        """Where a keyed card is shown in a conversation, and as of when what it shows is true (its version:
        when it was posted or last replaced with fresh content; for a watcher's update, when that update was
        queued). An update queued before that is older than the card and must not replace it."""
        query = select(card_messages, conversations.c.conversation_id).join(
            conversations, conversations.c.key == card_messages.c.conversation_key, isouter=True
        )
        query = query.where(
            card_messages.c.card_key == card_key, card_messages.c.conversation_key == conversation_key
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        conversation_id = row.conversation_id or conversation_key.split(":", 1)[-1]
        ref = MessageRef(platform=row.platform, conversation_id=conversation_id, message_id=row.message_id)
        shown_at = as_utc(row.updated_at)
        assert shown_at is not None  # the column is NOT NULL
        return ref, shown_at

    async def card_shown(
        self, card_key: str, conversation_key: str, message_id: str, at: datetime | None = None
    ) -> None:
        """Message `message_id` (still the card's, else nothing changes) was replaced in place with content
        true as of `at` (default now); the card's version only moves forward."""
        async with await self.write() as conn:
            await conn.execute(card_shown_stmt(card_key, conversation_key, message_id, at or utcnow()))

    async def card_holders(self, card_keys: Iterable[str]) -> dict[str, list[tuple[str, MessageRef]]]:
        """Every stored message of each card key (e.g. all the job cards of one job, one per conversation that
        shows it): card key -> [(conversation key, message)], for updating them all on a change."""
        keys = list(dict.fromkeys(card_keys))
        if not keys:
            return {}
        query = select(card_messages, conversations.c.conversation_id).join(
            conversations, conversations.c.key == card_messages.c.conversation_key, isouter=True
        )
        query = query.where(card_messages.c.card_key.in_(keys))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[str, list[tuple[str, MessageRef]]] = {}
        for row in rows:
            conversation_id = row.conversation_id or row.conversation_key.split(":", 1)[-1]
            ref = MessageRef(
                platform=row.platform, conversation_id=conversation_id, message_id=row.message_id
            )
            found.setdefault(row.card_key, []).append((row.conversation_key, ref))
        return found


def remember_message_stmt(store: StoreBase, card_key: str, conversation_key: str, ref: MessageRef) -> Any:
    """The upsert behind `remember_message`, for a caller that commits it with other writes."""
    stmt = store.insert(card_messages).values(
        card_key=card_key,
        conversation_key=conversation_key,
        platform=ref.platform,
        message_id=ref.message_id,
        updated_at=utcnow(),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["card_key", "conversation_key"],
        set_={"message_id": stmt.excluded.message_id, "updated_at": stmt.excluded.updated_at},
    )
    return stmt


def card_shown_stmt(card_key: str, conversation_key: str, message_id: str, at: datetime) -> Any:
    """The statement behind `card_shown`, for a caller that commits it with other writes."""
    return (
        update(card_messages)
        .where(
            card_messages.c.card_key == card_key,
            card_messages.c.conversation_key == conversation_key,
            card_messages.c.message_id == message_id,
            card_messages.c.updated_at < at,
        )
        .values(updated_at=at)
    )
