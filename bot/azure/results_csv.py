"""Parser for a fine-tuning job's results.csv, by column name.

Real files differ from the documented header: `valid_mean_token_accuracy` instead of
`validation_mean_token_accuracy`, fewer columns, unknown extra columns, blank cells (the `full_*` columns are
filled only at epoch ends). So nothing here depends on column order or presence except `step`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

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


# -- columns, for charts and analysis of long runs ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultColumns:
    """A results.csv as columns: `steps` (int64) and one float64 array per known metric, NaN where blank.

    `truncated` says the last line was cut off (no line end and fewer cells than the header) and left out.
    """

    steps: Any
    values: dict[str, Any]
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.steps)

    def get(self, name: str) -> Any | None:
        """The column for an attribute name (`train_loss`, `valid_mean_token_accuracy`, ...), if any value."""
        column = self.values.get(name)
        if column is None:
            return None
        if len(column) and math.isfinite(column[-1]):  # the usual answer, without a pass over the column
            return column
        import numpy as np

        return column if bool(np.isfinite(column).any()) else None


def _float_column(cells: Sequence[str]) -> Any:
    """Cells -> float64 array, NaN for blanks and anything that is not a finite number."""
    import numpy as np

    nan = math.nan
    try:
        values = [float(c) if c else nan for c in cells]
    except ValueError:  # a non-numeric cell somewhere: the slower, forgiving path
        values = [nan if (v := _number(c)) is None else v for c in cells]
    out = np.array(values, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def parse_results_columns(text: str | bytes, only: Collection[str] | None = None) -> ResultColumns:
    """Parse by column name into arrays: fast for 100,000-step files (the chart's and analysis' input).

    Same tolerance as `parse_results_csv`: both spellings of each column, unknown columns ignored, blank
    cells as NaN, rows without a readable step skipped; a last line cut off mid-download is left out.
    `only` (attribute names, e.g. the loss columns) skips converting the columns nobody will look at.

    A plain file (what Azure writes) is read as one byte array (`bot.azure.csv_numbers`); anything else
    (quotes, rows of other lengths, blank lines) goes through `parse_results_columns_csv`, same result.
    """
    data = text.encode() if isinstance(text, str) else bytes(text)
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\r" in data:  # one byte is found faster than two (a tenth of the parse time otherwise)
        data = data.replace(b"\r\n", b"\n")
    fast = _parse_grid(data, only)
    return fast if fast is not None else parse_results_columns_csv(data, only)


def _parse_grid(data: bytes, only: Collection[str] | None) -> ResultColumns | None:
    from bot.azure.csv_numbers import CsvGrid

    # Positions in `data` rather than slices of it: a slice of a 3 MB file is a copy.
    head_end = data.find(b"\n")
    complete = data.endswith(b"\n")
    # The body's end: before the last line end, or before all of them if blank lines end the file.
    end = len(data.rstrip(b"\n")) if data.endswith(b"\n\n") else len(data) - complete
    head = data[: max(head_end, 0)]
    if head_end < 0 or end <= head_end + 1 or b'"' in head or b"\r" in head:
        return None
    try:
        names = [h.strip().lower() for h in head.decode("utf-8").split(",")]
    except UnicodeDecodeError:
        return None
    truncated = False
    if not complete:
        last = data.rfind(b"\n", head_end + 1, end)
        cells = data.count(b",", max(last, head_end) + 1, end) + 1
        if cells < len(names):  # cut off mid-download: leave it out
            if last <= head_end + 1:
                return None
            end, truncated = last, True
    grid = CsvGrid.parse(memoryview(data)[head_end + 1 : end], len(names))
    if grid is None:
        return None
    return _columns(names, grid.column, only, truncated)


def _columns(
    names: Sequence[str], column: Callable[[int], Any], only: Collection[str] | None, truncated: bool
) -> ResultColumns:
    """The known columns by attribute name (`column(i)`: the i-th column as float64, NaN where blank)."""
    import numpy as np

    found: dict[str, Any] = {}
    for i, name in enumerate(names):
        attribute = _COLUMN_ALIASES.get(name)
        if attribute is None or (only is not None and attribute != "step" and attribute not in only):
            continue
        values = column(i)
        if attribute in found:  # a second spelling of the same column fills the first one's blanks
            values = np.where(np.isnan(found[attribute]), values, found[attribute])
        found[attribute] = values
    step = found.pop("step", None)
    if step is None:
        return ResultColumns(np.zeros(0, dtype=np.int64), {}, truncated)
    keep = np.abs(step) < 2**53  # NaN (blank, unreadable) and absurd steps are not steps
    if keep.all():  # every row has a step (a real file): no copies
        return ResultColumns(step.astype(np.int64), found, truncated)
    return ResultColumns(step[keep].astype(np.int64), {k: v[keep] for k, v in found.items()}, truncated)


def parse_results_columns_csv(text: str | bytes, only: Collection[str] | None = None) -> ResultColumns:
    """The same with the csv module, a Python string per cell: the forgiving path for files that are not a
    plain grid, and the straightforward parse the chart benchmark's baseline uses."""
    import numpy as np

    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    text = text.lstrip("\ufeff")
    complete = text.endswith(("\n", "\r"))
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return ResultColumns(np.zeros(0, dtype=np.int64), {})
    names = [h.strip().lower() for h in rows[0]]
    body = [r for r in rows[1:] if r]  # blank lines; rows of blank cells have no step and go below
    truncated = False
    if body and not complete and len(body[-1]) < len(names):
        body.pop()
        truncated = True
    return _columns(
        names, lambda i: _float_column([r[i] if i < len(r) else "" for r in body]), only, truncated
    )
