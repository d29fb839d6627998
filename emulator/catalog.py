"""Base models that can be fine-tuned, and what each supports (from the reference's model list)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaseModel:
    name: str
    chat: bool = True  # False: prompt/completion format and the completions API (babbage-002, davinci-002)
    dpo: bool = False
    rai_checked: bool = False  # gpt-4 family and newer get the safety evaluation


_MODELS = [
    BaseModel("babbage-002", chat=False),
    BaseModel("davinci-002", chat=False),
    BaseModel("gpt-35-turbo-0613"),
    BaseModel("gpt-35-turbo-1106"),
    BaseModel("gpt-35-turbo-0125"),
    BaseModel("gpt-4-0613", rai_checked=True),
    BaseModel("gpt-4o-2024-08-06", dpo=True, rai_checked=True),
    BaseModel("gpt-4o-mini-2024-07-18", rai_checked=True),
    BaseModel("gpt-4.1-2025-04-14", dpo=True, rai_checked=True),
    BaseModel("gpt-4.1-mini-2025-04-14", dpo=True, rai_checked=True),
]
BASE_MODELS: dict[str, BaseModel] = {m.name: m for m in _MODELS}

# Family names without a version resolve to the version the portal picks by default.
ALIASES = {
    "gpt-35-turbo": "gpt-35-turbo-0125",
    "gpt-4": "gpt-4-0613",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
}

FT_MARKER = ".ft-"


def lookup(name: str) -> BaseModel | None:
    return BASE_MODELS.get(ALIASES.get(name, name))


def root_of(model: str) -> str:
    """The base model under a (possibly repeatedly) fine-tuned model name or checkpoint name."""
    return model.split(FT_MARKER, 1)[0]
