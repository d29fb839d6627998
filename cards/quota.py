"""`quota` card: what a resource uses of its limits (jobs running, queued and in total, fine-tuned
deployments, files and their size), with a warning where a limit is reached or nearly so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cards.markup import literal
from cards.model import Card, Table, Tone

# A use at or above this share of its limit is called "nearly full".
NEARLY = 0.8
_UNITS = ("bytes", "KB", "MB", "GB", "TB")


@dataclass(frozen=True, slots=True)
class QuotaLine:
    """One limit: `used` of `limit` (None when it could not be read); `size` formats both as bytes."""

    what: str
    used: int | None
    limit: int
    size: bool = False
    # What happens at the limit, said when it is reached ("a new job waits in the queue").
    at_limit: str = ""


@dataclass(frozen=True, slots=True)
class QuotaView:
    resource: str
    lines: Sequence[QuotaLine]
    notes: Sequence[str] = field(default_factory=tuple)


def size_text(value: int) -> str:
    """`0 bytes`, `512 KB`, `1.5 MB`, `1 GB` (binary units, as Azure's 1 GB file limit is)."""
    amount = float(value)
    unit = 0
    while amount >= 1024 and unit < len(_UNITS) - 1:
        amount /= 1024
        unit += 1
    if unit == 0:
        return f"{value:,} bytes"
    return f"{amount:.1f}".rstrip("0").rstrip(".") + f" {_UNITS[unit]}"


def _amount(value: int, size: bool) -> str:
    return size_text(value) if size else f"{value:,}"


def _state(line: QuotaLine) -> str:
    if line.used is None:
        return "not known"
    if line.used >= line.limit:
        return "⚠ full"
    if line.used >= NEARLY * line.limit:
        return "⚠ nearly full"
    return "ok"


def quota_card(view: QuotaView) -> Card:
    rows = tuple(
        (
            literal(line.what),
            "?" if line.used is None else _amount(line.used, line.size),
            _amount(line.limit, line.size),
            _state(line),
        )
        for line in view.lines
    )
    full = [line for line in view.lines if line.used is not None and line.used >= line.limit]
    nearly = [
        line for line in view.lines if line.used is not None and NEARLY * line.limit <= line.used < line.limit
    ]
    text = [f"{literal(line.what)}: at the limit. {line.at_limit}".rstrip() for line in full]
    if nearly:
        text.append("Nearly full: " + ", ".join(literal(line.what.lower()) for line in nearly) + ".")
    if not full and not nearly:
        text.append("Everything is within its limits.")
    text.extend(view.notes)
    return Card(
        title=f"Quota of {literal(view.resource)}",
        tone=Tone.WARNING if full or nearly else Tone.INFO,
        text="\n".join(text),
        tables=(Table(columns=("Limit", "Used", "Of", "State"), rows=rows),),
        summary=f"Quota of {literal(view.resource)}: "
        + ("; ".join(f"{literal(line.what.lower())} full" for line in full) if full else "within its limits"),
    )
