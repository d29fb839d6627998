"""Pre-flight validation of fine-tuning data (chat SFT, DPO, vision, prompt/completion) before upload.

>>> from bot.dataprep import validate_path
>>> report = validate_path("train.jsonl", model="gpt-4o-mini-2024-07-18")
>>> report.ok, report.examples, report.errors[:3], report.estimated_cost

The names below are loaded from their modules on first use: the settings need only `bot.dataprep.models`,
and importing it must not load the validator and its JSON parser at every start of the bot (issue 17).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.dataprep.findings import Finding
    from bot.dataprep.models import ModelInfo, dpo_models, known_models, model_info, vision_models
    from bot.dataprep.prices import CostEstimate, PriceTable, PriceTableError
    from bot.dataprep.report import TokenStats, ValidationReport, default_epochs
    from bot.dataprep.validator import (
        MAX_FILE_BYTES,
        MIN_EXAMPLES,
        StreamValidator,
        validate_chunks,
        validate_path,
        validate_stream,
    )

# Each public name and the submodule that defines it.
_HOMES = {
    "Finding": "findings",
    "ModelInfo": "models",
    "dpo_models": "models",
    "known_models": "models",
    "model_info": "models",
    "vision_models": "models",
    "CostEstimate": "prices",
    "PriceTable": "prices",
    "PriceTableError": "prices",
    "TokenStats": "report",
    "ValidationReport": "report",
    "default_epochs": "report",
    "MAX_FILE_BYTES": "validator",
    "MIN_EXAMPLES": "validator",
    "StreamValidator": "validator",
    "validate_chunks": "validator",
    "validate_path": "validator",
    "validate_stream": "validator",
}

__all__ = [
    "MAX_FILE_BYTES",
    "MIN_EXAMPLES",
    "CostEstimate",
    "Finding",
    "ModelInfo",
    "PriceTable",
    "PriceTableError",
    "StreamValidator",
    "TokenStats",
    "ValidationReport",
    "default_epochs",
    "dpo_models",
    "known_models",
    "model_info",
    "validate_chunks",
    "validate_path",
    "validate_stream",
    "vision_models",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its submodule the first time it is asked for (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
