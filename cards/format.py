"""Value formatting shared by the builders: times, numbers, counts, hyperparameters, progress bars.

Times have one style on every card: `2025-04-01 09:15 UTC` (`when`), with seconds where they matter
(`when(t, seconds=True)`). Event rows show only `09:15:02` (`clock`) and the card says the date once (`day`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from cards.views import HyperValue

NOT_SET = "—"
BAR_FULL = "▓"
BAR_EMPTY = "░"


def _utc(moment: datetime) -> datetime:
    """The moment in UTC; naive datetimes are taken as UTC already."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def when(moment: datetime | None, seconds: bool = False) -> str:
    """`2025-04-01 09:15 UTC` (`2025-04-01 09:15:02 UTC` with `seconds`): the style of every card."""
    if moment is None:
        return NOT_SET
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def day(moment: datetime) -> str:
    """`2025-04-01` (UTC): said once on a card whose rows show only `clock` times."""
    return _utc(moment).strftime("%Y-%m-%d")


def clock(moment: datetime | None) -> str:
    """`09:15:02` (UTC), for rows under a header that gives the date (see `day`)."""
    if moment is None:
        return NOT_SET
    return _utc(moment).strftime("%H:%M:%S")


def plural(count: int, word: str, many: str = "") -> str:
    """`1 checkpoint`, `3 checkpoints`, `1,024 examples`; `many` for irregular plurals."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


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
