"""Renderer specifics: markup translation, escaping, layout, and cutting with a "more" pointer."""

from __future__ import annotations

import json
from typing import Any

from cards.markup import parse, text_len, to_ac_markdown, to_mrkdwn, to_plain
from cards.model import Button, Card, Confirm, Fact, Image, Table, Tone
from cards.payload import unpack_slack
from cards.render_slack import SlackLimits, render_blocks
from cards.render_teams import CONTENT_TYPE, MAX_CARD_BYTES, card_bytes, render_adaptive, render_attachment
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

MARKUP = (
    "Job **ftjob-1** uses `gpt-4o` — see [the docs](https://learn.microsoft.com/a?b=1&c=2) <now> & *then*"
)


def both(card: Card) -> tuple[dict[str, Any], dict[str, Any]]:
    teams, slack = render_adaptive(card), render_blocks(card)
    assert_valid_adaptive(teams)
    assert_valid_blocks(slack)
    return teams, slack


def test_markup_parses_into_segments() -> None:
    kinds = [s.kind for s in parse(MARKUP)]
    assert kinds == ["text", "bold", "text", "code", "text", "link", "text"]
    assert [s.kind for s in parse("**unclosed and [bad](ftp://x)")] == ["text"]


def test_markup_to_slack_mrkdwn() -> None:
    assert to_mrkdwn(MARKUP) == (
        "Job *ftjob-1* uses `gpt-4o` — see <https://learn.microsoft.com/a?b=1&amp;c=2|the docs> "
        "&lt;now&gt; &amp; *then*"
    )


def test_markup_to_adaptive_card_markdown() -> None:
    assert to_ac_markdown(MARKUP) == (
        "Job **ftjob-1** uses gpt-4o — see [the docs](https://learn.microsoft.com/a?b=1&c=2) <now> & \\*then\\*"
    )


def test_markup_to_plain() -> None:
    assert to_plain(MARKUP) == (
        "Job ftjob-1 uses gpt-4o — see the docs (https://learn.microsoft.com/a?b=1&c=2) <now> & *then*"
    )


def test_cutting_never_breaks_an_entity_or_a_link() -> None:
    text = "a & b " * 50 + "[docs](https://example.com/very/long/path)"
    for limit in range(1, 320, 7):
        out = to_mrkdwn(text, limit)
        assert text_len(out) <= limit
        assert out.count("&") == out.count("&amp;")
        assert "<https" not in out or out.rstrip("…").endswith(">")


def test_text_len_counts_utf16_units() -> None:
    assert text_len("abc") == 3
    assert text_len("😀") == 2
    assert text_len("é") == 1


def test_slack_layout() -> None:
    card = Card(
        title="Title",
        tone=Tone.SUCCESS,
        badge="done",
        text=MARKUP,
        facts=tuple(Fact(f"k{i}", f"v{i}") for i in range(12)),
        images=(Image("https://example.com/chart.png", "loss chart"),),
        footer="Request id: `r-1`",
        summary="Plain **summary**",
    )
    _, slack = both(card)
    blocks = slack["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "✅ Title · done"}}
    assert blocks[1]["text"]["text"] == to_mrkdwn(MARKUP)
    assert [len(b["fields"]) for b in blocks if "fields" in b] == [10, 2]
    assert blocks[2]["fields"][0]["text"] == "*k0*\nv0"
    assert {"type": "image", "image_url": "https://example.com/chart.png", "alt_text": "loss chart"} in blocks
    assert blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "Request id: `r-1`"}]}
    assert slack["text"] == "Plain *summary*"


def test_slack_images_only_for_public_https() -> None:
    card = Card(
        title="t",
        images=(
            Image("http://intranet/chart.png", "internal chart"),
            Image("data:image/png;base64,iVBORw0KGgo=", "inline chart"),
        ),
    )
    _, slack = both(card)
    texts = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section"]
    assert texts == ["<http://intranet/chart.png|internal chart>", "🖼 inline chart _(not shown in Slack)_"]
    teams = render_adaptive(card)
    assert [b["type"] for b in teams["body"]][-2:] == ["Image", "Image"]  # Teams shows both


def test_slack_table_is_aligned_monospace_with_more_pointer() -> None:
    table = Table(
        ("Step", "Loss"), (("10", "0.478"), ("200", "0.1")), title="Loss", more="More: `x --after y`"
    )
    _, slack = both(Card(title="t", tables=(table,)))
    section, context = slack["blocks"][1], slack["blocks"][2]
    assert section["text"]["text"] == "*Loss*\n```Step  Loss\n----  -----\n10    0.478\n200   0.1```"
    assert context["elements"][0]["text"] == "More: `x --after y`"


def test_slack_long_table_is_cut_with_a_count() -> None:
    rows = tuple((str(i), "x" * 30) for i in range(500))
    _, slack = both(Card(title="t", tables=(Table(("n", "x"), rows),)))
    text = slack["blocks"][1]["text"]["text"]
    assert text_len(text) <= SlackLimits.SECTION_TEXT
    shown = text.split("```")[1].count("\n") - 1  # minus the header underline
    assert text.endswith(f"_{500 - shown} more rows not shown_")


def test_slack_repeated_actions_get_unique_ids_and_link_buttons_are_not_ours() -> None:
    buttons = (
        Button("Status a", "job.refresh", {"job": "a"}),
        Button("Status b", "job.refresh", {"job": "b"}),
        Button("Docs", url="https://learn.microsoft.com"),
    )
    _, slack = both(Card(title="t", buttons=buttons))
    elements = slack["blocks"][-1]["elements"]
    assert [e["action_id"] for e in elements] == ["ft1:job.refresh:0", "ft1:job.refresh:1", "link:2"]
    assert unpack_slack(elements[1]["action_id"], elements[1]["value"]).payload == {"job": "b"}  # type: ignore[union-attr]
    assert unpack_slack(elements[2]["action_id"], None) is None


def test_slack_block_budget_keeps_header_actions_and_footer() -> None:
    card = Card(
        title="t",
        tables=tuple(Table(("a",), (("1",),), title=f"table {i}") for i in range(80)),
        buttons=tuple(Button(f"b{i}", "job.refresh", {"job": str(i)}) for i in range(60)),
        footer="foot",
    )
    _, slack = both(card)
    blocks = slack["blocks"]
    assert len(blocks) == SlackLimits.BLOCKS
    assert blocks[0]["type"] == "header" and blocks[-1]["elements"][0]["text"] == "foot"
    assert [b["type"] for b in blocks[-3:-1]] == ["actions", "actions"]
    note = blocks[-4]["elements"][0]["text"]
    assert "35 more parts and 10 more buttons not shown" in note


def test_teams_layout_and_attachment() -> None:
    card = Card(
        title="Title",
        tone=Tone.ERROR,
        badge="failed",
        text=MARKUP,
        facts=(Fact("Model", "`gpt-4o`"),),
        buttons=(
            Button("Refresh", "job.refresh", {"job": "j"}, style="primary"),
            Button("Cancel", "job.cancel", {"job": "j"}, style="danger", confirm=Confirm("Cancel?", "Sure?")),
            Button("Docs", url="https://learn.microsoft.com"),
        ),
        summary="Job failed",
    )
    teams, _ = both(card)
    assert teams["version"] == "1.5" and teams["fallbackText"] == "Job failed"
    header = teams["body"][0]
    assert header["type"] == "ColumnSet"
    assert header["columns"][0]["items"][0]["color"] == "Attention"
    assert header["columns"][1]["items"][0]["text"] == "failed"
    assert teams["body"][1]["text"] == to_ac_markdown(MARKUP)
    assert teams["body"][2] == {"type": "FactSet", "facts": [{"title": "Model", "value": "gpt-4o"}]}
    refresh, cancel, docs = teams["actions"]
    assert refresh["style"] == "positive" and refresh["verb"] == "ft1:job.refresh"
    assert refresh["fallback"] == {"type": "Action.Submit", "title": "Refresh", "data": refresh["data"]}
    assert cancel["type"] == "Action.ShowCard" and cancel["style"] == "destructive"
    assert cancel["card"]["actions"][0]["style"] == "destructive"
    assert docs == {"type": "Action.OpenUrl", "title": "Docs", "url": "https://learn.microsoft.com"}
    attachment = render_attachment(card)
    assert attachment == {"contentType": CONTENT_TYPE, "content": teams}


def test_teams_table_uses_the_1_5_table_element() -> None:
    table = Table(("Step", "Loss"), (("10", "0.478"), ("20",)), title="Loss", more="More: `x`")
    teams, _ = both(Card(title="t", tables=(table,)))
    element = next(b for b in teams["body"] if b["type"] == "Table")
    assert element["firstRowAsHeader"] is True
    assert len(element["rows"]) == 3 and all(len(r["cells"]) == 2 for r in element["rows"])
    assert teams["body"][-1]["text"] == "More: x"  # no inline code in Teams: no backticks


def test_teams_many_buttons_overflow_into_action_sets() -> None:
    buttons = tuple(Button(f"b{i}", "job.refresh", {"job": str(i)}) for i in range(14))
    teams, _ = both(Card(title="t", buttons=buttons))
    assert len(teams["actions"]) == 6
    sets = [b for b in teams["body"] if b["type"] == "ActionSet"]
    assert [len(s["actions"]) for s in sets] == [6, 2]


def test_teams_big_card_is_cut_under_the_size_limit_with_a_pointer() -> None:
    rows = tuple((str(i), "loss " * 40) for i in range(2000))
    card = Card(title="t", text="word " * 30_000, tables=(Table(("n", "x"), rows),))
    teams, _ = both(card)
    assert card_bytes(teams) <= MAX_CARD_BYTES
    dumped = json.dumps(teams)
    assert "more rows not shown" in dumped
    assert teams["body"][1]["text"].endswith("…")


def test_teams_huge_data_uri_image_becomes_a_note() -> None:
    card = Card(title="t", images=(Image("data:image/png;base64," + "A" * 200_000, "loss chart"),))
    teams, _ = both(card)
    assert teams["body"][-1]["text"] == "🖼 loss chart (not shown here)"


def test_commands_in_code_spans_use_each_platforms_trigger() -> None:
    from cards.model import Card
    from cards.render_slack import render_blocks
    from cards.render_teams import render_adaptive

    card = Card(title="t", text="Try `/ft status ftjob-1` or `plain code`.")
    slack = str(render_blocks(card))
    teams = str(render_adaptive(card))
    assert "/ft status ftjob-1" in slack and "@ftbot" not in slack
    assert "@ftbot status ftjob-1" in teams and "/ft status" not in teams
    assert "plain code" in teams
