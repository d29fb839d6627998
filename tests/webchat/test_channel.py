"""What the local channel adds around Direct Line: the same turn as Teams behind it (buttons as Web Chat sends
them, in-place updates, proactive sends through the notifier), who may connect, and the page and bundle."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.directline import (
    EXECUTE_KEY,
    REPLY_TO_KEY,
    from_page,
    mount_directline,
    to_page_card,
)
from adapters.directline import (
    Conversation as DirectLineConversation,
)
from bot.app import RunningBot, start_bot
from bot.config import Settings
from bot.model import Conversation
from bot.notifier import Notifier
from cards.model import Card, Tone
from tests.cards.validate import assert_valid_adaptive
from tests.conftest import bot_settings
from tests.webchat.conftest import API, DirectLineClient, buttons, card_text, cards

pytestmark = pytest.mark.asyncio

START = "start gpt-4o-mini-2024-07-18 --training good_training --validation good_validation"


def _job_card(dl: DirectLineClient) -> tuple[str, dict[str, Any]]:
    return next((i, c) for i, c in dl.bot_cards() if "Fine-tuning job" in card_text(c))


def _press(card: dict[str, Any], title: str, user: str) -> dict[str, Any]:
    """What Web Chat posts for an `Action.Submit` with object data: a message with `value`, no text."""
    action = next(b for b in buttons(card) if b.get("title") == title)
    assert action["type"] == "Action.Submit"  # Web Chat ignores Action.Execute; the channel converted it
    return {
        "type": "message",
        "value": action["data"],
        "from": {"id": user},
        "channelData": {"postBack": True},
    }


async def test_a_card_button_updates_the_card_in_place(dl: DirectLineClient) -> None:
    await dl.connect("alice")
    await dl.say(START)
    await dl.wait_for(lambda acts: any("Fine-tuning job" in card_text(c) for a in acts for c in cards(a)))
    card_id, card = _job_card(dl)
    assert_valid_adaptive(card)
    assert not [b for b in buttons(card) if b["type"] == "Action.Execute"]
    before = len(dl.seen)

    await dl.post(_press(card, "Refresh", "alice"))
    # The refreshed card arrives as the same activity id (Web Chat replaces the message where it is).
    updated = await dl.wait_for(lambda acts: any(a["id"] == card_id and cards(a) for a in acts[before:]))
    again = next(a for a in updated[before:] if a["id"] == card_id and cards(a))
    original = next(a for a in updated if a["id"] == card_id)
    assert again["timestamp"] == original["timestamp"]
    assert "Updated" in card_text(cards(again)[0])
    assert [b["title"] for b in buttons(cards(again)[0])][:1] == ["Refresh"]


async def test_a_plain_submit_reaches_the_bot_as_a_message_with_value(dl: DirectLineClient) -> None:
    # An Action.Submit (no verb): the channel only adds replyToId; the Teams turn's submit path handles it.
    await dl.connect("alice")
    await dl.say(START)
    await dl.wait_for(lambda acts: any("Fine-tuning job" in card_text(c) for a in acts for c in cards(a)))
    _, card = _job_card(dl)
    action = next(b for b in buttons(card) if b.get("title") == "Events")
    data = {k: v for k, v in action["data"].items() if k != EXECUTE_KEY}
    before = len(dl.seen)
    await dl.post({"type": "message", "value": data, "from": {"id": "alice"}})
    seen = await dl.wait_for(lambda acts: any(cards(a) for a in acts[before:] if a["from"]["role"] == "bot"))
    answer = next(c for a in seen[before:] if a["from"]["role"] == "bot" for c in cards(a))
    assert "vent" in card_text(answer)  # the job's events card


async def test_proactive_sends_reach_the_page_through_the_notifier(
    dl: DirectLineClient, web_bot: RunningBot
) -> None:
    await dl.connect("alice")
    await dl.say("help")
    await dl.wait_for(lambda acts: any(cards(a) for a in acts))
    stored = await web_bot.store.get_conversation(Conversation("web", dl.conversation_id).key)
    assert stored is not None and stored.platform == "web"

    card = Card(title="Job finished", text="ftjob-abc **succeeded**", tone=Tone.SUCCESS)
    ref = await web_bot.ctx.notifier.send("web", stored.reference, card)
    assert ref.platform == "web" and ref.conversation_id == dl.conversation_id
    seen = await dl.wait_for(lambda acts: any(a["id"] == ref.message_id for a in acts))
    posted = next(a for a in seen if a["id"] == ref.message_id)
    assert "Job finished" in card_text(cards(posted)[0])

    await web_bot.ctx.notifier.update("web", stored.reference, ref, Card(title="Job finished (seen)"))
    mark = len(seen)
    seen = await dl.wait_for(lambda acts: any(a["id"] == ref.message_id for a in acts[mark:]))
    assert "(seen)" in card_text(cards(seen[-1])[0])


async def test_a_typing_indicator_is_not_kept_once_something_follows() -> None:
    conv = DirectLineConversation(id="c", user_id="u", user_name="u")
    conv.append({"id": "c|1", "type": "message"})
    conv.append({"id": "c|2", "type": "typing"})
    assert [a["id"] for a in conv.after(1)] == ["c|2"]
    conv.append({"id": "c|3", "type": "message"})
    assert [a["id"] for a in conv.after(0)] == ["c|1", "c|3"]
    assert conv.last == 3


async def test_typed_triggers_from_hints_work() -> None:
    assert from_page({"type": "message", "text": "@ftbot help list"})["text"] == "help list"
    assert from_page({"type": "message", "text": "/ft list --limit 3"})["text"] == "list --limit 3"
    assert from_page({"type": "message", "text": "/ftx"})["text"] == "/ftx"


async def test_execute_buttons_round_trip_to_the_invoke_teams_sends() -> None:
    data = {"ftbot": "ftbot", "a": "job_refresh", "p": {"job": "ftjob-1"}}
    card = {
        "type": "AdaptiveCard",
        "actions": [
            {
                "type": "Action.Execute",
                "title": "Refresh",
                "verb": "ftbot:job_refresh",
                "data": data,
                "fallback": {"type": "Action.Submit", "title": "Refresh", "data": data},
            },
            {
                "type": "Action.ShowCard",
                "title": "Cancel",
                "card": {
                    "type": "AdaptiveCard",
                    "actions": [
                        {"type": "Action.Execute", "title": "Yes", "verb": "ftbot:cancel", "data": data}
                    ],
                },
            },
            {"type": "Action.OpenUrl", "title": "Docs", "url": "https://example.com"},
        ],
    }
    page = to_page_card(card, "c|0000007")
    refresh, show, link = page["actions"]
    assert refresh == {
        "type": "Action.Submit",
        "title": "Refresh",
        "data": {**data, EXECUTE_KEY: "ftbot:job_refresh", REPLY_TO_KEY: "c|0000007"},
    }
    assert show["card"]["actions"][0]["type"] == "Action.Submit"
    assert link == card["actions"][2]

    invoke = from_page({"type": "message", "value": {**refresh["data"], "typed": "x"}})
    assert invoke["type"] == "invoke" and invoke["name"] == "adaptiveCard/action"
    assert invoke["replyToId"] == "c|0000007"
    assert invoke["value"]["action"] == {
        "type": "Action.Execute",
        "verb": "ftbot:job_refresh",
        "data": {**data, "typed": "x"},
    }


async def test_host_and_origin_are_checked_on_loopback(dl: DirectLineClient) -> None:
    path = f"{API}/tokens/generate"
    for headers in (
        {"Host": "evil.example:3978"},  # DNS rebinding: a foreign name resolving to 127.0.0.1
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},  # another local origin
    ):
        status, body = await dl.call("POST", path, headers=headers)
        assert status == 403, headers
        assert body["error"]["code"] == "Forbidden"
        status, _ = await dl.call("GET", "/", headers=headers)
        assert status == 403
    host = dl.base.split("//")[1]
    status, _ = await dl.call("POST", path, headers={"Origin": f"http://{host}"})
    assert status == 200
    status, _ = await dl.call("POST", path, headers={"Host": host.replace("127.0.0.1", "localhost")})
    assert status == 200


def _bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "webchat"
    folder.mkdir()
    (folder / "webchat.js").write_text("window.WebChat = {};\n" + "/* padding */\n" * 2000, encoding="utf-8")
    return folder


async def test_page_and_bundle_are_cached_and_compressed(emulator: Any, tmp_path: Path) -> None:
    bot = await start_bot(bot_settings(emulator, tmp_path, webchat_dir=_bundle(tmp_path)))
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            async with http.get(f"{bot.url}/") as r:
                page = await r.text()
                assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"
            assert "local demo" in page and f'<b id="resource">{bot.settings.account_name}</b>' in page
            src = page.split('<script src="')[1].split('"')[0]
            # The page started compressing the bundle; until that is done it is served as is.
            await bot.adapters["web"].bundle.prepare()
            assert src.startswith("/webchat/webchat.js?v=")
            for coding in ("br", "gzip"):
                async with http.get(f"{bot.url}{src}", headers={"Accept-Encoding": coding}) as r:
                    assert r.status == 200
                    assert r.headers["Content-Encoding"] == coding
                    assert (
                        "immutable" in r.headers["Cache-Control"]
                        and "max-age=31536000" in r.headers["Cache-Control"]
                    )
                    assert r.headers["Vary"] == "Accept-Encoding"
                    assert len(await r.read()) < 2000
                    etag = r.headers["ETag"]
            async with http.get(f"{bot.url}{src}", headers={"If-None-Match": etag}) as r:
                assert r.status == 304
            async with http.get(f"{bot.url}{src}", headers={"Accept-Encoding": "identity"}) as r:
                assert "Content-Encoding" not in r.headers and (await r.read()).startswith(b"window.WebChat")
    finally:
        await bot.close()


async def test_without_the_bundle_the_page_says_how_to_install_it(emulator: Any, tmp_path: Path) -> None:
    bot = await start_bot(bot_settings(emulator, tmp_path, webchat_dir=tmp_path / "missing"))
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{bot.url}/") as r:
            assert r.status == 503 and "make install" in await r.text()
    finally:
        await bot.close()


async def test_with_a_secret_everything_needs_it(emulator: Any, tmp_path: Path) -> None:
    settings = bot_settings(
        emulator, tmp_path, webchat_dir=_bundle(tmp_path), directline_secret="s3cret-value"
    )
    bot = await start_bot(settings)
    try:
        async with aiohttp.ClientSession() as http:
            dl = DirectLineClient(http, bot.url)
            status, _ = await dl.call("GET", "/")
            assert status == 401
            status, _ = await dl.call("GET", "/", headers={"Authorization": _basic("carol", "wrong")})
            assert status == 401
            status, _ = await dl.call("GET", "/", headers={"Authorization": _basic("carol", "s3cret-value")})
            assert status == 200
            status, body = await dl.call("POST", f"{API}/tokens/generate")
            assert status == 401 and body["error"]["code"] == "Unauthorized"
            # The page's own call carries the browser's Basic credentials: the user is the name typed there.
            status, body = await dl.call(
                "POST", f"{API}/tokens/generate", headers={"Authorization": _basic("carol", "s3cret-value")}
            )
            assert status == 200 and body["user"]["id"] == "carol"
            # A Direct Line client with the secret starts a conversation directly (201) and can talk.
            status, body = await dl.call("POST", f"{API}/conversations", token="s3cret-value")
            assert status == 201 and body["token"] != "s3cret-value"
            dl.token, dl.conversation_id = body["token"], body["conversationId"]
            await dl.say("help")
            await dl.wait_for(lambda acts: any(cards(a) for a in acts))
    finally:
        await bot.close()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_off_on_a_reachable_host_without_a_secret(tmp_path: Path) -> None:
    from aiohttp import web

    app = web.Application()
    settings = Settings(host="0.0.0.0", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    notifier = Notifier()
    assert mount_directline(app, settings, None, None, notifier, resource="x") is None  # type: ignore[arg-type]
    assert not [r for r in app.router.routes() if r.resource and r.resource.canonical.startswith(API)]
    with pytest.raises(LookupError):
        notifier.sender("web")
    secret = Settings(host="0.0.0.0", database_url=settings.database_url, directline_secret="a-secret")
    assert mount_directline(app, secret, None, None, notifier, resource="x") is not None  # type: ignore[arg-type]
    assert notifier.sender("web").platform == "web"


async def test_the_job_card_of_start_is_updated_in_place_by_the_watcher(
    emulator: Any, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The job card `start` posts proactively (the notifier's "web" sender) is recorded, so the watcher's
    first status change replaces THAT message on the page within a couple of polls."""
    bot = await start_bot(bot_settings(emulator, tmp_path, allow_local_files=True, watch_interval=0.5))
    try:
        dl = await DirectLineClient(http, bot.url).connect("alice")
        await dl.say(START)
        await dl.wait_for(lambda acts: any("Fine-tuning job" in card_text(c) for a in acts for c in cards(a)))
        card_id, card = _job_card(dl)
        job_id = card_text(card).split("Fine-tuning job ", 1)[1].split()[0]
        stored = await bot.store.find_message(f"job:{job_id}", Conversation("web", dl.conversation_id).key)
        assert stored is not None and stored.message_id == card_id
        mark = len(dl.seen)

        def updated(acts: list[dict[str, Any]]) -> bool:
            return any(
                a["id"] == card_id and "watched" in card_text(c) for a in acts[mark:] for c in cards(a)
            )

        await dl.wait_for(updated)
        waited = [r for r in await bot.store.outbox_rows() if "job card" in (r["last_error"] or "")]
        assert not waited
    finally:
        await bot.close()
