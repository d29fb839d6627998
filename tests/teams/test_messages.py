"""Messages over HTTP: commands in a personal chat, @mentions in channels and group chats, usage errors."""

from __future__ import annotations

from tests.teams.conftest import TeamsBot, assert_cards_valid


async def test_personal_message_is_a_command_answered_with_a_card(teams_bot: TeamsBot) -> None:
    status, body = await teams_bot.post(teams_bot.payload("message_personal"))

    assert status == 200 and body is None
    calls = await teams_bot.connector.wait_for(1)
    [reply] = calls
    assert reply.kind == "reply"
    assert reply.conversation_id == "a:1personal-chat-xyz"
    assert reply.activity_id == "1700000000001"
    [card] = reply.cards
    assert "ftjob-abc123" in card["body"][0]["columns"][0]["items"][0]["text"]
    assert reply.body["summary"] == "Job ftjob-abc123: running"
    assert_cards_valid(calls)
    [cmd] = teams_bot.seen.commands
    assert (cmd.verb, cmd.params["job"], cmd.platform) == ("status", "ftjob-abc123", "teams")
    assert cmd.user.aad_object_id == "00000000-0000-0000-0000-0000000000a1"
    assert cmd.conversation.kind == "personal"
