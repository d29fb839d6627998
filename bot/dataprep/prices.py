"""A configurable training price table (per 1M trained tokens, per base model) and the cost estimate.

The shipped `prices.toml` is illustrative: see its header. Load another with `PriceTable.load(path)`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot.dataprep.models import base_model_name, longest_prefix_key


class PriceTableError(ValueError):
    """The price file is missing, not TOML, or not in the expected layout."""


@dataclass(frozen=True, slots=True)
class CostEstimate:
    amount: float
    currency: str
    per_million: float  # price per 1M trained tokens that was applied
    price_key: str  # the table key that matched the model
    note: str


def _prices(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise PriceTableError(f"{where}: expected a table of model = price")
    out: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise PriceTableError(f"{where}.{key}: price must be a number >= 0, got {value!r}")
        out[str(key).lower()] = float(value)
    return out


@dataclass(frozen=True, slots=True)
class PriceTable:
    per_million: Mapping[str, float]
    currency: str = "USD"
    note: str = ""
    dpo_per_million: Mapping[str, float] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PriceTableError(f"cannot read price table {path}: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "") -> PriceTable:
        if "per_million_trained_tokens" not in data:
            raise PriceTableError(f"{source or 'price table'}: missing [per_million_trained_tokens]")
        return cls(
            per_million=_prices(data["per_million_trained_tokens"], "per_million_trained_tokens"),
            currency=str(data.get("currency", "USD")),
            note=str(data.get("note", "")),
            dpo_per_million=_prices(data.get("dpo", {}), "dpo"),
            source=source,
        )

    @classmethod
    def default(cls) -> PriceTable:
        """The table shipped with the package (`bot/dataprep/prices.toml`)."""
        text = resources.files("bot.dataprep").joinpath("prices.toml").read_text(encoding="utf-8")
        return cls.from_dict(tomllib.loads(text), source="bot/dataprep/prices.toml")

    def price_for(self, model: str, method: str = "sft") -> tuple[str, float] | None:
        """(matched key, price per 1M trained tokens) for `model`, or None when the table has no entry."""
        name = base_model_name(model)
        tables = [self.dpo_per_million, self.per_million] if method == "dpo" else [self.per_million]
        for table in tables:
            key = longest_prefix_key(name, tuple(table))
            if key is not None:
                return key, table[key]
        return None

    def estimate(self, model: str, trained_tokens: int, method: str = "sft") -> CostEstimate | None:
        found = self.price_for(model, method)
        if found is None:
            return None
        key, price = found
        return CostEstimate(trained_tokens / 1_000_000 * price, self.currency, price, key, self.note)


@dataclass(frozen=True, slots=True)
class HostingPrice:
    """Hourly hosting fee of a fine-tuned deployment of one SKU, with where the figure comes from."""

    sku: str
    per_hour: float
    currency: str
    as_of: str
    source: str

    @property
    def per_month(self) -> float:
        """A 30-day month of hosting (730 h would be a calendar average; 30 days matches the 15-day rule)."""
        return self.per_hour * 24 * 30


def hosting_price(sku: str) -> HostingPrice | None:
    """The shipped table's hourly hosting price of an ARM deployment SKU (`Standard`, `DeveloperTier`, ...)."""
    text = resources.files("bot.dataprep").joinpath("prices.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    table = data.get("hosting_per_hour") or {}
    value = table.get(sku)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return HostingPrice(
        sku,
        float(value),
        str(data.get("currency", "USD")),
        str(table.get("as_of", "")),
        str(table.get("source", "")),
    )
