"""What a results.csv says: final and best validation loss, the checkpoint to deploy, overfitting or not.

Pure functions over `ResultColumns` (every step, never the downsampled picture). The guide's reading: loss
should fall; validation loss rising while training loss keeps falling means overfitting, and the remedy is
fewer epochs or a smaller learning-rate multiplier.

>>> from bot.azure.results_csv import parse_results_columns
>>> analyse(parse_results_columns("step,train_loss\\n1,0.9\\n2,0.5\\n"), ()).lines[-1]
'No validation data: cannot judge overfitting.'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.azure.results_csv import ResultColumns
from cards.model import code

# A rise smaller than this (relative) is noise, not a trend.
RISE = 0.02


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    id: str
    step: int
    full_valid_loss: float | None = None
    valid_loss: float | None = None
    deployable: bool = False


@dataclass(frozen=True, slots=True)
class Analysis:
    lines: tuple[str, ...]
    epoch_ends: tuple[int, ...]
    # What the chart highlights: (step, loss) of the checkpoint to deploy, else of the lowest validation loss.
    best: tuple[int, float] | None
    deploy: CheckpointInfo | None
    overfitting: bool | None  # None: cannot tell (no validation data, one epoch)
    validation_metric: str  # "full_valid_loss", "valid_loss" or ""
    last_step: int


def loss(value: float) -> str:
    """A loss as shown in text: three decimals, more for tiny values."""
    return f"{value:.3f}" if abs(value) >= 0.01 else f"{value:.2g}"


def _last_finite(steps: Any, values: Any) -> tuple[int, float] | None:
    import numpy as np

    index = np.flatnonzero(np.isfinite(values))
    if not len(index):
        return None
    return int(steps[index[-1]]), float(values[index[-1]])


def _lowest(steps: Any, values: Any) -> tuple[int, float] | None:
    import numpy as np

    if not np.isfinite(values).any():
        return None
    i = int(np.nanargmin(values))
    return int(steps[i]), float(values[i])


def epoch_ends(columns: ResultColumns, n_epochs: int | None, finished: bool) -> tuple[int, ...]:
    """Steps that end an epoch: where full validation loss was measured, else the job's epochs split
    evenly over the steps of a finished job; none when neither tells."""
    import numpy as np

    full = columns.get("full_valid_loss")
    if full is not None:
        return tuple(int(s) for s in columns.steps[np.isfinite(full)])
    if n_epochs and n_epochs > 1 and finished and len(columns):
        last = int(columns.steps[-1])
        return tuple(round(last * e / n_epochs) for e in range(1, n_epochs + 1))
    return ()


def _per_epoch(columns: ResultColumns, ends: Sequence[int], name: str) -> list[float]:
    """Each epoch's value of a column: its value at the epoch end for `full_*`, else the epoch's mean."""
    import numpy as np

    values = columns.get(name)
    if values is None or not ends:
        return []
    steps = columns.steps
    if name.startswith("full_"):
        # The value measured at each epoch end (the last one if a step repeats), vectorised over every step.
        finite = np.isfinite(values)
        order = np.argsort(steps[finite], kind="stable")
        at, measured = steps[finite][order], values[finite][order]
        wanted = np.asarray(ends, dtype=np.int64)
        index = np.searchsorted(at, wanted, side="right") - 1
        found = (
            (index >= 0) & (at[np.maximum(index, 0)] == wanted) if len(at) else np.zeros(len(wanted), bool)
        )
        return [float(v) for v in measured[index[found]]]
    if len(steps) > 1 and bool((steps[1:] >= steps[:-1]).all()):
        # Steps in order (a real file): each epoch is a slice, (previous end, end] (step == end belongs to it).
        bounds = np.searchsorted(steps, np.asarray(ends), side="right").tolist()
        chunks = [values[a:b] for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]
    else:
        epoch = np.searchsorted(np.asarray(ends), steps, side="left")
        chunks = [values[epoch == e] for e in range(len(ends))]
    out = []
    for chunk in chunks:
        chunk = chunk[np.isfinite(chunk)]
        if len(chunk):
            out.append(float(chunk.mean()))
    return out


def overfitting_verdict(columns: ResultColumns, ends: Sequence[int], metric: str) -> tuple[bool | None, str]:
    """(verdict, sentence). Overfitting: validation loss rose over the last epoch(s) while training fell."""
    if not metric:
        return None, "No validation data: cannot judge overfitting."
    valid = _per_epoch(columns, ends, metric)
    train = _per_epoch(columns, ends, "train_loss")
    if len(valid) < 2:
        return None, "Only one epoch so far: too early to judge overfitting."
    rising = 0
    for i in range(len(valid) - 1, 0, -1):
        if valid[i] > valid[i - 1] * (1 + RISE):
            rising += 1
        else:
            break
    start = len(valid) - 1 - rising
    train_falling = len(train) == len(valid) and train[-1] < train[start]
    if rising and train_falling:
        best_epoch = start + 1
        epochs = "epoch" if rising == 1 else f"{rising} epochs"
        return True, (
            f"Overfitting: validation loss rose over the last {epochs} ({loss(valid[start])} → "
            f"{loss(valid[-1])}) while training loss kept falling ({loss(train[start])} → {loss(train[-1])}). "
            f"Try fewer epochs (validation loss was lowest after epoch {best_epoch}: `--epochs {best_epoch}`) "
            "or a smaller learning-rate multiplier (`--lr-multiplier`)."
        )
    return False, "No sign of overfitting: validation loss did not rise while training loss fell."


def analyse(
    columns: ResultColumns,
    checkpoints: Sequence[CheckpointInfo],
    *,
    n_epochs: int | None = None,
    running: bool = False,
) -> Analysis:
    """Read the whole run: every step counts, whatever the chart later shows."""
    steps = columns.steps
    ends = epoch_ends(columns, n_epochs, finished=not running)
    metric = next((m for m in ("full_valid_loss", "valid_loss") if columns.get(m) is not None), "")
    lines: list[str] = []
    train_last = (
        _last_finite(steps, columns.values["train_loss"]) if columns.get("train_loss") is not None else None
    )
    if train_last is not None:
        lines.append(f"Training loss: final {loss(train_last[1])} at step {train_last[0]}.")
    best: tuple[int, float] | None = None
    if metric:
        values = columns.values[metric]
        last, low = _last_finite(steps, values), _lowest(steps, values)
        assert last is not None and low is not None  # `get` found a finite value
        name = "Full validation loss" if metric == "full_valid_loss" else "Validation loss"
        lines.append(
            f"{name}: final {loss(last[1])} at step {last[0]}, best {loss(low[1])} at step {low[0]}."
        )
        best = low
    deploy = _deploy(checkpoints, columns)
    lines.append(_deploy_line(deploy, checkpoints, metric, running))
    if deploy is not None:
        value = deploy.full_valid_loss if deploy.full_valid_loss is not None else deploy.valid_loss
        if value is not None:
            best = (deploy.step, value)
    verdict, sentence = overfitting_verdict(columns, ends, metric)
    lines.append(sentence)
    return Analysis(
        lines=tuple(lines),
        epoch_ends=ends,
        best=best,
        deploy=deploy,
        overfitting=verdict,
        validation_metric=metric,
        last_step=int(steps[-1]) if len(steps) else 0,
    )


def checkpoint_loss(c: CheckpointInfo, columns: ResultColumns) -> float | None:
    """A checkpoint's full validation loss: its own metrics, else the results file's value at its step."""
    import numpy as np

    if c.full_valid_loss is not None:
        return c.full_valid_loss
    full = columns.get("full_valid_loss")
    if full is None:
        return None
    at = np.flatnonzero(columns.steps == c.step)
    at = at[np.isfinite(full[at])]
    return float(full[at[0]]) if len(at) else None


def _deploy(checkpoints: Sequence[CheckpointInfo], columns: ResultColumns) -> CheckpointInfo | None:
    """The deployable checkpoint with the lowest full validation loss (None when none can be compared)."""
    scored = []
    for c in checkpoints:
        if not c.deployable:
            continue
        value = checkpoint_loss(c, columns)
        if value is not None:
            scored.append((value, c.step, CheckpointInfo(c.id, c.step, value, c.valid_loss, True)))
    if not scored:
        return None
    return min(scored, key=lambda t: (t[0], -t[1]))[2]


def _deploy_line(
    deploy: CheckpointInfo | None, checkpoints: Sequence[CheckpointInfo], metric: str, running: bool
) -> str:
    deployable = [c for c in checkpoints if c.deployable]
    if deploy is not None and deploy.full_valid_loss is not None:
        among = (
            "the only deployable one"
            if len(deployable) == 1
            else f"the lowest of {len(deployable)} deployable ones"
        )
        return (
            f"Checkpoint to deploy: {code(deploy.id)} (step {deploy.step}, full validation loss "
            f"{loss(deploy.full_valid_loss)}), {among}."
        )
    if running:
        return "No checkpoint is deployable yet: the job is still running."
    if not deployable:
        return "No deployable checkpoints."
    if not metric:
        return "Checkpoint to deploy: no validation data to choose by; the final model is the usual choice."
    return "Checkpoint to deploy: the deployable checkpoints carry no full validation loss to compare."
