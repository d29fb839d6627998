"""Help and usage cards. The verb list comes from the router, so the cards never drift from the grammar."""

from __future__ import annotations

from collections.abc import Sequence

from cards.markup import code, literal
from cards.model import Card, Fact, Tone
from cards.views import VerbHelp

BULLET = "•"


def usage_card(verb: VerbHelp, problem: str = "", trigger: str = "/ft") -> Card:
    """How to use one verb, after a malformed command; `problem` says what was wrong with it.

    `trigger` is how users start a command on their platform (`/ft` in Slack, `@ftbot` in Teams).
    The problem comes first, then the usage line and an example; the options follow as facts, after the
    text on both platforms, so they never push the problem out of sight.
    """
    lines = [f"**Problem:** {problem}"] if problem else []
    lines.append(f"Usage: {code(f'{trigger} {verb.usage}')}")
    if verb.example:
        lines.append(f"Example: {code(f'{trigger} {verb.example}')}")
    facts = tuple(Fact(option, meaning) for option, meaning in verb.options)
    usage = f"Usage: {literal(f'{trigger} {verb.usage}')}"
    return Card(
        title=f"{literal(verb.name)}: {verb.summary}",
        tone=Tone.WARNING if problem else Tone.INFO,
        text="\n".join(lines),
        facts=facts,
        summary=f"{problem} {usage}" if problem else usage,
    )


def unknown_verb_card(
    word: str, verbs: Sequence[VerbHelp], trigger: str = "/ft", suggestion: str | None = None
) -> Card:
    """For a command whose verb we do not know: say so, list the verbs, give an example.

    `suggestion` is the closest verb (e.g. `status` for `stauts`); when given it is offered first.
    """
    names = ", ".join(code(v.name) for v in verbs)
    example = next((v.example for v in verbs if v.example), "help")
    shown = word if len(word) <= 40 else word[:40] + "…"
    guess = f"Did you mean {code(f'{trigger} {suggestion}')}?\n" if suggestion else ""
    return Card(
        title="Unknown command",
        tone=Tone.WARNING,
        text=(
            f"{guess}{code(shown)} is not a command I know. Try one of: {names}.\n"
            f"Example: {code(f'{trigger} {example}')} — or {code(f'{trigger} help')} for all of them."
        ),
        summary=(
            f"Unknown command. Did you mean {literal(f'{trigger} {suggestion}')}?"
            if suggestion
            else f"Unknown command. Try {trigger} help."
        ),
    )


def help_card(verbs: Sequence[VerbHelp], trigger: str = "/ft") -> Card:
    """Every verb with its full usage and a one-line summary.

    A list, not a table: table cells are cut to a column width in Slack, and here the whole usage matters.
    """
    lines = [f"{BULLET} {code(f'{trigger} {v.usage}')}: {v.summary}" for v in verbs]
    examples = [code(f"{trigger} {v.example}") for v in verbs if v.example][:3]
    text = "Run Azure OpenAI fine-tuning from chat.\n" + "\n".join(lines)
    if examples:
        text += "\nFor example: " + ", ".join(examples)
    return Card(
        title="ftbot commands",
        tone=Tone.INFO,
        text=text,
        footer=f"Details of one command: {code(f'{trigger} help COMMAND')}",
        summary=f"ftbot commands: {', '.join(literal(v.name) for v in verbs)}",
        key="help",
    )


def welcome_card(trigger: str = "/ft", personal: bool = False) -> Card:
    """Said once when the app is installed or the bot is added to a team or chat: what it is, how to start.

    In a personal chat nobody needs to mention the bot, so the examples there are the bare verbs."""
    lead = "" if personal else f"{trigger} "
    tries = (
        f"**{lead}help**: every command",
        f"**{lead}validate** with a JSONL file attached: check training data before anything is uploaded",
        f"**{lead}list**: recent fine-tuning jobs; **{lead}status JOB** for one of them",
    )
    return Card(
        title="Hello, I am ftbot",
        tone=Tone.INFO,
        text=(
            "I run Azure OpenAI fine-tuning from this chat: I check training data, start, watch, pause and "
            "cancel jobs, and show their events and checkpoints.\n\nTry:\n"
            + "\n".join(f"{BULLET} {line}" for line in tries)
        ),
        summary="ftbot runs Azure OpenAI fine-tuning from chat. Say help to start.",
        key="welcome",
    )
