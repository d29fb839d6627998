"""Argument converters for the router: each turns text into a value or raises ValueError with a reason the
usage card shows. Ids are checked for shape here, so nothing malformed ever reaches Azure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.azure import ids
from cards.model import code, literal


def _shaped(check: Callable[[object], bool], what: str, example: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        # A pasted id often brings the sentence's punctuation or quotes along (`ftjob-...abc.`, "(ftjob-...)"):
        # trim them, they are never part of an id.
        value, before = text.strip(), ""
        while value != before:
            before, value = value, value.strip("<>`()[]\"'").rstrip(".,;:!?")
        if not check(value):
            article = "an" if what[0] in "aeiou" else "a"
            raise ValueError(
                f"{code(text[:60])} is not {article} {what} (expected something like {code(example)})"
            )
        return value

    convert.__name__ = what.replace(" ", "_")
    return convert


job_id = _shaped(ids.is_job_id, "job id", "ftjob-0123456789abcdef0123456789abcdef")
file_id = _shaped(ids.is_file_id, "file id", "file-0123456789abcdef0123456789abcdef")
checkpoint_id = _shaped(ids.is_checkpoint_id, "checkpoint id", "ftchkpt-0123456789abcdef0123456789abcdef")
_model_shape = _shaped(ids.is_model_name, "model name", "gpt-4o-mini-2024-07-18")


def model_name(text: str) -> str:
    if text.strip().lower().startswith("gpt-3.5"):
        raise ValueError("Azure spells it `gpt-35-turbo` (no dot), e.g. `gpt-35-turbo-0125`")
    return _model_shape(text)


event_id = _shaped(
    lambda v: isinstance(v, str) and v.startswith("ftevent-") and len(v) < 80, "event id", "ftevent-..."
)


def since_day(text: str) -> float:
    """`YYYY-MM-DD` (UTC) -> the unix time of that day's midnight: "created on or after this day"."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{code(text[:20])} is not a day (expected something like `2026-11-01`)") from None
    return day.timestamp()


def int_between(low: int, high: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{code(text[:20])} is not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high} (got {value})")
        return value

    return convert


def float_between(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{code(text[:20])} is not a number") from None
        if value != value or not (low < value if low_open else low <= value) or value > high:
            bracket = "(" if low_open else "["
            raise ValueError(f"must be in {bracket}{low}, {high}] (got {literal(text[:20])})")
        return value

    return convert


def one_of(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        value = text.lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)} (got {code(text[:30])})")
        return value

    return convert


def resource_name(text: str) -> str:
    if not text or len(text) > 64 or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError(f"{code(text[:30])} is not a resource name")
    return text
