"""Charts: shape-preserving downsampling, the few points a native chart block takes, and the PNG picture.

Nothing heavy at import time: numpy and matplotlib (Agg) are imported inside the functions that need them,
so importing the bot (and its ack path) does not pay for them. `render_png` is CPU work: call it in a worker
thread (`await asyncio.to_thread(render_png, card.charts)`).

Long runs are cut down with MinMaxLTTB (min/max preselection, then Largest-Triangle-Three-Buckets; Van Der
Donckt et al. 2023) before drawing: a 100,000-step curve keeps its shape, spikes included, at ~2,000 points.

>>> [round(x) for x, _ in downsample([(float(i), float(i % 7)) for i in range(1000)], 10)][:2]
[0, 6]
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from cards.model import Chart, ChartSeries

# Enough for a 1200-px-wide picture: about two points per pixel column of the plot area.
PNG_POINTS = 2000
# The picture: 1200 px wide (sharp on a phone, not huge in a channel), one panel 16:9, two panels taller.
WIDTH_PX = 1200
PANEL_HEIGHT_PX = 675
TWO_PANEL_HEIGHT_PX = 1050
DPI = 150

# One colour per role, used by the PNG and mapped to the nearest named colour on each platform.
COLOURS = {
    "train": "#1f5fbf",  # blue
    "valid": "#e8590c",  # orange
    "full_valid": "#2b8a3e",  # green
    "other": "#6741d9",  # violet
}
BEST_COLOUR = "#c92a2a"  # red ring around the best checkpoint
EPOCH_COLOUR = "#adb5bd"
BACKGROUND = "#ffffff"  # explicit: the picture stays readable in dark mode


# -- downsampling ------------------------------------------------------------------------------------------


def lttb_indices(x: Any, y: Any, n_out: int) -> Any:
    """Largest-Triangle-Three-Buckets: indices of `n_out` points that keep the curve's visual shape.

    Plain Python over lists: after the min/max preselection a bucket holds a handful of points, where
    per-call numpy overhead would cost more than the arithmetic.
    """
    import numpy as np

    size = len(x)
    if n_out >= size or n_out < 3:
        return np.arange(size)
    xs, ys = np.asarray(x, dtype=np.float64).tolist(), np.asarray(y, dtype=np.float64).tolist()
    edges = np.linspace(1, size - 1, n_out - 1).astype(np.int64).tolist()  # n_out - 2 buckets
    edges.append(size)
    out = [0]
    previous = 0
    for i in range(n_out - 2):
        start, stop = edges[i], max(edges[i + 1], edges[i] + 1)
        nxt_stop = max(edges[i + 2] if i + 2 < len(edges) else size, stop + 1)
        nxt_stop = min(nxt_stop, size)
        count = max(1, nxt_stop - stop)
        cx = sum(xs[stop:nxt_stop]) / count if nxt_stop > stop else xs[-1]
        cy = sum(ys[stop:nxt_stop]) / count if nxt_stop > stop else ys[-1]
        ax, ay = xs[previous], ys[previous]
        best, chosen = -1.0, start
        for j in range(start, min(stop, size - 1)):
            area = abs((ax - cx) * (ys[j] - ay) - (ax - xs[j]) * (cy - ay))
            if area > best:
                best, chosen = area, j
        out.append(chosen)
        previous = chosen
    out.append(size - 1)
    return np.asarray(out, dtype=np.int64)


def minmax_lttb_indices(x: Any, y: Any, n_out: int, ratio: int = 4) -> Any:
    """MinMaxLTTB: keep each bin's min and max (vectorised), then LTTB over those `ratio * n_out` points."""
    import numpy as np

    size = len(x)
    if size <= n_out * ratio or n_out < 3:
        return lttb_indices(x, y, n_out)
    bins = n_out * ratio // 2
    inner = size - 2
    width = inner // bins
    body = y[1 : 1 + width * bins].reshape(bins, width)
    base = 1 + np.arange(bins) * width
    picked = np.concatenate([base + body.argmin(axis=1), base + body.argmax(axis=1)])
    tail = np.arange(1 + width * bins, size - 1)  # what did not fill a whole bin
    keep = np.unique(np.concatenate([[0], picked, tail, [size - 1]]))
    return keep[lttb_indices(x[keep], y[keep], n_out)]


def downsample(points: Sequence[tuple[float, float]], n_out: int) -> tuple[tuple[float, float], ...]:
    """`points` cut to at most `n_out` with MinMaxLTTB; short series come back unchanged."""
    if len(points) <= n_out:
        return tuple(points)
    import numpy as np

    xy = np.asarray(points, dtype=np.float64)
    keep = minmax_lttb_indices(xy[:, 0], xy[:, 1], n_out)
    return tuple((float(a), float(b)) for a, b in xy[keep])


def downsample_arrays(x: Any, y: Any, n_out: int) -> tuple[tuple[float, float], ...]:
    """The same for numpy arrays (NaNs dropped first): the builders' path for long runs."""
    import numpy as np

    finite = np.isfinite(y)
    x, y = x[finite].astype(np.float64), y[finite].astype(np.float64)
    keep = minmax_lttb_indices(x, y, n_out) if len(x) > n_out else np.arange(len(x))
    return tuple(zip(x[keep].tolist(), y[keep].tolist(), strict=True))


# -- native charts: few shared categories ------------------------------------------------------------------


def native_grid(
    chart: Chart, max_points: int, max_series: int = 6
) -> tuple[list[str], list[tuple[ChartSeries, list[float]]]]:
    """The chart on at most `max_points` shared x categories: each series' mean in each x bucket.

    Native chart blocks want every series to have one value per category, so a series that is empty in
    some bucket (e.g. full validation loss, measured only at epoch ends) is left out here; the picture and
    the text still carry it. Category labels are the bucket's last step (`"step 120"` would not fit 20).
    """
    # Only finite values can be sent (JSON has no NaN or infinity); a series without any is left out.
    finite = [(s, [p for p in s.points if math.isfinite(p[0]) and math.isfinite(p[1])]) for s in chart.series]
    dense = [(s, ps) for s, ps in finite if ps]
    if not dense:
        return [], []
    lo = min(p[0] for _, ps in dense for p in ps)
    hi = max(p[0] for _, ps in dense for p in ps)
    count = max(1, min(max_points, max(len(ps) for _, ps in dense)))
    span = (hi - lo) or 1.0
    edges = [lo + span * i / count for i in range(count + 1)]

    def bucket(x: float) -> int:
        return min(count - 1, int((x - lo) / span * count))

    rows: list[tuple[ChartSeries, list[float]]] = []
    for series, finite_points in dense:
        sums, counts = [0.0] * count, [0] * count
        for x, y in finite_points:
            b = bucket(x)
            sums[b] += y
            counts[b] += 1
        rows.append((series, [s / c if c else math.nan for s, c in zip(sums, counts, strict=True)]))
    # Buckets no series has anything in (gaps in the steps) are dropped for everyone.
    used = [i for i in range(count) if any(not math.isnan(v[i]) for _, v in rows)]
    rows = [(s, [v[i] for i in used]) for s, v in rows]
    rows = [(s, v) for s, v in rows if not any(math.isnan(x) for x in v)][:max_series]
    labels = [_x_label(edges[i + 1] if i + 1 < count else hi) for i in used]
    return _unique(labels), rows


def _x_label(x: float) -> str:
    return str(round(x))


def _unique(labels: list[str]) -> list[str]:
    """Category labels must be unique; rounding can make two alike (a `'` marks the repeat)."""
    seen: set[str] = set()
    out = []
    for label in labels:
        while label in seen:
            label += "'"
        seen.add(label)
        out.append(label)
    return out


# -- the picture -------------------------------------------------------------------------------------------


def png_size(panels: int) -> tuple[int, int]:
    """Width and height in pixels of the picture with this many panels."""
    return WIDTH_PX, PANEL_HEIGHT_PX if panels <= 1 else TWO_PANEL_HEIGHT_PX


def render_png(charts: Sequence[Chart], *, points: int | None = PNG_POINTS) -> bytes:
    """One PNG with a panel per chart (at most two), on a white background, sized for chat.

    Series longer than `points` are downsampled first (None: draw every point, the benchmark's baseline).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    panels = list(charts[:2])
    width, height = png_size(len(panels))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=BACKGROUND)
    # Fixed margins (in figure fractions) rather than a layout engine: the same picture, a third faster.
    top_room = 0.07 if len(panels) <= 1 else 0.045
    figure.subplots_adjust(
        left=0.075, right=0.975, bottom=0.10 if len(panels) <= 1 else 0.065, top=1 - top_room, hspace=0.22
    )
    axes = figure.subplots(max(1, len(panels)), 1, squeeze=False, sharex=True)[:, 0]
    for ax, chart in zip(axes, panels, strict=False):
        _draw(ax, chart, points)
    axes[-1].set_xlabel(panels[-1].x_label if panels else "step", fontsize=9)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, facecolor=BACKGROUND)
    return out.getvalue()


def _draw(ax: Any, chart: Chart, points: int | None) -> None:
    ax.set_facecolor(BACKGROUND)
    # An explicit `y` spares matplotlib its title-placement search (a fifth of the drawing time).
    ax.set_title(chart.title, fontsize=10, loc="left", y=1.0, pad=6)
    ax.set_ylabel(chart.y_label, fontsize=9)
    ax.grid(True, color="#e9ecef", linewidth=0.6)
    ax.tick_params(labelsize=8)
    for mark in chart.marks:
        if mark.kind == "epoch":
            ax.axvline(mark.x, color=EPOCH_COLOUR, linewidth=0.8, linestyle="--", zorder=1)
    for series in chart.series:
        data = [p for p in series.points if math.isfinite(p[0]) and math.isfinite(p[1])]
        data = list(data if points is None else downsample(data, points))
        if not data:
            continue
        xs, ys = zip(*data, strict=True)
        colour = COLOURS.get(series.role, COLOURS["other"])
        sparse = series.role == "full_valid" or len(data) < 30
        ax.plot(
            xs,
            ys,
            color=colour,
            label=series.name,
            linewidth=1.8 if series.role == "full_valid" else 1.1,
            marker="o" if sparse else None,
            markersize=4,
            alpha=0.95,
            zorder=3 if series.role == "full_valid" else 2,
        )
    for mark in chart.marks:
        if mark.y is not None and not math.isfinite(mark.y):
            continue
        if mark.kind == "checkpoint" and mark.y is not None:
            ax.plot([mark.x], [mark.y], marker="D", color="#212529", markersize=5, zorder=4, linestyle="")
        elif mark.kind == "best" and mark.y is not None:
            ax.plot(
                [mark.x], [mark.y], marker="o", markersize=13, markerfacecolor="none",
                markeredgecolor=BEST_COLOUR, markeredgewidth=2.2, zorder=5, linestyle="",
            )  # fmt: skip
            if mark.label:
                ax.annotate(
                    mark.label, (mark.x, mark.y), xytext=(-10, 12), textcoords="offset points",
                    fontsize=8, color=BEST_COLOUR, ha="right",
                )  # fmt: skip
    if chart.series:
        # Above the plot, right of the title: it never hides a line, and costs no placement search.
        ax.legend(
            fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(chart.series),
            frameon=False, borderaxespad=0.2, handlelength=1.6,
        )  # fmt: skip


__all__ = [
    "COLOURS",
    "PNG_POINTS",
    "downsample",
    "downsample_arrays",
    "lttb_indices",
    "minmax_lttb_indices",
    "native_grid",
    "png_size",
    "render_png",
]
