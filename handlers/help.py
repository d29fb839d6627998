"""Help and usage, and the wording of every error shown in chat (the Presenter used by the dispatcher)."""

from __future__ import annotations

import difflib
import logging

from bot.azure import errors as az
from bot.config import DEFAULT_DATA_API_VERSION
from bot.context import Context
from bot.errors import FtbotError, InvalidState, NotAllowed, NotFound, UsageError
from bot.model import Command, Platform, Reply
from bot.router import Arg, Router, VerbSpec
from cards.errors import error_card
from cards.help import help_card, unknown_verb_card, usage_card, welcome_card
from cards.markup import code, literal
from cards.model import Card, Tone
from cards.views import VerbHelp

router = Router("help")
log = logging.getLogger(__name__)

TRIGGERS: dict[str, str] = {"slack": "/ft", "teams": "@ftbot", "web": "@ftbot"}

# Title and what to do next, by kind of Azure failure: one place for this wording.
AZURE_TITLES: dict[type[az.AzureError], str] = {
    az.NotFound: "Not found",
    az.QuotaExceeded: "Azure's job limits are reached",
    az.Unauthorized: "Azure did not accept the bot's credentials",
    az.Forbidden: "The bot may not do this on Azure",
    az.Throttled: "Azure is busy",
    az.ServiceUnavailable: "Azure is unavailable",
    az.TransportFailure: "Azure could not be reached",
    az.ValidationFailed: "Azure did not accept the request",
    az.Conflict: "Not possible right now",
    az.BadRequest: "Azure did not accept the request",
}
AZURE_HINTS: dict[type[az.AzureError], str] = {
    az.NotFound: "Check the id, or see recent ones with `/ft list`.",
    az.QuotaExceeded: "A resource trains 3 jobs at a time (5 on Developer training), queues 20 and keeps 100. "
    "See waiting jobs with "
    "`/ft list --status pending` and cancel the ones you no longer need.",
    az.Unauthorized: "The bot's credentials were refused: check its API key or Entra ID identity.",
    az.Forbidden: "The bot's identity needs the *Cognitive Services OpenAI Contributor* role on the resource.",
    az.Throttled: "Azure is throttling requests; try again shortly.",
    az.ServiceUnavailable: "Azure is having trouble right now; try again in a few minutes.",
    az.TransportFailure: "Azure could not be reached; try again in a few minutes.",
    az.Conflict: "Refresh the card and try again.",
    az.BadRequest: "Check the command's values against `/ft help`.",
}
DATA_HINT = "Check the data with `/ft validate`, fix it and start again."
MODEL_HINT = "Check the model name: it must be a base model your resource can fine-tune, or a fine-tuned one."
# Azure answers an api-version it does not serve (unknown, or retired like 2023-12-01-preview) with
# 400 BadRequest "API version not supported".
API_VERSION_HINT = (
    f"Your resource does not serve the api-version the bot is set to. Set `FTBOT_AZURE_API_VERSION` (or the "
    f"resource's `api_version`) to {code(DEFAULT_DATA_API_VERSION)}, a version Azure serves for fine-tuning."
)


def trigger_for(platform: str) -> str:
    return TRIGGERS.get(platform, "/ft")


def verb_help(spec: VerbSpec) -> VerbHelp:
    options = tuple(
        (f"--{o.name}" if o.flag else f"--{o.name} {o.metavar or o.name.upper()}", o.help)
        for o in spec.options
        if o.help
    )
    return VerbHelp(spec.verb, spec.summary, spec.usage, spec.example, options)


class Presenter:
    """How usage problems and errors look in chat. Never shows a traceback or a secret."""

    def usage(
        self, router: Router, spec: VerbSpec | None, problem: str | None, platform: Platform = "slack"
    ) -> Reply:
        trigger = trigger_for(platform)
        if spec is not None:
            return Reply(usage_card(verb_help(spec), problem or "", trigger), ephemeral=True)
        verbs = [verb_help(s) for s in router.verbs()]
        if problem:
            card = help_card(verbs, trigger)
            card = Card(
                title="I did not understand that",
                tone=Tone.WARNING,
                text=f"{problem}\nTry `{trigger} help`.",
                tables=card.tables,
                summary=problem,
            )
            return Reply(card, ephemeral=True)
        return Reply(help_card(verbs, trigger), ephemeral=True)

    def welcome(self, platform: Platform = "slack", personal: bool = False) -> Reply:
        return Reply(welcome_card(trigger_for(platform), personal=personal))

    def unknown_verb(self, router: Router, word: str, platform: Platform = "slack") -> Reply:
        verbs = [verb_help(s) for s in router.verbs()]
        card = unknown_verb_card(
            word, verbs, trigger_for(platform), suggestion=_closest(word, [v.name for v in verbs])
        )
        return Reply(card, ephemeral=True)

    def error(self, exc: BaseException, reference: str | None) -> Reply:
        # A mistake only the asker needs to see (unknown id, wrong state) is shown to them alone where possible.
        private = isinstance(exc, UsageError | NotFound | InvalidState | NotAllowed | az.NotFound)
        return Reply(error_reply_card(exc, reference), ephemeral=private)


def _closest(word: str, names: list[str]) -> str | None:
    """The verb a mistyped word most likely meant: the one it begins, when only one does (`stat` is
    `status`, though `start` is as close letter by letter); else the closest by spelling."""
    word = word.lower()
    begun = [n for n in names if n.startswith(word)] if len(word) >= 3 else []
    if len(begun) == 1:
        return begun[0]
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _azure_hint(exc: az.AzureError) -> str:
    if "api version not supported" in exc.message.lower() or "api-version" in exc.message.lower():
        return API_VERSION_HINT
    if isinstance(exc, az.Throttled) and exc.retry_after is not None:
        return f"Azure is throttling; try again in {az.about(exc.retry_after)}."
    if exc.code == "jsonlValidationFailed" or (exc.param or "").endswith("_file"):
        return DATA_HINT
    if exc.param == "model" or (isinstance(exc, az.BadRequest) and "model" in exc.message.lower()):
        return MODEL_HINT
    return next((h for cls, h in AZURE_HINTS.items() if isinstance(exc, cls)), "")


def _first(table: dict[type[az.AzureError], str], exc: az.AzureError, default: str) -> str:
    return next((text for cls, text in table.items() if isinstance(exc, cls)), default)


def error_reply_card(exc: BaseException, reference: str | None) -> Card:
    if isinstance(exc, az.AzureError):
        title = _first(AZURE_TITLES, exc, "Azure did not accept the request")
        # Azure's own words and the request id (for whoever debugs it); its error code is logged, not shown.
        log.info(
            "Azure error %s (HTTP %s, request %s): %s", exc.code, exc.status, exc.request_id, exc.message
        )
        tone = Tone.WARNING if isinstance(exc, az.NotFound | az.Conflict | az.Throttled) else Tone.ERROR
        # Azure's text can echo what people sent (file names, suffixes): never let it become our markup.
        return error_card(title, literal(exc.message), _azure_hint(exc), exc.request_id, tone=tone)
    if isinstance(exc, UsageError):
        return error_card(exc.title, exc.message, exc.hint, tone=Tone.WARNING)
    if isinstance(exc, FtbotError):
        tone = Tone.WARNING if exc.title != FtbotError.title else Tone.ERROR
        return error_card(exc.title, exc.message, exc.hint, tone=tone)
    return error_card(
        "Something went wrong",
        "The bot hit an unexpected problem and did not finish this request.",
        "Try again; if it keeps happening, give this reference to whoever runs the bot.",
        request_id=reference,
    )


@router.command(
    "help",
    summary="List the commands, or show how to use one",
    example="help status",
    args=(Arg("command", required=False),),
)
async def help_command(ctx: Context, cmd: Command) -> Reply:
    full: Router = ctx.extras["router"]
    wanted = cmd.params.get("command")
    trigger = trigger_for(cmd.platform)
    if wanted:
        spec = full.find(str(wanted).lower())
        if spec is None:
            raise UsageError(f"There is no command {code(str(wanted)[:40])}.", verb="help")
        return Reply(usage_card(verb_help(spec), "", trigger), ephemeral=True)
    # Help is for the one who asked: the channel does not need every verb each time someone looks.
    return Reply(help_card([verb_help(s) for s in full.verbs()], trigger), ephemeral=True)
