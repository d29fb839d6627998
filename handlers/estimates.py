"""The data line of a job's card ("24 training examples checked · ≈6.6k trained tokens (4 epochs) · ≈$0.02"),
kept after `start` so later cards of the job show it too, with Azure's epochs once Azure has chosen them.

At `start` the epochs are a guess when none were given (the cookbook's rule; Azure echoes `-1` until training
starts and then picks its own, which can differ). `start` remembers what the check counted; `job_view` asks for
the line of each job it draws: the guess while `n_epochs` is unresolved, Azure's value (and the trained tokens
and illustrative cost worked out from it) once the job reports it. Remembered in this process only, like the
example counts of `handlers.jobs` (a restart or another replica shows no data line: Azure's values stay on
the card's Hyperparameters either way).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot import training_types
from bot.azure.models import FineTuningJob
from cards.format import plural
from handlers.start_notes import cost_words

if TYPE_CHECKING:
    from bot.dataprep import ValidationReport
    from bot.dataprep.prices import PriceTable

KEPT = 512  # jobs whose data line is remembered (the oldest go first)
_ESTIMATES: dict[str, DataEstimate] = {}


@dataclass(frozen=True, slots=True)
class DataEstimate:
    """What `start` counted in the data, enough to redo the estimate with other epochs."""

    training_examples: int
    validation_examples: int | None
    tokens_per_epoch: int | None  # tokens of the valid training examples (one pass)
    epochs: int | None  # what `start` assumed: given by the user, or the usual default
    epochs_given: bool
    model: str | None
    method: str

    @classmethod
    def of(cls, training: ValidationReport, validation: ValidationReport | None = None) -> DataEstimate:
        return cls(
            training_examples=training.valid,
            validation_examples=validation.valid if validation is not None else None,
            tokens_per_epoch=training.token_stats.total if training.token_stats is not None else None,
            epochs=training.epochs,
            epochs_given=not training.epochs_is_default,
            model=training.model,
            method=training.method,
        )

    def line(
        self,
        resolved_epochs: int | None = None,
        prices: PriceTable | None = None,
        training_type: str | None = None,
    ) -> str:
        """The data line; with `resolved_epochs` (Azure's value) the estimate is worked out from it, at the
        price of `training_type` (the bot's word) when known."""
        if self.validation_examples is None:
            parts = [plural(self.training_examples, "training example") + " checked"]
        else:
            parts = [
                f"{self.training_examples:,} training + {self.validation_examples:,} validation examples checked"
            ]
        epochs = resolved_epochs or self.epochs
        if self.tokens_per_epoch is None or epochs is None:
            return " · ".join(parts)
        if resolved_epochs is not None:
            how = "" if self.epochs_given else ", Azure's choice"
        else:
            how = "" if self.epochs_given else ", the usual default: Azure picks its own"
        trained = self.tokens_per_epoch * epochs
        parts.append(f"≈{short_count(trained)} trained tokens ({plural(epochs, 'epoch')}{how})")
        if self.model:
            cost = (prices or _default_prices()).estimate(self.model, trained, self.method, training_type)
            if cost is not None:
                words = cost_words(cost, training_type) if training_type else "(illustrative prices)"
                parts.append(f"≈{money(cost.amount, cost.currency)} {words}")
        return " · ".join(parts)


@lru_cache(maxsize=1)
def _default_prices() -> PriceTable:
    # the price table's module on first use, not at start-up (issue 17)
    from bot.dataprep.prices import PriceTable

    return PriceTable.default()


def short_count(n: int) -> str:
    """6,612 -> 6.6k; 1,250,000 -> 1.2M (an estimate needs no more digits)."""
    for size, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + unit
    return str(n)


def money(amount: float, currency: str) -> str:
    digits = 2 if amount >= 0.01 or amount == 0 else 4
    return f"${amount:,.{digits}f}" if currency == "USD" else f"{amount:,.{digits}f} {currency}"


def remember_estimate(
    job_id: str, training: ValidationReport, validation: ValidationReport | None = None
) -> None:
    """Keep what `start` counted for `job_id`, so its later cards carry the data line."""
    _ESTIMATES[job_id] = DataEstimate.of(training, validation)
    while len(_ESTIMATES) > KEPT:
        del _ESTIMATES[next(iter(_ESTIMATES))]


def resolved_epochs(job: FineTuningJob) -> int | None:
    """`n_epochs` once Azure has chosen it (a positive whole number; `-1`, "auto" and None are not yet)."""
    values: list[Any] = []
    if job.hyperparameters is not None:
        values.append(job.hyperparameters.n_epochs)
    method = job.method or {}
    for kind in ("supervised", "dpo", "reinforcement"):
        values.append((((method.get(kind) or {}).get("hyperparameters")) or {}).get("n_epochs"))
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value >= 1 and value == int(value):
            return int(value)
    return None


def estimate_note(job: FineTuningJob) -> str:
    """The data line for `job`'s card ("" for a job not started here, or since a restart)."""
    estimate = _ESTIMATES.get(job.id)
    if estimate is None:
        return ""
    return estimate.line(resolved_epochs(job), training_type=training_types.parse(job.training_type))
