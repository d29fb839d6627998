"""The validators themselves: they must catch what they claim to, or every other card test is hollow."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cards.model import Button, Card, Confirm, Fact
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive, render_attachment
from tests.cards.blockkit_limits import violations
from tests.cards.validate import adaptive_problems, assert_valid_adaptive, assert_valid_blocks

CARD = Card(
    title="t",
    text="x",
    facts=(Fact("a", "b"),),
    buttons=(Button("Go", "job.refresh", {"job": "j"}, confirm=Confirm("Sure?", "Really")),),
    footer="f",
)


def test_attachment_wrapper_is_accepted() -> None:
    assert_valid_adaptive(render_attachment(CARD))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["body"][0].update(bogus=1), "'bogus' was unexpected"),
        (lambda c: c["body"].append({"type": "TextBlock"}), "'text' is a required property"),
        (lambda c: c["body"].append({"type": "Carousel", "pages": []}), "not valid under any"),
        (lambda c: c.update(version="1.6"), "up to 1.5"),
        (lambda c: c["actions"][0].update(style="loud"), "loud"),
        (lambda c: c["actions"].append({"type": "Action.OpenUrl", "title": "x"}), "'url' is a required"),
        (lambda c: c["body"].append({"type": "TextBlock", "text": "x" * 90_000}), "bytes"),
    ],
)
def test_adaptive_validator_catches(mutate: Any, expected: str) -> None:
    card = copy.deepcopy(render_adaptive(CARD))
    assert adaptive_problems(card) == []
    mutate(card)
    problems = adaptive_problems(card)
    assert any(expected in p for p in problems), problems
    with pytest.raises(AssertionError):
        assert_valid_adaptive(card)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(action_id: str = "a", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": action_id, **extra}


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([_section("x")] * 51, "51 blocks"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "max 150"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "text object"),
        ([_section("x" * 3001)], "max 3000"),
        ([_section("😀" * 1501)], "3002 units"),  # emoji count two UTF-16 units
        ([_section("a < b")], "unescaped '<'"),
        ([_section("a & b")], "unescaped '&'"),
        ([_section("")], "empty"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "1..10"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], "max 2000"),
        ([{"type": "section"}], "text or fields"),
        ([{"type": "actions", "elements": [_button(str(i)) for i in range(26)]}], "1..25"),
        ([{"type": "actions", "elements": [_button("x" * 256)]}], "action_id"),
        ([{"type": "actions", "elements": [_button(value="v" * 2001)]}], "value"),
        ([{"type": "actions", "elements": [_button(), _button()]}], "used 2 times"),
        ([{"type": "actions", "elements": [_button(style="blue")]}], "style"),
        (
            [
                {
                    "type": "actions",
                    "elements": [{**_button(), "text": {"type": "plain_text", "text": "b" * 76}}],
                }
            ],
            "max 75",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        _button(
                            confirm={
                                "title": {"type": "plain_text", "text": "t" * 101},
                                "text": {"type": "mrkdwn", "text": "x"},
                                "confirm": {"type": "plain_text", "text": "y"},
                                "deny": {"type": "plain_text", "text": "n"},
                            }
                        )
                    ],
                }
            ],
            "max 100",
        ),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "1..10"),
        ([{"type": "image", "image_url": "http://x/y.png", "alt_text": "a"}], "https"),
        ([{"type": "image", "image_url": "https://x/y.png", "alt_text": ""}], "alt_text"),
        ([{"type": "bogus"}], "unknown block type"),
        ([{"type": "table"}], "1..100 rows"),
        ([{"type": "data_visualization", "title": "t", "chart": {"type": "scatter"}}], "chart.type"),
    ],
)
def test_blockkit_checker_catches(blocks: list[dict[str, Any]], expected: str) -> None:
    message = {"text": "fallback", "blocks": blocks}
    problems = violations(message)
    assert any(expected in p for p in problems), problems
    with pytest.raises(AssertionError):
        assert_valid_blocks(message)


def test_blockkit_checker_needs_fallback_text() -> None:
    assert any("fallback" in p for p in violations({"text": "", "blocks": []}))
    assert any("4000" in p for p in violations({"text": "x" * 4001, "blocks": []}))


def test_blockkit_checker_accepts_links_mentions_and_entities() -> None:
    message = {"text": "t", "blocks": [_section("<https://x.y/?a=1&amp;b=2|label> <@U123> a &lt; b &amp; c")]}
    assert violations(message) == []
    assert_valid_blocks(render_blocks(CARD))
