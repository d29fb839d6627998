"""`models` card: the fine-tunable base models of a resource and its fine-tuned models, with retirements.

A model that stops being served within `RETIRING_SOON_DAYS` (or already has) is flagged with ⚠ and named in
the text, so nobody starts a job or keeps a deployment on a model about to go away without being told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from cards.format import plural
from cards.markup import code, literal
from cards.model import Card, Table, Tone

RETIRING_SOON_DAYS = 60


@dataclass(frozen=True, slots=True)
class BaseModelRow:
    """A base model that can be fine-tuned. `context` is the longest training example in tokens."""

    name: str
    methods: tuple[str, ...] = ()
    training_types: tuple[str, ...] = ()
    context: int | None = None
    retires: date | None = None  # no new fine-tuning after this day
    gated: bool = False


@dataclass(frozen=True, slots=True)
class FineTunedRow:
    """A fine-tuned model of the resource; `retires` is when deployments of it stop being served."""

    name: str
    base: str = ""
    job: str = ""
    retires: date | None = None


@dataclass(frozen=True, slots=True)
class ModelsView:
    resource: str
    today: date
    bases: Sequence[BaseModelRow] = ()
    fine_tuned: Sequence[FineTunedRow] = ()
    # Where the list came from: "service" (`GET /openai/models`) or "catalogue" (the bundled one).
    source: str = "service"
    catalogue_date: str = ""
    notes: Sequence[str] = field(default_factory=tuple)


def retiring_soon(retires: date | None, today: date, days: int = RETIRING_SOON_DAYS) -> bool:
    """True when `retires` is within `days` from `today`, or already past."""
    return retires is not None and (retires - today).days <= days


def retirement_text(retires: date | None, today: date) -> str:
    """`2026-10-01`, `⚠ 2026-10-01 (in 45 days)`, `⚠ retired 2026-10-01`; `-` when none is announced."""
    if retires is None:
        return "-"
    left = (retires - today).days
    if left < 0:
        return f"⚠ since {retires.isoformat()}"
    if left <= RETIRING_SOON_DAYS:
        return f"⚠ {retires.isoformat()} ({'today' if left == 0 else plural(left, 'day')} left)"
    return retires.isoformat()


def _context(tokens: int | None) -> str:
    return f"{tokens:,}" if tokens else "?"


def models_card(view: ModelsView) -> Card:
    today = view.today
    base_rows = tuple(
        (
            code(b.name) + (" (by invitation)" if b.gated else ""),
            literal(", ".join(b.methods) or "?"),
            literal(", ".join(b.training_types) or "?"),
            _context(b.context),
            retirement_text(b.retires, today),
        )
        for b in view.bases
    )
    tuned_rows = tuple(
        (code(m.name), literal(m.base or "?"), literal(m.job or "-"), retirement_text(m.retires, today))
        for m in view.fine_tuned
    )
    soon = [b.name for b in view.bases if retiring_soon(b.retires, today)]
    soon += [m.name for m in view.fine_tuned if retiring_soon(m.retires, today)]
    lines = []
    if view.source == "service":
        lines.append("From the resource's own model list.")
    else:
        dated = f" (dated {literal(view.catalogue_date)})" if view.catalogue_date else ""
        lines.append(f"The resource does not list its models: these come from the bot's catalogue{dated}.")
    if soon:
        names = ", ".join(code(n) for n in soon[:5]) + (f" and {len(soon) - 5} more" if len(soon) > 5 else "")
        lines.append(
            f"⚠ {plural(len(soon), 'model')} retire within {RETIRING_SOON_DAYS} days or already have: {names}. "
            "Plan a move to a newer model."
        )
    lines.extend(view.notes)
    tables = [
        Table(
            columns=("Base model", "Methods", "Training types", "Context", "Retires"),
            rows=base_rows,
            title="Fine-tunable base models",
        )
    ]
    if tuned_rows:
        tables.append(
            Table(
                columns=("Fine-tuned model", "Base", "Job", "Retires"),
                rows=tuned_rows,
                title="Fine-tuned models",
            )
        )
    else:
        lines.append("No fine-tuned models on this resource yet.")
    return Card(
        title=f"Models of {literal(view.resource)}",
        tone=Tone.WARNING if soon else Tone.INFO,
        text="\n".join(lines),
        tables=tuple(tables),
        summary=f"{plural(len(view.bases), 'base model')} and {plural(len(view.fine_tuned), 'fine-tuned model')}"
        f" on {literal(view.resource)}",
    )
