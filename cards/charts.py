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

import math
import struct
import threading
import zlib
from collections.abc import Sequence
from typing import Any, ClassVar

from cards.model import Chart, ChartSeries

# The picture: 1200 px wide (sharp on a phone, not huge in a channel), one panel 16:9, two panels taller.
WIDTH_PX = 1200
PANEL_HEIGHT_PX = 675
TWO_PANEL_HEIGHT_PX = 1050
DPI = 150
# The plot area between the fixed margins (figure fractions; see `_Template`).
PLOT_LEFT, PLOT_RIGHT = 0.075, 0.975
# One point per pixel column of the plot area (1,080): MinMaxLTTB's output size for a picture that looks the
# same as drawing every point (Van Der Donckt et al. 2023); more points only cost drawing time.
PNG_POINTS = round(WIDTH_PX * (PLOT_RIGHT - PLOT_LEFT))
# Glyphs drawn without hinting: a fifth of the text's drawing time at this resolution, no visible difference
# (matplotlib 3.11 renders glyph by glyph, and hinting them was the costly part).
_RC: Any = {"text.hinting": "no_hinting"}

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

    Vectorised: for every bucket, the best point is worked out for each possible choice in the bucket before
    (a table of triangle areas, all buckets at once); then the choices are chained from the first point, the
    only sequential part, a list lookup per bucket. Same picks as the textbook loop.
    """
    import numpy as np

    size = len(x)
    if n_out >= size or n_out < 3:
        return np.arange(size)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    edges = np.append(np.linspace(1, size - 1, n_out - 1).astype(np.int64), size)  # n_out - 2 buckets
    start = edges[:-2]
    stop = np.maximum(edges[1:-1], start + 1)
    after = np.minimum(
        np.maximum(edges[2:], stop + 1), size
    )  # the next bucket, whose centroid is the third corner
    count = after - stop
    sum_x, sum_y = np.concatenate(([0.0], np.cumsum(x))), np.concatenate(([0.0], np.cumsum(y)))
    cx = np.where(count > 0, (sum_x[after] - sum_x[stop]) / np.maximum(count, 1), x[-1])
    cy = np.where(count > 0, (sum_y[after] - sum_y[stop]) / np.maximum(count, 1), y[-1])
    last = np.minimum(stop, size - 1)
    width = int(max(1, (last - start).max()))
    candidates = start[:, None] + np.arange(width)
    valid = candidates < last[:, None]
    valid[:, 0] = True  # a bucket without candidates keeps its start
    candidates = np.minimum(candidates, size - 1)
    px, py = x[candidates], y[candidates]
    # The first corner: the first point for bucket 0, else each candidate of the bucket before.
    ax = np.concatenate((np.full((1, width), x[0]), px[:-1]))[:, :, None]
    ay = np.concatenate((np.full((1, width), y[0]), py[:-1]))[:, :, None]
    area = np.abs(
        (ax - cx[:, None, None]) * (py[:, None, :] - ay) - (ax - px[:, None, :]) * (cy[:, None, None] - ay)
    )
    choice = np.where(valid[:, None, :], area, -1.0).argmax(axis=2).tolist()  # first of equals, as the loop
    picked, rows = [0], candidates.tolist()
    k = 0
    for row, best in zip(rows, choice, strict=True):
        k = best[k]
        picked.append(row[k])
    picked.append(size - 1)
    return np.asarray(picked, dtype=np.int64)


def minmax_lttb_indices(x: Any, y: Any, n_out: int, ratio: int = 4) -> Any:
    """MinMaxLTTB: keep each bin's min and max (vectorised), then LTTB over those `ratio * n_out` points."""
    import numpy as np

    size = len(x)
    if size <= n_out * ratio or n_out < 3:
        return lttb_indices(x, y, n_out)
    inner = size - 2  # the first and last points are always kept
    width = -(-inner // (n_out * ratio // 2))
    bins = -(-inner // width)
    # Bins of equal width; the last one padded with its last value (an index past the end means that point).
    padded = np.empty(bins * width)
    padded[:inner], padded[inner:] = y[1:-1], y[-2]
    body = np.ascontiguousarray(padded.reshape(bins, width).T)  # a row per offset: reductions along long rows
    base = 1 + np.arange(bins) * width
    keep = np.zeros(size, dtype=bool)
    keep[[0, -1]] = True
    keep[np.minimum(base + body.argmin(axis=0), size - 2)] = True
    keep[np.minimum(base + body.argmax(axis=0), size - 2)] = True
    kept = np.flatnonzero(keep)
    return kept[lttb_indices(x[kept], y[kept], n_out)]


def downsample(points: Sequence[tuple[float, float]], n_out: int) -> tuple[tuple[float, float], ...]:
    """`points` cut to at most `n_out` with MinMaxLTTB; short series come back unchanged."""
    if len(points) <= n_out:
        return tuple(points)
    import numpy as np

    xy = np.asarray(points, dtype=np.float64)
    keep = minmax_lttb_indices(xy[:, 0], xy[:, 1], n_out)
    return tuple((float(a), float(b)) for a, b in xy[keep])


def downsample_arrays(x: Any, y: Any, n_out: int | None) -> tuple[tuple[float, float], ...]:
    """The same for numpy arrays (NaNs dropped first): the builders' path for long runs (None: every point)."""
    import numpy as np

    finite = np.isfinite(y)
    if finite.all():
        x, y = x.astype(np.float64), y.astype(np.float64, copy=False)
    else:
        x, y = x[finite].astype(np.float64), y[finite].astype(np.float64)
    if n_out is not None and len(x) > n_out:
        keep = minmax_lttb_indices(x, y, n_out)
        x, y = x[keep], y[keep]
    return tuple(zip(x.tolist(), y.tolist(), strict=True))


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
    The figure (axes, grid, fonts, ticks) is built once and reused; the PNG is written with zlib's fastest
    level, no filter (a chart is mostly flat colour: ~100 KiB, a fifth of Pillow's default encoding time).
    """
    import numpy as np

    panels = list(charts[:2])
    from matplotlib import rc_context

    template = _Template.take(max(1, len(panels)))
    for ax, chart in zip(template.axes, panels, strict=False):
        _draw(ax, chart, points)
        template.keys.extend(_key(ax))
    template.axes[-1].set_xlabel(panels[-1].x_label if panels else "step", fontsize=9)
    for ax in template.axes:
        ax.relim()
        ax.autoscale_view()
    _TextMemo.install(template.canvas.get_renderer())
    with rc_context(_RC):
        template.canvas.draw()
    png = _png(np.asarray(template.canvas.buffer_rgba()))
    template.give_back()
    return png


class _Template:
    """A figure ready to draw on: built once per panel count, kept idle between pictures.

    Matplotlib figures are not shared between threads: a picture takes an idle figure or builds its own,
    and gives it back cleared (at most one idle figure per panel count is kept, a few MB each).
    """

    _lock = threading.Lock()
    _idle: dict[int, _Template] = {}  # noqa: RUF012 (shared on purpose, under the lock)

    def __init__(self, panels: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        width, height = png_size(panels)
        self.panels = panels
        self.figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=BACKGROUND)
        self.canvas = FigureCanvasAgg(self.figure)
        # Fixed margins (in figure fractions) rather than a layout engine: the same picture, a third faster.
        top_room = 0.07 if panels <= 1 else 0.045
        self.figure.subplots_adjust(
            left=PLOT_LEFT,
            right=PLOT_RIGHT,
            bottom=0.10 if panels <= 1 else 0.065,
            top=1 - top_room,
            hspace=0.22,
        )
        self.axes = list(self.figure.subplots(panels, 1, squeeze=False, sharex=True)[:, 0])
        self.keys: list[Any] = []  # the series' keys, figure artists (see `_key`)
        for ax in self.axes:
            ax.set_facecolor(BACKGROUND)
            ax.grid(True, color="#e9ecef", linewidth=0.6)
            ax.tick_params(labelsize=8)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
            ax.xaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]))

    @classmethod
    def take(cls, panels: int) -> _Template:
        with cls._lock:
            idle = cls._idle.pop(panels, None)
        return idle if idle is not None else cls(panels)

    def give_back(self) -> None:
        """Clear what the last picture drew and keep the figure for the next one."""
        for artist in self.keys:
            artist.remove()
        self.keys.clear()
        for ax in self.axes:
            for artist in (*ax.lines, *ax.collections, *ax.texts):
                artist.remove()
            ax.set_title("", loc="left")
            ax.set_ylabel("")
            ax.set_xlabel("")
            ax.set(xlim=(0.0, 1.0), ylim=(0.0, 1.0))  # the limits of a new axes, autoscaled again on use
            ax.set_autoscale_on(True)
        with self._lock:
            self._idle.setdefault(self.panels, self)


class _TextMemo:
    """Text drawn once, then replayed: the glyph images matplotlib's Agg renderer composites for a string are
    recorded the first time it is drawn and composited again from the record the next times, pixel for pixel
    the same (the record is made by matplotlib itself; only its placement is replayed, by whole pixels).

    Matplotlib 3.11 lays out and renders text glyph by glyph, about 0.1 ms a glyph: the text was a third of a
    picture's drawing. Labels, titles, the key and tick labels at the same place recur from picture to picture
    (every run of the same length has the same step ticks). A glyph's image depends on the position's fraction
    of a pixel, so that is part of the key, with everything else that shapes the glyphs; the colour, alpha and
    clipping come from the graphics context at each drawing, as they would.

    A string whose drawing went through anything but `draw_text_image` (a box, a path) is not recorded: it is
    always drawn by matplotlib, as is mathtext."""

    _records: ClassVar[dict[tuple[Any, ...], tuple[tuple[Any, int, int, float], ...]]] = {}
    _LIMIT = 2048  # records kept (a few KB each); all dropped when full

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer
        self.draw_text_stock = renderer.draw_text

    @classmethod
    def install(cls, renderer: Any) -> None:
        """Route `renderer.draw_text` through the memo (once per renderer)."""
        if not isinstance(getattr(renderer, "draw_text", None), cls):
            renderer.draw_text = cls(renderer)

    def __call__(
        self,
        gc: Any,
        x: float,
        y: float,
        s: str,
        prop: Any,
        angle: float,
        ismath: Any = False,
        mtext: Any = None,
    ) -> None:
        import matplotlib as mpl

        if ismath:
            self.draw_text_stock(gc, x, y, s, prop, angle, ismath, mtext)
            return
        renderer = self.renderer
        whole_x, whole_y = math.floor(x), math.floor(y)
        features = getattr(mtext, "get_fontfeatures", None)
        language = getattr(mtext, "get_language", None)
        font = (  # what FontProperties hashes, as values (a Text's properties object can change later)
            tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(), prop.get_stretch(),
            prop.get_size(), prop.get_file(), prop.get_math_fontfamily(),
        )  # fmt: skip
        key = (
            s, font, angle, x - whole_x, y - whole_y, gc.get_antialiased(), renderer.dpi, renderer.height,
            mpl.rcParams["text.hinting"], mpl.rcParams["text.kerning_factor"],
            tuple(features() or ()) if features else None, language() if language else None,
        )  # fmt: skip
        record = self._records.get(key)
        if record is not None:
            for image, dx, dy, image_angle in record:
                renderer._renderer.draw_text_image(image, whole_x + dx, whole_y + dy, image_angle, gc)
            return
        recorder = _Recorder(renderer._renderer)
        renderer._renderer = recorder
        try:
            self.draw_text_stock(gc, x, y, s, prop, angle, ismath, mtext)
        finally:
            renderer._renderer = recorder.inner
        if recorder.other or (s.strip() and not recorder.images):
            return
        if len(self._records) >= self._LIMIT:
            self._records.clear()
        self._records[key] = tuple(
            (image, image_x - whole_x, image_y - whole_y, image_angle)
            for image, image_x, image_y, image_angle in recorder.images
        )


class _Recorder:
    """Stands for the Agg renderer's C core while matplotlib draws a string: keeps a copy of each glyph image
    it composites (and composites it), and notes any other drawing call (then nothing is recorded)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.images: list[tuple[Any, int, int, float]] = []
        self.other = False

    def draw_text_image(self, image: Any, x: int, y: int, angle: float, gc: Any) -> None:
        import numpy as np

        self.images.append((np.array(image, dtype=np.uint8, copy=True), int(x), int(y), angle))
        self.inner.draw_text_image(image, x, y, angle, gc)

    def __getattr__(self, name: str) -> Any:
        self.other = True
        return getattr(self.inner, name)


def _png(rgba: Any) -> bytes:
    """An RGB PNG of an RGBA buffer (the alpha is opaque: the background is painted), fast to write."""
    import numpy as np

    height, width = rgba.shape[:2]
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter: none
    for channel in range(3):  # a channel at a time: a quarter of the time of copying 3 bytes of every 4
        rows[:, 1 + channel :: 3] = rgba[:, :, channel]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(rows.data, 1)),
            chunk(b"IEND", b""),
        )
    )


def _draw(ax: Any, chart: Chart, points: int | None) -> None:
    import numpy as np
    from matplotlib.collections import LineCollection

    # An explicit `y` spares matplotlib its title-placement search (a fifth of the drawing time).
    ax.set_title(chart.title, fontsize=10, loc="left", y=1.0, pad=6)
    ax.set_ylabel(chart.y_label, fontsize=9)
    epochs = [mark.x for mark in chart.marks if mark.kind == "epoch" and math.isfinite(mark.x)]
    if epochs:  # one artist for all epoch lines, kept out of the data limits (it spans the axes' height)
        lines = LineCollection(
            [((x, 0.0), (x, 1.0)) for x in epochs], transform=ax.get_xaxis_transform(),
            colors=EPOCH_COLOUR, linewidths=0.8, linestyles="--", zorder=1,
        )  # fmt: skip
        ax.add_collection(lines, autolim=False)
    for series in chart.series:
        xy = np.asarray(series.points, dtype=np.float64).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if points is not None and len(xy) > points:
            xy = xy[minmax_lttb_indices(xy[:, 0], xy[:, 1], points)]
        if not len(xy):
            continue
        colour = COLOURS.get(series.role, COLOURS["other"])
        sparse = series.role == "full_valid" or len(xy) < 30
        ax.plot(
            xy[:, 0],
            xy[:, 1],
            color=colour,
            label=series.name,
            linewidth=1.8 if series.role == "full_valid" else 1.1,
            marker="o" if sparse else None,
            markersize=4,
            alpha=0.95,
            zorder=3 if series.role == "full_valid" else 2,
        )
    marks = [mark for mark in chart.marks if mark.y is not None and math.isfinite(mark.y)]
    checkpoints = [(mark.x, mark.y) for mark in marks if mark.kind == "checkpoint"]
    if checkpoints:  # one artist for all of them (the same markers as one each)
        xs, ys = zip(*checkpoints, strict=True)
        ax.plot(xs, ys, marker="D", color="#212529", markersize=5, zorder=4, linestyle="")
    for mark in marks:
        if mark.kind == "best" and mark.y is not None:
            ax.plot(
                [mark.x], [mark.y], marker="o", markersize=13, markerfacecolor="none",
                markeredgecolor=BEST_COLOUR, markeredgewidth=2.2, zorder=5, linestyle="",
            )  # fmt: skip
            if mark.label:
                ax.annotate(  # on a white backdrop: readable over a noisy validation line
                    mark.label, (mark.x, mark.y), xytext=(-10, 12), textcoords="offset points",
                    fontsize=8, color=BEST_COLOUR, ha="right", zorder=6,
                    bbox={"boxstyle": "square,pad=0.15", "facecolor": BACKGROUND, "edgecolor": "none", "alpha": 0.85},
                )  # fmt: skip


# The key's layout, in pixels: a line sample per series, then its name; entries laid out from the right.
_KEY_SAMPLE, _KEY_GAP, _KEY_SPACE, _KEY_RISE = 22.0, 5.0, 16.0, 12.0
_KEY_FONT = 8


def _key(ax: Any) -> list[Any]:
    """The series' key above the plot, right of the title: for each line, a sample (with its marker) and its
    name. Plain figure artists instead of `ax.legend`, whose boxes are packed again on every draw (a tenth of
    the picture's time); on the figure, not the axes, so they never count in the data limits.

    Returns the artists, for the figure template to remove after the picture."""
    from matplotlib.lines import Line2D

    lines = [line for line in ax.lines if not line.get_label().startswith("_")]
    if not lines:
        return []
    figure = ax.figure
    box = ax.get_window_extent()  # pixels
    to_figure = figure.transFigure.inverted()
    artists: list[Any] = []
    right, y = box.x1, box.y1 + _KEY_RISE
    for line in reversed(lines):
        label = line.get_label()
        right -= _label_width(figure, label)
        artists.append(
            figure.text(
                *to_figure.transform((right, y)),
                label,
                fontsize=_KEY_FONT,
                va="center",
                ha="left",
                color="#212529",
            )
        )
        right -= _KEY_GAP + _KEY_SAMPLE
        xs = [right, right + _KEY_SAMPLE / 2, right + _KEY_SAMPLE]
        sample = Line2D(
            *zip(*(to_figure.transform((x, y)) for x in xs), strict=True),
            transform=figure.transFigure, color=line.get_color(), linewidth=line.get_linewidth(),
            marker=line.get_marker(), markevery=[1], markersize=line.get_markersize(), alpha=line.get_alpha(),
        )  # fmt: skip
        figure.add_artist(sample)
        artists.append(sample)
        right -= _KEY_SPACE
    return artists


_WIDTHS: dict[str, float] = {}


def _label_width(figure: Any, label: str) -> float:
    """A key label's width in pixels at the key's size (measured once per label: the same few recur)."""
    width = _WIDTHS.get(label)
    if width is None:
        from matplotlib.font_manager import FontProperties

        renderer = figure.canvas.get_renderer()
        width = renderer.get_text_width_height_descent(label, FontProperties(size=_KEY_FONT), ismath=False)[0]
        if len(_WIDTHS) < 256:
            _WIDTHS[label] = width
    return float(width)


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
