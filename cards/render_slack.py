"""Neutral `Card` -> Slack Block Kit message (`{"text": ..., "blocks": [...]}`).

Layout: header (title + badge), section (text), sections of fields (facts, 10 a section), one preformatted
section per table, image blocks (https URLs only; anything else becomes a link or a note), actions blocks
(buttons packed by `cards.payload.pack_slack`, unique `action_id`s), and a context footer. Every Block Kit
limit in `SlackLimits` is enforced by cutting content and saying what was left out (blocks past the 50 or past
the total text budget, buttons whose payload is over Slack's limits); `render_blocks` never fails on big
content. Lengths are UTF-16 units (`cards.markup.text_len`), never less than what Slack counts.

>>> from cards.model import Card
>>> render_blocks(Card(title="Hello"))["blocks"][0]["type"]
'header'
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from cards.charts import native_grid
from cards.markup import ELLIPSIS, cut, cut_words, escape_slack, text_len, to_cell, to_mrkdwn, to_plain
from cards.model import Button, Card, Chart, Fact, Image, Table, Tone
from cards.payload import PayloadTooBig, pack_slack


class SlackLimits:
    """Block Kit limits (api.slack.com/reference/block-kit), shared with the test-side checker."""

    BLOCKS: Final = 50
    HEADER_TEXT: Final = 150
    SECTION_TEXT: Final = 3000
    FIELDS: Final = 10
    FIELD_TEXT: Final = 2000
    ACTION_ELEMENTS: Final = 25
    BUTTON_TEXT: Final = 75
    BUTTON_URL: Final = 3000
    ACTION_ID: Final = 255
    BUTTON_VALUE: Final = 2000
    CONFIRM_TITLE: Final = 100
    CONFIRM_TEXT: Final = 300
    CONFIRM_BUTTON: Final = 30
    CONTEXT_ELEMENTS: Final = 10
    CONTEXT_TEXT: Final = 2000
    IMAGE_URL: Final = 3000
    IMAGE_ALT: Final = 2000
    IMAGE_TITLE: Final = 2000
    # Message `text`: 40,000 is the hard limit, about 4,000 is what Slack advises for notifications.
    MESSAGE_TEXT: Final = 4000
    # data_visualization (line): title 50, 1-6 series named uniquely in 20 characters, 1-20 data points whose
    # labels are the axis categories (20 characters each), axis labels 50, at most 2 charts per message.
    CHART_TITLE: Final = 50
    CHART_SERIES: Final = 6
    CHART_POINTS: Final = 20
    CHART_NAME: Final = 20
    CHART_AXIS_LABEL: Final = 50
    CHARTS_PER_MESSAGE: Final = 2
    # table: at most 100 rows of at most 20 cells; one table block per message.
    TABLE_ROWS: Final = 100
    TABLE_CELLS: Final = 20
    # All block text together: Slack answers `msg_blocks_too_long` somewhere past 11,000-13,000 characters
    # (undocumented; slackapi/bolt-js#2509 saw ~13,200, #2867 a refusal at 11,341 summed `text`s).
    BLOCKS_TEXT: Final = 10_000


_TONE_MARK = {
    Tone.NEUTRAL: "",
    Tone.INFO: "ℹ️ ",
    Tone.RUNNING: "⏳ ",
    Tone.SUCCESS: "✅ ",
    Tone.WARNING: "⚠️ ",
    Tone.ERROR: "❌ ",
}
_CELL_WIDTH = 40
# The last column (often a message) gets at least this much, and more when the table has few rows.
_LAST_CELL_WIDTH = 200
_LAST_CELL_MAX = 1500
_FENCE = "```"
# Slack rejects empty text objects; this stands in for an empty label or title.
_EMPTY = "-"


def _filled(text: str) -> str:
    """`text`, or a stand-in when it is blank: Slack rejects empty and whitespace-only text objects."""
    return text if text.strip() else _EMPTY


# Two actions blocks hold 50 buttons, far more than any card needs; the rest is counted in the note.
_MAX_ACTION_BLOCKS = 2


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _filled(to_plain(text, limit)), "emoji": True}


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _filled(to_mrkdwn(text, limit))}


def _header(card: Card) -> dict[str, Any]:
    title = _TONE_MARK[card.tone] + to_plain(card.title)
    if card.badge:
        title = f"{title} · {to_plain(card.badge)}"
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _filled(cut(title, SlackLimits.HEADER_TEXT))},
    }


def _field(fact: Fact) -> dict[str, Any]:
    label = f"*{escape_slack(cut(to_plain(fact.label), 200).replace('*', '∗'))}*\n"
    return {
        "type": "mrkdwn",
        "text": label + (to_mrkdwn(fact.value, SlackLimits.FIELD_TEXT - text_len(label))),
    }


def _fact_sections(facts: tuple[Fact, ...]) -> list[dict[str, Any]]:
    return [
        {"type": "section", "fields": [_field(f) for f in facts[i : i + SlackLimits.FIELDS]]}
        for i in range(0, len(facts), SlackLimits.FIELDS)
    ]


def _pad(cell: str, width: int) -> str:
    return cell + " " * (width - len(cell))


def _table_section(table: Table) -> list[dict[str, Any]]:
    """A table as aligned monospace text in one section; rows that do not fit are counted after it.

    Cells are flattened with `to_cell` (no markup: the block is monospace already). Columns but the last are
    cut to `_CELL_WIDTH`; the last, where nothing needs aligning, shares the section's room among the rows
    (at least `_LAST_CELL_WIDTH`) and is cut at a word boundary.
    """
    width = max([len(table.columns), *(len(r) for r in table.rows)], default=0)

    def fixed(row: tuple[str, ...]) -> list[str]:
        flat = [to_cell(c) for c in row] + [""] * (width - len(row))
        return [cut(c, _CELL_WIDTH) for c in flat[:-1]] + flat[-1:]

    header = fixed(table.columns) if table.columns else []
    body = [fixed(r) for r in table.rows]
    widths = [max([len(c[i]) for c in [header, *body] if c] or [0]) for i in range(width)]
    lead = sum(widths[:-1]) + 2 * (width - 1)
    budget = SlackLimits.SECTION_TEXT - 200
    last = min(max(_LAST_CELL_WIDTH, budget // max(len(body) + 2, 1) - lead), _LAST_CELL_MAX)
    for row in [header, *body]:
        if row:
            row[-1] = cut_words(row[-1], last)
    if width:
        widths[-1] = max([len(c[-1]) for c in [header, *body] if c] or [0])

    def line(row: list[str]) -> str:
        return escape_slack("  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())

    # The last column's underline stops at a column width: a long message should not drag a rule along.
    rules = [*widths[:-1], min(widths[-1], max(len(header[-1]), _CELL_WIDTH))] if header else []
    lines = [line(header), "  ".join("-" * w for w in rules)] if header else []
    title = f"*{escape_slack(to_plain(table.title, 200).replace('*', '∗'))}*\n" if table.title else ""
    more = to_mrkdwn(table.more, 1000) if table.more else ""
    # Room for title, fences and a "N more rows" line; the rest is for rows, whole rows only.
    room = SlackLimits.SECTION_TEXT - text_len(title) - 2 * len(_FENCE) - 2 - 40
    shown: list[str] = []
    for text in [*lines, *(line(r) for r in body)]:
        size = text_len(text) + 1
        if size > room:
            break
        shown.append(text)
        room -= size
    left = len(lines) + len(body) - len(shown)
    blocks: list[dict[str, Any]] = []
    if shown:
        blocks.append({"type": "section", "text": _code(title, shown, left)})
    elif title or left:
        # Not even one row fits (huge unicode rows): say what the table holds instead.
        note = f"{title}_{len(table.rows)} rows not shown here_"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": note}})
    if more:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return blocks


def _code(title: str, shown: list[str], left: int) -> dict[str, Any]:
    text = title + _FENCE + "\n".join(shown) + _FENCE
    if left:
        text += f"\n_{left} more rows not shown_"
    return {"type": "mrkdwn", "text": text}


def _image_block(image: Image) -> dict[str, Any]:
    alt = to_plain(image.alt, SlackLimits.IMAGE_ALT).strip() or "image"
    public = image.url.startswith("https://") and not any(c.isspace() for c in image.url)
    if public and len(image.url) <= SlackLimits.IMAGE_URL:
        return {"type": "image", "image_url": image.url, "alt_text": alt}
    if image.url.startswith(("https://", "http://")) and len(image.url) <= SlackLimits.SECTION_TEXT - 100:
        text = to_mrkdwn(f"[{image.alt or 'image'}]({image.url})", SlackLimits.SECTION_TEXT)
    else:
        # data: URIs and the like cannot be linked from Slack; Teams shows them, here we only name them.
        text = f"🖼 {to_mrkdwn(image.alt, 500) or 'image'} _(not shown in Slack)_"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _chart_block(chart: Chart) -> dict[str, Any] | None:
    """A native line chart (`data_visualization`), downsampled to the block's few shared categories."""
    categories, rows = native_grid(chart, SlackLimits.CHART_POINTS, SlackLimits.CHART_SERIES)
    if not rows or not categories:
        return None
    names: set[str] = set()
    series = []
    for s, values in rows:
        name = _unique_name(cut(to_plain(s.name), SlackLimits.CHART_NAME).strip() or "series", names)
        names.add(name)
        data = [{"label": c, "value": round(v, 4)} for c, v in zip(categories, values, strict=True)]
        series.append({"name": name, "data": data})
    axis = {
        "categories": categories,
        "x_label": _filled(cut(to_plain(chart.x_label), SlackLimits.CHART_AXIS_LABEL)),
        "y_label": _filled(cut(to_plain(chart.y_label), SlackLimits.CHART_AXIS_LABEL)),
    }
    return {
        "type": "data_visualization",
        "title": _filled(cut(to_plain(chart.title), SlackLimits.CHART_TITLE)),
        "chart": {"type": "line", "series": series, "axis_config": axis},
    }


def _unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name` cut to make room for " 2", " 3", ... (within `CHART_NAME`) when it is taken already.

    Slack wants unique series names; cutting a name and appending a mark to it can give the same name again
    (a long name cut to the limit is the same string each time), so the index is what makes it unique.
    """
    index = 2
    candidate = name
    while candidate in taken:
        suffix = f" {index}"
        candidate = cut(name, SlackLimits.CHART_NAME - len(suffix), tail="").rstrip() + suffix
        index += 1
    return candidate


def _table_block(table: Table) -> list[dict[str, Any]]:
    """A native `table` block: header row first, raw text cells, rows beyond 100 counted after it."""
    width = min(SlackLimits.TABLE_CELLS, max([len(table.columns), *(len(r) for r in table.rows)], default=0))
    if width == 0:
        return []

    def row(cells: tuple[str, ...]) -> list[dict[str, Any]]:
        padded = (*cells[:width], *([""] * (width - len(cells))))
        return [{"type": "raw_text", "text": _filled(to_cell(c))} for c in padded]

    header = [row(table.columns)] if table.columns else []
    room = SlackLimits.TABLE_ROWS - len(header)
    blocks: list[dict[str, Any]] = []
    if table.title:
        title = escape_slack(to_plain(table.title, 200).replace("*", "∗"))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}})
    blocks.append({"type": "table", "rows": header + [row(r) for r in table.rows[:room]]})
    notes = [f"{len(table.rows) - room} more rows not shown"] if len(table.rows) > room else []
    if table.more:
        notes.append(to_mrkdwn(table.more, 1000))
    if notes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(notes)}]})
    return blocks


def _confirm(button: Button) -> dict[str, Any] | None:
    if button.confirm is None:
        return None
    c = button.confirm
    out: dict[str, Any] = {
        "title": {"type": "plain_text", "text": _filled(to_plain(c.title, SlackLimits.CONFIRM_TITLE))},
        "text": {"type": "mrkdwn", "text": _filled(to_mrkdwn(c.text, SlackLimits.CONFIRM_TEXT))},
        "confirm": {
            "type": "plain_text",
            "text": to_plain(c.ok, SlackLimits.CONFIRM_BUTTON).strip() or "Yes",
        },
        "deny": {
            "type": "plain_text",
            "text": to_plain(c.dismiss, SlackLimits.CONFIRM_BUTTON).strip() or "No",
        },
    }
    if button.style == "danger":
        out["style"] = "danger"
    return out


def _buttons(buttons: tuple[Button, ...]) -> tuple[list[dict[str, Any]], int]:
    """Button elements with `action_id`s unique in the message (an index is added to repeated actions), and
    how many buttons were left out because what they carry is over Slack's size limits (`PayloadTooBig`)."""
    repeats = Counter(b.action for b in buttons if not b.url)
    out: list[dict[str, Any]] = []
    dropped = 0
    for index, button in enumerate(buttons):
        element: dict[str, Any] = {"type": "button", "text": _plain(button.label, SlackLimits.BUTTON_TEXT)}
        if button.url:
            # Slack still sends a block_actions event for link buttons; this id is not ours, so it is ignored.
            element["action_id"] = f"link:{index}"
            element["url"] = button.url[: SlackLimits.BUTTON_URL]
        else:
            try:
                packed = pack_slack(
                    button.action, button.payload, str(index) if repeats[button.action] > 1 else ""
                )
            except PayloadTooBig:
                dropped += 1
                continue
            element["action_id"] = packed.action_id
            element["value"] = packed.value
        if button.style != "default":
            element["style"] = button.style
        confirm = _confirm(button)
        if confirm:
            element["confirm"] = confirm
        out.append(element)
    return out, dropped


def _fallback_text(card: Card) -> str:
    text = card.summary or (f"{card.title} ({card.badge})" if card.badge else card.title)
    return _filled(to_mrkdwn(text, SlackLimits.MESSAGE_TEXT))


def text_size(node: Any) -> int:
    """The text of a message or block as Slack adds it up for `msg_blocks_too_long`: every `text` string
    (section, field, context, button, confirm and table cell texts), in UTF-16 units."""
    if isinstance(node, dict):
        return sum(
            text_len(v) if key == "text" and isinstance(v, str) else text_size(v) for key, v in node.items()
        )
    if isinstance(node, list):
        return sum(text_size(v) for v in node)
    return 0


def render_blocks(
    card: Card, *, native: bool = True, text_budget: int = SlackLimits.BLOCKS_TEXT
) -> dict[str, Any]:
    """The card as a Slack message `{"text": fallback, "blocks": [...]}`, within every Block Kit limit.

    `native=False` leaves out the newer blocks (charts, tables), for a workspace that refuses them: the text
    and the fallback still carry the facts. `text_budget` caps the text of all blocks together (Slack's
    undocumented `msg_blocks_too_long`); content past it is cut like content past the 50 blocks.
    """
    content: list[dict[str, Any]] = []
    if card.text.strip():
        content.append({"type": "section", "text": _mrkdwn(card.text, SlackLimits.SECTION_TEXT)})
    if native:
        charts = [_chart_block(c) for c in card.charts[: SlackLimits.CHARTS_PER_MESSAGE]]
        content.extend(c for c in charts if c is not None)
    content.extend(_fact_sections(card.facts))
    native_table = native
    for table in card.tables:
        if table.native and native_table:
            content.extend(_table_block(table))
            native_table = False  # one table block per message
        else:
            content.extend(_table_section(table))
    content.extend(_image_block(i) for i in card.images)

    shown_buttons = card.buttons[: _MAX_ACTION_BLOCKS * SlackLimits.ACTION_ELEMENTS]
    elements, unusable = _buttons(shown_buttons)
    actions = [
        {"type": "actions", "elements": elements[i : i + SlackLimits.ACTION_ELEMENTS]}
        for i in range(0, len(elements), SlackLimits.ACTION_ELEMENTS)
    ]
    footer = (
        [{"type": "context", "elements": [_mrkdwn(card.footer, SlackLimits.CONTEXT_TEXT)]}]
        if card.footer.strip()
        else []
    )
    if unusable:
        footer.insert(0, _unusable_note(unusable))
    header = _header(card)
    # Header, actions and footer always show; content gets what is left of the 50 blocks and of the text
    # budget, keeping room for the note that says how much was left out.
    room = SlackLimits.BLOCKS - 1 - len(actions) - len(footer)
    text_room = text_budget - text_size([header, *actions, *footer]) - _NOTE_TEXT
    left_buttons = len(card.buttons) - len(shown_buttons)
    if len(content) > room or text_size(content) > text_room:
        kept: list[dict[str, Any]] = []
        left_fields = 0
        for block in content[: room - 1]:
            size = text_size(block)
            if size > text_room:
                # A section of facts shows the fields that fit rather than none of them.
                fields: list[dict[str, Any]] = []
                for field in block.get("fields", ()):
                    text_room -= text_size(field)
                    if text_room < 0:
                        break
                    fields.append(field)
                if fields:
                    kept.append({**block, "fields": fields})
                    left_fields = len(block["fields"]) - len(fields)
                break
            text_room -= size
            kept.append(block)
        left_blocks = len(content) - len(kept) + left_fields
        content = kept
    else:
        left_blocks = 0
    if left_blocks or left_buttons:
        content.append(_left_out_note(left_blocks, left_buttons))
    return {"text": _fallback_text(card), "blocks": [header, *content, *actions, *footer]}


# Text reserved for the left-out note (its text is under 120 characters).
_NOTE_TEXT = 150


def _left_out_note(blocks: int, buttons: int) -> dict[str, Any]:
    parts = [f"{blocks} more parts"] if blocks else []
    parts += [f"{buttons} more buttons"] if buttons else []
    text = f"{ELLIPSIS} {' and '.join(parts)} not shown (more than a Slack message holds)"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _unusable_note(count: int) -> dict[str, Any]:
    what = "1 button" if count == 1 else f"{count} buttons"
    text = f"{what} left out: what it carries is too long for a Slack button"
    if count != 1:
        text = f"{what} left out: what they carry is too long for Slack buttons"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


__all__ = ["SlackLimits", "render_blocks", "text_size"]
