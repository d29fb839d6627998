"""Two replicas reconciling the same unfinished starts at once (SQLite and PostgreSQL): each start is decided
and told exactly once, and only its own files are touched."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.azure_clients import AzureClients
from bot.context import Context
from bot.model import Conversation, MessageRef, Platform, User
from bot.notifier import Notifier
from bot.store import IntentFile, Store
from bot.store.base import utcnow
from bot.store.intents import CREATED, FAILED, SENT, UNKNOWN, UPLOADING, upload_prefix
from cards.model import Card
from handlers import reconcile
from tests.conftest import bot_settings
from tests.start_support import MODEL, user_data

ALICE = User("U1", "Alice")


class Recorder:
    """The platform side of the notifier: what would have been posted, where."""

    platform: Platform = "slack"

    def __init__(self) -> None:
        self.sent: list[tuple[str, Card]] = []

    async def send(
        self, reference: Mapping[str, Any], card: Card, *, thread: str | None = None
    ) -> MessageRef:
        self.sent.append((str(reference["channel"]), card))
        return MessageRef("slack", str(reference["channel"]), f"1700000000.{len(self.sent):06d}")

    async def update(self, reference: Mapping[str, Any], message: MessageRef, card: Card) -> None:
        raise AssertionError("no updates expected")


def _replica(store: Store, emulator: Any, tmp_path: Path, recorder: Recorder) -> Context:
    settings = bot_settings(emulator, tmp_path, start_settle=0.0)
    notifier = Notifier()
    notifier.register(recorder)
    return Context(settings=settings, store=store, azure=AzureClients(settings), notifier=notifier)


async def _unfinished(ctx: Context, n: int, *, create: bool) -> tuple[str, str]:
    """An intent left `unknown` by a start whose create had no clear answer; the job exists if `create`."""
    intent_id = f"{n:016x}"
    client = ctx.azure.data()
    upload = await client.upload_file(
        user_data(f"Usr{n:02d}AB"), filename=f"{upload_prefix(intent_id)}training.jsonl", unique_name=True
    )
    channel = Conversation("slack", f"C{n}", reference={"channel": f"C{n}"})
    await ctx.store.open_intent(
        intent_id,
        resource="default",
        model=MODEL,
        request={},
        files=[IntentFile("training", "train.jsonl", upload.id, upload.filename or "", ours=True)],
        conversation=channel,
        user=ALICE,
        owner="a-dead-replica",
        lease=reconcile.CLAIM_LEASE,
    )
    await ctx.store.move_intent(intent_id, (UPLOADING,), SENT, training_file=upload.id, sent_at=utcnow())
    await ctx.store.move_intent(intent_id, (SENT,), UNKNOWN, lease_owner=None, lease_until=None)
    if create:
        await client.wait_for_file(upload.id, poll_interval=0.2, max_wait=20)
        await client.create_job(MODEL, upload.id)
    return intent_id, upload.id


async def test_two_replicas_decide_and_tell_each_start_once(
    store: Store, emulator: Any, tmp_path: Path
) -> None:
    recorder = Recorder()
    a = _replica(store, emulator, tmp_path, recorder)
    b = _replica(store, emulator, tmp_path, recorder)
    try:
        made, made_file = await _unfinished(a, 1, create=True)
        lost, lost_file = await _unfinished(a, 2, create=False)
        await asyncio.gather(*(reconcile.reconcile_starts(ctx) for ctx in (a, b, a, b)))
        await reconcile.reconcile_starts(b)
        assert sorted(channel for channel, _ in recorder.sent) == ["C1", "C2"]
        created, failed = await store.get_intent(made), await store.get_intent(lost)
        assert created is not None and created.state == CREATED and created.job_id
        assert failed is not None and failed.state == FAILED and failed.outcome == "no_job"
        stored = await store.get_job(created.job_id)
        assert stored is not None and stored.home_conversation == "slack:C1" and stored.requested_by == "U1"
        files = {f.id for f in await a.azure.data().list_files()}
        assert made_file in files and lost_file not in files
    finally:
        await a.azure.close()
        await b.azure.close()
