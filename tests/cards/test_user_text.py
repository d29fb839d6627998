"""Text from people or from Azure never becomes the bot's own markup: a `[label](https://...)` in a display name,
a file name or an Azure error message stays text on both platforms and in notification previews."""

from __future__ import annotations

import json
from pathlib import Path

from cards.errors import error_card
from cards.jobs import job_card
from cards.markup import code, literal, parse, to_ac_markdown, to_mrkdwn, to_plain
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from cards.validation_report import validation_report_card
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

EVIL = "Mallory [click here](https://evil.example/login) **urgent** `x`"


def test_literal_text_parses_as_one_text_segment() -> None:
    [segment] = parse(literal(EVIL))
    assert segment.kind == "text" and segment.text == EVIL


def test_literal_text_makes_no_link_on_either_platform() -> None:
    text = f"Started by {literal(EVIL)}"
    assert "<https://evil.example/login|" not in to_mrkdwn(text)  # no Slack link
    assert "\\[click here\\](https://evil.example/login)" in to_ac_markdown(text)  # escaped for Teams
    assert "\\*\\*urgent\\*\\*" in to_ac_markdown(text)  # no bold either
    assert to_plain(text) == f"Started by {EVIL}"  # previews show the name as it is


def test_a_backtick_cannot_end_a_code_span_early() -> None:
    name = "train`[x](https://evil.example)`.jsonl"
    [segment] = parse(code(name))
    assert segment.kind == "code" and "evil.example" in segment.text


def test_cards_with_hostile_names_render_without_their_links() -> None:
    from cards.views import JobView

    job = JobView(id="ftjob-1", model="gpt-4o-mini", status="failed", error_message=EVIL)
    cards = [
        job_card(job, f"Started by {literal(EVIL)}"),
        error_card("Azure did not accept the request", literal(EVIL), "", None),
    ]
    for card in cards:
        teams, slack = render_adaptive(card), render_blocks(card)
        assert_valid_adaptive(teams)
        assert_valid_blocks(slack)
        assert "<https://evil.example/login|" not in json.dumps(slack)
        blocks = [b.get("text", "") for b in teams["body"] if b.get("type") == "TextBlock"]
        blocks += [f["value"] for b in teams["body"] if b.get("type") == "FactSet" for f in b["facts"]]
        assert not any("[click here](https://" in t for t in blocks)


def test_a_hostile_file_name_stays_inside_its_code_span(tmp_path: Path) -> None:
    from bot.dataprep import validate_path

    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', encoding="utf-8")
    card = validation_report_card(validate_path(data), filename="a`[x](https://evil.example)`.jsonl")
    teams, slack = render_adaptive(card), render_blocks(card)
    assert_valid_adaptive(teams)
    assert_valid_blocks(slack)
    assert "evil.example" in json.dumps(slack) and "<https://evil.example|" not in json.dumps(slack)
    texts = [b.get("text", "") for b in teams["body"] if b.get("type") == "TextBlock"]
    assert not any("[x](https://evil.example)" in t for t in texts)
