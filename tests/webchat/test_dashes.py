"""The chat page shows `--` as typed: Web Chat's markdown typography turned `[--epochs` and a leading
`--training` into an en dash, so people copied `–training` from the examples. Checked in Debian's Chromium
with the unpatched Web Chat bundle (as `test_browser.py`); the grammar still takes the long dashes people
type (or paste from elsewhere)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.directline import keep_dashes, to_page_card
from bot.app import RunningBot
from bot.grammar import parse_command_text
from tests.webchat.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, WAIT_MS, _send, playwright_api

DASHES = "–—"


def test_markdown_fields_of_a_page_card_keep_their_double_dashes() -> None:
    card = {
        "type": "AdaptiveCard",
        "body": [
            {"type": "TextBlock", "text": "Usage: start MODEL [--training SRC] [--epochs N]"},
            {
                "type": "FactSet",
                "facts": [{"title": "--seed N", "value": "see [docs](https://x.example/a--b)"}],
            },
            {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "--as typed"}]},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "--docs", "url": "https://x.example/--z"}],
    }
    page = to_page_card(card, "a1")
    assert page["body"][0]["text"] == r"Usage: start MODEL [\-\-training SRC] [\-\-epochs N]"
    assert page["body"][1]["facts"][0] == {
        "title": r"\-\-seed N",
        "value": "see [docs](https://x.example/a--b)",
    }
    assert page["body"][2]["inlines"][0]["text"] == "--as typed"  # a TextRun is not markdown
    assert page["actions"][0] == card["actions"][0]
    assert keep_dashes("a --- b, https://x.example/--y") == "a --- b, https://x.example/--y"


@pytest.mark.parametrize("dash", list(DASHES))
def test_long_dashes_typed_or_pasted_still_parse_as_options(dash: str) -> None:
    parsed = parse_command_text(f"start gpt-4o-mini-2024-07-18 {dash}training good_training {dash}epochs 3")
    assert parsed.options == {"training": "good_training", "epochs": "3"}


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it)")
async def test_the_page_shows_options_with_two_hyphens(web_bot: RunningBot, emulator: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 1100})
            await page.goto(f"{web_bot.url}/")
            await page.locator("[data-id='webchat-sendbox-input']").wait_for(timeout=WAIT_MS)
            await _send(page, "start gpt-4o-mini-2024-07-18 --bogus x")
            await page.get_by_text("Problem:").wait_for(timeout=WAIT_MS)
            await page.screenshot(path=str(ARTIFACTS / "webchat-dashes.png"))
            shown = "\n".join(await page.locator(".ac-adaptiveCard").all_inner_texts())
        finally:
            await browser.close()
    assert "[--training SRC]" in shown and "[--epochs N]" in shown, shown
    assert "\n--validation SRC" in shown, shown  # a fact title starting with the option
    assert not any(d in shown for d in DASHES), shown
    assert "\\-" not in shown, shown  # the escapes are markdown's business, not shown
