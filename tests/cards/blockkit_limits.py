"""A checker for Slack Block Kit messages against the documented limits (api.slack.com/reference/block-kit).

`violations(message)` lists every limit a message breaks (empty when it is fine). Lengths are counted in
UTF-16 units, which is never less than what Slack counts. The limits are written out here on purpose, not
imported from `cards.render_slack`, so a wrong limit in the renderer cannot hide itself.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

MAX_BLOCKS = 50
MAX_MESSAGE_TEXT = 4000  # advised; 40,000 is the hard limit
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_ACTION_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
MAX_ACTION_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_BLOCK_ID = 255
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_IMAGE_URL = 3000
MAX_ALT_TEXT = 2000
BUTTON_STYLES = {"primary", "danger"}
BLOCK_TYPES = {"header", "section", "context", "actions", "image", "divider", "data_visualization", "table"}
# data_visualization (docs.slack.dev/reference/block-kit/blocks/data-visualization-block, 2026-06-16)
MAX_CHART_TITLE = 50
MAX_CHART_SERIES = 6
MAX_CHART_POINTS = 20
MAX_CHART_LABEL = 20  # series names, data point labels, axis categories
MAX_CHART_AXIS_LABEL = 50
MAX_CHARTS = 2
CHART_TYPES = {"line", "bar", "area", "pie"}
# table (docs.slack.dev/reference/block-kit/blocks/table-block)
MAX_TABLE_ROWS = 100
MAX_TABLE_CELLS = 20
MAX_TABLES = 1

# In mrkdwn, `<` only opens a link/mention and `&` only an entity; anything else must have been escaped.
_ANGLE_RE = re.compile(r"<(?:https?://|mailto:|[@#!])[^<>\s|]*(?:\|[^<>]*)?>")
_ENTITY_RE = re.compile(r"&(?:amp|lt|gt);")


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def text_object(
        self, where: str, obj: Any, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")
    ) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in kinds:
            self.fail(where, f"text object of type {kinds} expected, got {obj!r:.80}")
            return
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            self.fail(where, "text is empty")
            return
        if units(text) > limit:
            self.fail(where, f"text is {units(text)} units (max {limit})")
        if obj["type"] == "mrkdwn":
            self.mrkdwn(where, text)

    def mrkdwn(self, where: str, text: str) -> None:
        rest = _ENTITY_RE.sub("", _ANGLE_RE.sub("", text))
        for char in "<>&":
            if char in rest:
                self.fail(where, f"unescaped {char!r} in mrkdwn {text[:80]!r}")

    def button(self, where: str, element: dict[str, Any], ids: Counter[str]) -> None:
        self.text_object(f"{where}.text", element.get("text"), MAX_BUTTON_TEXT, ("plain_text",))
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not action_id or units(action_id) > MAX_ACTION_ID:
                self.fail(where, f"action_id {action_id!r:.80} missing or over {MAX_ACTION_ID}")
            else:
                ids[action_id] += 1
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or units(value) > MAX_BUTTON_VALUE):
            self.fail(where, f"value over {MAX_BUTTON_VALUE} units")
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or units(url) > MAX_BUTTON_URL):
            self.fail(where, f"url over {MAX_BUTTON_URL} units")
        if "style" in element and element["style"] not in BUTTON_STYLES:
            self.fail(where, f"style {element['style']!r} is not one of {sorted(BUTTON_STYLES)}")
        confirm = element.get("confirm")
        if confirm is not None:
            self.text_object(
                f"{where}.confirm.title", confirm.get("title"), MAX_CONFIRM_TITLE, ("plain_text",)
            )
            self.text_object(f"{where}.confirm.text", confirm.get("text"), MAX_CONFIRM_TEXT)
            self.text_object(
                f"{where}.confirm.confirm", confirm.get("confirm"), MAX_CONFIRM_BUTTON, ("plain_text",)
            )
            self.text_object(
                f"{where}.confirm.deny", confirm.get("deny"), MAX_CONFIRM_BUTTON, ("plain_text",)
            )
            if "style" in confirm and confirm["style"] not in BUTTON_STYLES:
                self.fail(where, f"confirm style {confirm['style']!r} invalid")

    def chart(self, where: str, block: dict[str, Any]) -> None:
        _chart(self, where, block)

    def table(self, where: str, block: dict[str, Any]) -> None:
        _table(self, where, block)

    def block(self, where: str, block: dict[str, Any], ids: Counter[str]) -> None:
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(where, f"unknown block type {kind!r}")
            return
        block_id = block.get("block_id")
        if block_id is not None and (not isinstance(block_id, str) or units(block_id) > MAX_BLOCK_ID):
            self.fail(where, f"block_id over {MAX_BLOCK_ID}")
        if kind == "header":
            self.text_object(f"{where}.text", block.get("text"), MAX_HEADER, ("plain_text",))
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail(where, "section needs text or fields")
            if "text" in block:
                self.text_object(f"{where}.text", block["text"], MAX_SECTION_TEXT)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELDS:
                    self.fail(where, f"fields must be 1..{MAX_FIELDS} items")
                else:
                    for i, field in enumerate(fields):
                        self.text_object(f"{where}.fields[{i}]", field, MAX_FIELD_TEXT)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
                self.fail(where, f"context needs 1..{MAX_CONTEXT_ELEMENTS} elements")
            else:
                for i, element in enumerate(elements):
                    if element.get("type") != "image":
                        self.text_object(f"{where}.elements[{i}]", element, MAX_CONTEXT_TEXT)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTION_ELEMENTS:
                self.fail(where, f"actions needs 1..{MAX_ACTION_ELEMENTS} elements")
            else:
                for i, element in enumerate(elements):
                    if element.get("type") != "button":
                        self.fail(f"{where}.elements[{i}]", f"unexpected element {element.get('type')!r}")
                    else:
                        self.button(f"{where}.elements[{i}]", element, ids)
        elif kind == "data_visualization":
            self.chart(where, block)
        elif kind == "table":
            self.table(where, block)
        elif kind == "image":
            url = block.get("image_url")
            if not isinstance(url, str) or not url.startswith("https://") or units(url) > MAX_IMAGE_URL:
                self.fail(where, f"image_url must be https and at most {MAX_IMAGE_URL} units")
            alt = block.get("alt_text")
            if not isinstance(alt, str) or not alt or units(alt) > MAX_ALT_TEXT:
                self.fail(where, f"alt_text must be 1..{MAX_ALT_TEXT} units")


def _label(value: Any, limit: int) -> bool:
    return isinstance(value, str) and bool(value.strip()) and units(value) <= limit


def _chart(check: _Checker, where: str, block: dict[str, Any]) -> None:
    if not _label(block.get("title"), MAX_CHART_TITLE):
        check.fail(where, f"title must be 1..{MAX_CHART_TITLE} characters")
    chart = block.get("chart")
    if not isinstance(chart, dict) or chart.get("type") not in CHART_TYPES:
        check.fail(where, f"chart.type must be one of {sorted(CHART_TYPES)}")
        return
    if chart["type"] == "pie":
        return
    series = chart.get("series")
    if not isinstance(series, list) or not 1 <= len(series) <= MAX_CHART_SERIES:
        check.fail(where, f"chart needs 1..{MAX_CHART_SERIES} series")
        return
    axis = chart.get("axis_config")
    categories = axis.get("categories") if isinstance(axis, dict) else None
    if not isinstance(categories, list) or not categories:
        check.fail(where, "axis_config.categories is required")
        return
    for c in categories:
        if not _label(c, MAX_CHART_LABEL):
            check.fail(where, f"category {c!r} must be 1..{MAX_CHART_LABEL} characters")
    if len(set(categories)) != len(categories):
        check.fail(where, "axis categories repeat")
    for name in ("x_label", "y_label"):
        if name in axis and not _label(axis[name], MAX_CHART_AXIS_LABEL):
            check.fail(where, f"axis_config.{name} must be 1..{MAX_CHART_AXIS_LABEL} characters")
    names = [s.get("name") for s in series if isinstance(s, dict)]
    if len(names) != len(series) or not all(_label(n, MAX_CHART_LABEL) for n in names):
        check.fail(where, f"every series needs a name of 1..{MAX_CHART_LABEL} characters")
    if len(set(names)) != len(names):
        check.fail(where, "series names must be unique")
    for i, s in enumerate(series):
        data = s.get("data") if isinstance(s, dict) else None
        if not isinstance(data, list) or not 1 <= len(data) <= MAX_CHART_POINTS:
            check.fail(f"{where}.series[{i}]", f"data needs 1..{MAX_CHART_POINTS} points")
            continue
        labels = [p.get("label") for p in data]
        if labels != categories:
            check.fail(f"{where}.series[{i}]", "data labels must match the axis categories")
        for p in data:
            value = p.get("value")
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                check.fail(f"{where}.series[{i}]", f"value {value!r} is not a number")


def _table(check: _Checker, where: str, block: dict[str, Any]) -> None:
    rows = block.get("rows")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_TABLE_ROWS:
        check.fail(where, f"table needs 1..{MAX_TABLE_ROWS} rows")
        return
    for i, row in enumerate(rows):
        if not isinstance(row, list) or not 1 <= len(row) <= MAX_TABLE_CELLS:
            check.fail(f"{where}.rows[{i}]", f"a row holds 1..{MAX_TABLE_CELLS} cells")
            continue
        for cell in row:
            if not isinstance(cell, dict) or cell.get("type") not in ("raw_text", "rich_text"):
                check.fail(f"{where}.rows[{i}]", "cells are raw_text or rich_text")
            elif cell["type"] == "raw_text" and not _label(cell.get("text"), 10_000):
                check.fail(f"{where}.rows[{i}]", "raw_text cell is empty")


def violations(message: dict[str, Any]) -> list[str]:
    """Every Block Kit limit the message (`{"text", "blocks"}`) breaks; empty when it is valid."""
    check = _Checker()
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        check.fail("text", "a non-empty fallback text is required (notifications, screen readers)")
    elif units(text) > MAX_MESSAGE_TEXT:
        check.fail("text", f"{units(text)} units (max {MAX_MESSAGE_TEXT} advised)")
    blocks = message.get("blocks")
    if not isinstance(blocks, list):
        check.fail("blocks", "a list of blocks is required")
        return check.problems
    if len(blocks) > MAX_BLOCKS:
        check.fail("blocks", f"{len(blocks)} blocks (max {MAX_BLOCKS})")
    ids: Counter[str] = Counter()
    for i, block in enumerate(blocks):
        check.block(f"blocks[{i}]", block, ids)
    for action_id, count in ids.items():
        if count > 1:
            check.fail("blocks", f"action_id {action_id!r} used {count} times (must be unique)")
    kinds = Counter(b.get("type") for b in blocks)
    if kinds["data_visualization"] > MAX_CHARTS:
        check.fail("blocks", f"{kinds['data_visualization']} charts (at most {MAX_CHARTS} per message)")
    if kinds["table"] > MAX_TABLES:
        check.fail("blocks", f"{kinds['table']} table blocks (at most {MAX_TABLES} per message)")
    block_ids = Counter(b.get("block_id") for b in blocks if b.get("block_id"))
    for block_id, count in block_ids.items():
        if count > 1:
            check.fail("blocks", f"block_id {block_id!r} used {count} times")
    return check.problems
