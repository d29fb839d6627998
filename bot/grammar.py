"""The one command grammar for every platform: `<verb> [args...] [--option value | --option=value | --flag]`.

Slack gives the text after `/ft`; Teams gives the message with the bot mention stripped. Typography that chat
clients substitute (curly quotes, long dashes) is normalised first, so `—seed 5` typed on a phone still parses.
Parsing never raises anything but `UsageError`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from bot.errors import UsageError
from cards.model import code

# Options that never take a value; every other `--name` consumes the next token unless it is another option.
FLAGS: frozenset[str] = frozenset({"help", "yes", "all", "json", "mine", "dry-run", "no-tokens"})

_TYPOGRAPHY = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "—": "--", "–": "--", "\u00a0": " "}
)
_OPTION_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
MAX_TEXT = 4000


@dataclass(frozen=True, slots=True)
class ParsedText:
    verb: str
    args: tuple[str, ...] = ()
    options: dict[str, str | bool] = field(default_factory=dict)


def normalise(text: str) -> str:
    """Undo chat-client typography and trim; `<url>` wrappers Slack adds are left for the argument checks."""
    return text.translate(_TYPOGRAPHY).strip()


def tokenize(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:  # unbalanced quotes
        raise UsageError(f"I could not read that command: {str(exc).lower()} (unbalanced quote).") from exc


def parse_command_text(text: str, flags: frozenset[str] = FLAGS) -> ParsedText:
    """Split text into verb, positional arguments and options.

    >>> parse_command_text('events ftjob-abc --limit 5')
    ParsedText(verb='events', args=('ftjob-abc',), options={'limit': '5'})
    """
    if len(text) > MAX_TEXT:
        raise UsageError(f"That command is too long ({len(text)} characters; at most {MAX_TEXT}).")
    tokens = tokenize(normalise(text))
    if not tokens:
        return ParsedText(verb="help")
    verb, rest = tokens[0].lower(), tokens[1:]
    if verb.startswith("--"):  # `/ft --help`
        verb, rest = "help", tokens
    args: list[str] = []
    options: dict[str, str | bool] = {}
    i = 0
    while i < len(rest):
        token = rest[i]
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            name = name.lower()
            if not _OPTION_NAME.match(name):
                raise UsageError(f"{code(token[:40])} is not an option name.", verb=verb)
            if name in options:
                raise UsageError(f"`--{name}` is given twice.", verb=verb)
            if eq:
                options[name] = value
            elif name in flags:
                options[name] = True
            elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
                options[name] = rest[i + 1]
                i += 1
            else:
                # No value follows: a flag as far as the grammar knows; the verb's spec then says whether
                # it is unknown, or an option that needs a value.
                options[name] = True
        else:
            args.append(token)
        i += 1
    return ParsedText(verb=verb, args=tuple(args), options=options)
