"""Help and usage, and the wording of every error shown in chat (the Presenter used by the dispatcher)."""

from __future__ import annotations

from bot.azure import errors as az
from bot.context import Context
from bot.errors import FtbotError, UsageError
from bot.model import Command, Platform, Reply
from bot.router import Arg, Router, VerbSpec
from cards.errors import error_card, not_found_card
from cards.help import help_card, unknown_verb_card, usage_card
from cards.model import Card, Tone
from cards.views import VerbHelp

router = Router("help")

TRIGGERS: dict[str, str] = {"slack": "/ft", "teams": "@ftbot", "web": "@ftbot"}

# What to do next, by kind of Azure failure: one place for this wording.
AZURE_HINTS: dict[type[az.AzureError], str] = {
    az.NotFound: "Check the id, or see recent ones with `list`.",
    az.QuotaExceeded: "A resource runs 1 training job at a time, queues 20 and keeps 100: wait for a job to "
    "finish, or cancel or delete old ones. Deployments: at most 5 fine-tuned models per resource.",
    az.Unauthorized: "The bot's credentials were refused: check its API key or Entra ID identity.",
    az.Forbidden: "The bot's identity needs the *Cognitive Services OpenAI Contributor* role on the resource.",
    az.Throttled: "Azure is throttling requests; try again shortly.",
    az.ServiceUnavailable: "Azure is having trouble right now; try again in a few minutes.",
    az.TransportFailure: "Azure could not be reached; try again in a few minutes.",
    az.ValidationFailed: "Fix the data (try `ftbot validate FILE` or `/ft validate`) and start again.",
    az.Conflict: "The resource is not in a state that allows this; refresh and try again.",
    az.BadRequest: "Check the command's values against `help`.",
}


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
        return Reply(help_card(verbs, trigger))

    def unknown_verb(self, router: Router, word: str, platform: Platform = "slack") -> Reply:
        verbs = [verb_help(s) for s in router.verbs()]
        return Reply(unknown_verb_card(word, verbs, trigger_for(platform)), ephemeral=True)

    def error(self, exc: BaseException, reference: str | None) -> Reply:
        return Reply(error_reply_card(exc, reference))


def error_reply_card(exc: BaseException, reference: str | None) -> Card:
    if isinstance(exc, az.AzureError):
        hint = next((h for cls, h in AZURE_HINTS.items() if isinstance(exc, cls)), "")
        if isinstance(exc, az.NotFound) and exc.target:
            return not_found_card("resource", exc.target, hint, exc.request_id)
        return error_card("Azure refused the request", exc.user_message(), hint, exc.request_id)
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
            raise UsageError(f"There is no command `{str(wanted)[:40]}`.", verb="help")
        return Reply(usage_card(verb_help(spec), "", trigger))
    return Reply(help_card([verb_help(s) for s in full.verbs()], trigger))
