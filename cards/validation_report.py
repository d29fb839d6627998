"""Card for a training-data pre-flight report: counts, first errors with line numbers, warnings, tokens, cost.

It takes any object shaped like `bot.dataprep.ValidationReport` (see the protocols below) so that cards/
stays free of bot/ imports; handlers pass the report as is:

    card = validation_report_card(report, filename="train.jsonl")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from cards.model import Card, Fact, Table, Tone

MAX_ERROR_ROWS = 10
MAX_WARNING_ROWS = 5


class FindingLike(Protocol):
    @property
    def line(self) -> int | None: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


class TokenStatsLike(Protocol):
    @property
    def encoding(self) -> str: ...
    @property
    def total(self) -> int: ...
    @property
    def min(self) -> int: ...
    @property
    def max(self) -> int: ...
    @property
    def mean(self) -> float: ...
    @property
    def p95(self) -> int: ...


class CostLike(Protocol):
    @property
    def amount(self) -> float: ...
    @property
    def currency(self) -> str: ...
    @property
    def per_million(self) -> float: ...
    @property
    def price_key(self) -> str: ...


class ReportLike(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def model(self) -> str | None: ...
    @property
    def method(self) -> str: ...
    @property
    def examples(self) -> int: ...
    @property
    def valid(self) -> int: ...
    @property
    def invalid(self) -> int: ...
    @property
    def errors(self) -> Sequence[FindingLike]: ...
    @property
    def error_counts(self) -> Mapping[str, int]: ...
    @property
    def warnings(self) -> Sequence[FindingLike]: ...
    @property
    def warning_counts(self) -> Mapping[str, int]: ...
    @property
    def token_stats(self) -> TokenStatsLike | None: ...
    @property
    def epochs(self) -> int | None: ...
    @property
    def estimated_trained_tokens(self) -> int | None: ...
    @property
    def estimated_cost(self) -> CostLike | None: ...


def _by_kind(counts: Mapping[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"`{code}` {n:,}" for code, n in ordered)


def _rows(findings: Sequence[FindingLike], limit: int) -> tuple[tuple[str, ...], ...]:
    return tuple(
        ("file" if f.line is None else str(f.line), f"`{f.code}`", f.message) for f in findings[:limit]
    )


def _more(total: int, shown: int, hint: str) -> str:
    return f"{total - shown:,} more; {hint}" if total > shown else ""


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}" if amount >= 1 else f"{amount:,.4f} {currency}"


def validation_report_card(report: ReportLike, *, filename: str = "", key: str | None = None) -> Card:
    """The report as a neutral card: error tone when the data would be refused, success otherwise."""
    errors = sum(report.error_counts.values())
    warnings = sum(report.warning_counts.values())
    name = f"`{filename}`" if filename else "training data"
    facts = [
        Fact("Examples", f"{report.examples:,}"),
        Fact("Valid", f"{report.valid:,}"),
        Fact("Invalid", f"{report.invalid:,}"),
        Fact("Errors", _by_kind(report.error_counts) if errors else "none"),
        Fact("Warnings", _by_kind(report.warning_counts) if warnings else "none"),
        Fact("Model", f"{report.model or 'not given'} · {report.method}"),
    ]
    stats = report.token_stats
    if stats is not None:
        facts.append(
            Fact(
                "Tokens per example",
                f"min {stats.min:,} · mean {stats.mean:,.0f} · p95 {stats.p95:,} · max {stats.max:,} "
                f"({stats.encoding})",
            )
        )
    if report.estimated_trained_tokens is not None and report.epochs is not None:
        facts.append(
            Fact("Trained tokens (est.)", f"{report.estimated_trained_tokens:,} ({report.epochs} epochs)")
        )
    cost = report.estimated_cost
    if cost is not None:
        facts.append(
            Fact(
                "Training cost (est.)",
                f"{_money(cost.amount, cost.currency)} at {cost.per_million:,.2f} per 1M tokens ({cost.price_key})",
            )
        )
    tables = []
    if report.errors:
        tables.append(
            Table(
                columns=("Line", "Problem", "Reason"),
                rows=_rows(report.errors, MAX_ERROR_ROWS),
                title="First errors",
                more=_more(
                    errors, min(len(report.errors), MAX_ERROR_ROWS), "run `ftbot validate FILE` for more"
                ),
            )
        )
    if report.warnings:
        tables.append(
            Table(
                columns=("Line", "Warning", "Detail"),
                rows=_rows(report.warnings, MAX_WARNING_ROWS),
                title="Warnings",
                more=_more(
                    warnings, min(len(report.warnings), MAX_WARNING_ROWS), "they do not block training"
                ),
            )
        )
    if report.ok:
        title, tone, badge = f"Data check passed: {name}", Tone.SUCCESS, "valid"
        text = f"**{report.valid:,}** examples ready to upload."
    else:
        title, tone, badge = f"Data check failed: {name}", Tone.ERROR, f"{errors:,} errors"
        text = f"**{errors:,}** problems in {report.invalid:,} of {report.examples:,} examples. Fix them before uploading."
    summary = (
        f"{title.replace('`', '')}: {report.valid:,}/{report.examples:,} examples valid, {errors:,} errors"
    )
    return Card(
        title=title,
        tone=tone,
        text=text,
        facts=tuple(facts),
        tables=tuple(tables),
        footer="Cost from an illustrative, configurable price table; tokens counted offline."
        if cost is not None
        else "",
        summary=summary,
        key=key,
        badge=badge,
    )
