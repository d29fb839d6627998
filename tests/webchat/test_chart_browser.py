"""The chart card on the local chat page, in Debian's Chromium (issue 12): `chart <job>` shows the picture the
bot serves (the browser loads it: a decoded image, not a broken icon), its alt text, the analysis lines and the
checkpoints; Web Chat has no native chart element, so the text facts are what it shows beside the picture.
Screenshot: tests/artifacts/webchat-chart.png, for a person to look at.
"""

from __future__ import annotations

from typing import Any

from bot.app import RunningBot
from tests.charts.azure_jobs import finished_job

# The same browser, bundle and marks (asyncio, skip without Chromium or the bundle) as the chat page's test.
from tests.webchat.test_browser import (  # noqa: F401 (pytestmark applies here too)
    ARTIFACTS,
    WAIT_MS,
    _send,
    chromium,
    pytestmark,
)


async def test_chart_card_on_the_chat_page(web_bot: RunningBot, emulator: Any) -> None:
    job_id = await finished_job(emulator)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1000, "height": 1300})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{web_bot.url}/")
        await page.locator("[data-id='webchat-sendbox-input']").wait_for(timeout=WAIT_MS)
        await _send(page, f"chart {job_id}")

        image = page.locator("img[alt*='oss']").first  # the chart's alt text names the losses
        await image.wait_for(timeout=WAIT_MS)
        await page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0",
            arg=await image.element_handle(),
            timeout=WAIT_MS,
        )
        width = await image.evaluate("img => img.naturalWidth")
        assert width == 1200  # the full picture, served by the bot under its public URL
        shown = await image.evaluate("img => img.getBoundingClientRect().width")
        assert shown > 300  # drawn at a readable size in the card, not a thumbnail

        card_text = await page.locator(".ac-adaptiveCard").last.inner_text()
        assert job_id in card_text
        assert "validation loss" in card_text.lower()  # the analysis lines, for everyone and screen readers
        assert "ftchkpt-" in card_text  # the checkpoint to deploy, by id

        await image.scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "webchat-chart.png"), full_page=True)
        assert errors == []
