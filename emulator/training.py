"""Deterministic loss curves: what a training run "measures" at each step.

The curves are a small model, not a physics engine: training loss decays exponentially towards a floor;
validation loss decays towards a generalisation floor that is higher for small data sets and, past an
onset epoch that comes earlier the fewer examples there are, climbs again (overfitting). Everything random
comes from one `random.Random` seeded with the job's `seed`, the files' content hashes and the
hyperparameters, so the same inputs always give the same curves.
"""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass, fields

DEFAULT_EPOCHS = 3
MAX_EPOCHS = 50
MAX_BATCH = 256

CSV_COLUMNS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "validation_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


@dataclass(frozen=True)
class Hyperparameters:
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None = None  # DPO only

    def as_json(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }
        if self.beta is not None:
            out["beta"] = self.beta
        return out


@dataclass(frozen=True)
class StepMetrics:
    step: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None
    valid_mean_token_accuracy: float | None
    full_valid_loss: float | None  # only at the last step of an epoch
    full_valid_mean_token_accuracy: float | None

    def as_json(self) -> dict[str, float | int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class TrainingRun:
    hyperparameters: Hyperparameters
    steps_per_epoch: int
    steps: tuple[StepMetrics, ...]

    @property
    def total_steps(self) -> int:
        return len(self.steps)

    def epoch_end_steps(self) -> list[int]:
        return [self.steps_per_epoch * e for e in range(1, self.hyperparameters.n_epochs + 1)]


def _is_default(value: object) -> bool:
    return value is None or value == -1 or value == "auto"


def _number(requested: dict[str, object], key: str, low: float, high: float) -> float | None:
    """The requested value, checked; None when the caller wants the default."""
    value = requested.get(key)
    if _is_default(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"hyperparameters.{key} must be a number")
    if not low <= value <= high:
        raise ValueError(f"hyperparameters.{key} must be between {low:g} and {high:g}")
    return float(value)


def resolve_hyperparameters(requested: dict[str, object], n_examples: int, dpo: bool) -> Hyperparameters:
    """Fill defaults the way the service picks them from the data (echoed back resolved, never -1).

    Raises ValueError with a user-readable message for out-of-range values.
    """
    n_epochs = _number(requested, "n_epochs", 1, MAX_EPOCHS)
    batch = _number(requested, "batch_size", 1, MAX_BATCH)
    lr = _number(requested, "learning_rate_multiplier", 1e-6, 10)
    beta = _number(requested, "beta", 1e-6, 2)
    for key, value in (("n_epochs", n_epochs), ("batch_size", batch)):
        if value is not None and value != int(value):
            raise ValueError(f"hyperparameters.{key} must be an integer")
    return Hyperparameters(
        n_epochs=DEFAULT_EPOCHS if n_epochs is None else int(n_epochs),
        # About 0.2% of the examples per batch, as the service does; at least 1.
        batch_size=max(1, min(MAX_BATCH, n_examples // 500)) if batch is None else int(batch),
        learning_rate_multiplier=1.0 if lr is None else lr,
        beta=(0.1 if beta is None else beta) if dpo else None,
    )


def _accuracy(loss: float, rng: random.Random) -> float:
    return round(min(1.0, max(0.0, math.exp(-0.35 * loss) * rng.gauss(1.0, 0.01))), 3)


def simulate(
    *,
    seed: int,
    training_fingerprint: str,
    validation_fingerprint: str | None,
    n_examples: int,
    hyperparameters: Hyperparameters,
    dpo: bool = False,
) -> TrainingRun:
    hp = hyperparameters
    rng = random.Random(
        f"{seed}|{training_fingerprint}|{validation_fingerprint}|{hp.n_epochs}|{hp.batch_size}|"
        f"{hp.learning_rate_multiplier}|{hp.beta}"
    )
    steps_per_epoch = max(1, math.ceil(n_examples / hp.batch_size))
    total = steps_per_epoch * hp.n_epochs
    start = (0.69 if dpo else 2.0) + rng.uniform(-0.2, 0.2)
    rate = 1.2 * math.sqrt(hp.learning_rate_multiplier)  # per epoch
    train_floor = 0.02 + rng.uniform(0.0, 0.04)
    general_floor = 0.3 + 1.5 / math.sqrt(n_examples) + rng.uniform(0.0, 0.05)
    onset = max(1.0, n_examples / 8)  # epochs before memorising starts to hurt
    overfit_slope = 0.25 * hp.learning_rate_multiplier * 10 / n_examples  # loss per epoch past the onset

    def valid_curve(epochs: float) -> float:
        decay = (start - general_floor) * math.exp(-rate * epochs)
        return general_floor + decay + overfit_slope * max(0.0, epochs - onset)

    steps: list[StepMetrics] = []
    for step in range(1, total + 1):
        epochs = step / steps_per_epoch
        train = (train_floor + (start - train_floor) * math.exp(-rate * epochs)) * max(
            0.3, rng.gauss(1.0, 0.08)
        )
        valid = full = None
        if validation_fingerprint is not None:
            valid = valid_curve(epochs) * max(0.3, rng.gauss(1.0, 0.12))
            if step % steps_per_epoch == 0:
                full = valid_curve(epochs) * rng.gauss(1.0, 0.01)
        steps.append(
            StepMetrics(
                step=step,
                train_loss=round(train, 4),
                train_mean_token_accuracy=_accuracy(train, rng),
                valid_loss=None if valid is None else round(valid, 4),
                valid_mean_token_accuracy=None if valid is None else _accuracy(valid, rng),
                full_valid_loss=None if full is None else round(full, 4),
                full_valid_mean_token_accuracy=None if full is None else _accuracy(full, rng),
            )
        )
    return TrainingRun(hp, steps_per_epoch, tuple(steps))


def step_message(metrics: StepMetrics, total_steps: int) -> str:
    """`Step 300/300: training loss=0.15, validation loss=0.27, full validation loss=0.40`."""
    parts = [f"training loss={metrics.train_loss:.2f}"]
    if metrics.valid_loss is not None:
        parts.append(f"validation loss={metrics.valid_loss:.2f}")
    if metrics.full_valid_loss is not None:
        parts.append(f"full validation loss={metrics.full_valid_loss:.2f}")
    return f"Step {metrics.step}/{total_steps}: " + ", ".join(parts)


def results_csv(run: TrainingRun) -> bytes:
    """results.csv in the documented columns; blank cells where a value does not exist for that step."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in run.steps:
        row = (
            m.step,
            m.train_loss,
            m.train_mean_token_accuracy,
            m.valid_loss,
            m.valid_mean_token_accuracy,
            m.full_valid_loss,
            m.full_valid_mean_token_accuracy,
        )
        writer.writerow("" if v is None else v for v in row)
    return out.getvalue().encode()
