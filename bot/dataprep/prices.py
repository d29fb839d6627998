"""A configurable training price table (per 1M trained tokens, per base model and training type) and the
cost estimate.

The shipped `prices.toml` is illustrative: see its header. Load another with `PriceTable.load(path)`.
`[per_million_trained_tokens]` holds the Standard prices (and every type's, for a table without types);
`[training_types.<type>]` (global, datazone, developer) the prices of the other training types, dated by
`[training_types] as_of` with their `source`. A model without a price for its type is priced at Standard and
the estimate says so (`CostEstimate.training_type` is then None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
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
    # The training type whose price was applied ("standard" for the base table when a type was asked for);
    # None: no type was asked for, or the table has no price for it and the Standard one was used.
    training_type: str | None = None
    as_of: str = ""  # date of the per-type prices, when they were used


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
    by_type: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    types_as_of: str = ""
    types_source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        import tomllib  # here and below: when a table is read, not at start-up (its import compiles regexes)

        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PriceTableError(f"cannot read price table {path}: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "") -> PriceTable:
        if "per_million_trained_tokens" not in data:
            raise PriceTableError(f"{source or 'price table'}: missing [per_million_trained_tokens]")
        types = data.get("training_types", {})
        if not isinstance(types, dict):
            raise PriceTableError(f"{source or 'price table'}: [training_types] must be a table")
        by_type = {
            str(name).lower(): _prices(table, f"training_types.{name}")
            for name, table in types.items()
            if isinstance(table, dict)
        }
        return cls(
            per_million=_prices(data["per_million_trained_tokens"], "per_million_trained_tokens"),
            currency=str(data.get("currency", "USD")),
            note=str(data.get("note", "")),
            dpo_per_million=_prices(data.get("dpo", {}), "dpo"),
            source=source,
            by_type=by_type,
            types_as_of=str(types.get("as_of", "")),
            types_source=str(types.get("source", "")),
        )

    @classmethod
    def default(cls) -> PriceTable:
        """The table shipped with the package (`bot/dataprep/prices.toml`)."""
        import tomllib

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

    def type_price_for(self, model: str, training_type: str) -> tuple[str, float] | None:
        """(matched key, price per 1M trained tokens) of `model` in the table of `training_type` (a bot
        word: global, datazone, developer); None when that table has no entry for it."""
        table = self.by_type.get(training_type.lower())
        if not table:
            return None
        key = longest_prefix_key(base_model_name(model), tuple(table))
        return (key, table[key]) if key is not None else None

    def estimate(
        self, model: str, trained_tokens: int, method: str = "sft", training_type: str | None = None
    ) -> CostEstimate | None:
        """The cost of `trained_tokens` on `model`; with `training_type`, at that type's price where the
        table has one (Standard's otherwise, and `training_type` on the estimate is then None)."""
        typed = None if training_type in (None, "standard") else self.type_price_for(model, training_type)
        if typed is not None:
            key, price = typed
            applied: str | None = training_type
            as_of = self.types_as_of
        else:
            found = self.price_for(model, method)
            if found is None:
                return None
            key, price = found
            applied, as_of = ("standard", "") if training_type == "standard" else (None, "")
        amount = trained_tokens / 1_000_000 * price
        return CostEstimate(amount, self.currency, price, key, self.note, applied, as_of)


@lru_cache(maxsize=1)
def shipped_prices() -> PriceTable:
    """The shipped table, read once (`PriceTable.default()` reads the file on every call)."""
    return PriceTable.default()


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
    """The shipped table's hourly hosting price of an ARM deployment SKU (`Standard`, `DeveloperTier`, ...), in
    any case (ARM echoes the case it was sent: `developertier`)."""
    import tomllib

    text = resources.files("bot.dataprep").joinpath("prices.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    table = data.get("hosting_per_hour") or {}
    key = next((k for k in table if k.lower() == sku.lower()), sku)
    value = table.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return HostingPrice(
        key,
        float(value),
        str(data.get("currency", "USD")),
        str(table.get("as_of", "")),
        str(table.get("source", "")),
    )
