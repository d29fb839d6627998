"""Renderer limits found in review: oversized button payloads, repeated long chart series names, Teams'
UTF-16 message size and Slack's total block text (`msg_blocks_too_long`). Each card must render, within
limits, saying what it left out."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from types import FrameType

import pytest

from cards import approvals, checkpoints
from cards import help as helpc
from cards.model import Button, Card, Chart, ChartSeries, Confirm, Table
from cards.payload import SLACK_VALUE_MAX, TEAMS_DATA_MAX, PayloadError
from cards.render_slack import SlackLimits, render_blocks, text_size
from cards.render_teams import MAX_CARD_BYTES, card_bytes, render_adaptive
from cards.views import CheckpointView, VerbHelp
from tests.cards.validate import assert_valid_blocks

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
# `_encode` escapes non-ASCII as \uXXXX: 400 CJK characters are 2,400 characters of payload.
CJK_ID = "ftjob-" + "模型微调" * 100


def _texts(node: object) -> str:
    return json.dumps(node, ensure_ascii=False)


def _card_with_big_button() -> Card:
    return Card(
        title="Job",
        buttons=(
            Button("Refresh", action="job.refresh", payload={"job": CJK_ID}),
            Button(
                "Cancel", action="job.cancel", payload={"job": "ftjob-abc"}, confirm=Confirm("Sure?", "x")
            ),
            Button("Events", action="job.events", payload={"job": CJK_ID}, confirm=Confirm("Sure?", "x")),
        ),
    )


def test_slack_leaves_out_a_button_whose_value_is_too_long_and_says_so() -> None:
    message = render_blocks(_card_with_big_button())
    assert_valid_blocks(message)
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Cancel"]
    assert all(len(e.get("value", "")) <= SLACK_VALUE_MAX for e in actions["elements"])
    assert "2 buttons left out" in _texts(message["blocks"])


def test_teams_leaves_out_a_button_whose_data_is_too_long_and_says_so() -> None:
    table = Table(
        ("Job",),
        ((CJK_ID,), ("ftjob-abc",)),
        row_actions=(
            Button("Open", action="job.show", payload={"job": CJK_ID}),
            Button("Open", action="job.show", payload={"job": "ftjob-abc"}),
        ),
    )
    refresh = Button("Refresh", action="job.refresh", payload={"job": CJK_ID})
    card = Card(title="Job", buttons=_card_with_big_button().buttons, tables=(table,), refresh=refresh)
    rendered = render_adaptive(card)
    assert [a["title"] for a in rendered["actions"]] == ["Cancel"]
    assert "2 buttons were left out" in _texts(rendered["body"])
    assert "refresh" not in rendered
    (grid,) = [b for b in rendered["body"] if b["type"] == "Table"]
    first_cells = [r["cells"][0] for r in grid["rows"]]
    assert "selectAction" not in first_cells[1] and "selectAction" in first_cells[2]
    for data in _datas(rendered):
        assert len(json.dumps(data, separators=(",", ":"))) <= TEAMS_DATA_MAX


def _datas(node: object) -> Iterator[object]:
    if isinstance(node, dict):
        if "data" in node:
            yield node["data"]
        for value in node.values():
            yield from _datas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datas(value)


def test_a_malformed_button_is_still_a_programming_error() -> None:
    with pytest.raises(PayloadError):
        render_blocks(Card(title="t", buttons=(Button("Go", action="Not An Action"),)))
    with pytest.raises(PayloadError):
        render_adaptive(Card(title="t", buttons=(Button("Go", action="Not An Action"),)))


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail (rather than hang the test run) when rendering takes more than 5 s."""

    def fire(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError("render_blocks still running after 5 s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("count", "name"), [(2, "a" * 25), (3, "a" * 25), (6, "a" * 19), (3, "short")])
def test_chart_series_names_are_made_unique_without_looping(alarm: None, count: int, name: str) -> None:
    series = tuple(ChartSeries(name, ((0.0, 1.0), (1.0, 2.0))) for _ in range(count))
    message = render_blocks(Card(title="t", charts=(Chart("T", "x", "y", series, "alt"),)))
    names = [s["name"] for s in message["blocks"][1]["chart"]["series"]]
    assert len(set(names)) == count
    assert all(0 < len(n) <= SlackLimits.CHART_NAME for n in names)


def test_teams_card_size_is_counted_in_utf16() -> None:
    cps = [
        CheckpointView(
            f"ftchkpt-{i:032x}",
            i * 10,
            model=f"gpt-4o-mini-2024-07-18.ft-abc:ckpt-step-{i * 10}",
            train_loss=0.5,
            valid_loss=0.6,
            train_accuracy=0.7,
            valid_accuracy=0.7,
            deployable=i > 96,
        )
        for i in range(100)
    ]
    rendered = render_adaptive(checkpoints.checkpoints_card("ftjob-abc", cps, job_status="succeeded"))
    wire = json.dumps(rendered, ensure_ascii=False, separators=(",", ":"))
    # Teams counts the message in UTF-16 (100 KB, 80 KB advised): ASCII JSON is two bytes a character.
    assert len(wire.encode("utf-16-le")) <= MAX_CARD_BYTES
    assert card_bytes(rendered) == len(wire.encode("utf-16-le"))
    assert "more rows not shown" in wire


LONG = "x" * 5000


def _usage_card() -> Card:
    options = tuple((f"--option-{j} {LONG}", LONG) for j in range(300))
    verb = VerbHelp(name="status", summary=LONG, usage=LONG, example=LONG, options=options)
    return helpc.usage_card(verb, problem=LONG)


def _approval_card() -> Card:
    view = approvals.ApprovalView(
        id="ap1", state="pending", model=LONG, deployment=LONG, sku="Standard", capacity=1, resource=LONG,
        account=LONG, region=LONG, subscription=LONG, requester=LONG, created_at=NOW, expires_at=NOW,
        job_id=LONG, base_model=LONG, crossing=(LONG,), price_note=LONG, required_approvals=3,
        approved_by=(LONG, LONG), reason=LONG, warnings=(LONG, LONG),
    )  # fmt: skip
    return approvals.approval_card(view, NOW)


@pytest.mark.parametrize("make", [_usage_card, _approval_card], ids=["usage", "approval"])
@pytest.mark.parametrize("native", [True, False])
def test_slack_block_text_stays_within_the_total_budget(make: object, native: bool) -> None:
    card = make()  # type: ignore[operator]
    assert text_size(render_blocks(card, native=native, text_budget=10**9)["blocks"]) > 13_000
    message = render_blocks(card, native=native)
    assert_valid_blocks(message)
    assert text_size(message["blocks"]) <= SlackLimits.BLOCKS_TEXT
    assert "more parts not shown" in _texts(message["blocks"][-3:])
    assert message["blocks"][0]["type"] == "header"
    assert any(b["type"] == "actions" for b in message["blocks"]) == bool(card.buttons)


def test_a_smaller_text_budget_cuts_more() -> None:
    card = _approval_card()
    assert text_size(render_blocks(card, text_budget=5_000)["blocks"]) <= 5_000
