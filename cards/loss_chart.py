"""The loss chart card: the analysis in words, native line charts (loss, accuracy), the checkpoints table.

The adapters add the full-resolution picture (`cards.charts.render_png` of `card.charts`): Slack uploads it
into the card's thread, Teams shows it as an Image in the card.

>>> view = LossChartView(job_id="ftjob-1", status="succeeded", lines=("No validation data: cannot judge overfitting.",))
>>> loss_chart_card(view).title
'Training chart · ftjob-1'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cards.charts import PNG_POINTS
from cards.jobs import CHART
from cards.markup import literal
from cards.model import Button, Card, Chart, ChartMark, ChartRole, ChartSeries, Table, Tone

Points = tuple[tuple[float, float], ...]
Metric = Literal["loss", "accuracy", "both"]
X_LABEL = "training step"
LOSS_LABEL = "loss (cross-entropy per token)"
ACCURACY_LABEL = "mean token accuracy (%)"
# Series names: at most 20 characters (Slack's limit), unique within a chart.
NAMES: Mapping[str, tuple[str, ChartRole]] = {
    "train_loss": ("training", "train"),
    "valid_loss": ("validation", "valid"),
    "full_valid_loss": ("full validation", "full_valid"),
    "train_mean_token_accuracy": ("training", "train"),
    "valid_mean_token_accuracy": ("validation", "valid"),
    "full_valid_mean_token_accuracy": ("full validation", "full_valid"),
}
LOSS_COLUMNS = ("train_loss", "valid_loss", "full_valid_loss")
ACCURACY_COLUMNS = (
    "train_mean_token_accuracy",
    "valid_mean_token_accuracy",
    "full_valid_mean_token_accuracy",
)


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    id: str
    step: int
    loss: float | None  # full validation loss (else validation loss) at the checkpoint
    deployable: bool = False


@dataclass(frozen=True, slots=True)
class LossChartView:
    """What the builder needs; the series are already downsampled for the picture (every point analysed)."""

    job_id: str
    status: str
    lines: tuple[str, ...]
    series: Mapping[str, Points] = field(default_factory=dict)  # column name -> points
    metric: Metric = "loss"
    running: bool = False
    last_step: int = 0
    total_steps: int | None = None
    epoch_ends: tuple[int, ...] = ()
    checkpoints: tuple[CheckpointRow, ...] = ()
    best: tuple[int, float] | None = None
    deploy_id: str | None = None
    resource: str | None = None


def _so_far(view: LossChartView) -> str:
    if not view.running:
        return ""
    of = f" of {view.total_steps}" if view.total_steps else ""
    return f" so far (step {view.last_step}{of})"


def _series(view: LossChartView, columns: tuple[str, ...], scale: float = 1.0) -> tuple[ChartSeries, ...]:
    out = []
    for column in columns:
        points = view.series.get(column)
        if points:
            name, role = NAMES[column]
            scaled = points if scale == 1.0 else tuple((x, y * scale) for x, y in points)
            out.append(ChartSeries(name, tuple(scaled), role))
    return tuple(out)


def _y_at(points: Points, step: int) -> float | None:
    """The value at `step`, or at the nearest drawn step (the series may be downsampled)."""
    if not points:
        return None
    return min(points, key=lambda p: abs(p[0] - step))[1]


def _loss_chart(view: LossChartView) -> Chart | None:
    series = _series(view, LOSS_COLUMNS)
    if not series:
        return None
    marks: list[ChartMark] = [ChartMark("epoch", float(e)) for e in view.epoch_ends]
    for c in view.checkpoints:
        y = c.loss if c.loss is not None else _y_at(view.series.get("train_loss", ()), c.step)
        marks.append(ChartMark("checkpoint", float(c.step), y, c.id))
    if view.best is not None:
        step, value = view.best
        label = "deploy this one" if view.deploy_id else "lowest validation loss"
        marks.append(ChartMark("best", float(step), value, f"{label} (step {step})"))
    names = " and ".join(s.name for s in series)
    alt = f"Line chart of {names} loss by training step{_so_far(view)}. " + " ".join(view.lines)
    return Chart(f"Loss{_so_far(view)}", X_LABEL, LOSS_LABEL, series, alt.strip(), tuple(marks))


def _accuracy_chart(view: LossChartView) -> Chart | None:
    series = _series(view, ACCURACY_COLUMNS, 100.0)
    if not series:
        return None
    marks = tuple(ChartMark("epoch", float(e)) for e in view.epoch_ends)
    names = " and ".join(s.name for s in series)
    alt = f"Line chart of {names} mean token accuracy by training step{_so_far(view)}."
    return Chart(f"Mean token accuracy{_so_far(view)}", X_LABEL, ACCURACY_LABEL, series, alt, marks)


def _checkpoint_table(view: LossChartView) -> Table | None:
    if not view.checkpoints:
        return None
    rows = tuple(
        (
            literal(c.id) + (" (deploy)" if c.id == view.deploy_id else ""),
            str(c.step),
            "-" if c.loss is None else f"{c.loss:.3f}",
            "yes" if c.deployable else "no",
        )
        for c in sorted(view.checkpoints, key=lambda c: c.step)
    )
    return Table(
        ("Checkpoint", "Step", "Validation loss", "Deployable"), rows, title="Checkpoints", native=True
    )


def _buttons(view: LossChartView) -> tuple[Button, ...]:
    """Loss alone by default; one click adds the accuracy panel (same job, same resource)."""
    if view.metric != "loss" or not view.series:
        return ()
    payload = {"job": view.job_id, "metric": "both", **({"resource": view.resource} if view.resource else {})}
    return (Button("Loss and accuracy", CHART, payload),)


def loss_chart_card(view: LossChartView) -> Card:
    """The chart card. With no series at all (an empty results file) it says so instead of drawing."""
    charts: list[Chart] = []
    if view.metric in ("loss", "both"):
        chart = _loss_chart(view)
        if chart is not None:
            charts.append(chart)
    if view.metric in ("accuracy", "both"):
        chart = _accuracy_chart(view)
        if chart is not None:
            charts.append(chart)
    title = f"Training {'so far' if view.running else 'chart'} · {literal(view.job_id)}"
    lines = view.lines if charts else ("The results file has no values to draw yet.", *view.lines)
    table = _checkpoint_table(view)
    tone = Tone.WARNING if any(line.startswith("Overfitting") for line in lines) else Tone.INFO
    text = "\n".join(f"• {line}" for line in lines)
    return Card(
        title=title,
        tone=tone,
        text=text,
        charts=tuple(charts),
        tables=(table,) if table else (),
        buttons=_buttons(view),
        badge=literal(view.status),
        summary=f"{title}. " + " ".join(lines),
        footer=f"Every step of the results file is analysed; the picture shows its shape at up to "
        f"{PNG_POINTS:,} points per line.",
    )


__all__ = ["CheckpointRow", "LossChartView", "loss_chart_card"]
