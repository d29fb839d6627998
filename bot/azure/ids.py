"""Id-shape checks, so the chat layer can refuse a malformed id before any call reaches Azure.

Shapes (from the reference and the spec examples):
- job: `ftjob-<32 hex>` (the spec's older examples also use `ft-<32 hex>`)
- file: `file-<hex or alphanumerics>` (Azure uses 32 hex; OpenAI-style ids are shorter alphanumerics)
- checkpoint: `ftckpt_<alphanumerics>` (REST spec) or `ftchkpt-<32 hex>` (deployment docs); both are live
- model: dash-separated (`gpt-35-turbo-0613`, not `gpt-3.5-turbo`), dotted versions only as a whole part
  (`gpt-4.1-mini`); a fine-tuned model is
  `<base>.ft-<32 hex>` with an optional `-<suffix>` (suffix: up to 40 of `a-z A-Z 0-9 _ -`), and continuous
  fine-tuning may stack another `.ft-...` onto a fine-tuned base.
"""

from __future__ import annotations

import re

_HEX32 = r"[0-9a-fA-F]{32}"
_SUFFIX = r"[A-Za-z0-9_-]{1,40}"
# Dash-separated parts; a part may be a dotted version (`gpt-4.1-mini`). `gpt-3.5-turbo` is OpenAI's
# spelling, not Azure's (`gpt-35-turbo`): refused so the user hears the right name before any call.
_BASE_MODEL = r"(?!gpt-3\.5)[A-Za-z0-9]+(?:-(?:[0-9]+\.[0-9]+|[A-Za-z0-9]+))*"

JOB_ID = re.compile(rf"^(?:ftjob|ft)-{_HEX32}$")
FILE_ID = re.compile(r"^file-[A-Za-z0-9]{16,64}$")
CHECKPOINT_ID = re.compile(rf"^(?:ftckpt_[A-Za-z0-9]{{8,64}}|ftchkpt-{_HEX32})$")
FINE_TUNED_MODEL = re.compile(rf"^{_BASE_MODEL}(?:\.ft-{_HEX32}(?:-{_SUFFIX})?)+$")
MODEL_NAME = re.compile(rf"^{_BASE_MODEL}(?:\.ft-{_HEX32}(?:-{_SUFFIX})?)*$")
SUFFIX = re.compile(rf"^{_SUFFIX}$")
MAX_ID_LENGTH = 256


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH and pattern.fullmatch(value) is not None


def is_job_id(value: object) -> bool:
    """`ftjob-<32 hex>` (or the legacy `ft-<32 hex>`)."""
    return _matches(JOB_ID, value)


def is_file_id(value: object) -> bool:
    """`file-` followed by letters and digits only."""
    return _matches(FILE_ID, value)


def is_checkpoint_id(value: object) -> bool:
    """Either checkpoint id variant: `ftckpt_...` or `ftchkpt-<32 hex>`."""
    return _matches(CHECKPOINT_ID, value)


def is_model_name(value: object) -> bool:
    """A base model (`gpt-4o-mini-2024-07-18`) or a fine-tuned one (`<base>.ft-<32 hex>[-suffix]`)."""
    return _matches(MODEL_NAME, value)


def is_fine_tuned_model(value: object) -> bool:
    """A fine-tuned model name specifically (has at least one `.ft-<32 hex>` part)."""
    return _matches(FINE_TUNED_MODEL, value)


def counts_as_fine_tuned_deployment(model: str | None) -> bool:
    """A deployment's model name that Azure counts against the fine-tuned deployment quota: a fine-tuned
    model (`...ft-...`, `ft:...`) or one of its checkpoints (`ftchkpt-...`, `...:ckpt-...`)."""
    name = model or ""
    return ".ft-" in name or name.startswith(("ft:", "ftchkpt-", "ftckpt")) or ":ckpt-" in name


# A model version as Azure appends it to a family name: a date (`2025-04-14`) or the old four digits (`0613`).
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}|\d{4}")


def same_model(asked: str | None, answered: str | None) -> bool:
    """Whether a job's `model` is the model its create asked for. Azure may answer a family name with the
    version it resolved (`gpt-4.1` -> `gpt-4.1-2025-04-14`), so a bare name matches that name plus a
    version, either way round (`gpt-4.1` is not `gpt-4.1-mini-2025-04-14`); case is ignored. A fine-tuned
    model or a checkpoint (continuous fine-tuning) matches only itself.

    >>> same_model("gpt-4.1", "gpt-4.1-2025-04-14"), same_model("gpt-4.1", "gpt-4.1-mini-2025-04-14")
    (True, False)
    """
    if asked is None or answered is None or asked == answered:
        return asked == answered
    if counts_as_fine_tuned_deployment(asked) or counts_as_fine_tuned_deployment(answered):
        return False
    a, b = asked.strip().lower(), answered.strip().lower()
    short, long = sorted((a, b), key=len)
    if short == long:
        return True
    return long.startswith(short + "-") and _VERSION.fullmatch(long[len(short) + 1 :]) is not None


def is_suffix(value: object) -> bool:
    """A job suffix as the REST API accepts it: 1-40 of `a-z A-Z 0-9 _ -`."""
    return _matches(SUFFIX, value)
