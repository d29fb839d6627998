"""The Bot Framework SDK is loaded only when Teams is served: a bot configured for Slack alone starts without
it, and its local chat page loads it (off the event loop) when first opened, then answers as before; the embedded
default (Teams served) loads it right after `/healthz` can answer. Each
case runs a fresh interpreter, since this test process has long imported botbuilder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, json, sys, tempfile
from pathlib import Path

from bot.app import start_bot
from bot.config import load_settings

SDK = ("botbuilder", "botframework", "msrest", "msal")


def sdk_loaded() -> bool:
    return any(name.split(".")[0] in SDK for name in sys.modules)


async def main(tmp: str, config: dict) -> dict:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'ftbot.db'}", **config)
    bot = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        report = {"adapters": sorted(bot.adapters), "at_start": sdk_loaded()}
        await bot.warming  # what start-up builds after /healthz answers (adapters/deferred.py)
        report["warmed"] = sdk_loaded()
        if "web" in bot.adapters:
            import aiohttp
            from tests.webchat.conftest import DirectLineClient, cards

            async with aiohttp.ClientSession() as http:
                dl = await DirectLineClient(http, bot.url).connect("alice")
                await dl.say("help")
                seen = await dl.wait_for(lambda acts: any(cards(a) for a in acts))
                report["answered"] = any(cards(a) for a in seen)
            report["after_chat"] = sdk_loaded()
        return report
    finally:
        await bot.close()


with tempfile.TemporaryDirectory() as tmp:
    print(json.dumps(asyncio.run(main(tmp, json.loads(sys.argv[1])))))
"""


def start_and_report(**config: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_a_slack_only_bot_starts_without_the_bot_framework_sdk_and_its_chat_page_loads_it() -> None:
    report = start_and_report(
        slack_bot_token="xoxb-lazy-sdk-test",
        slack_signing_secret="lazy-sdk-test-signing-secret",
        slack_api_url="http://127.0.0.1:9/api/",  # never called: no Slack request is made
    )
    assert report["adapters"] == ["slack", "web"]
    assert report["at_start"] is False
    assert report["warmed"] is False  # nothing warms it: only opening the chat page does
    assert report["answered"] is True  # the chat page still works: its adapter is built when opened
    assert report["after_chat"] is True


def test_the_embedded_default_serves_teams_and_loads_the_sdk_right_after_start() -> None:
    report = start_and_report()
    assert report["adapters"] == ["teams", "web"]
    assert report["at_start"] is False  # /healthz does not wait for it
    assert report["warmed"] is True  # built right after, so the first Teams message does not wait either
