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
from collections.abc import Mapping
from dataclasses import dataclass, fields

DEFAULT_EPOCHS = 3
MAX_DEFAULT_EPOCHS = 25
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MAX_EPOCHS = 50
METRICS_EVERY = 10  # Azure writes a metrics event every 10 steps (real-run transcripts 2025-05, 2025-09)
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


def _number(requested: Mapping[str, object], key: str, low: float, high: float) -> float | None:
    """The requested value, checked; None when the caller wants the default."""
    value = requested.get(key)
    if _is_default(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"hyperparameters.{key} must be a number")
    if not low <= value <= high:
        raise ValueError(f"hyperparameters.{key} must be between {low:g} and {high:g}")
    return float(value)


def default_epochs(n_examples: int) -> int:
    """Small sets get more epochs, big ones fewer (the OpenAI cookbook's rule: aim for 100-25,000 trained
    examples). Real runs agree: 10 examples -> 10 epochs (gpt-4o-mini, 2025-05), 40 -> 3 (gpt-4.1, 2025-09)."""
    n = max(1, n_examples)
    if n * DEFAULT_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n)
    if n * DEFAULT_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(1, MAX_TARGET_EXAMPLES // n)
    return DEFAULT_EPOCHS


def check_hyperparameters(requested: Mapping[str, object]) -> None:
    """Raises ValueError with a user-readable message for out-of-range values (at job creation)."""
    resolve_hyperparameters(requested, 1, dpo=True)


def echo_hyperparameters(
    requested: Mapping[str, object], dpo: bool, default_lr: float
) -> dict[str, float | int]:
    """What a pending job shows: `-1` for what the service will choose when training starts. The
    learning-rate multiplier is shown chosen at once (gpt-4.1 pending job, 2025-09 transcript: `2.0`)."""
    out: dict[str, float | int] = {}
    for key in ("n_epochs", "batch_size"):
        value = _number(requested, key, 1, MAX_EPOCHS if key == "n_epochs" else MAX_BATCH)
        out[key] = -1 if value is None else int(value)
    lr = _number(requested, "learning_rate_multiplier", 1e-6, 10)
    out["learning_rate_multiplier"] = default_lr if lr is None else lr
    if dpo:
        beta = _number(requested, "beta", 1e-6, 2)
        out["beta"] = -1 if beta is None else beta
    return out


def resolve_hyperparameters(
    requested: Mapping[str, object], n_examples: int, dpo: bool, default_lr: float = 1.0
) -> Hyperparameters:
    """Fill defaults the way the service picks them from the data when training starts.

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
        n_epochs=default_epochs(n_examples) if n_epochs is None else int(n_epochs),
        # About 0.2% of the examples per batch, as the service does; at least 1.
        batch_size=max(1, min(MAX_BATCH, n_examples // 500)) if batch is None else int(batch),
        learning_rate_multiplier=default_lr if lr is None else lr,
        beta=(0.1 if beta is None else beta) if dpo else None,
    )


def _accuracy(loss: float, rng: random.Random) -> float:
    return min(1.0, max(0.0, math.exp(-0.35 * loss) * rng.gauss(1.0, 0.01)))


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
    onset = max(2.0, n_examples / 6)  # epochs before memorising starts to hurt
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
                train_loss=train,
                train_mean_token_accuracy=_accuracy(train, rng),
                valid_loss=valid,
                valid_mean_token_accuracy=None if valid is None else _accuracy(valid, rng),
                full_valid_loss=full,
                full_valid_mean_token_accuracy=None if full is None else _accuracy(full, rng),
            )
        )
    return TrainingRun(hp, steps_per_epoch, tuple(steps))


def metrics_steps(total_steps: int) -> list[int]:
    """The steps Azure writes a metrics event for: every 10th, and the last one (so the final loss is seen)."""
    return [s for s in range(1, total_steps + 1) if s % METRICS_EVERY == 0 or s == total_steps]


def step_message(metrics: StepMetrics) -> str:
    """`Step 100: training loss=0.0007721185684204102`: no total, no validation values, the full float."""
    return f"Step {metrics.step}: training loss={metrics.train_loss!r}"


def billed_tokens(trained_tokens: int) -> int:
    """`Training tokens billed: N` differs from `trained_tokens` and comes in thousands: 6,720 trained ->
    5,000 billed (gpt-4o-mini, 2025-05), 10,440 -> 8,000 (gpt-4.1, 2025-09). Modelled as ~77%, rounded down."""
    return int(trained_tokens * 0.77) // 1000 * 1000


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
