from __future__ import annotations

from typing import Any

import pytest

from bot.config import Settings
from bot.context import Context
from bot.errors import FtbotError, NotFound
from bot.model import Action, Command, Conversation, Reply, User
from bot.router import Arg, Dispatcher, Opt, Router, VerbSpec
from cards.model import Card

USER = User("U1", "Alice")
CONV = Conversation("slack", "C1")


def command(verb: str, *args: str, **options: str | bool) -> Command:
    return Command(verb, args, options, USER, CONV, "slack")


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


class RecordingPresenter:
    def __init__(self) -> None:
        self.usage_calls: list[tuple[str | None, str | None]] = []
        self.errors: list[tuple[BaseException, str | None]] = []

    def usage(
        self, router: Router, spec: VerbSpec | None, problem: str | None, platform: str = "slack"
    ) -> Reply:
        self.usage_calls.append((spec.verb if spec else None, problem))
        return Reply(Card(title="usage", text=problem or ""), ephemeral=True)

    def unknown_verb(self, router: Router, word: str, platform: str = "slack") -> Reply:
        self.usage_calls.append((None, f"unknown {word}"))
        return Reply(Card(title="unknown"), ephemeral=True)

    def error(self, exc: BaseException, reference: str | None) -> Reply:
        self.errors.append((exc, reference))
        return Reply(Card(title="error"))


def make(router: Router) -> tuple[Dispatcher, RecordingPresenter]:
    presenter = RecordingPresenter()
    ctx = Context(settings=Settings(), store=None, azure=None)  # type: ignore[arg-type]
    return Dispatcher(router, ctx, presenter), presenter


router = Router("test")
seen: list[dict[str, Any]] = []


@router.command(
    "events",
    summary="Show events",
    example="events ftjob-1 --limit 5",
    args=(Arg("job"),),
    options=(Opt("limit", positive, default=20, metavar="N"), Opt("all", flag=True, default=False)),
)
async def events(ctx: Context, cmd: Command) -> Card:
    seen.append(dict(cmd.params))
    return Card(title=f"events {cmd.params['job']}")


@router.command("boom", summary="fails", example="boom")
async def boom(ctx: Context, cmd: Command) -> None:
    raise RuntimeError("secret internals")


@router.command("missing", summary="not found", example="missing")
async def missing(ctx: Context, cmd: Command) -> None:
    raise NotFound("No job `ftjob-x`.")


@router.action("job.refresh")
async def refresh(ctx: Context, action: Action) -> list[Card]:
    return [Card(title=f"job {action.payload['job']}")]


def test_registration_returns_the_function_unchanged() -> None:
    assert events.__name__ == "events"
    assert router.find("events") is not None


def test_non_coroutine_is_refused_at_registration() -> None:
    r = Router()
    with pytest.raises(TypeError, match="async def"):
        r.command("x", summary="", example="")(lambda ctx, cmd: None)  # type: ignore[arg-type,return-value]


def test_duplicate_verbs_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        Router().include(router, router)


def test_usage_line() -> None:
    spec = router.find("events")
    assert spec is not None
    assert spec.usage == "events JOB [--limit N] [--all]"


async def test_params_are_converted() -> None:
    d, _ = make(router)
    [reply] = await d.on_command(command("events", "ftjob-1", limit="5"))
    assert reply.card.title == "events ftjob-1"
    assert seen[-1] == {"job": "ftjob-1", "limit": 5, "all": False}


@pytest.mark.parametrize(
    ("cmd", "problem"),
    [
        (command("events"), "needs JOB"),
        (command("events", "a", "b"), "Unexpected `b`"),
        (command("events", "a", limit="x"), "--limit"),
        (command("events", "a", limit="-3"), "positive"),
        (command("events", "a", nope="1"), "no option `--nope`"),
        (command("events", "a", all="yes"), "takes no value"),
        (command("events", "a", limit=True), "`--limit` needs a value"),
        (command("events", "a", bogus=True), "no option `--bogus`"),
    ],
)
async def test_bad_arguments_give_usage(cmd: Command, problem: str) -> None:
    d, presenter = make(router)
    [reply] = await d.on_command(cmd)
    assert reply.ephemeral
    verb, text = presenter.usage_calls[-1]
    assert verb == "events" and text is not None and problem in text


async def test_unknown_verb_and_help_option() -> None:
    d, presenter = make(router)
    await d.on_command(command("nonsense"))
    assert presenter.usage_calls[-1][0] is None and "nonsense" in (presenter.usage_calls[-1][1] or "")
    await d.on_command(command("events", help=True))
    assert presenter.usage_calls[-1] == ("events", None)


async def test_unexpected_exception_gets_a_reference_and_no_details() -> None:
    d, presenter = make(router)
    await d.on_command(command("boom"))
    exc, ref = presenter.errors[-1]
    assert isinstance(exc, RuntimeError) and ref and len(ref) == 8


async def test_user_errors_have_no_reference() -> None:
    d, presenter = make(router)
    await d.on_command(command("missing"))
    exc, ref = presenter.errors[-1]
    assert isinstance(exc, FtbotError) and ref is None


async def test_actions_route_and_unknown_actions_answer() -> None:
    d, presenter = make(router)
    [reply] = await d.on_action(Action("job.refresh", {"job": "ftjob-1"}, USER, CONV, "slack"))
    assert reply.card.title == "job ftjob-1"
    await d.on_action(Action("gone.away", {}, USER, CONV, "slack"))
    assert "no longer supported" in str(presenter.errors[-1][0])
