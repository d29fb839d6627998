"""Activity -> neutral model, on the recorded payloads (pure functions, no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from botbuilder.schema import Activity

from adapters.teams_translate import (
    card_activity,
    conversation_kind,
    conversation_of,
    execute_action,
    file_attachments,
    is_command_message,
    load_reference,
    strip_bot_mention,
    submit_action,
    tenant_of,
    user_of,
)
from cards.model import Card
from tests.cards.validate import assert_valid_adaptive
from tests.teams.conftest import payload

SERVICE = "https://smba.trafficmanager.net/emea/"


def activity(kind: str, **changes: Any) -> tuple[Activity, dict[str, Any]]:
    raw = payload(kind, SERVICE, **changes)
    return Activity().deserialize(raw), raw


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("message_personal", "personal"),
        ("message_channel_mention", "channel"),
        ("message_groupchat_mention", "group"),
        ("invoke_execute", "personal"),
    ],
)
def test_conversation_kind(kind: str, expected: str) -> None:
    act, _ = activity(kind)
    assert conversation_kind(act) == expected


def test_emulator_activities_without_a_conversation_type_fall_back_to_is_group() -> None:
    act, _ = activity("message_personal", conversation={"id": "emu-1"})
    assert conversation_kind(act) == "personal"
    act, _ = activity("message_personal", conversation={"id": "emu-2", "isGroup": True})
    assert conversation_kind(act) == "group"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<at>ftbot</at> status ftjob-1", "status ftjob-1"),
        ("status ftjob-1 <at>ftbot</at>", "status ftjob-1"),
        ("<at>ftbot</at>&nbsp;events ftjob-1 --limit 5\n", "events ftjob-1 --limit 5"),
        ("<at>ft bot (dev)</at> help", "help"),  # the entity text is matched literally, not as a regex
        ("<at>Ada</at> and <at>ftbot</at> help", "<at>Ada</at> and help"),
        ("  plain words  ", "plain words"),
    ],
)
def test_strip_bot_mention(text: str, expected: str) -> None:
    name = "ft bot (dev)" if "(dev)" in text else "ftbot"
    entities = [
        {"type": "mention", "text": "<at>Ada</at>", "mentioned": {"id": "29:ada", "name": "Ada"}},
        {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": "28:bot-app-id", "name": name}},
    ]
    act, _ = activity("message_channel_mention", text=text, entities=entities)
    assert strip_bot_mention(act).replace("\xa0", " ") == expected


def test_mention_rendered_differently_from_its_entity_is_still_stripped() -> None:
    entities = [{"type": "mention", "text": "<at>ftbot</at>", "mentioned": {"id": "28:bot-app-id"}}]
    act, _ = activity("message_channel_mention", text="<at>FT Bot</at> list", entities=entities)
    assert strip_bot_mention(act) == "list"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("message_personal", True),
        ("message_channel_mention", True),
        ("message_groupchat_mention", True),
        ("message_channel_no_mention", False),
    ],
)
def test_is_command_message(kind: str, expected: bool) -> None:
    act, _ = activity(kind)
    assert is_command_message(act) is expected


def test_user_and_tenant() -> None:
    act, raw = activity("message_personal")
    user = user_of(act, raw)
    assert (user.id, user.name) == ("29:1user-abc", "Ada Lovelace")
    assert user.aad_object_id == "00000000-0000-0000-0000-0000000000a1"
    assert user.tenant_id == "tenant-1111"
    # Without channelData the tenant comes from `conversation.tenantId` (which the SDK model drops).
    act, raw = activity("message_personal", channelData={})
    assert tenant_of(act, raw) == "tenant-1111"


def test_conversation_reference_round_trips_as_json() -> None:
    act, raw = activity("message_channel_mention")
    conv = conversation_of(act, raw)
    assert conv.platform == "teams" and conv.team == "tenant-1111"
    assert conv.key == "teams:19:chan-general@thread.tacv2;messageid=1700000000002"
    ref = load_reference(conv.reference)
    assert ref.service_url == SERVICE and ref.channel_id == "msteams"
    assert ref.bot.id == "28:bot-app-id" and ref.conversation.tenant_id == "tenant-1111"
    assert load_reference(conv.reference, "19:other").conversation.id == "19:other"


def test_file_download_info_becomes_an_attachment() -> None:
    act, _ = activity("file_personal")
    [file] = file_attachments(act)
    assert file.name == "train.jsonl" and file.content_type == "application/jsonl"
    assert "download.aspx" in file.url and file.platform_id


def test_inline_images_and_html_are_not_files() -> None:
    inline = [
        {"contentType": "image/*", "contentUrl": "https://smba.trafficmanager.net/amer/v3/attachments/x"},
        {"contentType": "text/html", "content": "<p>hi</p>"},
        {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "x", "content": {}},
    ]
    act, _ = activity("file_personal", attachments=inline)
    assert file_attachments(act) == ()


def test_submit_and_execute_give_the_same_action() -> None:
    submit, submit_raw = activity("submit")
    execute, execute_raw = activity("invoke_execute")
    a, b = submit_action(submit, submit_raw), execute_action(execute, execute_raw)
    assert a is not None and b is not None
    assert (
        (a.action, dict(a.payload)) == (b.action, dict(b.payload)) == ("job.refresh", {"job": "ftjob-abc123"})
    )
    assert a.message is not None and a.message.message_id == "act-card-42"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text",
        {"ft": "ft2", "action": "job.refresh"},
        {"ft": "ft1", "action": "Bad Name"},
        {"action": {}},
    ],
)
def test_foreign_button_values_are_not_actions(value: object) -> None:
    submit, raw = activity("submit", value=value)
    assert submit_action(submit, raw) is None
    execute, raw = activity("invoke_execute", value={"action": {"data": value}})
    assert execute_action(execute, raw) is None


def test_card_activity_carries_a_valid_adaptive_card() -> None:
    out = card_activity(Card(title="**Job** `ftjob-1`", summary="Job ftjob-1 running")).serialize()
    assert out["type"] == "message" and out["summary"] == "Job ftjob-1 running"
    [attachment] = out["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert_valid_adaptive(attachment["content"])
