"""Buttons: `Action.Execute` invokes (answered in the HTTP body) and `Action.Submit` messages (card updated)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.cards.validate import assert_valid_adaptive
from tests.teams.conftest import BotFactory, TeamsBot, card_text

EXECUTE_DATA = {"ft": "ft1", "action": "job.events", "payload": {"job": "ftjob-abc123"}}


def execute_value(data: Mapping[str, object]) -> dict[str, object]:
    return {"action": {"type": "Action.Execute", "verb": "ft1:x", "data": data}, "trigger": "manual"}


async def test_execute_invoke_answers_with_the_updated_card(teams_bot: TeamsBot) -> None:
    status, body = await teams_bot.post(teams_bot.payload("invoke_execute"))

    assert status == 200
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    card = body["value"]
    assert "succeeded" in card_text(card)
    assert_valid_adaptive(card)
    assert teams_bot.connector.calls == []  # the answer is the invoke response; nothing else was sent
    [action] = teams_bot.seen.actions
    assert (action.action, dict(action.payload)) == ("job.refresh", {"job": "ftjob-abc123"})
    assert action.message is not None and action.message.message_id == "act-card-7"
    assert action.user.tenant_id == "tenant-1111"
    # The replaced card keeps its place: later updates of `job:...` go to the clicked message.
    ref = await teams_bot.store.find_message("job:ftjob-abc123", action.conversation.key)
    assert ref is not None and ref.message_id == "act-card-7"


async def test_execute_invoke_that_posts_a_new_card_gets_a_message_response(teams_bot: TeamsBot) -> None:
    status, body = await teams_bot.post(
        teams_bot.payload("invoke_execute", value=execute_value(EXECUTE_DATA))
    )

    assert status == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "ftjob-abc123" in body["value"]
    [posted] = teams_bot.connector.calls  # sent before the invoke was answered
    assert posted.conversation_id == "a:1personal-chat-xyz"
    assert card_text(posted.cards[0]).startswith("Events of")


async def test_execute_invoke_with_foreign_data_is_refused_and_not_dispatched(teams_bot: TeamsBot) -> None:
    foreign = {"verb": "approve", "id": 7}
    status, body = await teams_bot.post(teams_bot.payload("invoke_execute", value=execute_value(foreign)))

    assert status == 400
    assert body["statusCode"] == 400 and body["type"] == "application/vnd.microsoft.error"
    assert "fresh card" in body["value"]["message"]
    assert teams_bot.seen.actions == []


async def test_unknown_action_gets_an_error_card_not_a_trace(teams_bot: TeamsBot) -> None:
    data = {"ft": "ft1", "action": "job.vanished", "payload": {}}
    status, body = await teams_bot.post(teams_bot.payload("invoke_execute", value=execute_value(data)))

    assert status == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    [posted] = teams_bot.connector.calls
    assert "no longer supported" in card_text(posted.cards[0])


async def test_other_invokes_are_not_ours(teams_bot: TeamsBot) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("invoke_execute", name="composeExtension/query"))

    assert status == 501
    assert teams_bot.seen.actions == []


async def test_submit_updates_the_card_it_came_from(teams_bot: TeamsBot) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("submit"))

    assert status == 200
    [update] = await teams_bot.connector.wait_for(1)
    assert (update.method, update.kind) == ("PUT", "update")
    assert update.conversation_id == "19:chan-general@thread.tacv2;messageid=1700000000002"
    assert update.activity_id == "act-card-42"
    assert "succeeded" in card_text(update.cards[0])
    [action] = teams_bot.seen.actions
    assert action.action == "job.refresh" and action.conversation.kind == "channel"


async def test_submit_of_another_apps_card_is_ignored(teams_bot: TeamsBot) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("submit", value={"choice": "pizza"}))

    assert status == 200
    assert teams_bot.seen.actions == [] and teams_bot.seen.commands == []
    assert teams_bot.connector.calls == []


async def test_slow_invoke_is_answered_at_once_and_finished_proactively(bot_factory: BotFactory) -> None:
    cancel = {"ft": "ft1", "action": "job.cancel", "payload": {"job": "ftjob-abc123"}}
    async with bot_factory(answer_within=0.01) as bot:
        status, body = await bot.post(bot.payload("invoke_execute", value=execute_value(cancel)))

        # The handler is still waiting on the gate: the invoke is answered without it.
        assert status == 200
        assert body["type"] == "application/vnd.microsoft.activity.message"
        assert "Working on it" in body["value"]
        assert bot.connector.calls == []
        bot.seen.gate.set()
        calls = await bot.connector.wait_for(2)
        await bot.adapter.wait_idle()
        update, note = calls
        assert (update.kind, update.activity_id) == ("update", "act-card-7")
        assert "cancelled" in card_text(update.cards[0])
        assert note.kind == "reply" and card_text(note.cards[0]).startswith("Cancelled")
        ref = await bot.store.find_message("job:ftjob-abc123", "teams:a:1personal-chat-xyz")
        assert ref is not None and ref.message_id == "act-card-7"


async def test_a_retried_invoke_is_not_run_twice(teams_bot: TeamsBot) -> None:
    activity = teams_bot.payload("invoke_execute")
    await teams_bot.post(activity)
    status, body = await teams_bot.post(activity)

    assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message"
    assert len(teams_bot.seen.actions) == 1


async def test_a_failed_post_does_not_lose_the_invoke_answer(
    teams_bot: TeamsBot, caplog: pytest.LogCaptureFixture
) -> None:
    teams_bot.connector.fail_next(403)
    status, body = await teams_bot.post(
        teams_bot.payload("invoke_execute", value=execute_value(EXECUTE_DATA))
    )

    assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message"
    assert teams_bot.connector.refused == 1
    assert any("could not answer" in r.message for r in caplog.records if r.levelname == "ERROR")
