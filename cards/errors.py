"""Error cards: a title, a readable message, what to do next, and the request id; never a traceback."""

from __future__ import annotations

import re

from cards.markup import code, cut
from cards.model import Card, Tone

MESSAGE_MAX = 600
_TRACEBACK_RE = re.compile(r"Traceback \(most recent call last\):.*", re.DOTALL)
_FRAME_RE = re.compile(r'^\s*File ".*", line \d+.*$', re.MULTILINE)


def readable(message: str) -> str:
    """The message without tracebacks or stack frames, on at most a few lines and `MESSAGE_MAX` chars."""
    text = _FRAME_RE.sub("", _TRACEBACK_RE.sub("", message)).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    return cut(text, MESSAGE_MAX) if text else "Something went wrong."


def error_card(
    title: str,
    message: str,
    hint: str = "",
    request_id: str | None = None,
    tone: Tone = Tone.ERROR,
) -> Card:
    """A problem the user should know about. `hint` says what to do; `request_id` helps support find it."""
    text = readable(message)
    if hint:
        text += f"\n**What to do:** {hint}"
    return Card(
        title=title,
        tone=tone,
        text=text,
        footer=f"Request id: {code(request_id)}" if request_id else "",
        summary=f"{title}: {cut(readable(message), 200)}",
    )


def not_found_card(kind: str, ident: str, hint: str = "", request_id: str | None = None) -> Card:
    """`kind` (e.g. "job") `ident` does not exist for the service."""
    return error_card(
        title=f"{kind.capitalize()} not found",
        message=f"There is no {kind} {code(ident)} on this Azure OpenAI resource.",
        hint=hint or "Check the id, or see recent ones with `/ft list`.",
        request_id=request_id,
        tone=Tone.WARNING,
    )
