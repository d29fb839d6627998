"""The validation report: counts, first errors and warnings, token statistics, trained tokens and cost."""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.dataprep.findings import Finding
from bot.dataprep.prices import CostEstimate

# Default epochs when none is given: the OpenAI cookbook's estimate of the service's automatic choice
# (3 epochs, raised so that small files see ~100 examples, lowered so big ones stay near 25,000; 1-25).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def default_epochs(examples: int) -> int:
    if examples <= 0:
        return TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS


@dataclass(frozen=True, slots=True)
class TokenStats:
    """Tokens per valid example."""

    encoding: str
    examples: int
    total: int
    min: int
    max: int
    mean: float
    p95: int

    @classmethod
    def from_counts(cls, encoding: str, counts: array[int]) -> TokenStats | None:
        if not counts:
            return None
        ordered = sorted(counts)
        # Nearest-rank percentile.
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        total = sum(ordered)
        return cls(encoding, len(ordered), total, ordered[0], ordered[-1], total / len(ordered), p95)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What `validate_*` found. Counts always add up: `examples == valid + invalid`."""

    method: str
    model: str | None
    data_format: str  # "chat", "dpo" or "completion"
    bytes: int
    lines: int
    blank_lines: int
    examples: int
    valid: int
    invalid: int
    # First errors (file-level ones first, then by line) and all error counts by code.
    errors: tuple[Finding, ...]
    error_counts: Mapping[str, int]
    warnings: tuple[Finding, ...]
    warning_counts: Mapping[str, int]
    token_stats: TokenStats | None = None
    epochs: int | None = None
    epochs_is_default: bool = True
    estimated_trained_tokens: int | None = None
    estimated_cost: CostEstimate | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.error_counts

    @property
    def error_total(self) -> int:
        return sum(self.error_counts.values())

    @property
    def warning_total(self) -> int:
        return sum(self.warning_counts.values())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["error_counts"] = dict(self.error_counts)
        out["warning_counts"] = dict(self.warning_counts)
        return out

    def to_text(self, name: str = "") -> str:
        """A plain-text report for the terminal."""
        verdict = "VALID" if self.ok else f"INVALID ({_plural(self.error_total, 'error')})"
        head = f"{name}: {verdict}" if name else verdict
        model = self.model or "(no model given)"
        lines = [
            head,
            f"checked as {self.data_format} data · method {self.method} · model {model} · {_size(self.bytes)}",
            f"examples {self.examples} · valid {self.valid} · invalid {self.invalid}"
            + (f" · blank lines ignored {self.blank_lines}" if self.blank_lines else ""),
        ]
        if self.error_counts:
            lines.append("errors by kind: " + _counts(self.error_counts))
            lines.extend(f"  {e}" for e in self.errors)
            if len(self.errors) < self.error_total:
                lines.append(f"  ... {self.error_total - len(self.errors)} more")
        if self.warning_counts:
            lines.append("warnings by kind: " + _counts(self.warning_counts))
            lines.extend(f"  {w}" for w in self.warnings)
            if len(self.warnings) < self.warning_total:
                lines.append(f"  ... {self.warning_total - len(self.warnings)} more")
        if self.ok:  # estimates for refused data mean nothing (e.g. 0 tokens when every line failed)
            lines.extend(self.token_lines())
            lines.extend(self.notes)
        return "\n".join(lines)

    def token_lines(self) -> list[str]:
        """Token statistics, trained-token and cost estimates as text lines (shared by CLI and cards)."""
        s = self.token_stats
        if s is None:
            return ["tokens: not counted"] if self.estimated_trained_tokens is None else []
        out = [
            f"tokens per example ({s.encoding}): min {s.min:,} · mean {s.mean:,.1f} · p95 {s.p95:,} · "
            f"max {s.max:,} · total {s.total:,}"
        ]
        if self.estimated_trained_tokens is not None and self.epochs is not None:
            how = f"usual default for {self.valid:,} examples" if self.epochs_is_default else "as given"
            out.append(
                f"estimated trained tokens: {self.estimated_trained_tokens:,} "
                f"({s.total:,} x {_plural(self.epochs, 'epoch')}, {how})"
            )
        c = self.estimated_cost
        if c is not None:
            out.append(
                f"estimated training cost: {c.amount:,.{2 if c.amount >= 1 else 4}f} {c.currency} at {c.per_million:,.2f} "
                f"per 1M trained tokens ({c.price_key}; {c.note or 'configurable price table'})"
            )
        return out


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1048576:,.1f} MB"
    if n >= 1024:
        return f"{n / 1024:,.1f} KB"
    return f"{n} bytes"
