"""Parser for a fine-tuning job's results.csv, by column name.

Real files differ from the documented header: `valid_mean_token_accuracy` instead of
`validation_mean_token_accuracy`, fewer columns, unknown extra columns, blank cells (the `full_*` columns are
filled only at epoch ends). So nothing here depends on column order or presence except `step`.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

# Header spellings seen in the wild, mapped to one attribute name.
_COLUMN_ALIASES: dict[str, str] = {
    "step": "step",
    "train_loss": "train_loss",
    "training_loss": "train_loss",
    "train_accuracy": "train_accuracy",
    "train_mean_token_accuracy": "train_mean_token_accuracy",
    "valid_loss": "valid_loss",
    "validation_loss": "valid_loss",
    "valid_accuracy": "valid_accuracy",
    "valid_mean_token_accuracy": "valid_mean_token_accuracy",
    "validation_mean_token_accuracy": "valid_mean_token_accuracy",
    "full_valid_loss": "full_valid_loss",
    "full_validation_loss": "full_valid_loss",
    "full_valid_mean_token_accuracy": "full_valid_mean_token_accuracy",
    "full_validation_mean_token_accuracy": "full_valid_mean_token_accuracy",
}


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One training step; every metric is optional because any cell can be blank or absent."""

    step: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_accuracy: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None
    extra: dict[str, str] = field(default_factory=dict)  # unknown columns, kept as text

    @property
    def validation_mean_token_accuracy(self) -> float | None:
        """The documented spelling, for callers that use it."""
        return self.valid_mean_token_accuracy


def _number(cell: str | None) -> float | None:
    if cell is None:
        return None
    cell = cell.strip()
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def parse_results_csv(text: str | bytes) -> list[ResultRow]:
    """Rows of a results.csv in file order; rows without a readable `step` are skipped.

    >>> parse_results_csv("step,train_loss,valid_mean_token_accuracy\\n1,0.9,\\n")[0].train_loss
    0.9
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    names = [h.strip().lower() for h in header]
    rows: list[ResultRow] = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        values: dict[str, float | None] = {}
        extra: dict[str, str] = {}
        for name, cell in zip(names, cells, strict=False):
            attribute = _COLUMN_ALIASES.get(name)
            if attribute is None:
                if name:
                    extra[name] = cell
            elif values.get(attribute) is None:  # first non-blank spelling wins
                values[attribute] = _number(cell)
        step = values.pop("step", None)
        if step is None:
            continue
        rows.append(ResultRow(step=int(step), extra=extra, **values))
    return rows
