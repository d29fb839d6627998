"""Card for a training-data pre-flight report: counts, first errors with line numbers, warnings, tokens, cost.

It takes any object shaped like `bot.dataprep.ValidationReport` (see the protocols below) so that cards/
stays free of bot/ imports; handlers pass the report as is:

    card = validation_report_card(report, filename="train.jsonl")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from cards.format import plural
from cards.markup import code, literal, to_plain
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
    return ", ".join(f"{code(kind)} {n:,}" for kind, n in ordered)


def _rows(findings: Sequence[FindingLike], limit: int) -> tuple[tuple[str, ...], ...]:
    return tuple(
        ("whole file" if f.line is None else str(f.line), code(f.code), literal(f.message))
        for f in findings[:limit]
    )


def _more(total: int, shown: int, hint: str) -> str:
    return f"{total - shown:,} more; {hint}" if total > shown else ""


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}" if amount >= 1 else f"{amount:,.4f} {currency}"


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _failure_text(report: ReportLike, errors: int) -> str:
    """What is wrong, in sentences: file-level problems first (they say the most), then the examples."""
    file_level = [f for f in report.errors if f.line is None]
    line_level = errors - len(file_level)
    parts = [_sentence(f.message) for f in file_level]
    if report.invalid:
        verb = "is" if report.invalid == 1 else "are"
        parts.append(
            f"**{report.invalid:,}** of {plural(report.examples, 'example')} {verb} invalid "
            f"({plural(line_level, 'problem')})."
        )
    elif report.examples:
        parts.append(f"Every one of the {plural(report.examples, 'example')} is valid on its own.")
    parts.append("Fix the data, then try again.")
    return " ".join(parts)


def _estimate_facts(report: ReportLike) -> list[Fact]:
    """Token statistics and the trained-token/cost estimates: only for data that passed (an estimate of
    refused data says nothing useful, e.g. 0 tokens for a file whose every line was refused)."""
    facts = []
    stats = report.token_stats
    if stats is not None:
        facts.append(
            Fact(
                "Tokens per example",
                f"min {stats.min:,} · mean {stats.mean:,.0f} · p95 {stats.p95:,} · max {stats.max:,} "
                f"({literal(stats.encoding)})",
            )
        )
    if report.estimated_trained_tokens is not None and report.epochs is not None:
        facts.append(
            Fact(
                "Trained tokens (est.)",
                f"{report.estimated_trained_tokens:,} ({plural(report.epochs, 'epoch')})",
            )
        )
    cost = report.estimated_cost
    if cost is not None:
        facts.append(
            Fact(
                "Training cost (est.)",
                f"{_money(cost.amount, literal(cost.currency))} at {cost.per_million:,.2f} per 1M tokens "
                f"({literal(cost.price_key)})",
            )
        )
    return facts


def validation_report_card(
    report: ReportLike,
    *,
    filename: str = "",
    role: str = "",
    title: str | None = None,
    note: str = "",
    estimates: bool = True,
    key: str | None = None,
) -> Card:
    """The report as a neutral card: error tone when the data would be refused, success otherwise.

    `role` ("training", "validation") names what the file is for; `title` replaces the default title (e.g.
    "No job started: fix ..."); `note` is a line added to the text; `estimates=False` leaves out the
    trained-token and cost estimates (validation data is not trained on). Failed data never shows them."""
    errors = sum(report.error_counts.values())
    warnings = sum(report.warning_counts.values())
    what = f" ({role} data)" if role and filename else f": {role} data" if role else ""
    name = f": {code(filename)}{what}" if filename else what
    facts = [
        Fact("Examples", f"{report.examples:,}"),
        Fact("Valid", f"{report.valid:,}"),
        Fact("Invalid", f"{report.invalid:,}"),
        Fact("Errors", _by_kind(report.error_counts) if errors else "none"),
        Fact("Warnings", _by_kind(report.warning_counts) if warnings else "none"),
        Fact("Model", f"{literal(report.model or 'not given')} · {literal(report.method)}"),
    ]
    shows_estimates = report.ok and estimates
    if shows_estimates:
        facts.extend(_estimate_facts(report))
    elif report.ok and report.token_stats is not None:
        facts.extend(_estimate_facts(report)[:1])  # tokens per example still tell about the data
    tables = []
    if report.errors:
        tables.append(
            Table(
                columns=("Line", "Problem", "Reason"),
                rows=_rows(report.errors, MAX_ERROR_ROWS),
                title="First errors",
                more=_more(
                    errors,
                    min(len(report.errors), MAX_ERROR_ROWS),
                    "fix these and check again (`/ft validate`): the next ones show then",
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
        default_title, tone, badge = (
            f"Data check passed{name}",
            Tone.SUCCESS,
            plural(report.valid, "example"),
        )
        text = f"**{report.valid:,}** {'example' if report.valid == 1 else 'examples'} ready to upload."
    else:
        default_title, tone, badge = f"Data check failed{name}", Tone.ERROR, plural(errors, "error")
        text = _failure_text(report, errors)
    if note:
        text = f"{text}\n{note}"
    title = title or default_title
    summary = (
        # The title as plain text, kept literal: a file name in it must not turn into markup here.
        f"{literal(to_plain(title))}: {report.valid:,} of {plural(report.examples, 'example')} valid, "
        + plural(errors, "error")
    )
    cost = report.estimated_cost if shows_estimates else None
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
