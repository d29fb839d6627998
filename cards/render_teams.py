"""Neutral `Card` -> Adaptive Card 1.5 for Microsoft Teams.

Buttons for the bot are `Action.Execute` (arrives as an `adaptiveCard/action` invoke) with an `Action.Submit`
fallback (arrives as a message whose `value` is the same `data`); both carry `cards.payload.pack_teams` data.
A confirmation is an `Action.ShowCard` whose inner card holds the question and the real "Yes" button. Link
buttons are `Action.OpenUrl`. The card is kept under `MAX_CARD_BYTES` (UTF-16, as Teams counts) by cutting
tables, then text, then images, each with a pointer to what was left out; a button whose data is over
`TEAMS_DATA_MAX` is left out with a note; `render_adaptive` never fails on big content.

>>> from cards.model import Card
>>> render_adaptive(Card(title="Hello"))["version"]
'1.5'
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from typing import Any

from cards.charts import native_grid
from cards.markup import cut, to_ac_markdown, to_plain
from cards.model import Button, Card, Chart, Fact, Image, Table, Tone
from cards.payload import PayloadTooBig, pack_teams, teams_verb

SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams refuses messages over ~100 KB counted in UTF-16 (413 MessageSizeTooBig) and advises staying within
# 80 KB ("Format your bot messages"); `card_bytes` counts UTF-16 bytes, twice the UTF-8 size of ASCII JSON.
MAX_CARD_BYTES = 80_000
# Teams shows at most this many buttons in one action bar; more go into extra ActionSets in the body.
MAX_ACTIONS_PER_BAR = 6

_COLOR = {
    Tone.NEUTRAL: "Default",
    Tone.INFO: "Accent",
    Tone.RUNNING: "Accent",
    Tone.SUCCESS: "Good",
    Tone.WARNING: "Warning",
    Tone.ERROR: "Attention",
}
_STYLE = {"default": "default", "primary": "positive", "danger": "destructive"}
# Teams' chart colours (the documented names) closest to the picture's colours per series role.
_CHART_COLOR = {
    "train": "categoricalBlue",
    "valid": "categoricalMarigold",
    "full_valid": "categoricalGreen",
    "other": "categoricalPurple",
}
# Points per line in a native chart: enough for the shape, few enough for a phone.
CHART_POINTS = 40


@dataclass(frozen=True, slots=True)
class _Budget:
    """How much of each kind of content one rendering may show; shrunk step by step until the card fits."""

    text: int = 20_000
    rows: int = 100
    columns: int = 12
    cell: int = 500
    images: int = 10
    image_url: int = 60_000
    charts: int = 4


_BUDGETS = (
    _Budget(),
    _Budget(text=8_000, rows=50, cell=200),
    _Budget(text=4_000, rows=25, cell=120, image_url=30_000),
    _Budget(text=2_000, rows=10, columns=8, cell=80, images=2, image_url=8_000),
    _Budget(text=1_000, rows=5, columns=6, cell=40, images=0, image_url=0, charts=1),
)


def _text_block(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _paragraphs(markdown: str, **extra: Any) -> list[dict[str, Any]]:
    """Rendered markdown as one TextBlock per line: Teams joins single line breaks inside a TextBlock, which
    ran a help card's verb list and a usage card's "Problem / Usage / Example" into one paragraph. A blank
    line becomes a wider gap before the next block."""
    blocks: list[dict[str, Any]] = []
    gap = False
    for line in markdown.split("\n"):
        if not line.strip():
            gap = bool(blocks)
            continue
        spacing = {"spacing": "Medium" if gap else "Small"} if blocks else {}
        blocks.append(_text_block(line, **spacing, **extra))
        gap = False
    return blocks or [_text_block(" ", **extra)]


def _header(card: Card) -> dict[str, Any]:
    title = _text_block(
        to_ac_markdown(card.title, 400) or " ", size="Large", weight="Bolder", color=_COLOR[card.tone]
    )
    if not card.badge:
        return title
    badge = _text_block(
        to_ac_markdown(card.badge, 80) or " ",
        weight="Bolder",
        color=_COLOR[card.tone],
        horizontalAlignment="Right",
    )
    return {
        "type": "ColumnSet",
        "columns": [
            {"type": "Column", "width": "stretch", "items": [title]},
            {"type": "Column", "width": "auto", "verticalContentAlignment": "Center", "items": [badge]},
        ],
    }


def _facts(facts: tuple[Fact, ...], budget: _Budget) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "facts": [
            {"title": to_plain(f.label, 200) or " ", "value": to_ac_markdown(f.value, budget.cell * 4) or " "}
            for f in facts
        ],
    }


def _table(table: Table, budget: _Budget) -> list[dict[str, Any]]:
    """A 1.5 `Table` (header row first), rows beyond the budget replaced by a count and `table.more`."""
    widest = max([len(table.columns), *(len(r) for r in table.rows)], default=0)
    width = min(widest, budget.columns)
    out: list[dict[str, Any]] = []
    if table.title:
        out.append(_text_block(to_ac_markdown(table.title, 400), weight="Bolder", spacing="Medium"))
    if width == 0:
        return out

    def row(cells: tuple[str, ...], header: bool = False, action: Button | None = None) -> dict[str, Any]:
        padded = (*cells[:width], *([""] * (width - len(cells))))
        if action is not None and padded:
            # The full id rides in the action: the clickable cell can show a short one and stay on one line.
            padded = (_SHORT_ID_RE.sub(_short_id, padded[0]), *padded[1:])
        items = [
            _text_block(to_ac_markdown(c, budget.cell) or " ", **({"weight": "Bolder"} if header else {}))
            for c in padded
        ]
        cells_out: list[dict[str, Any]] = [{"type": "TableCell", "items": [i]} for i in items]
        select = _usable(action, to_plain(action.label, 80) or "Open") if action is not None else None
        if select is not None and cells_out:
            cells_out[0]["selectAction"] = select
            cells_out[0]["items"][0]["color"] = "Accent"
        return {"type": "TableRow", "cells": cells_out}

    shown = table.rows[: budget.rows]
    actions = (*table.row_actions, *([None] * len(shown)))
    rows = ([row(table.columns, header=True)] if table.columns else []) + [
        row(r, action=actions[i]) for i, r in enumerate(shown)
    ]
    out.append(
        {
            "type": "Table",
            "columns": [{"width": w} for w in _column_weights(table, width)],
            "rows": rows,
            "firstRowAsHeader": bool(table.columns),
            "gridStyle": "accent",
        }
    )
    notes = []
    if widest > width:
        notes.append(f"{widest - width} more columns not shown.")
    if len(table.rows) > len(shown):
        notes.append(f"{len(table.rows) - len(shown)} more rows not shown.")
    if table.more:
        notes.append(to_ac_markdown(table.more, 1000))
    if notes:
        out.append(_text_block(" ".join(notes), isSubtle=True, size="Small"))
    return out


def _column_weights(table: Table, width: int) -> list[int]:
    """Relative column widths from the content (longest cell, header included, capped), so a short status
    column does not take as much room as a model name and ids do not wrap over several lines."""
    weights = []
    for index in range(width):
        cells = [r[index] for r in (table.columns, *table.rows) if index < len(r)]
        if index == 0 and any(table.row_actions):
            cells = [_SHORT_ID_RE.sub(_short_id, c) for c in cells]
        plain = [to_plain(c) for c in cells]
        longest = max((len(c) for c in plain), default=1)
        word = max((len(w) for c in plain for w in c.split()), default=1)
        # Square root: a column twice as long gets ~1.4x the room, so short ones ("running") keep a line;
        # but never less than its longest word needs (up to an id's first part), or a header such as
        # "Deployable" breaks in the middle of the word.
        by_length = 10 * math.sqrt(max(MIN_COLUMN_CHARS, min(longest, MAX_COLUMN_CHARS)))
        weights.append(round(max(by_length, WORD_WEIGHT * min(word, MAX_WORD_CHARS) + CELL_PADDING)))
    return weights


# Azure ids are 30-40 characters of hex: in a clickable table cell, a recognisable tail is enough.
_SHORT_ID_RE = re.compile(r"\b(ftjob|file|ftchkpt|ftevent)-([0-9A-Za-z]{12,})\b")
MIN_COLUMN_CHARS = 4
MAX_COLUMN_CHARS = 40
WORD_WEIGHT = (
    6.5  # per character of a word that must stay on one line (bold header text, in the weights' scale)
)
MAX_WORD_CHARS = 12  # longer words (ids) wrap anyway
CELL_PADDING = 14  # a cell's padding, in the same scale


def _short_id(match: re.Match[str]) -> str:
    return f"{match.group(1)}\u2011…{match.group(2)[-6:]}"  # a non-breaking hyphen: one line


def _image(image: Image, budget: _Budget) -> dict[str, Any]:
    fetchable = image.url.startswith(("https://", "http://", "data:image/")) and not any(
        c.isspace() for c in image.url
    )
    if fetchable and len(image.url) <= budget.image_url:
        return {"type": "Image", "url": image.url, "altText": to_plain(image.alt, 1000), "size": "Auto"}
    # Too big to carry in this message, or not a URL a client can load: say so instead.
    return _text_block(f"🖼 {to_ac_markdown(image.alt, 500) or 'image'} (not shown here)", isSubtle=True)


def _chart(chart: Chart) -> dict[str, Any] | None:
    """Teams' `Chart.Line` (documented properties only). Clients without charts drop it: the card's text
    lines carry the same facts and the picture follows (repeating the facts there read as a duplicate)."""
    categories, rows = native_grid(chart, CHART_POINTS)
    if not rows:
        return None
    labels = [int(c.rstrip("'")) for c in categories]
    # Buckets under a step wide can share a rounded step ("18" and "18'"): a numeric axis keeps the first.
    keep = [i for i, x in enumerate(labels) if i == 0 or x != labels[i - 1]]
    steps = _whole_ticks([labels[i] for i in keep])
    data = [
        {
            "legend": to_plain(s.name, 60) or "series",
            "color": _CHART_COLOR.get(s.role, "categoricalPurple"),
            "values": [{"x": x, "y": round(values[i], 4)} for x, i in zip(steps, keep, strict=True)],
        }
        for s, values in rows
    ]
    return {
        "type": "Chart.Line",
        "title": to_plain(chart.title, 200),
        "xAxisTitle": to_plain(chart.x_label, 100),
        "yAxisTitle": to_plain(chart.y_label, 100),
        "data": data,
        "fallback": "drop",
    }


# Teams draws a numeric x axis with this many ticks, evenly from the first x to the last (not configurable).
_X_TICKS = 5


def _whole_ticks(steps: list[int]) -> list[int]:
    """`steps` (each bucket's last step) with the first and last moved within their buckets so that the axis'
    evenly spaced ticks fall on whole steps ("3, 20.3, 37.5" read as a mistake). A bucket's value is its mean,
    so any step of the bucket stands for it equally well; too short a series is left as it is."""
    if len(steps) < 3:
        return steps
    first_low = max(0, steps[0] - (steps[1] - steps[0]) + 1)  # the buckets are of one width
    intervals = _X_TICKS - 1
    for last in range(steps[-1], steps[-2], -1):
        for first in range(steps[0], first_low - 1, -1):
            if (last - first) % intervals == 0:
                return [first, *steps[1:-1], last]
    return steps


def _execute(button: Button, title: str) -> dict[str, Any]:
    data = pack_teams(button.action, button.payload)
    return {
        "type": "Action.Execute",
        "title": title,
        "verb": teams_verb(button.action),
        "data": data,
        "style": _STYLE[button.style],
        "fallback": {"type": "Action.Submit", "title": title, "data": data},
    }


def _usable(button: Button, title: str) -> dict[str, Any] | None:
    """`_execute`, or None when the button's data is over `TEAMS_DATA_MAX` (the button is left out)."""
    try:
        return _execute(button, title)
    except PayloadTooBig:
        return None


def _action(button: Button) -> dict[str, Any] | None:
    """The button as an action; None when what it carries is too big for one (`PayloadTooBig`)."""
    try:
        return _button_action(button)
    except PayloadTooBig:
        return None


def _button_action(button: Button) -> dict[str, Any]:
    title = to_plain(button.label, 80) or "Open"
    if button.url:
        return {"type": "Action.OpenUrl", "title": title, "url": button.url}
    if button.confirm is None:
        return _execute(button, title)
    confirm = button.confirm
    ok = to_plain(confirm.ok, 40).strip() or "Yes"
    if ok.casefold() == title.casefold():
        # The inner button must not repeat the one that opened the question.
        ok = f"Yes, {ok[:1].lower()}{ok[1:]}"
    # Adaptive Cards have no dismiss button: clicking the ShowCard button again folds the question away.
    dismiss = to_plain(confirm.dismiss, 40).strip()
    close = (
        f"{dismiss}? Click {title} again to close this." if dismiss else f"Click {title} again to close this."
    )
    inner = {
        "type": "AdaptiveCard",
        "body": [
            _text_block(to_ac_markdown(confirm.title, 200) or " ", weight="Bolder"),
            _text_block(to_ac_markdown(confirm.text, 1000) or " "),
            _text_block(to_ac_markdown(close), isSubtle=True, size="Small"),
        ],
        "actions": [_execute(button, ok)],
    }
    return {"type": "Action.ShowCard", "title": title, "style": _STYLE[button.style], "card": inner}


def _unusable_note(count: int) -> str:
    if count == 1:
        return "1 button was left out: what it carries is too long for a Teams button."
    return f"{count} buttons were left out: what they carry is too long for Teams buttons."


def _render(card: Card, budget: _Budget) -> dict[str, Any]:
    body: list[dict[str, Any]] = [_header(card)]
    if card.text:
        body.extend(_paragraphs(to_ac_markdown(card.text, budget.text)))
    for chart in card.charts[: budget.charts]:
        element = _chart(chart)
        if element is not None:
            body.append(element)
    if card.facts:
        body.append(_facts(card.facts, budget))
    for table in card.tables:
        body.extend(_table(table, budget))
    for image in card.images[: budget.images]:
        body.append(_image(image, budget))
    if len(card.images) > budget.images:
        body.append(_text_block(f"{len(card.images) - budget.images} more images not shown.", isSubtle=True))
    built = [_action(b) for b in card.buttons]
    actions = [a for a in built if a is not None]
    if len(actions) < len(built):
        dropped = len(built) - len(actions)
        body.append(_text_block(_unusable_note(dropped), isSubtle=True, size="Small"))
    bar, rest = actions[:MAX_ACTIONS_PER_BAR], actions[MAX_ACTIONS_PER_BAR:]
    for start in range(0, len(rest), MAX_ACTIONS_PER_BAR):
        body.append({"type": "ActionSet", "actions": rest[start : start + MAX_ACTIONS_PER_BAR]})
    if card.footer:
        body.extend(_paragraphs(to_ac_markdown(card.footer, 1000), isSubtle=True, size="Small"))
    out: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA_URL,
        "version": VERSION,
        "body": body,
        "fallbackText": cut(to_plain(card.summary or card.title), 1000),
    }
    if bar:
        out["actions"] = bar
    refresh = None
    if card.refresh is not None and card.refresh.action:
        refresh = _usable(card.refresh, to_plain(card.refresh.label, 80) or "Refresh")
    if refresh is not None:
        # Teams refreshes automatically only for the listed users (at most 60).
        refresh.pop("fallback", None)
        refresh.pop("style", None)
        out["refresh"] = {"action": refresh, "userIds": list(card.refresh_users[:60])}
    return out


_WIRE_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # made once, not per `json.dumps`


def card_bytes(card_json: dict[str, Any]) -> int:
    """Size of the card as Teams measures a message: the compact JSON encoded as UTF-16 (2 bytes a character,
    4 for one outside the BMP), which is what `MAX_CARD_BYTES` is checked against. Teams leaves base64 images
    out of its count; an inline (`data:`) image is still counted here, once per character, as a margin."""
    return len(_WIRE_JSON.encode(card_json).encode("utf-16-le")) - _inline_image_chars(card_json)


def _inline_image_chars(node: Any) -> int:
    if isinstance(node, dict):
        url = node.get("url")
        own = (
            len(url)
            if node.get("type") == "Image" and isinstance(url, str) and url.startswith("data:")
            else 0
        )
        return own + sum(_inline_image_chars(v) for k, v in node.items() if k != "url")
    if isinstance(node, list):
        return sum(_inline_image_chars(v) for v in node)
    return 0


def render_adaptive(card: Card) -> dict[str, Any]:
    """The card as an Adaptive Card 1.5 dict, under `MAX_CARD_BYTES` (content cut with "more" pointers)."""
    for budget in _BUDGETS:
        rendered = _render(card, budget)
        if card_bytes(rendered) <= MAX_CARD_BYTES:
            return rendered
    # Still too big (thousands of facts, tables or buttons): keep less and less of each list, and say so.
    for squeezed in _squeezed(card):
        rendered = _render(squeezed, _BUDGETS[-1])
        if card_bytes(rendered) <= MAX_CARD_BYTES:
            return rendered
    return rendered


_LEFT_OUT = "Part of this card was left out to fit Teams' message size."


def _squeezed(card: Card) -> list[Card]:
    text = f"{cut(card.text, 500)}\n\n{_LEFT_OUT}" if card.text else _LEFT_OUT
    head = replace(card, text=text, footer=cut(card.footer, 200), badge=cut(card.badge, 40), summary="")
    return [
        replace(head, facts=card.facts[:20], tables=card.tables[:3], buttons=card.buttons[:6]),
        replace(head, facts=card.facts[:5], tables=card.tables[:1], images=(), buttons=card.buttons[:3]),
        # The last resort carries only the title, which `_header` caps, so it always fits.
        Card(title=card.title, tone=card.tone, text=_LEFT_OUT),
    ]


def to_attachment(card_json: dict[str, Any]) -> dict[str, Any]:
    """Wrap a rendered card as a Bot Framework attachment (`Activity.attachments[]` item)."""
    return {"contentType": CONTENT_TYPE, "content": card_json}


def render_attachment(card: Card) -> dict[str, Any]:
    """`to_attachment(render_adaptive(card))`: what the Teams adapter puts on an outgoing Activity."""
    return to_attachment(render_adaptive(card))


__all__ = [
    "CONTENT_TYPE",
    "MAX_CARD_BYTES",
    "VERSION",
    "card_bytes",
    "render_adaptive",
    "render_attachment",
    "to_attachment",
]
