"""The chat page in a real browser: Debian's Chromium driven by Playwright (never a browser Playwright
downloads), the official Web Chat bundle unpatched, the whole bot behind it.

Opens the page, sends `help` and sees the help card, starts a job on the sample datasets, presses the card's
Refresh button and sees the card change in place, sees a proactive message arrive without reloading, and
that a second tab is a second user. Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.directline import default_bundle_dir
from bot.app import RunningBot, start_bot
from bot.model import Conversation
from cards.model import Card, Fact, Tone
from tests.conftest import bot_settings

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
START = "start gpt-4o-mini-2024-07-18 --training good_training --validation good_validation"
WAIT_MS = 20_000

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it)"),
    pytest.mark.skipif(
        not (default_bundle_dir() / "webchat.js").is_file(), reason="needs Web Chat's bundle (`make install`)"
    ),
]


async def _send(page: Any, text: str) -> None:
    box = page.locator("[data-id='webchat-sendbox-input']")
    await box.fill(text)
    await box.press("Enter")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, with the flags a closed network needs; closed afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def test_chat_page_in_chromium(web_bot: RunningBot, emulator: Any) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1100, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        began = time.monotonic()
        await page.goto(f"{web_bot.url}/")
        await page.locator("[data-id='webchat-sendbox-input']").wait_for(timeout=WAIT_MS)
        loaded = time.monotonic() - began
        await _send(page, "help")
        await page.get_by_text("ftbot commands").wait_for(timeout=WAIT_MS)
        answered = time.monotonic() - began
        user = await page.locator("#user").inner_text()
        assert user.startswith("local-user-")
        assert "local demo" in await page.locator("#ftbot-header").inner_text()

        await _send(page, START)
        job_title = page.get_by_text("Fine-tuning job ftjob-")
        await job_title.wait_for(timeout=WAIT_MS)
        refresh = page.locator("button.ac-pushButton", has_text="Refresh")
        await refresh.wait_for(timeout=WAIT_MS)
        assert await page.get_by_text("Started by").count() == 1
        await page.screenshot(path=str(ARTIFACTS / "webchat-started.png"))
        # Fact titles wrap between words only: "Hyperparameters" is one line, as high as "Status".
        titles = page.locator(".ac-fact-title")
        status = await titles.filter(has_text="Status").first.bounding_box()
        hyper = await titles.filter(has_text="Hyperparameters").first.bounding_box()
        assert status is not None and hyper is not None
        assert hyper["height"] == status["height"], (hyper, status)
        await page.locator(".ac-factset").last.screenshot(path=str(ARTIFACTS / "webchat-facts.png"))

        emulator.advance(120)  # simulated minutes: the job is past pending
        await refresh.click()
        # The same card, refreshed in place: its footer now says "Updated", and it is still one card.
        await page.get_by_text("Updated ").wait_for(timeout=WAIT_MS)
        assert await job_title.count() == 1
        assert await page.get_by_text("Started by").count() == 0

        # A proactive message (what the job watcher sends when a job finishes) arrives without a reload.
        key = Conversation("web", await _conversation_id(web_bot, user)).key
        stored = await web_bot.store.get_conversation(key)
        assert stored is not None
        done = Card(
            title="Fine-tuning job finished",
            tone=Tone.SUCCESS,
            text="The model is ready to deploy.",
            facts=(Fact("Status", "succeeded"),),
        )
        await web_bot.ctx.notifier.send("web", stored.reference, done)
        finished = page.get_by_text("Fine-tuning job finished")
        await finished.wait_for(timeout=WAIT_MS)
        await finished.scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "webchat.png"))

        # A confirmation (Action.ShowCard holding the real button) opens in the card and its button works.
        await page.locator("button.ac-pushButton", has_text="Cancel").click()
        yes = page.locator("button.ac-pushButton", has_text="Yes, cancel it")
        await yes.wait_for(timeout=WAIT_MS)
        await yes.click()
        # The clicked card is replaced by the job's card after the cancel (no new message).
        await page.get_by_text("Cancel requested by").wait_for(timeout=WAIT_MS)
        assert await job_title.count() == 1
        assert await page.locator("button.ac-pushButton", has_text="Cancel").count() == 0
        await page.screenshot(path=str(ARTIFACTS / "webchat-cancelled.png"))

        # A second tab is a second user, with a conversation of its own.
        second = await browser.new_page()
        await second.goto(f"{web_bot.url}/")
        await second.locator("[data-id='webchat-sendbox-input']").wait_for(timeout=WAIT_MS)
        other = await second.locator("#user").inner_text()
        assert other.startswith("local-user-") and other != user
        assert await second.get_by_text("Fine-tuning job finished").count() == 0

        assert errors == []
        (ARTIFACTS / "webchat-timing.json").write_text(
            json.dumps({"page_ready_s": round(loaded, 3), "help_answered_s": round(answered, 3)}),
            encoding="utf-8",
        )


async def _conversation_id(bot: RunningBot, user: str) -> str:
    directline = bot.adapters["web"]
    return next(c.id for c in directline.conversations.values() if c.user_id == user)


async def test_with_a_secret_the_browser_asks_for_it(emulator: Any, tmp_path: Path) -> None:
    """Behind FTBOT_DIRECTLINE_SECRET the page is HTTP Basic: the user name typed there is who you are."""
    bot = await start_bot(bot_settings(emulator, tmp_path, directline_secret="pa55-word"))
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                stranger = await browser.new_context()
                answer = await stranger.request.get(f"{bot.url}/")
                assert answer.status == 401 and "Basic" in answer.headers["www-authenticate"]
                context = await browser.new_context(
                    http_credentials={"username": "carol", "password": "pa55-word"}
                )
                page = await context.new_page()
                await page.goto(f"{bot.url}/")
                await _send(page, "help")
                await page.get_by_text("ftbot commands").wait_for(timeout=WAIT_MS)
                assert await page.locator("#user").inner_text() == "carol"
            finally:
                await browser.close()
    finally:
        await bot.close()
