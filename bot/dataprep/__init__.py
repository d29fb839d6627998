"""Pre-flight validation of fine-tuning data (chat SFT, DPO, vision, prompt/completion) before upload.

>>> from bot.dataprep import validate_path
>>> report = validate_path("train.jsonl", model="gpt-4o-mini-2024-07-18")
>>> report.ok, report.examples, report.errors[:3], report.estimated_cost
"""

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
