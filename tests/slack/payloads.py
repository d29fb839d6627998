"""Slack payloads shaped like the recorded examples in Slack's documentation (slash command, block_actions,
Events API `app_mention` / `message.im`), with the ids our stand-in API uses."""

from __future__ import annotations

import secrets
from typing import Any

from tests.slack.fake_slack_api import BOT_USER_ID, TEAM_ID

CHANNEL = "C0CHAN0001"
USER = "U0USER0001"


def slash_command(text: str, *, response_url: str = "", channel: str = CHANNEL) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "acme",
        "channel_id": channel,
        "channel_name": "ml-ops",
        "user_id": USER,
        "user_name": "ada",
        "command": "/ft",
        "text": text,
        "api_app_id": "A0APP00001",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"13345224609.738474920.{secrets.token_hex(10)}",  # unique per request, as Slack sends
    }


def block_actions(
    action_id: str, value: str, *, message_ts: str, response_url: str = "", ephemeral: bool = False
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": CHANNEL,
        "is_ephemeral": ephemeral,
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "token": "legacy-verification-token",
        "api_app_id": "A0APP00001",
        "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": USER, "username": "ada", "name": "ada", "team_id": TEAM_ID},
        "container": container,
        "trigger_id": f"12466734323.1395872398.{secrets.token_hex(4)}",
        "channel": {"id": CHANNEL, "name": "ml-ops"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "Refresh"},
                "value": value,
                "action_ts": "1700000100.000200",
            }
        ],
    }
    if not ephemeral:
        payload["message"] = {"type": "message", "ts": message_ts, "bot_id": "BBOT00001", "text": "card"}
    return payload


def event(inner: dict[str, Any], *, event_id: str = "Ev0EVENT0001") -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": "A0APP00001",
        "event": inner,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000200,
        "authorizations": [
            {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}
        ],
    }


def app_mention(
    text: str, *, files: list[dict[str, Any]] | None = None, ts: str = "1700000200.000100"
) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "type": "app_mention",
        "user": USER,
        "text": text,
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
        "team": TEAM_ID,
    }
    if files is not None:
        inner["files"] = files
    return inner


def direct_message(text: str, *, bot: bool = False) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "type": "message",
        "channel": "D0DIRECT01",
        "channel_type": "im",
        "text": text,
        "ts": "1700000300.000100",
        "event_ts": "1700000300.000100",
    }
    if bot:
        inner.update({"bot_id": "B0OTHER001", "subtype": "bot_message"})
    else:
        inner["user"] = USER
    return inner


def slack_file(file_id: str, name: str, base_url: str, size: int) -> dict[str, Any]:
    url = f"{base_url}/files-pri/{TEAM_ID}-{file_id}/{name}"
    return {
        "id": file_id,
        "name": name,
        "title": name,
        "mimetype": "application/jsonl",
        "filetype": "text",
        "size": size,
        "url_private": url,
        "url_private_download": url,
        "permalink": f"https://acme.slack.com/files/{USER}/{file_id}/{name}",
    }
