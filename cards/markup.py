"""The neutral text markup (`**bold**`, `` `code` ``, `[label](url)`) parsed once, written out per platform.

A code span that starts with `/ft ` is a command to the bot: builders write it once, the Adaptive Card
renderer shows it with Teams' trigger (`@ftbot ...`).

Renderers call `to_mrkdwn` (Slack), `to_ac_markdown` (Adaptive Cards) or `to_plain` (fallback text, headers,
button labels). Each takes an optional `limit` and cuts at a segment boundary, never inside an entity, a link
or a code span, so a truncated string is still well-formed. Lengths are counted in UTF-16 code units
(`text_len`), the unit chat platforms count in, which is never less than Python's `len`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

ELLIPSIS = "…"

_TOKEN_RE = re.compile(
    r"\\(?P<escaped>[\\*`\[\]()])"
    r"|\*\*(?P<bold>[^*\n](?:[^*\n]|\*(?!\*))*?)\*\*"
    r"|`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>(?:https?://|mailto:)[^\s()<>]+)\)"
)

SegmentKind = Literal["text", "bold", "code", "link"]
Writer = Callable[["Segment", str], str]


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    text: str
    url: str = ""


def text_len(text: str) -> int:
    """Length as Slack and Teams clients count it (UTF-16 code units): an emoji can count 2."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int, tail: str = ELLIPSIS) -> str:
    """`text` shortened to at most `limit` UTF-16 units, ending in `tail` when it was shortened."""
    if text_len(text) <= limit:
        return text
    budget = limit - text_len(tail)
    out: list[str] = []
    used = 0
    for ch in text:
        size = text_len(ch)
        if used + size > budget:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip() + tail if budget > 0 else tail[: max(limit, 0)]


def cut_words(text: str, limit: int, tail: str = ELLIPSIS) -> str:
    """Like `cut`, but ends at a space when one is in the last half of what fits, so no word is chopped."""
    short = cut(text, limit, tail)
    if short == text:
        return text
    kept = short[: len(short) - len(tail)]
    if text[len(kept) : len(kept) + 1].isspace():
        return short  # the cut already fell between words
    space = kept.rfind(" ")
    return kept[:space].rstrip() + tail if space > len(kept) // 2 else short


def parse(text: str) -> list[Segment]:
    """Split neutral markup into segments; anything that is not well-formed markup stays plain text."""
    segments: list[Segment] = []
    pos = 0
    for match in _TOKEN_RE.finditer(text):
        if match.start() > pos:
            segments.append(Segment("text", text[pos : match.start()]))
        if match.group("escaped") is not None:
            segments.append(Segment("text", match.group("escaped")))  # `literal()`: stands for itself
        elif match.group("bold") is not None:
            segments.append(Segment("bold", match.group("bold")))
        elif match.group("code") is not None:
            segments.append(Segment("code", match.group("code")))
        else:
            segments.append(Segment("link", match.group("label"), match.group("url")))
        pos = match.end()
    if pos < len(text):
        segments.append(Segment("text", text[pos:]))
    return _joined(segments)


def _joined(segments: list[Segment]) -> list[Segment]:
    """Neighbouring text segments as one (escaped characters split them)."""
    out: list[Segment] = []
    for seg in segments:
        if out and seg.kind == "text" and out[-1].kind == "text":
            out[-1] = Segment("text", out[-1].text + seg.text)
        else:
            out.append(seg)
    return out


_LITERAL_RE = re.compile(r"([\\*`\[\]()])")


def literal(text: str) -> str:
    """Text from people or from Azure (display names, file names, error messages) made safe to put into
    neutral markup: `[label](https://...)` or `**` inside it stays text and never becomes the bot's own link
    or emphasis, on any platform and in notification previews."""
    return _LITERAL_RE.sub(r"\\\1", text)


def code(text: str) -> str:
    """A code span around text from people or Azure: a backtick inside cannot end the span early."""
    return "`" + (text.replace("`", "ˋ").replace("\n", " ") or " ") + "`"


def escape_slack(text: str) -> str:
    """Slack's three control characters; everything else is literal in mrkdwn and plain_text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    # `|` and `>` end the URL part of `<url|label>`; percent-encode rather than entity-escape them.
    return escape_slack(url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C"))


def _slack_piece(seg: Segment, text: str) -> str:
    if seg.kind == "bold":
        return f"*{escape_slack(text.replace('*', '∗'))}*"
    if seg.kind == "code":
        return f"`{escape_slack(text.replace('`', 'ˋ'))}`"
    if seg.kind == "link":
        return f"<{_slack_url(seg.url)}|{escape_slack(text.replace('|', '¦'))}>"
    return escape_slack(text)


# Only what would change meaning mid-text; `_` inside words is literal in CommonMark and stays readable.
_AC_SPECIAL_RE = re.compile(r"([\\*\[\]`])")


def _ac_escape(text: str) -> str:
    return _AC_SPECIAL_RE.sub(r"\\\1", text)


SLACK_TRIGGER = "/ft "
TEAMS_TRIGGER = "@ftbot "
# How a command is typed where an Adaptive Card is read: `@ftbot ...` in a Teams channel or group chat, the bare
# verb in a personal chat (no mention needed there). The Teams adapter sets it around rendering (`ac_trigger`).
_AC_TRIGGER: ContextVar[str] = ContextVar("ac_trigger", default=TEAMS_TRIGGER)


@contextmanager
def ac_trigger(trigger: str) -> Iterator[None]:
    """Render Adaptive Cards with `trigger` before commands (e.g. "" in a personal chat)."""
    token = _AC_TRIGGER.set(trigger)
    try:
        yield
    finally:
        _AC_TRIGGER.reset(token)


def _ac_piece(seg: Segment, text: str) -> str:
    if seg.kind == "bold":
        return f"**{_ac_escape(text)}**"
    if seg.kind == "code":
        # A command written for Slack (`/ft status ...`) is typed as `@ftbot status ...` in a Teams channel
        # and as `status ...` in a personal chat.
        for prefix in (SLACK_TRIGGER, TEAMS_TRIGGER):
            if text.startswith(prefix):
                text = _AC_TRIGGER.get() + text[len(prefix) :]
                break
        # Teams has no inline code style: backticks would show literally (or vanish), so the text goes plain,
        # with only what could turn into markdown defused (`[--limit N]` is left alone: no `(` follows).
        return text.replace("`", "ˋ").replace("*", "∗").replace("](", "] (")
    if seg.kind == "link":
        return f"[{_ac_escape(text)}]({seg.url.replace(')', '%29').replace(' ', '%20')})"
    return _ac_escape(text)


def _plain_piece(seg: Segment, text: str) -> str:
    # Plain text (notification previews, fallback text, labels) carries no marks: code is just its text.
    if seg.kind == "link":
        return f"{text} ({seg.url})"
    return text


def _cell_piece(seg: Segment, text: str) -> str:
    if seg.kind == "link":
        return f"{text} ({seg.url})"
    # Code spans lose their backticks: a preformatted cell is code already, and a backtick there is noise.
    return text


def _fit(seg: Segment, piece: Writer, room: int) -> str:
    """The longest prefix of the segment whose rendering fits in `room` units ("" when none does)."""
    lo, hi, best = 1, len(seg.text), ""
    while lo <= hi:
        mid = (lo + hi) // 2
        keep = seg.text[:mid].rstrip()
        candidate = piece(seg, keep) if keep else ""
        if text_len(candidate) <= room:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


# Every piece of markup starts with a backslash, *, ` or [; text without them is one text segment. Most labels, fact
# values and button titles are such text, written many times a card: they skip the parse.
_TEXT = Segment("text", "")  # writers read only a segment's kind and url: its text is passed apart


def _write(text: str, piece: Writer, limit: int | None) -> str:
    """Write every segment with `piece`; when over `limit`, cut a text/bold/code segment or drop a link."""
    if not ("\\" in text or "*" in text or "`" in text or "[" in text):
        whole = piece(_TEXT, text)
        if limit is None or text_len(whole) <= limit:
            return whole
    segments = parse(text)
    pieces = [piece(seg, seg.text) for seg in segments]
    whole = "".join(pieces)
    if limit is None or text_len(whole) <= limit:
        return whole
    budget = limit - text_len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for seg, rendered in zip(segments, pieces, strict=True):
        size = text_len(rendered)
        if used + size > budget:
            # A link cut short would point at nothing useful: drop it whole.
            if seg.kind != "link":
                out.append(_fit(seg, piece, budget - used))
            break
        out.append(rendered)
        used += size
    return "".join(out) + ELLIPSIS


def to_mrkdwn(text: str, limit: int | None = None) -> str:
    """Neutral markup as Slack mrkdwn, `&`, `<`, `>` escaped."""
    return _write(text, _slack_piece, limit)


def to_ac_markdown(text: str, limit: int | None = None) -> str:
    """Neutral markup as Adaptive Card TextBlock markdown, other markdown characters escaped."""
    return _write(text, _ac_piece, limit)


def to_plain(text: str, limit: int | None = None) -> str:
    """Neutral markup flattened to plain text: links as `label (url)`."""
    return _write(text, _plain_piece, limit)


def to_cell(text: str) -> str:
    """Neutral markup for a preformatted (monospace) table cell: one line, no markup characters at all.

    Code spans keep their text without the backticks; stray backticks are dropped too, since a run of three
    would close the code block the table sits in.
    """
    return _write(text, _cell_piece, None).replace("`", "").replace("\r", " ").replace("\n", " ")
