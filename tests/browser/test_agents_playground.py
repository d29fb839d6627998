"""Teams rendering checked in a real Teams client: the Microsoft 365 Agents Playground (npm
`@microsoft/m365agentsplayground`, `-c msteams`) against the real bot, in headless Chromium.

Help, a start on a sample dataset, and a button that updates its card in place; screenshots are saved under
tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, _missing, artifact, free_port, wait_for_http
from tests.conftest import bot_settings

PLAYGROUND = ROOT / "tests" / "js" / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
pytestmark = pytest.mark.slow


@pytest.fixture
async def playground(emulator: Any, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    """The bot (real botbuilder adapter, no app id, loopback) and the Playground pointed at it."""
    import shutil

    from bot.app import start_bot

    node = shutil.which("node")
    if node is None or not PLAYGROUND.exists():
        _missing("the Agents Playground (node + tests/js) is not installed")
    bot = await start_bot(bot_settings(emulator, tmp_path, allow_local_files=True))
    port = free_port()
    # It opens its page with `xdg-open` once listening and exits if there is none (a machine without a
    # desktop, or before Chromium's packages brought one): a no-op opener, and no browser spawned by it.
    opener = tmp_path / "bin" / "xdg-open"
    opener.parent.mkdir()
    opener.write_text("#!/bin/sh\nexit 0\n")
    opener.chmod(0o755)
    env = {**os.environ, "PATH": f"{opener.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = await asyncio.create_subprocess_exec(
        str(node),
        str(PLAYGROUND),
        "-e",
        f"{bot.url}/api/messages",
        "-c",
        "msteams",
        "-p",
        str(port),
        "--dt",
        cwd=tmp_path,  # it writes devTools/ logs into its working folder
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        await wait_for_http(url)
        yield url, bot
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
        await bot.close()


def _compose_box(page: Any) -> Any:
    # The Playground's compose box is a contenteditable div (its "Type a message..." is drawn, not a
    # placeholder attribute).
    return page.get_by_role("textbox").first


async def _say(page: Any, text: str) -> None:
    await _compose_box(page).click()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


async def test_help_start_and_a_button_in_the_agents_playground(
    playground: tuple[str, Any], browser: Any, emulator: Any
) -> None:
    url, _bot = playground
    page = await browser.new_page(viewport={"width": 1280, "height": 1400})
    await page.goto(url, wait_until="networkidle")
    await _compose_box(page).wait_for(timeout=20_000)
    # Installing the app says hello once (the Playground sends both installationUpdate and conversationUpdate).
    await page.get_by_text("Hello, I am ftbot").wait_for(timeout=15_000)
    assert await page.get_by_text("Hello, I am ftbot").count() == 1

    await _say(page, "help")
    await page.get_by_text("ftbot commands").wait_for(timeout=15_000)
    # One verb per line: each usage is its own text element, at its own height. A personal chat needs no
    # mention, so the commands read as typed there (`status JOB`, not `@ftbot status JOB`).
    status = page.get_by_text("status JOB [--resource", exact=False).first
    cancel = page.get_by_text("cancel JOB [--yes]", exact=False).first
    status_box, cancel_box = await status.bounding_box(), await cancel.bounding_box()
    assert status_box and cancel_box and cancel_box["y"] > status_box["y"] + status_box["height"] / 2
    assert "cancel" not in (await status.inner_text())
    card_text = await page.locator("text=ftbot commands").locator("xpath=ancestor::div[3]").inner_text()
    assert "`" not in card_text and "<job>" not in card_text and "@ftbot" not in card_text
    await page.screenshot(path=str(artifact("playground-help.png")), full_page=True)

    await _say(page, "start gpt-4o-mini-2024-07-18 --training good_training --validation good_validation")
    await page.get_by_text("Started by").wait_for(timeout=60_000)
    await page.screenshot(path=str(artifact("playground-start.png")), full_page=True)

    # Let the job move on in the emulator, then Refresh: the same card changes in place.
    emulator.advance(600)
    before = await page.get_by_text("Started by").count()
    await page.get_by_role("button", name="Refresh").last.click()
    await page.get_by_text("Updated").last.wait_for(timeout=20_000)
    assert await page.get_by_text("Started by").count() <= before
    await page.screenshot(path=str(artifact("playground-refresh.png")), full_page=True)


async def test_chart_card_in_the_agents_playground(
    playground: tuple[str, Any], browser: Any, emulator: Any
) -> None:
    """The chart card as Teams draws it: the picture the bot serves is loaded, the analysis lines are there."""
    from tests.charts.azure_jobs import finished_job

    url, _bot = playground
    job_id = await finished_job(emulator)
    page = await browser.new_page(viewport={"width": 1280, "height": 1600})
    await page.goto(url, wait_until="networkidle")
    await _compose_box(page).wait_for(timeout=20_000)
    await _say(page, f"chart {job_id}")
    await page.get_by_text("Training chart").wait_for(timeout=30_000)
    picture = page.locator("img[alt*='oss']").last
    await picture.wait_for(timeout=20_000)
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=await picture.element_handle(), timeout=20_000
    )
    assert await picture.evaluate("img => img.naturalWidth") == 1200
    assert await page.get_by_text("Checkpoint to deploy", exact=False).count() >= 1
    await picture.scroll_into_view_if_needed()
    await page.screenshot(path=str(artifact("playground-chart.png")), full_page=True)
