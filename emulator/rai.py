"""The emulator's deterministic stand-in for Azure's Responsible-AI checks (rule documented in README.md).

Real Azure classifies training data with content filters and evaluates the trained model with simulated
conversations. Here both are marker tokens anywhere in an example's text (case-insensitive):

* `[harm:<category>]` makes the pre-training data check fail for that category;
* `[unsafe:<category>]` passes the data check but makes the post-training model evaluation fail.

`<category>` is one of `violence`, `sexual`, `hate_fairness`, `self_harm`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CATEGORIES = ("violence", "sexual", "hate_fairness", "self_harm")
DISPLAY_NAMES = {
    "violence": "Violence",
    "sexual": "Sexual",
    "hate_fairness": "Hate Fairness",
    "self_harm": "Self Harm",
}

_DATA_MARKER = re.compile(r"\[harm:(" + "|".join(CATEGORIES) + r")\]", re.IGNORECASE)
_EVAL_MARKER = re.compile(r"\[unsafe:(" + "|".join(CATEGORIES) + r")\]", re.IGNORECASE)


def data_harms(texts: Iterable[str]) -> frozenset[str]:
    return frozenset(m.lower() for text in texts for m in _DATA_MARKER.findall(text))


def evaluation_harms(texts: Iterable[str]) -> frozenset[str]:
    return frozenset(m.lower() for text in texts for m in _EVAL_MARKER.findall(text))


def data_failure_message(categories: Iterable[str]) -> str:
    listed = ", ".join(sorted(categories))
    return (
        f"The provided training data failed RAI checks for harm types: [{listed}]. "
        "Please fix the data and try again."
    )


def evaluation_failure_message(categories: Iterable[str]) -> str:
    found = set(categories)
    listed = ", ".join(DISPLAY_NAMES[c] for c in CATEGORIES if c in found)
    return (
        "This model is unable to be deployed. Model evaluation identified that this fine tuned model scores "
        f"above acceptable thresholds for [{listed}]. Please review your training data set and resubmit the job."
    )
