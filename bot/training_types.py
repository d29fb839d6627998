"""Training types (`trainingType` on job create): the bot's words for them, Azure's spelling on the wire, how
each reads on a card, and which one a `start` uses.

The words are the catalogue's (`bot.dataprep.models.TRAINING_TYPES`: standard, datazone, global, developer,
cheapest last). Azure's docs spell the values several ways (`Standard`, `GlobalStandard`, `globalstandard`,
`DataZoneStandard`, `Developer`, `developerTier`); the bot sends `Standard`, `DataZoneStandard`,
`GlobalStandard` and `Developer`, and reads back any of them. The field is always sent: a request without it
has been answered on some resources with the misleading "The specified base model does not support
fine-tuning" (2026 section of the reference).

Which type a start uses: the one asked for (`--training-type`; refused before anything is uploaded when the
model does not offer it), else the resource's `default_training_type` (TOML), else `FTBOT_DEFAULT_TRAINING_TYPE`,
each only when the model offers it, else the cheapest type the model offers that is not pre-emptible (Global
where offered: Developer is chosen only when asked for or configured). For a model the catalogue does
not know, a configured default is taken as it is, else Global (every fine-tunable model offers it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.dataprep.models import TRAINING_TYPES, model_info
from cards.model import code

STANDARD, DATAZONE, GLOBAL, DEVELOPER = "standard", "datazone", "global", "developer"
WIRE = {
    STANDARD: "Standard",
    DATAZONE: "DataZoneStandard",
    GLOBAL: "GlobalStandard",
    DEVELOPER: "Developer",
}
LABELS = {STANDARD: "Standard", DATAZONE: "Data Zone", GLOBAL: "Global", DEVELOPER: "Developer"}
# Every spelling seen in the docs and in job answers, squeezed (lower case, no `_`, `-` or spaces).
_SPELLINGS = {
    "standard": STANDARD,
    "datazone": DATAZONE,
    "datazonestandard": DATAZONE,
    "global": GLOBAL,
    "globalstandard": GLOBAL,
    "developer": DEVELOPER,
    "developertier": DEVELOPER,
}
# What the card says of Developer training (reference, 2026 section).
DEVELOPER_NOTE = "pre-emptible: it may pause and resume by itself, and is not billed while paused; no SLA"
UNKNOWN_MODEL_FALLBACK = GLOBAL
USAGE = "standard|global|datazone|developer"


def parse(value: object) -> str | None:
    """The bot's word for any documented spelling (`GlobalStandard`, `developerTier`, `global`); None else."""
    if not isinstance(value, str):
        return None
    squeezed = "".join(ch for ch in value.lower() if ch not in "_- ")
    return _SPELLINGS.get(squeezed)


def word(value: str) -> str:
    """For `Opt`: a training type given in chat, in any documented spelling."""
    found = parse(value)
    if found is None:
        raise ValueError(f"use one of {', '.join(TRAINING_TYPES)}")
    return found


def wire(training_type: str) -> str:
    """Azure's spelling of a training type (any spelling in, `GlobalStandard` out)."""
    found = parse(training_type)
    if found is None:
        raise ValueError(f"unknown training type {training_type!r}")
    return WIRE[found]


def label(training_type: str | None) -> str | None:
    """`Developer`, `Data Zone`, ...; a spelling we do not know is shown as Azure sent it."""
    if training_type is None:
        return None
    found = parse(training_type)
    return LABELS[found] if found else training_type


def offered(model: str) -> tuple[str, ...] | None:
    """The types the catalogue says `model` trains with (its base's, for a fine-tuned model), cheapest last;
    None when the catalogue does not know the model."""
    info = model_info(model)
    if info is None:
        return None
    return tuple(t for t in TRAINING_TYPES if t in info.training_types)


def cheapest(model: str) -> str:
    """The cheapest type `model` offers that is not pre-emptible (Global where it has it): a job nobody asked
    to run on Developer must not pause itself. Developer only for a model offering nothing else; Global for a
    model we do not know."""
    types = offered(model)
    steady = [t for t in types or () if t != DEVELOPER]
    return steady[-1] if steady else types[-1] if types else UNKNOWN_MODEL_FALLBACK


class NotOffered(ValueError):
    """The model does not train with the type asked for."""

    def __init__(self, model: str, asked: str, types: tuple[str, ...]) -> None:
        self.model, self.asked, self.types = model, asked, types
        super().__init__(f"{model} does not offer {asked} training")


@dataclass(frozen=True, slots=True)
class Choice:
    """The type a start uses and why: `asked` (--training-type), `resource` (the resource's default),
    `settings` (FTBOT_DEFAULT_TRAINING_TYPE) or `cheapest`. `note` says when a configured default was
    passed over because the model does not offer it."""

    name: str
    origin: str
    note: str = ""

    @property
    def wire(self) -> str:
        return WIRE[self.name]

    @property
    def label(self) -> str:
        return LABELS[self.name]


def choose(
    model: str,
    asked: str | None,
    *,
    resource_default: str | None = None,
    settings_default: str | None = None,
) -> Choice:
    """The training type of a start on `model` (see the module docstring). Raises NotOffered when `asked`
    is one the model does not train with."""
    types = offered(model)
    if asked is not None:
        asked = word(asked)
        if types is not None and asked not in types:
            raise NotOffered(model, asked, types)
        return Choice(asked, "asked")
    passed_over: list[str] = []
    for default, origin in ((resource_default, "resource"), (settings_default, "settings")):
        name = parse(default) if default else None
        if name is None:
            continue
        if types is None or name in types:
            return Choice(name, origin, _passed_over(passed_over, model))
        passed_over.append(name)
    return Choice(cheapest(model), "cheapest", _passed_over(passed_over, model))


def _passed_over(names: Sequence[str], model: str) -> str:
    if not names:
        return ""
    which = " and ".join(code(n) for n in dict.fromkeys(names))
    return f"the configured default {which} is not offered for {code(model)}"
