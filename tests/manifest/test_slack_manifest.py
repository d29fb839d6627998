"""The Slack app manifest: `/ft`, events and interactivity at the bot's URL, the scopes the features need,
within the limits of Slack's manifest schema (github.com/slackapi/manifest-schema, v1)."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.config import Settings
from bot.manifests import USAGE_HINT_MAX, slack_manifest
from tests.manifest.conftest import make_settings

EVENTS_URL = "https://ftbot.example.com/slack/events"
URL = re.compile(r"^https?://")


def test_slash_command_ft(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    [command] = slack_manifest(settings, verbs)["features"]["slash_commands"]
    assert command["command"] == "/ft"
    assert command["url"] == EVENTS_URL
    assert command["usage_hint"] == "help | list | status | events | checkpoints"
    assert command["description"]
    assert command["should_escape"] is False


def test_events_and_interactivity_go_to_the_bolt_endpoint(
    settings: Settings, verbs: list[tuple[str, str]]
) -> None:
    app = slack_manifest(settings, verbs)["settings"]
    assert app["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert app["event_subscriptions"]["request_url"] == EVENTS_URL
    assert set(app["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    assert app["socket_mode_enabled"] is False  # requests come over HTTP to /slack/events


def test_bot_scopes_cover_the_features(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    manifest = slack_manifest(settings, verbs)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "files:read", "files:write"} <= scopes
    # each subscribed event needs its read scope, or Slack refuses the manifest
    needs = {"app_mention": "app_mentions:read", "message.im": "im:history"}
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert needs[event] in scopes
    # reading back recent messages (with their metadata) to find a send interrupted by a crash
    assert {"channels:history", "groups:history", "mpim:history", "im:history"} <= scopes
    assert manifest["features"]["bot_user"]["display_name"]
    assert "user" not in manifest["oauth_config"]["scopes"]  # the bot never acts as a user


def test_public_url_fills_every_url(verbs: list[tuple[str, str]]) -> None:
    manifest = slack_manifest(make_settings(public_url="https://bots.example.org/ftbot/"), verbs)
    text = json.dumps(manifest)
    assert "{public_url}" not in text
    urls = re.findall(r'"(https?://[^"]+)"', text)
    assert urls and all(u == "https://bots.example.org/ftbot/slack/events" for u in urls)


def test_without_public_url_the_local_address_is_used(verbs: list[tuple[str, str]]) -> None:
    manifest = slack_manifest(make_settings(public_url="", port=4000), verbs)
    assert manifest["features"]["slash_commands"][0]["url"] == "http://127.0.0.1:4000/slack/events"


def test_within_slack_schema_limits(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    manifest = slack_manifest(settings, verbs)
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert 1 <= len(info["description"]) <= 140
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    assert 1 <= len(manifest["features"]["bot_user"]["display_name"]) <= 80
    for command in manifest["features"]["slash_commands"]:
        assert re.fullmatch(r"/\S{1,31}", command["command"])
        assert 1 <= len(command["description"]) <= 2000
        assert 1 <= len(command["usage_hint"]) <= USAGE_HINT_MAX
        assert URL.match(command["url"]) and len(command["url"]) <= 3000
    assert URL.match(manifest["settings"]["interactivity"]["request_url"])
    assert all(len(scope) <= 50 for scope in manifest["oauth_config"]["scopes"]["bot"])
    known = {"_metadata", "display_information", "features", "oauth_config", "settings"}
    assert set(manifest) <= known


def test_long_verb_list_trims_the_usage_hint(settings: Settings) -> None:
    verbs = [(f"verb{i:03d}", "x") for i in range(200)]
    hint = slack_manifest(settings, verbs)["features"]["slash_commands"][0]["usage_hint"]
    assert len(hint) <= USAGE_HINT_MAX
    assert hint.startswith("verb000 | verb001")
    assert hint.endswith(" …")
    assert all(re.fullmatch(r"verb\d{3}", part) for part in hint.removesuffix(" …").split(" | "))


def test_result_is_plain_json(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    manifest: dict[str, Any] = slack_manifest(settings, verbs)
    assert json.loads(json.dumps(manifest)) == manifest
    assert slack_manifest(settings, verbs) == manifest  # the template is read afresh, never mutated
