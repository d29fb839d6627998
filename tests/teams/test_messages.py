"""Messages over HTTP: commands in a personal chat, @mentions in channels and group chats, usage errors."""

from __future__ import annotations

import pytest

from tests.teams.conftest import BotFactory, TeamsBot, assert_cards_valid, card_text


async def test_personal_message_is_a_command_answered_with_a_card(teams_bot: TeamsBot) -> None:
    status, body = await teams_bot.post(teams_bot.payload("message_personal"))

    assert status == 200 and body is None
    calls = await teams_bot.connector.wait_for(1)
    [reply] = calls
    assert reply.kind == "reply"
    assert reply.conversation_id == "a:1personal-chat-xyz"
    assert reply.activity_id == "1700000000001"
    [card] = reply.cards
    assert "ftjob-abc123" in card_text(card).splitlines()[0]
    assert reply.body["summary"] == "Job ftjob-abc123: running"
    assert_cards_valid(calls)
    [cmd] = teams_bot.seen.commands
    assert (cmd.verb, cmd.params["job"], cmd.platform) == ("status", "ftjob-abc123", "teams")
    assert cmd.user.aad_object_id == "00000000-0000-0000-0000-0000000000a1"
    assert cmd.conversation.kind == "personal"


async def test_channel_mention_is_stripped_and_the_reference_stored(teams_bot: TeamsBot) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("message_channel_mention"))

    assert status == 200
    [reply] = await teams_bot.connector.wait_for(1)
    [cmd] = teams_bot.seen.commands
    assert cmd.text == "status ftjob-abc123"
    assert cmd.conversation.kind == "channel"
    assert cmd.conversation.team == "tenant-1111"
    stored = await teams_bot.store.get_conversation(cmd.conversation.key)
    assert stored is not None
    assert stored.reference["serviceUrl"] == teams_bot.connector.url
    assert stored.reference["conversation"]["id"] == "19:chan-general@thread.tacv2;messageid=1700000000002"
    assert stored.reference["bot"]["id"] == "28:bot-app-id"
    # The posted card is remembered under its key so a later status change can update it in place.
    ref = await teams_bot.store.find_message("job:ftjob-abc123", cmd.conversation.key)
    assert ref is not None and ref.message_id == "act-1"
    assert reply.conversation_id == cmd.conversation.id


async def test_group_chat_command_after_the_mention(teams_bot: TeamsBot) -> None:
    text = "<at>ftbot</at>&nbsp;status ftjob-abc123"
    await teams_bot.post(teams_bot.payload("message_groupchat_mention", text=text))

    await teams_bot.connector.wait_for(1)
    [cmd] = teams_bot.seen.commands
    assert cmd.conversation.kind == "group"
    assert (cmd.verb, cmd.args) == ("status", ("ftjob-abc123",))
    assert cmd.user.name == "Bob"


async def test_channel_message_without_mention_is_not_a_command(teams_bot: TeamsBot) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("message_channel_no_mention"))

    assert status == 200
    assert teams_bot.seen.commands == []
    assert teams_bot.connector.calls == []


async def test_unknown_verb_gets_a_usage_card(teams_bot: TeamsBot) -> None:
    await teams_bot.post(teams_bot.payload("message_personal", text="nonsense"))

    calls = await teams_bot.connector.wait_for(1)
    text = card_text(calls[0].cards[0])
    assert "nonsense" in text and "@ftbot" not in text  # a personal chat: commands without the mention
    assert teams_bot.seen.commands == []


async def test_unparsable_text_gets_a_usage_card_not_a_trace(teams_bot: TeamsBot) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("message_personal", text='status "ftjob-abc'))

    assert status == 200
    calls = await teams_bot.connector.wait_for(1)
    text = card_text(calls[0].cards[0])
    assert "quote" in text.lower() and "Traceback" not in text
    assert teams_bot.seen.commands == []


async def test_malformed_argument_gets_the_verb_usage(teams_bot: TeamsBot) -> None:
    await teams_bot.post(teams_bot.payload("message_personal", text="status 42"))

    calls = await teams_bot.connector.wait_for(1)
    text = card_text(calls[0].cards[0])
    assert "not a job id" in text and "status JOB" in text and "<" not in text
    assert teams_bot.seen.commands == []


async def test_a_retried_delivery_is_handled_once(teams_bot: TeamsBot) -> None:
    activity = teams_bot.payload("message_personal")
    first, _ = await teams_bot.post(activity)
    again, _ = await teams_bot.post(activity)

    assert (first, again) == (200, 200)
    assert len(teams_bot.seen.commands) == 1
    assert len(teams_bot.connector.calls) == 1


async def test_personal_file_attachment_becomes_an_attachment(teams_bot: TeamsBot) -> None:
    await teams_bot.post(teams_bot.payload("file_personal"))

    calls = await teams_bot.connector.wait_for(1)
    [cmd] = teams_bot.seen.commands
    assert cmd.params["note"] == "first try"  # HTML entities Teams puts in text are decoded
    [attachment] = cmd.attachments  # the text/html rendering of the message is not a file
    assert attachment.name == "train.jsonl"
    assert attachment.url.startswith(
        "https://contoso-my.sharepoint.com/personal/ada/_layouts/15/download.aspx"
    )
    assert attachment.platform_id == "1b2c3d4e-0000-0000-0000-000000000001"
    assert attachment.content_type == "application/jsonl"
    assert_cards_valid(calls)


async def test_slow_command_acknowledges_then_replies_proactively(bot_factory: BotFactory) -> None:
    async with bot_factory(answer_within=0.01) as bot:
        status, _ = await bot.post(bot.payload("message_personal", text="slow"))

        assert status == 200
        [typing] = await bot.connector.wait_for(1)
        assert typing.activity_type == "typing"
        bot.seen.gate.set()
        calls = await bot.connector.wait_for(2)
        late = calls[1]
        assert card_text(late.cards[0]).startswith("Slow result")
        # Still an answer to the user's message, sent through a proactive turn.
        assert (late.kind, late.activity_id) == ("reply", "1700000000001")
        await bot.adapter.wait_idle()


async def test_an_undeliverable_answer_is_logged_not_retried(
    teams_bot: TeamsBot, caplog: pytest.LogCaptureFixture
) -> None:
    teams_bot.connector.fail_next(403)  # the user blocked the bot

    status, _ = await teams_bot.post(teams_bot.payload("message_personal"))

    assert status == 200  # a 5xx would make the channel retry a turn that already ran
    assert teams_bot.connector.refused == 1 and teams_bot.connector.calls == []
    assert any("could not answer" in r.message for r in caplog.records if r.levelname == "ERROR")


async def test_in_a_channel_commands_on_cards_carry_the_mention(teams_bot: TeamsBot) -> None:
    await teams_bot.post(teams_bot.payload("message_channel_mention", text="<at>ftbot</at> nonsense"))
    calls = await teams_bot.connector.wait_for(1)
    assert "@ftbot help" in card_text(calls[0].cards[0])
