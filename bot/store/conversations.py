"""Conversations (references for proactive sends) and the messages posted in them (cards updated in place)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.model import Conversation, MessageRef, Platform
from bot.schema import card_messages, conversations
from bot.store.base import StoreBase, utcnow


@dataclass(frozen=True, slots=True)
class StoredConversation:
    key: str
    platform: Platform
    conversation_id: str
    kind: str
    team: str | None
    reference: Mapping[str, Any]


class ConversationStore(StoreBase):
    # -- conversations --------------------------------------------------------------------------------------

    async def save_conversation(self, conv: Conversation) -> None:
        now = utcnow()
        values = {
            "key": conv.key,
            "platform": conv.platform,
            "conversation_id": conv.id,
            "kind": conv.kind,
            "team": conv.team,
            "reference": dict(conv.reference),
            "created_at": now,
            "updated_at": now,
        }
        stmt = self.insert(conversations).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={k: stmt.excluded[k] for k in ("kind", "team", "reference", "updated_at")},
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def get_conversation(self, key: str) -> StoredConversation | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(conversations).where(conversations.c.key == key))).first()
        if row is None:
            return None
        return StoredConversation(
            row.key, row.platform, row.conversation_id, row.kind, row.team, row.reference or {}
        )

    # -- card messages (update in place) ----------------------------------------------------------------------

    async def remember_message(self, card_key: str, conversation_key: str, ref: MessageRef) -> None:
        async with await self.write() as conn:
            await conn.execute(remember_message_stmt(self, card_key, conversation_key, ref))

    async def find_message(self, card_key: str, conversation_key: str) -> MessageRef | None:
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
        return MessageRef(platform=row.platform, conversation_id=conversation_id, message_id=row.message_id)

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
