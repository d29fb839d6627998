"""Acceptance (issue 10) on Teams: the whole bot (real botbuilder CloudAdapter over HTTP) with the emulator in
its own process; proactive sends, replies and updates arrive at the stand-in Bot Connector."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.app import RunningBot, start_bot
from bot.config import Settings
from bot.model import MessageRef
from cards.model import Card
from cards.serial import card_to_json
from handlers import watcher as watcher_module
from handlers.watcher import Watcher
from tests.teams.conftest import assert_cards_valid, card_text, payload
from tests.teams.fake_connector import Call, FakeConnector
from tests.watch.harness import (
    EmulatorProcess,
    create_job_with_sdk,
    create_jobs,
    emulator_process,
    wait_until,
)

CHANNEL = "19:chan-general@thread.tacv2;messageid=1700000000002"
PERSONAL = "a:1personal-chat-xyz"


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorProcess]:
    async with emulator_process(speed=100, max_running_jobs=10) as running:
        yield running


@pytest.fixture
async def bot(emu: EmulatorProcess, connector: FakeConnector, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = Settings(
        azure_openai_endpoint=emu.url,
        azure_openai_api_key="test-key-not-secret",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        watch_interval=1.0,
        arm_endpoint=emu.url,  # the emulator serves ARM on the same port: every endpoint is on this machine
        teams_no_auth=True,  # local Teams without an app id is an explicit opt-in
        allow_local_files=True,  # `start` with the emulator's sample datasets
    )
    running = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        await running.close()
    assert_cards_valid(connector.calls)


async def say(bot: RunningBot, kind: str, service_url: str, text: str) -> None:
    async with aiohttp.ClientSession() as http:
        # A fresh activity id each time: Teams' redeliveries (same id) are dropped by the adapter.
        activity = payload(kind, service_url, text=text, id=uuid.uuid4().hex)
        resp = await http.post(f"{bot.url}/api/messages", json=activity)
        assert resp.status == 200


def texts(calls: list[Call]) -> list[str]:
    return ["\n".join(card_text(card) for card in c.cards) or str(c.body.get("text", "")) for c in calls]


def alerts_for(connector: FakeConnector, job_id: str) -> list[Call]:
    return [
        c
        for c in connector.messages()
        if c.kind == "send"
        and any("succeeded" in t and job_id in t and "Trained tokens" in t for t in texts([c]))
    ]


async def test_channel_thread_personal_follow_ups_and_a_subscribed_channel(
    bot: RunningBot, connector: FakeConnector, emu: EmulatorProcess
) -> None:
    in_channel, in_personal = await create_jobs(emu.url, 2)
    await say(bot, "message_channel_mention", connector.url, f"<at>ftbot</at> watch {in_channel}")
    await say(bot, "message_personal", connector.url, f"watch {in_personal}")
    await wait_until(lambda: len(connector.messages()) >= 2, 10, "the two job cards")
    channel_card = await bot.store.find_message(f"job:{in_channel}", f"teams:{CHANNEL}")
    assert channel_card is not None

    await wait_until(
        lambda: bool(alerts_for(connector, in_channel)) and bool(alerts_for(connector, in_personal)),
        40,
        "alerts",
    )
    await asyncio.sleep(2)
    assert len(alerts_for(connector, in_channel)) == 1 and len(alerts_for(connector, in_personal)) == 1

    # Channel: events are replies to the job card; the card itself is updated in place.
    streamed = [
        c for c in connector.messages() if c.kind == "reply" and c.activity_id == channel_card.message_id
    ]
    assert streamed and any("training loss=" in t for t in texts(streamed))
    updates = [c for c in connector.of_kind("update") if c.activity_id == channel_card.message_id]
    assert updates and "succeeded" in texts(updates)[-1]
    # Personal chat: no threads there, so plain follow-up messages into the chat.
    personal = [c for c in connector.messages() if c.conversation_id == PERSONAL and c.kind == "send"]
    assert any("Job started." in t for t in texts(personal))

    # A job nobody started from chat reaches a channel that subscribed.
    await say(bot, "message_channel_mention", connector.url, "<at>ftbot</at> subscribe --status succeeded")
    await wait_until(lambda: any("Subscribed" in t for t in texts(connector.messages())), 10, "subscribed")
    outside = await asyncio.to_thread(create_job_with_sdk, emu.url)
    await wait_until(lambda: bool(alerts_for(connector, outside)), 40, "the subscription's alert")
    (alert,) = alerts_for(connector, outside)
    assert alert.conversation_id.startswith("19:chan-general@thread.tacv2")


async def test_a_teams_send_cut_off_by_a_crash_is_posted_again_once(
    bot: RunningBot, connector: FakeConnector
) -> None:
    """A Teams bot cannot read a conversation back, so a row its dead owner left `sending` (the post may or
    may not have reached Teams) is posted again: at most that one message repeats, and only once."""
    await say(bot, "message_personal", connector.url, "help")
    await wait_until(lambda: len(connector.messages()) >= 1, 10, "the help card")
    key = f"teams:{PERSONAL}"
    assert await bot.store.get_conversation(key) is not None
    card = {"title": "Fine-tuning job ftjob-cut succeeded"}
    await bot.store.enqueue("alert:ftjob-cut:succeeded:" + key, key, {"op": "post", "card": card})
    (row,) = await bot.store.claim_due_outbox("dead", limit=10, lease=timedelta(seconds=30))
    # The dead replica had started this send (its lease is over now) and never recorded the outcome.
    assert await bot.store.mark_sending(row.id, "dead", lease=timedelta(seconds=-1)) is not None
    before = len(connector.messages())
    await Watcher(bot.ctx, interval=1.0).deliver_once()
    await asyncio.sleep(1.5)  # the bot's own watcher ticks too: nothing more may go out
    again = [c for c in connector.messages()[before:] if any("ftjob-cut" in t for t in texts([c]))]
    assert len(again) == 1
    (sent,) = [r for r in await bot.store.outbox_rows() if r["id"] == row.id]
    assert sent["status"] == "sent"


def job_cards_posted(connector: FakeConnector) -> list[Call]:
    return [
        c
        for c in connector.messages()
        if c.kind in ("send", "reply") and any("Fine-tuning job ftjob-" in t for t in texts([c]))
    ]


async def test_a_job_card_posted_by_start_is_updated_in_place_promptly(
    bot: RunningBot, connector: FakeConnector
) -> None:
    """`start` posts its job card proactively (through TeamsSender.send, as the chat page does): where it
    went is recorded, so the watcher's updates go to THAT card at once, and its events are replies to it;
    no outbox row waits for a card that is already there."""
    await say(
        bot,
        "message_channel_mention",
        connector.url,
        "<at>ftbot</at> start gpt-4o-mini-2024-07-18 --training good_training",
    )
    await wait_until(lambda: bool(job_cards_posted(connector)), 20, "the job card")
    (card,) = job_cards_posted(connector)
    job_id = texts([card])[0].split("Fine-tuning job ", 1)[1].split()[0].strip("`*")
    stored = await bot.store.find_message(f"job:{job_id}", f"teams:{CHANNEL}")
    assert stored is not None and stored.message_id == card.posted_id

    # The first status change the watcher sees (within a few polls of 1 s) updates that very card.
    await wait_until(
        lambda: any(c.activity_id == card.posted_id for c in connector.of_kind("update")), 10, "an update"
    )
    await wait_until(lambda: bool(alerts_for(connector, job_id)), 40, "the alert")
    updates = [c for c in connector.of_kind("update") if c.activity_id == card.posted_id]
    assert "succeeded" in texts(updates)[-1]
    streamed = [c for c in connector.messages() if c.kind == "reply" and c.activity_id == card.posted_id]
    assert any("training loss=" in t for t in texts(streamed))
    waited = [r for r in await bot.store.outbox_rows() if "job card" in (r["last_error"] or "")]
    assert not waited, [(r["dedupe_key"], r["attempts"]) for r in waited]


async def _held_update_then_newer_card(
    bot: RunningBot, connector: FakeConnector, emu: EmulatorProcess, status: str, word: str
) -> list[Call]:
    """An update the outbox held back (throttled, or waiting for its card) and a newer card of the same job
    posted meanwhile (`watch`, `status`, a click in `list`, the answer to Pause); the updates that carried
    `word` once the held row finally went out."""
    (job_id,) = await create_jobs(emu.url, 1)
    key = f"teams:{CHANNEL}"
    await say(bot, "message_channel_mention", connector.url, f"<at>ftbot</at> watch {job_id}")
    await wait_until(lambda: len(job_cards_posted(connector)) >= 1, 10, "the first card")
    first = await bot.store.find_message(f"job:{job_id}", key)
    assert first is not None

    # What the watcher queued a while ago, still held back (another replica's lease, a 429's Retry-After).
    stale = Card(title=f"Fine-tuning job {job_id}", text=word, key=f"job:{job_id}")
    payload_ = {"op": "update", "card": card_to_json(stale), "anchor": f"job:{job_id}"}
    dedupe = f"card:{job_id}:{status}:2:{key}"
    assert await bot.store.enqueue(dedupe, key, payload_)
    held = await bot.store.claim_due_outbox("elsewhere", limit=10, lease=timedelta(seconds=2))
    assert [r.dedupe_key for r in held] == [dedupe]

    await asyncio.sleep(0.05)
    await say(bot, "message_channel_mention", connector.url, f"<at>ftbot</at> watch {job_id}")
    await wait_until(lambda: len(job_cards_posted(connector)) >= 2, 10, "the newer card")
    newer = await bot.store.find_message(f"job:{job_id}", key)
    assert newer is not None and newer != first

    async def settled() -> bool:
        rows = await bot.store.outbox_rows()
        return all(r["status"] in ("sent", "failed") for r in rows if r["dedupe_key"] == dedupe)

    for _ in range(80):  # the lease runs out after 2 s; the bot's own watcher then takes the row
        if await settled():
            break
        await asyncio.sleep(0.1)
    assert await settled()
    return [c for c in connector.of_kind("update") if any(word in t for t in texts([c]))]


async def test_an_update_queued_before_a_newer_card_does_not_overwrite_it(
    bot: RunningBot, connector: FakeConnector, emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Queued 0.05 s before the newer card: older than it once the read margin is out of the way.
    monkeypatch.setattr(watcher_module, "CARD_READ_MARGIN", timedelta(0))
    overwritten = await _held_update_then_newer_card(bot, connector, emu, "running", "STALE running 2%")
    assert not overwritten, [c.activity_id for c in overwritten]


async def test_a_held_update_within_the_read_margin_is_applied(
    bot: RunningBot, connector: FakeConnector, emu: EmulatorProcess
) -> None:
    # The newer card's content was read from Azure before it was recorded; news queued just before that
    # record may be newer than what the card shows, so it goes out.
    applied = await _held_update_then_newer_card(bot, connector, emu, "running", "JUST BEFORE running 2%")
    assert len(applied) == 1


async def test_a_held_ending_is_applied_even_to_a_newer_card(
    bot: RunningBot, connector: FakeConnector, emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `status` read the job while it ran, the watcher saw it succeed and queued that, then the status card was
    # posted: the ending must not be dropped (no later poll would send it again; nothing is newer than it).
    monkeypatch.setattr(watcher_module, "CARD_READ_MARGIN", timedelta(0))
    applied = await _held_update_then_newer_card(bot, connector, emu, "succeeded", "ENDED succeeded")
    assert len(applied) == 1


async def test_updates_held_back_together_all_go_out_in_order(
    bot: RunningBot, connector: FakeConnector
) -> None:
    """Two updates of one card held back (a 429, another replica's lease) and then sent one after the other:
    the second is newer than the first, so it is applied too, and the card ends with the newest."""
    await say(bot, "message_channel_mention", connector.url, "<at>ftbot</at> help")
    (answer,) = await connector.wait_until(lambda calls: bool([c for c in calls if c.cards]))
    key, card_key = f"teams:{CHANNEL}", "job:ftjob-held"
    shown = MessageRef("teams", CHANNEL, answer.posted_id)  # a job card of a job nobody watches any more
    await bot.store.remember_message(card_key, key, shown)
    for n, word in enumerate(("HELD-ONE", "HELD-TWO")):
        await asyncio.sleep(0.05)
        card = Card(title="Fine-tuning job ftjob-held", text=word, key=card_key)
        body = {"op": "update", "card": card_to_json(card), "anchor": card_key}
        assert await bot.store.enqueue(f"card:ftjob-held:{n}:{key}", key, body)
        assert await bot.store.claim_due_outbox("elsewhere", limit=10, lease=timedelta(seconds=1))

    def held() -> list[str]:
        return [
            w
            for c in connector.of_kind("update")
            if c.activity_id == shown.message_id
            for w in ("HELD-ONE", "HELD-TWO")
            if any(w in t for t in texts([c]))
        ]

    await wait_until(lambda: held() == ["HELD-ONE", "HELD-TWO"], 10, "both held updates")
