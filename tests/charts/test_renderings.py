"""The native chart renderings against the platforms' published rules, and the whole cards against the
existing Block Kit and Adaptive Card checks."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cards.loss_chart import loss_chart_card
from cards.model import Card, Chart, ChartSeries
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from handlers.chart import build_view
from tests.cards.blockkit_limits import violations
from tests.cards.validate import (
    adaptive_problems,
    assert_valid_adaptive,
    assert_valid_blocks,
    chart_line_problems,
)
from tests.charts.emulated import EmulatedRun, dpo_run, good_run, no_validation_run, overfit_run

JOB = "ftjob-" + "b" * 32
RUNS = {"good": good_run, "overfit": overfit_run, "no validation": no_validation_run, "dpo": dpo_run}


def _card(run: EmulatedRun, metric: str = "both", running: bool = False) -> Card:
    view = build_view(
        JOB,
        "running" if running else "succeeded",
        run.columns,
        run.checkpoints(),
        metric=metric,  # type: ignore[arg-type]
        running=running,
        n_epochs=run.run.hyperparameters.n_epochs,
        total_steps=500 if running else None,
    )
    return loss_chart_card(view)


@pytest.mark.parametrize("name", list(RUNS))
def test_slack_chart_blocks_follow_the_data_visualization_rules(name: str) -> None:
    message = render_blocks(_card(RUNS[name]()))
    assert_valid_blocks(message)
    charts = [b for b in message["blocks"] if b["type"] == "data_visualization"]
    assert 1 <= len(charts) <= 2
    for chart in charts:
        assert len(chart["title"]) <= 50 and chart["chart"]["type"] == "line"
        series = chart["chart"]["series"]
        assert 1 <= len(series) <= 6 and len({s["name"] for s in series}) == len(series)
        categories = chart["chart"]["axis_config"]["categories"]
        assert 1 <= len(categories) <= 20
        assert all([p["label"] for p in s["data"]] == categories for s in series)
    tables = [b for b in message["blocks"] if b["type"] == "table"]
    assert len(tables) == 1 and tables[0]["rows"][0][0]["text"] == "Checkpoint"
    # The facts are in the text too, for screen readers and clients without charts.
    assert "cannot judge overfitting" in message["text"] or "overfitting" in message["text"].lower()


def test_the_checker_catches_broken_charts() -> None:
    message = render_blocks(_card(good_run()))
    chart = next(b for b in message["blocks"] if b["type"] == "data_visualization")
    broken = json.loads(json.dumps(chart))
    broken["title"] = "x" * 51
    broken["chart"]["series"][1]["name"] = broken["chart"]["series"][0]["name"]
    broken["chart"]["series"][0]["data"] = broken["chart"]["series"][0]["data"][1:]
    problems = violations({"text": "t", "blocks": [broken, chart, chart]})
    assert any("title" in p for p in problems)
    assert any("unique" in p for p in problems)
    assert any("match the axis categories" in p for p in problems)
    assert any("at most 2" in p for p in problems)


def test_slack_without_native_blocks_keeps_the_text() -> None:
    card = _card(overfit_run())
    plain = render_blocks(card, native=False)
    assert_valid_blocks(plain)
    assert not any(b["type"] in ("data_visualization", "table") for b in plain["blocks"])
    assert "Overfitting" in json.dumps(plain)


@pytest.mark.parametrize("name", list(RUNS))
def test_teams_chart_line_follows_the_documented_properties(name: str) -> None:
    card = render_adaptive(_card(RUNS[name]()))
    assert_valid_adaptive(card)
    lines = [e for e in card["body"] if e.get("type") == "Chart.Line"]
    assert 1 <= len(lines) <= 2
    for line in lines:
        assert chart_line_problems(line) == []
        # A client without charts drops the element; the facts stay in the card's own text.
        assert line["fallback"] == "drop"
        assert all(isinstance(v["x"], int) for s in line["data"] for v in s["values"])
        # Teams puts 5 evenly spaced ticks from the first x to the last: whole steps, not "20.3" (where the
        # buckets are wide enough to choose from; a run of a few dozen steps may keep "10.5").
        xs = [v["x"] for v in line["data"][0]["values"]]
        assert xs == sorted(set(xs)), xs
        assert (xs[-1] - xs[0]) % 4 == 0 or xs[1] - xs[0] < 2, xs
    texts = " ".join(e.get("text", "") for e in card["body"] if e.get("type") == "TextBlock")
    assert "loss" in texts and "step" in texts


def test_teams_checker_catches_undocumented_chart_properties() -> None:
    card = render_adaptive(_card(good_run()))
    line = next(e for e in card["body"] if e.get("type") == "Chart.Line")
    line["points"] = 3
    line["data"][0]["color"] = "hotPink"
    problems = adaptive_problems(card)
    assert any("'points'" in p for p in problems) and any("hotPink" in p for p in problems)


def test_a_running_job_is_titled_so_far() -> None:
    card = _card(good_run(), "loss", running=True)
    assert card.title.startswith("Training so far")
    assert card.charts[0].title == "Loss so far (step 96 of 500)"
    assert len(card.charts[0].title) <= 50


def test_long_series_are_cut_to_what_the_blocks_allow() -> None:
    points = tuple((float(i), 1 / (1 + i)) for i in range(1, 100_001))
    chart = Chart("Loss", "training step", "loss", (ChartSeries("training", points, "train"),), "alt")
    card = replace(Card(title="t"), charts=(chart,))
    slack = render_blocks(card)
    assert_valid_blocks(slack)
    teams = render_adaptive(card)
    assert_valid_adaptive(teams)
    assert len(next(e for e in teams["body"] if e.get("type") == "Chart.Line")["data"][0]["values"]) <= 40


def test_job_and_checkpoint_cards_carry_a_chart_button() -> None:
    from cards.checkpoints import checkpoints_card
    from cards.jobs import CHART
    from cards.views import CheckpointView

    card = checkpoints_card(JOB, [CheckpointView("ftchkpt-1", 10, "m:ckpt-step-10", 0.5, 0.6, 0.6, 0.8, 0.7)])
    assert [(b.label, b.action, dict(b.payload)) for b in card.buttons] == [("Chart", CHART, {"job": JOB})]
    assert_valid_blocks(render_blocks(card))
    assert_valid_adaptive(render_adaptive(card))
