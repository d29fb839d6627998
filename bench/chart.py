"""Benchmark of `chart`: a 100,000-step results.csv to PNG plus analysis (plain script, not a test).

Variants in the same run, same library and figure code (matplotlib Agg, `cards.charts.render_png`), same
analysis of every step, the same columns read:
  ours       the bot's path: byte-array parse -> analysis -> MinMaxLTTB to 2,000 points a line -> PNG
  baseline   csv-module parse (a string per cell, the straightforward way) -> analysis -> PNG of every point
  reference  (not the goal's baseline) our parse -> analysis -> PNG of every point
The baseline and the reference draw every point through the bot's own chart model (the card's series as points), as the bot would if
it did not downsample. The parse alone and the drawing alone are timed too. Imports and a first drawing happen before the clock starts; each variant runs
`--rounds` times interleaved and keeps its best wall and its best CPU time (the build machine is shared; CPU
time is the steadier one). Each round reads its own results file (same length and shape, another seed), as the
bot draws one job after another: what a picture leaves for the next one (the figure, the memo of drawn text in
`cards.charts`) serves a round only as much as it would serve the bot's next chart, not a redraw of the same
picture. The first picture of a fresh process (imports done, nothing drawn yet) is timed too, in a subprocess
per variant. Then `python -X importtime -c "import bot.app"` for this tree and for `--before`
(a git ref, default the branch point from main), median of `--imports` runs each.

    .venv/bin/python bench/chart.py [--steps 100000] [--rounds 3] [--metric loss|accuracy|both] [--before REF]

`--metric loss` (the default, as `chart` and the success alert) draws one panel; `both` two.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from bot.azure.results_csv import parse_results_columns, parse_results_columns_csv
from bot.results_analysis import CheckpointInfo
from cards.charts import PNG_POINTS, downsample_arrays, render_png
from cards.loss_chart import LOSS_COLUMNS, Metric, loss_chart_card
from handlers.chart import build_view

GOALS = {"seconds": 1.0, "ratio": 5.0}
ROOT = Path(__file__).resolve().parent.parent


def results_csv(steps: int, epochs: int = 10, seed: int = 42) -> bytes:
    """A deterministic results.csv: noisy decaying losses, validation turning up late, full_* per epoch."""
    rng = random.Random(seed)
    per_epoch = steps // epochs
    lines = [
        "step,train_loss,train_mean_token_accuracy,valid_loss,validation_mean_token_accuracy,"
        "full_valid_loss,full_valid_mean_token_accuracy"
    ]
    for step in range(1, steps + 1):
        e = step / per_epoch
        train = (0.05 + 1.9 * math.exp(-0.8 * e)) * max(0.3, rng.gauss(1, 0.08))
        valid_curve = 0.35 + 1.6 * math.exp(-0.8 * e) + 0.01 * max(0.0, e - 6)
        valid = valid_curve * max(0.3, rng.gauss(1, 0.12))
        full = f"{valid_curve:.4f},{math.exp(-0.35 * valid_curve):.3f}" if step % per_epoch == 0 else ","
        lines.append(
            f"{step},{train:.4f},{math.exp(-0.35 * train):.3f},{valid:.4f},{math.exp(-0.35 * valid):.3f},{full}"
        )
    return ("\n".join(lines) + "\n").encode()


def checkpoints(steps: int, epochs: int = 10) -> list[CheckpointInfo]:
    per_epoch = steps // epochs
    return [
        CheckpointInfo(f"ftchkpt-{e:032x}", e * per_epoch, None, None, deployable=True)
        for e in range(epochs - 2, epochs + 1)
    ]


def _wanted(metric: str) -> tuple[str, ...] | None:
    return LOSS_COLUMNS if metric == "loss" else None  # as the handler does


def _view(columns: Any, metric: str, steps: int, points: int | None) -> Any:
    return build_view(
        "ftjob-" + "0" * 32,
        "succeeded",
        columns,
        checkpoints(steps),
        metric=cast(Metric, metric),
        n_epochs=10,
        points=points,
    )


def _card(columns: Any, metric: str, steps: int, points: int | None) -> Any:
    return loss_chart_card(_view(columns, metric, steps, points))


def ours(data: bytes, metric: str, steps: int) -> bytes:
    """The bot's path: the byte-array parse, the analysis, MinMaxLTTB to 2,000 points a line, the PNG."""
    return render_png(_card(parse_results_columns(data, _wanted(metric)), metric, steps, PNG_POINTS).charts)


def baseline(data: bytes, metric: str, steps: int) -> bytes:
    """Every point drawn, the file parsed the straightforward way (the csv module, a string per cell)."""
    columns = parse_results_columns_csv(data, _wanted(metric))
    return render_png(_card(columns, metric, steps, None).charts, points=None)


def every_point_fast_parse(data: bytes, metric: str, steps: int) -> bytes:
    """For reference: every point drawn after our parse (drawing every point is the only difference)."""
    return render_png(
        _card(parse_results_columns(data, _wanted(metric)), metric, steps, None).charts, points=None
    )


def drawing(data: bytes, metric: str, steps: int) -> tuple[Callable[[], bytes], Callable[[], bytes]]:
    """The drawing alone, for both variants: (ours: downsample + draw, baseline: draw every point)."""
    columns = parse_results_columns(data, _wanted(metric))
    view = _view(columns, metric, steps, None)
    full = loss_chart_card(view).charts

    def ours_draw() -> bytes:
        series = {n: downsample_arrays(columns.steps, columns.values[n], PNG_POINTS) for n in view.series}
        return render_png(loss_chart_card(replace(view, series=series)).charts)

    def baseline_draw() -> bytes:
        return render_png(full, points=None)

    return ours_draw, baseline_draw


FIRST_CALL = """
import sys, time
import matplotlib.backends.backend_agg, matplotlib.figure, numpy  # imports before the clock, as in the rounds
from bench import chart
data = chart.results_csv({steps})
start, cpu = time.perf_counter(), time.process_time()
chart.{variant}(data, {metric!r}, {steps})
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def first_call(variant: str, metric: str, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds of the first picture in a fresh process (imports done, nothing drawn yet)."""
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALL.format(variant=variant, metric=metric, steps=steps)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def timed(fn: Callable[..., object], *args: object) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - start, time.process_time() - cpu


def import_time(tree: Path) -> tuple[float, bool]:
    """Cumulative import time of `bot.app` (seconds) in `tree`, and whether plotting libraries came along."""
    code = "import sys, bot.app; print(int(any(m in sys.modules for m in ('numpy', 'matplotlib'))))"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0.0
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == "bot.app":
            total = int(parts[1]) / 1e6
    return total, out.stdout.strip() == "1"


def export(ref: str, into: Path) -> Path:
    archive = into / "before.tar"
    subprocess.run(["git", "archive", "-o", str(archive), ref], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "before", filter="data")
    return into / "before"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--metric", choices=("loss", "accuracy", "both"), default="loss")
    parser.add_argument("--imports", type=int, default=5)
    parser.add_argument(
        "--before", default="", help="git ref to compare import time with (default: merge-base with main)"
    )
    args = parser.parse_args()

    files = [results_csv(args.steps, seed=42 + r) for r in range(args.rounds)]  # one per round (see above)
    data = files[0]
    print(
        f"results.csv: {args.steps:,} steps, {len(data) / 1e6:.1f} MB, metric={args.metric}, "
        f"{args.rounds} files (one per round)"
    )
    ours(results_csv(600, seed=1), args.metric, 600)  # warm-up: imports, fonts, first drawing
    best: dict[str, tuple[float, float]] = {}
    variants = (("ours", ours), ("baseline", baseline), ("reference", every_point_fast_parse))
    for data in files:
        for name, fn in variants:
            wall, cpu = timed(fn, data, args.metric, args.steps)
            old = best.get(name, (math.inf, math.inf))
            best[name] = (
                min(wall, old[0]),
                min(cpu, old[1]),
            )  # best wall and best CPU, each of its own round
    draw: dict[str, tuple[float, float]] = {}
    for data in files:
        ours_draw, baseline_draw = drawing(data, args.metric, args.steps)
        for name, draw_fn in (("ours", ours_draw), ("baseline", baseline_draw)):
            wall, cpu = timed(draw_fn)
            old = draw.get(name, (math.inf, math.inf))
            draw[name] = (min(wall, old[0]), min(cpu, old[1]))
    parse: dict[str, tuple[float, float]] = {}
    for data in files:
        for name, parse_fn in (("ours", parse_results_columns), ("csv", parse_results_columns_csv)):
            wall, cpu = timed(parse_fn, data, _wanted(args.metric))
            old = parse.get(name, (math.inf, math.inf))
            parse[name] = (min(wall, old[0]), min(cpu, old[1]))
    first = {name: first_call(name, args.metric, args.steps) for name in ("ours", "baseline")}
    png = ours(files[0], args.metric, args.steps)
    print(f"PNG: {len(png) / 1024:.0f} KiB")
    for name, (wall, cpu) in best.items():
        print(f"  {name:9} {wall:6.3f} s wall  {cpu:6.3f} s CPU")
    ratio = best["baseline"][0] / best["ours"][0]
    cpu_ratio = best["baseline"][1] / best["ours"][1]
    print(f"  ratio     {ratio:.1f}x wall, {cpu_ratio:.1f}x CPU (baseline / ours)")
    print(
        f"  (reference: every point drawn after our parse, {best['reference'][0] / best['ours'][0]:.1f}x wall, "
        f"{best['reference'][1] / best['ours'][1]:.1f}x CPU)"
    )
    print("drawing alone (the results already parsed and analysed):")
    for name, (wall, cpu) in draw.items():
        print(f"  {name:9} {wall:6.3f} s wall  {cpu:6.3f} s CPU")
    draw_ratio = draw["baseline"][0] / draw["ours"][0]
    print(f"  ratio     {draw_ratio:.1f}x wall, {draw['baseline'][1] / draw['ours'][1]:.1f}x CPU")
    print("parse alone (the columns the chart reads):")
    for name, (wall, cpu) in parse.items():
        print(f"  {name:9} {wall:6.3f} s wall  {cpu:6.3f} s CPU")
    print(
        f"  ratio     {parse['csv'][0] / parse['ours'][0]:.1f}x wall, {parse['csv'][1] / parse['ours'][1]:.1f}x CPU"
    )
    print("first picture in a fresh process (imports done, nothing drawn yet; one run each, so noisier):")
    for name, (wall, cpu) in first.items():
        print(f"  {name:9} {wall:6.3f} s wall  {cpu:6.3f} s CPU")
    print(
        f"  ratio     {first['baseline'][0] / first['ours'][0]:.1f}x wall, "
        f"{first['baseline'][1] / first['ours'][1]:.1f}x CPU"
    )
    ok = best["ours"][0] <= GOALS["seconds"] and ratio >= GOALS["ratio"]
    print(
        f"goal <= {GOALS['seconds']} s end to end: {'met' if best['ours'][0] <= GOALS['seconds'] else 'NOT met'}; "
        f">= {GOALS['ratio']}x end to end: {'met' if ratio >= GOALS['ratio'] else 'NOT met'}, "
        f"drawing alone: {'met' if draw_ratio >= GOALS['ratio'] else 'NOT met'}"
    )

    ref = (
        args.before
        or subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    )
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"after": ROOT}
        if ref:
            trees["before"] = export(ref, Path(tmp))
        runs: dict[str, list[float]] = {k: [] for k in trees}
        heavy: dict[str, bool] = {}
        for _ in range(args.imports):
            for name, tree in trees.items():
                seconds, loaded = import_time(tree)
                runs[name].append(seconds)
                heavy[name] = loaded
        for name, values in runs.items():
            print(
                f"python -X importtime -c 'import bot.app' ({name}{' ' + ref[:10] if name == 'before' else ''}): "
                f"median {statistics.median(values) * 1000:.0f} ms of {len(values)}; numpy/matplotlib loaded: {heavy[name]}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
