"""What the validator needs to know about each base model: tokenizer, token limit, methods, vision support,
and where it stands in its lifecycle.

Sources: `shared/reference/azure-openai-fine-tuning.md` and its 2026 section (Microsoft's
`fine-tune-supported-models.md` of 2026-03-05: SFT gpt-4o-mini; SFT+DPO gpt-4o, gpt-4.1, gpt-4.1-mini,
gpt-4.1-nano; RFT o4-mini and gpt-5 (gated); vision gpt-4o, gpt-4.1), the model retirement schedule (base
retirements gpt-4o/gpt-4o-mini 2026-10-01, gpt-4.1 family 2026-10-14, o4-mini 2026-10-16; gpt-35-turbo,
gpt-4-0613, babbage-002, davinci-002 retired for fine-tuning), the docs' per-model "max training example
context" and `how-to/fine-tuning-deploy.md` (2026-02-11: how a fine-tuned model may be deployed). The emulator
keeps its own copy (`emulator/catalog.py`, it imports nothing of ours); a test keeps the two in agreement. Names are matched by the longest known prefix that ends at a `-` or at the end, after
removing a continuous fine-tuning suffix (`base.ft-<job>`) or an OpenAI-style `ft:<base>:...` wrapper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

DataFormat = Literal["chat", "completion"]
# The day of the newest source this catalogue follows (Microsoft's supported-models page); update with it.
CATALOGUE_DATE = "2026-03-05"
SFT = frozenset({"supervised"})
SFT_DPO = frozenset({"supervised", "dpo"})
RFT = frozenset({"reinforcement"})
# Training types (`trainingType` on job create) in the bot's words, cheapest last; 2026 section of the reference.
TRAINING_TYPES: tuple[str, ...] = ("standard", "datazone", "global", "developer")
ALL_TYPES = frozenset(TRAINING_TYPES)
NO_DEVELOPER = frozenset({"standard", "datazone", "global"})
# Deployment types of a fine-tuned model (`deploy --sku`), in the bot's words, in the order offered. Microsoft's
# `fine-tuning-deploy.md` (2026-02-11, "Deployment Types"): Developer deployments (ARM `DeveloperTier`) are
# available for o4-mini, gpt-4.1, gpt-4.1-mini and gpt-4.1-nano only; this is not Developer *training*
# (gpt-4o-mini trains as Developer but cannot be deployed so; o4-mini the other way round).
DEPLOYMENT_TYPES: tuple[str, ...] = ("standard", "globalstandard", "datazone", "provisioned", "developer")
ALL_DEPLOYMENTS = frozenset(DEPLOYMENT_TYPES)
NO_DEVELOPER_DEPLOYMENT = ALL_DEPLOYMENTS - {"developer"}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    key: str
    encoding: str  # tokenizer encoding name (o200k_base, cl100k_base)
    token_limit: int  # longest training example, in tokens
    supports_dpo: bool = False
    supports_vision: bool = False
    # babbage-002 / davinci-002 train on {"prompt", "completion"} lines, not chat messages.
    data_format: DataFormat = "chat"
    methods: frozenset[str] = SFT
    retires: str | None = None  # ISO date after which the base model takes no new fine-tuning
    retired: bool = False  # no longer offered for fine-tuning
    gated: bool = False  # fine-tuning by invitation only
    training_types: frozenset[str] = ALL_TYPES  # where the model trains (Standard also depends on region)
    # How a model fine-tuned from this one may be deployed (`DEPLOYMENT_TYPES`; Standard also depends on region).
    deployment_types: frozenset[str] = NO_DEVELOPER_DEPLOYMENT
    # The model Microsoft's retirement schedule names as the one to move to, when it names one (`start` on a
    # model retiring soon points at it). None of the 2026 sources names one for fine-tuning yet.
    successor: str | None = None


_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        "gpt-4.1-nano",
        "o200k_base",
        32_768,
        supports_dpo=True,
        methods=SFT_DPO,
        retires="2026-10-14",
        deployment_types=ALL_DEPLOYMENTS,
    ),
    ModelInfo(
        "gpt-4.1-mini",
        "o200k_base",
        65_536,
        supports_dpo=True,
        methods=SFT_DPO,
        retires="2026-10-14",
        deployment_types=ALL_DEPLOYMENTS,
    ),
    ModelInfo(
        "gpt-4.1",
        "o200k_base",
        65_536,
        supports_dpo=True,
        supports_vision=True,
        methods=SFT_DPO,
        retires="2026-10-14",
        deployment_types=ALL_DEPLOYMENTS,
    ),
    ModelInfo("gpt-4o-mini", "o200k_base", 65_536, retires="2026-10-01"),
    # gpt-4o-2024-08-06 is the only fine-tunable gpt-4o version.
    ModelInfo(
        "gpt-4o",
        "o200k_base",
        65_536,
        supports_dpo=True,
        supports_vision=True,
        methods=SFT_DPO,
        retires="2026-10-01",
    ),
    ModelInfo(
        "o4-mini",
        "o200k_base",
        65_536,
        methods=RFT,
        retires="2026-10-16",
        training_types=NO_DEVELOPER,
        deployment_types=ALL_DEPLOYMENTS,
    ),
    # The full name: a bare `gpt-5` prefix would also claim names like `gpt-5-turbo`.
    ModelInfo("gpt-5-2025-08-07", "o200k_base", 65_536, methods=RFT, gated=True),
    ModelInfo("gpt-4", "cl100k_base", 8_192, retired=True),
    ModelInfo("gpt-35-turbo-0613", "cl100k_base", 4_096, retired=True),
    ModelInfo("gpt-35-turbo", "cl100k_base", 16_385, retired=True),
    ModelInfo("gpt-3.5-turbo-0613", "cl100k_base", 4_096, retired=True),
    ModelInfo("gpt-3.5-turbo", "cl100k_base", 16_385, retired=True),
    ModelInfo("babbage-002", "cl100k_base", 16_384, data_format="completion", retired=True),
    ModelInfo("davinci-002", "cl100k_base", 16_384, data_format="completion", retired=True),
)

# Used when no model is given or the model is unknown: the encoding of every current fine-tunable model.
DEFAULT_ENCODING = "o200k_base"


def base_model_name(model: str) -> str:
    """`gpt-35-turbo-0613.ft-5fd1...` -> `gpt-35-turbo-0613`; `ft:gpt-4o-mini-2024-07-18:org::id` -> base."""
    name = model.strip()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name.split(".ft-", 1)[0].lower()


def longest_prefix_key(name: str, keys: list[str] | tuple[str, ...]) -> str | None:
    """The longest key that `name` starts with, ending at `-` or at its end (`gpt-4` is not `gpt-4o`)."""
    best: str | None = None
    for key in keys:
        matches = name == key or name.startswith(key + "-")
        if matches and (best is None or len(key) > len(best)):
            best = key
    return best


def model_info(model: str | None) -> ModelInfo | None:
    """The known facts for `model`, or None when no model is given or it is not one we know."""
    if not model:
        return None
    key = longest_prefix_key(base_model_name(model), [m.key for m in _MODELS])
    return next((m for m in _MODELS if m.key == key), None)


def known_models() -> list[str]:
    """Base models we know can be fine-tuned today, in Azure's spelling (for messages that refuse a model)."""
    return [m.key for m in _MODELS if not m.key.startswith("gpt-3.5") and not m.retired]


def all_models() -> tuple[ModelInfo, ...]:
    """Every model we know, retired ones included (they still name fine-tuned models and count tokens)."""
    return _MODELS


def dpo_models() -> list[str]:
    """Base models that accept DPO, for messages that refuse it."""
    return [m.key for m in _MODELS if m.supports_dpo]


def vision_models() -> list[str]:
    return [m.key for m in _MODELS if m.supports_vision]


def deployable_as(deployment_type: str) -> list[str]:
    """Base models (offered today) whose fine-tuned models deploy as `deployment_type` (`developer`, ...)."""
    return [m.key for m in _MODELS if deployment_type in m.deployment_types and not m.retired]


def served_until(retires: date | None) -> date | None:
    """Azure serves fine-tuned deployments for a year after their base stops taking new fine-tuning
    (gpt-4o-mini: no new fine-tuning after 2026-10-01, deployments until 2027-10; 2026 section)."""
    if retires is None:
        return None
    return retires.replace(
        year=retires.year + 1, day=28 if (retires.month, retires.day) == (2, 29) else retires.day
    )
