"""Property tests: any chart (odd names, any number of series and points, repeated or huge x, non-finite y)
renders natively within Slack's and Teams' rules, or is left out, never breaking the message."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards.model import Card, Chart, ChartSeries
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

ODD = st.text(st.characters(codec="utf-8"), max_size=40)
number = st.floats(allow_nan=True, allow_infinity=True, width=32)
points = st.lists(st.tuples(st.floats(-1e6, 1e9, allow_nan=False, width=32), number), max_size=300).map(
    lambda ps: tuple(sorted(ps, key=lambda p: p[0]))
)
series = st.builds(ChartSeries, ODD, points, st.sampled_from(["train", "valid", "full_valid", "other"]))
chart = st.builds(Chart, ODD, ODD, ODD, st.lists(series, max_size=8).map(tuple), ODD)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(chart, max_size=3))
def test_any_chart_renders_within_the_rules(charts: list[Chart]) -> None:
    card = Card(title="Chart", charts=tuple(charts))
    slack = render_blocks(card)
    assert_valid_blocks(slack)
    teams = render_adaptive(card)
    assert_valid_adaptive(teams)
    for block in slack["blocks"]:
        if block["type"] == "data_visualization":
            assert all(math.isfinite(p["value"]) for s in block["chart"]["series"] for p in s["data"])


def test_the_picture_skips_values_it_cannot_draw() -> None:
    from cards.charts import render_png

    odd = ChartSeries("training", ((1.0, math.inf), (2.0, 1.0), (3.0, math.nan), (4.0, 0.5)), "train")
    png = render_png([Chart("Loss", "step", "loss", (odd, ChartSeries("empty", (), "valid")), "alt")])
    assert png.startswith(b"\x89PNG")
