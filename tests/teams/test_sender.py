"""Proactive sends through the notifier: a stored conversation reference is enough to post and update."""

from __future__ import annotations

import pytest

from adapters.teams import TeamsDeliveryError
from bot.model import MessageRef
from cards.model import Card, Tone
from tests.teams.conftest import BotFactory, TeamsBot, card_text, job_card


async def stored_reference(bot: TeamsBot, kind: str, key: str) -> dict[str, object]:
    # A colleague joining (not the bot): the reference is stored, and no welcome card is said.
    await bot.post(bot.payload(kind, membersAdded=[{"id": "29:1colleague"}]))
    stored = await bot.store.get_conversation(key)
    assert stored is not None
    return dict(stored.reference)


async def test_install_stores_the_reference_and_an_alert_reaches_the_channel(teams_bot: TeamsBot) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("conversation_update"))
    assert status == 200
    [welcome] = await teams_bot.connector.wait_for(1)  # one hello, saying what the bot is and how to start
    assert card_text(welcome.cards[0]).startswith("Hello, I am ftbot") and "@ftbot help" in card_text(
        welcome.cards[0]
    )
    teams_bot.connector.calls.clear()
    await teams_bot.post(teams_bot.payload("conversation_update"))  # Teams repeats itself: no second hello
    stored = await teams_bot.store.get_conversation("teams:19:chan-general@thread.tacv2")
    assert stored is not None and stored.kind == "channel" and stored.team == "tenant-1111"

    alert = Card(title="Job `ftjob-abc123` succeeded", tone=Tone.SUCCESS, summary="ftjob-abc123 succeeded")
    ref = await teams_bot.notifier.send("teams", stored.reference, alert)

    [call] = await teams_bot.connector.wait_for(1)
    assert (call.method, call.kind, call.conversation_id) == ("POST", "send", "19:chan-general@thread.tacv2")
    assert card_text(call.cards[0]).startswith("Job ftjob-abc123 succeeded")
    assert call.body["channelData"] == {"tenant": {"id": "tenant-1111"}}
    assert call.body["summary"] == "ftjob-abc123 succeeded"
    assert ref == MessageRef("teams", "19:chan-general@thread.tacv2", "act-2")  # act-1 was the welcome


async def test_send_in_a_thread_replies_to_that_message(teams_bot: TeamsBot) -> None:
    reference = await stored_reference(teams_bot, "conversation_update", "teams:19:chan-general@thread.tacv2")

    await teams_bot.notifier.send("teams", reference, Card(title="Epoch 2 done"), thread="1700000000002")

    [call] = await teams_bot.connector.wait_for(1)
    assert (call.kind, call.activity_id) == ("reply", "1700000000002")


async def test_update_replaces_an_earlier_message_in_place(teams_bot: TeamsBot) -> None:
    reference = await stored_reference(teams_bot, "message_personal", "teams:a:1personal-chat-xyz")
    await teams_bot.connector.wait_for(1)  # the answer to the command
    posted = await teams_bot.store.find_message("job:ftjob-abc123", "teams:a:1personal-chat-xyz")
    assert posted is not None

    await teams_bot.notifier.update("teams", reference, posted, job_card("ftjob-abc123", status="succeeded"))

    calls = await teams_bot.connector.wait_for(2)
    update = calls[1]
    assert (update.method, update.conversation_id, update.activity_id) == (
        "PUT",
        "a:1personal-chat-xyz",
        posted.message_id,
    )
    assert "succeeded" in card_text(update.cards[0])


async def test_update_of_a_message_in_a_channel_thread_goes_to_that_thread(teams_bot: TeamsBot) -> None:
    reference = await stored_reference(teams_bot, "conversation_update", "teams:19:chan-general@thread.tacv2")
    in_thread = MessageRef("teams", "19:chan-general@thread.tacv2;messageid=1700000000002", "act-77")

    await teams_bot.notifier.update("teams", reference, in_thread, Card(title="Approved by Ada"))

    [call] = await teams_bot.connector.wait_for(1)
    assert (call.conversation_id, call.activity_id) == (in_thread.conversation_id, "act-77")


async def test_a_refused_send_raises_a_delivery_error(teams_bot: TeamsBot) -> None:
    reference = await stored_reference(teams_bot, "conversation_update", "teams:19:chan-general@thread.tacv2")
    teams_bot.connector.fail_next(403)  # e.g. the bot was removed from the team, or the user blocked it

    with pytest.raises(TeamsDeliveryError) as refused:
        await teams_bot.notifier.send("teams", reference, Card(title="Nobody will see this"))

    assert refused.value.status == 403 and not refused.value.retryable
    assert teams_bot.connector.calls == []


async def test_throttling_is_retried_after_retry_after(bot_factory: BotFactory) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # simulated clock: record instead of waiting
        waits.append(seconds)

    async with bot_factory(sleep=sleep) as bot:
        reference = await stored_reference(bot, "conversation_update", "teams:19:chan-general@thread.tacv2")
        bot.connector.fail_next(429, times=2, retry_after="3")

        ref = await bot.notifier.send("teams", reference, Card(title="Eventually"))

        assert waits == [3.0, 3.0]
        assert bot.connector.refused == 2
        [call] = bot.connector.calls
        assert ref.message_id == "act-1" and card_text(call.cards[0]) == "Eventually"


async def test_throttling_that_does_not_end_gives_a_retryable_error(bot_factory: BotFactory) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with bot_factory(sleep=sleep) as bot:
        reference = await stored_reference(bot, "conversation_update", "teams:19:chan-general@thread.tacv2")
        bot.connector.fail_next(429, times=10)

        with pytest.raises(TeamsDeliveryError) as throttled:
            await bot.notifier.send("teams", reference, Card(title="Later"))

        assert throttled.value.status == 429 and throttled.value.retryable
        assert waits == [1.0, 2.0, 4.0]  # no Retry-After: doubling back-off
