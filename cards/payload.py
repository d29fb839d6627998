"""Typed, prefixed button payloads: pack `{action, payload}` for Slack and Teams, unpack them for the router.

Slack:  `action_id` = `ft1:<action>` (plus `:<n>` when the renderer needs it unique within a message),
        `value` = compact JSON of the payload (`{"job":"ftjob-..."}`).
Teams:  Adaptive Card `data` = `{"ft": "ft1", "action": "<action>", "payload": {...}}`; the same object
        arrives as `value.action.data` of an `adaptiveCard/action` invoke and as the activity `value` of
        an `Action.Submit` fallback.

Packing checks every limit and raises `PayloadError`, so a card that renders is a card whose buttons work.
Unpacking never raises: anything foreign (another app's button, a link button, a newer payload version) or
malformed (bad JSON, wrong types, oversized) gives `None`, and the adapter ignores the click.

>>> slack = pack_slack("job.cancel", {"job": "ftjob-abc"})
>>> unpack_slack(slack.action_id, slack.value)
Packed(action='job.cancel', payload={'job': 'ftjob-abc'})
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PREFIX = "ft1"
# Keys of the Adaptive Card `data` object that carry our payload.
TEAMS_MARK = "ft"
TEAMS_ACTION = "action"
TEAMS_PAYLOAD = "payload"

SLACK_ACTION_ID_MAX = 255
SLACK_VALUE_MAX = 2000
# Teams has no per-button limit; keep the same budget so one button works on both platforms.
TEAMS_DATA_MAX = 2000
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # `json.dumps(..., separators=...)` makes one per call

ACTION_NAME_MAX = 64
_ACTION_RE = re.compile(r"[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*")
_KEY_RE = re.compile(r"[a-z_][a-z0-9_]*")
_DISCRIMINATOR_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


class PayloadError(ValueError):
    """A button payload cannot be packed: bad action name, bad key, or over a platform size limit."""


class PayloadTooBig(PayloadError):
    """A well-formed payload over a platform's size limit (long or non-ASCII ids and names): the renderers
    leave such a button out and say so, where a malformed one is a programming error and raises."""


@dataclass(frozen=True, slots=True)
class Packed:
    """A button's meaning, as the router sees it: the action name and its string payload."""

    action: str
    payload: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SlackPayload:
    """What goes on a Slack button: `action_id` and `value`."""

    action_id: str
    value: str


def _check(action: str, payload: Mapping[str, str]) -> None:
    if len(action) > ACTION_NAME_MAX or not _ACTION_RE.fullmatch(action):
        raise PayloadError(
            f"button action {action[:80]!r} must be dotted lower-case words (e.g. 'job.cancel'), "
            f"at most {ACTION_NAME_MAX} characters"
        )
    for key, value in payload.items():
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise PayloadError(f"payload key {key!r} of action {action!r} must be a lower-case identifier")
        if not isinstance(value, str):
            raise PayloadError(f"payload value of {key!r} in action {action!r} must be a string")


def _encode(payload: Mapping[str, str]) -> str:
    # Sorted and compact so equal payloads give equal strings; ASCII-only so `len` is the length Slack counts.
    return json.dumps(dict(payload), separators=(",", ":"), sort_keys=True)


def pack_slack(action: str, payload: Mapping[str, str], discriminator: str = "") -> SlackPayload:
    """Pack a button for Slack. `discriminator` keeps `action_id`s unique when one message repeats an action.

    Raises `PayloadError` when the action or payload is malformed, `PayloadTooBig` when over Slack's limits.
    """
    _check(action, payload)
    action_id = f"{PREFIX}:{action}"
    if discriminator:
        if not _DISCRIMINATOR_RE.fullmatch(discriminator):
            raise PayloadError(f"discriminator {discriminator!r} must be 1-32 letters, digits, '_' or '-'")
        action_id = f"{action_id}:{discriminator}"
    value = _encode(payload)
    if len(action_id) > SLACK_ACTION_ID_MAX:
        raise PayloadTooBig(
            f"Slack action_id for {action!r} is {len(action_id)} chars (max {SLACK_ACTION_ID_MAX})"
        )
    if len(value) > SLACK_VALUE_MAX:
        raise PayloadTooBig(f"Slack value for {action!r} is {len(value)} chars (max {SLACK_VALUE_MAX})")
    return SlackPayload(action_id=action_id, value=value)


def pack_teams(action: str, payload: Mapping[str, str]) -> dict[str, Any]:
    """Pack a button for Teams: the `data` object of an `Action.Execute` / `Action.Submit`.

    Raises `PayloadError` when the action or payload is malformed, `PayloadTooBig` when the data is over
    `TEAMS_DATA_MAX`.
    """
    _check(action, payload)
    data: dict[str, Any] = {TEAMS_MARK: PREFIX, TEAMS_ACTION: action, TEAMS_PAYLOAD: dict(payload)}
    size = len(_COMPACT.encode(data))
    if size > TEAMS_DATA_MAX:
        raise PayloadTooBig(f"Teams data for {action!r} is {size} chars (max {TEAMS_DATA_MAX})")
    return data


def teams_verb(action: str) -> str:
    """The `verb` of an `Action.Execute` (the router reads `data`; the verb is for logs and tools)."""
    return f"{PREFIX}:{action}"


def _valid_payload(raw: object) -> dict[str, str] | None:
    if not isinstance(raw, dict):
        return None
    if not all(isinstance(k, str) and _KEY_RE.fullmatch(k) and isinstance(v, str) for k, v in raw.items()):
        return None
    return dict(raw)


def _valid_action(action: object) -> str | None:
    if isinstance(action, str) and len(action) <= ACTION_NAME_MAX and _ACTION_RE.fullmatch(action):
        return action
    return None


def unpack_slack(action_id: str, value: str | None) -> Packed | None:
    """Read a Slack `block_actions` button back; `None` for foreign or malformed buttons (never raises)."""
    if not isinstance(action_id, str) or len(action_id) > SLACK_ACTION_ID_MAX:
        return None
    parts = action_id.split(":")
    if len(parts) not in (2, 3) or parts[0] != PREFIX:
        return None
    if len(parts) == 3 and not _DISCRIMINATOR_RE.fullmatch(parts[2]):
        return None
    action = _valid_action(parts[1])
    if action is None:
        return None
    if value is None or value == "":
        return Packed(action=action, payload={})
    if not isinstance(value, str) or len(value) > SLACK_VALUE_MAX:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    payload = _valid_payload(decoded)
    return None if payload is None else Packed(action=action, payload=payload)


def unpack_teams(data: Mapping[str, Any] | None) -> Packed | None:
    """Read an Adaptive Card `data` object back; `None` for foreign or malformed data (never raises).

    Extra keys are ignored: Teams merges input values (and `msteams`) into `Action.Submit` data.
    """
    if not isinstance(data, Mapping) or data.get(TEAMS_MARK) != PREFIX:
        return None
    action = _valid_action(data.get(TEAMS_ACTION))
    payload = _valid_payload(data.get(TEAMS_PAYLOAD, {}))
    if action is None or payload is None:
        return None
    return Packed(action=action, payload=payload)
