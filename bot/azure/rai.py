"""Recognising a job that failed Azure's safety (RAI) checks, from its error.

Azure documents two messages; the `error.code` on such jobs is unverified, so both are recognised by text
(any category list), and a code that names RAI/harm/safety counts too:
- data (before training): "The provided training data failed RAI checks for harm types: [hate_fairness,
  self_harm, violence]. Please fix the data and try again."
- evaluation (after training): "This model is unable to be deployed. Model evaluation identified that this
  fine tuned model scores above acceptable thresholds for [Violence, Self Harm]. ..."
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.azure.models import FineTuningJob

RaiPhase = Literal["data", "evaluation"]

_DATA = re.compile(r"failed\s+RAI\s+checks?\s+for\s+harm\s+types?\s*:?\s*\[([^\]]*)\]", re.IGNORECASE)
_EVALUATION = re.compile(
    r"scores?\s+above\s+acceptable\s+thresholds?\s+for\s*:?\s*\[([^\]]*)\]", re.IGNORECASE
)
_DATA_LOOSE = re.compile(r"failed\s+RAI\s+checks?", re.IGNORECASE)
_EVALUATION_LOOSE = re.compile(r"unable\s+to\s+be\s+deployed.*model\s+evaluation", re.IGNORECASE | re.DOTALL)
_CODE_HINT = re.compile(r"rai|harm|safety|responsible|contentfilter", re.IGNORECASE)
_ANY_LIST = re.compile(r"\[([^\]]*)\]")

# Normalised names: violence, sexual, hate_fairness, self_harm. Keys are the letters only, lower case.
_CATEGORY_SYNONYMS = {
    "hate": "hate_fairness",
    "hatefairness": "hate_fairness",
    "hateandfairness": "hate_fairness",
    "selfharm": "self_harm",
    "violence": "violence",
    "violent": "violence",
    "sexual": "sexual",
}
_PATTERNS: tuple[tuple[re.Pattern[str], RaiPhase], ...] = ((_DATA, "data"), (_EVALUATION, "evaluation"))


@dataclass(frozen=True, slots=True)
class RaiFailure:
    """A safety failure: in the training `data` or in the trained model's `evaluation`."""

    phase: RaiPhase
    categories: tuple[str, ...]
    message: str
    code: str | None = None


def normalise_category(raw: str) -> str:
    """`Self Harm` -> `self_harm`, `hate/fairness` -> `hate_fairness`; unknown names kept, snake_cased."""
    letters = re.sub(r"[^a-z]", "", raw.lower())
    if letters in _CATEGORY_SYNONYMS:
        return _CATEGORY_SYNONYMS[letters]
    return re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_")


def _categories(listing: str) -> tuple[str, ...]:
    found: list[str] = []
    for part in listing.split(","):
        if part.strip():
            name = normalise_category(part)
            if name not in found:
                found.append(name)
    return tuple(found)


def rai_failure_from_error(
    code: str | None, message: str | None, *, trained: bool = False
) -> RaiFailure | None:
    """Recognise either documented message (by text) or an RAI-looking code; `trained` picks the phase
    when only the code tells."""
    text = message or ""
    for pattern, phase in _PATTERNS:
        match = pattern.search(text)
        if match:
            return RaiFailure(phase, _categories(match.group(1)), text, code)
    listing = _ANY_LIST.search(text)
    categories = _categories(listing.group(1)) if listing else ()
    if _DATA_LOOSE.search(text):
        return RaiFailure("data", categories, text, code)
    if _EVALUATION_LOOSE.search(text):
        return RaiFailure("evaluation", categories, text, code)
    if code and _CODE_HINT.search(code):
        return RaiFailure("evaluation" if trained else "data", categories, text, code)
    return None


def rai_failure(job: FineTuningJob) -> RaiFailure | None:
    """The job's safety failure, or None when its error (if any) is something else."""
    if job.error is None:
        return None
    trained = bool(job.fine_tuned_model or job.trained_tokens)
    return rai_failure_from_error(job.error.code, job.error.message, trained=trained)
