"""Value formatting shared by the builders: times, numbers, hyperparameters, progress bars."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from cards.views import HyperValue

NOT_SET = "—"
BAR_FULL = "▓"
BAR_EMPTY = "░"


def when(moment: datetime | None) -> str:
    """`2025-04-01 09:15 UTC`; naive datetimes are taken as UTC."""
    if moment is None:
        return NOT_SET
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def clock(moment: datetime | None) -> str:
    """`09:15:02` (UTC), for event rows where the date is rarely needed."""
    if moment is None:
        return NOT_SET
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%m-%d %H:%M:%S")


def number(value: float | None, digits: int = 3) -> str:
    return NOT_SET if value is None else f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    """A 0..1 fraction as `94.4%`."""
    return NOT_SET if value is None else f"{value * 100:.1f}%"


def hyperparameters(values: Mapping[str, HyperValue]) -> str:
    """`n_epochs=3, batch_size=auto`; Azure echoes -1 (or omits) for values it chooses from the data."""
    if not values:
        return "defaults"
    parts = []
    for name, value in values.items():
        shown = "auto" if value is None or value == -1 or value == "auto" else str(value)
        parts.append(f"{name}={shown}")
    return ", ".join(parts)


def progress_percent(step: int | None, total: int | None) -> int | None:
    """Whole percent done (integer arithmetic: 29/100 is 29, not 28), clamped to 0..100; None if unknown."""
    if step is None or not total or total <= 0:
        return None
    return min(max(step * 100 // total, 0), 100)


def progress_bar(step: int | None, total: int | None, width: int = 10) -> str:
    """`▓▓▓▓░░░░░░ 40% (step 120/300)`, or "" when the progress is unknown."""
    pct = progress_percent(step, total)
    if pct is None or step is None or total is None:
        return ""
    full = min(max(step * width // total, 0), width)
    return f"{BAR_FULL * full}{BAR_EMPTY * (width - full)} {pct}% (step {step}/{total})"
