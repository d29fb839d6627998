"""Maps command verbs and button action ids to handlers; turns every failure into a card.

Handlers are plain typed async functions registered with a decorator that returns them unchanged, so a test
can register and call the same function:

    router = Router("jobs")

    @router.command("status", summary="Show a job", args=(Arg("job", job_id),), example="status ftjob-...")
    async def status(ctx: Context, cmd: Command) -> Reply: ...

The app composes routers with `Router.include`; the `Dispatcher` is the one error route.
"""

from __future__ import annotations

import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.errors import FtbotError, NotAllowed, StoreUnavailable, UsageError
from bot.model import Action, Command, Platform, Reply, User
from cards.model import Card, code

if TYPE_CHECKING:
    from bot.context import Context

log = logging.getLogger(__name__)

Converter = Callable[[str], Any]
"""Turns an argument's text into its value; raises ValueError with a readable reason when it cannot."""

Replies = Reply | Card | Sequence[Reply | Card] | None
CommandHandler = Callable[["Context", Command], Awaitable[Replies]]
ActionHandler = Callable[["Context", Action], Awaitable[Replies]]
H = TypeVar("H", bound=Callable[..., Awaitable[Replies]])


@dataclass(frozen=True, slots=True)
class Arg:
    """A positional argument: its name (as shown in the usage line) and how to convert it."""

    name: str
    convert: Converter = str
    required: bool = True
    help: str = ""

    @property
    def placeholder(self) -> str:
        return self.name.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class Opt:
    """An option `--name value` (or a flag `--name`)."""

    name: str
    convert: Converter = str
    default: Any = None
    flag: bool = False
    help: str = ""
    metavar: str = ""


@dataclass(frozen=True, slots=True)
class VerbSpec:
    verb: str
    summary: str
    example: str
    args: tuple[Arg, ...]
    options: tuple[Opt, ...]
    handler: CommandHandler

    @property
    def usage(self) -> str:
        parts = [self.verb]
        # Placeholders in capitals (`status JOB`), like option values: `<job>` reads as an HTML tag in Teams
        # and vanished there.
        parts += [a.placeholder if a.required else f"[{a.placeholder}]" for a in self.args]
        for o in self.options:
            parts.append(f"[--{o.name}]" if o.flag else f"[--{o.name} {o.metavar or o.name.upper()}]")
        return " ".join(parts)

    def bind(self, cmd: Command) -> dict[str, Any]:
        """Check the command against this verb's arguments and options; convert them to values."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(cmd.options) - set(known) - {"help"})
        if unknown:
            raise UsageError(f"{code(self.verb)} has no option {code(f'--{unknown[0]}')}.", verb=self.verb)
        if len(cmd.args) > len(self.args):
            extra = cmd.args[len(self.args)]
            shown = extra[:60].replace("`", "ˋ")  # typed text inside a code span cannot end it early
            raise UsageError(f"Unexpected {code(shown)} after {code(self.verb)}.", verb=self.verb)
        params: dict[str, Any] = {}
        for i, arg in enumerate(self.args):
            if i >= len(cmd.args):
                if arg.required:
                    raise UsageError(f"{code(self.verb)} needs {arg.placeholder}.", verb=self.verb)
                params[arg.name] = None
                continue
            params[arg.name] = _convert(arg.convert, cmd.args[i], arg.placeholder, self.verb)
        for opt in self.options:
            key = opt.name.replace("-", "_")
            raw = cmd.options.get(opt.name)
            if raw is None:
                params[key] = opt.default
            elif opt.flag:
                if raw is not True:
                    raise UsageError(f"`--{opt.name}` takes no value.", verb=self.verb)
                params[key] = True
            elif isinstance(raw, bool):
                raise UsageError(f"`--{opt.name}` needs a value.", verb=self.verb)
            else:
                params[key] = _convert(opt.convert, raw, f"--{opt.name}", self.verb)
        return params


def _convert(convert: Converter, raw: str, what: str, verb: str) -> Any:
    try:
        return convert(raw)
    except (ValueError, TypeError) as exc:
        reason = str(exc) or "not a valid value"
        raise UsageError(f"{what}: {reason}", verb=verb) from exc


@dataclass(frozen=True, slots=True)
class ActionSpec:
    action: str
    handler: ActionHandler


def _require_coroutine(fn: Callable[..., Any], what: str) -> None:
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{what} handler {getattr(fn, '__qualname__', fn)!r} must be an `async def` function")


class Router:
    """A named group of command verbs and button actions, usually one per capability module."""

    def __init__(self, name: str = "root") -> None:
        self.name = name
        self._commands: dict[str, VerbSpec] = {}
        self._aliases: dict[str, str] = {}
        self._actions: dict[str, ActionSpec] = {}
        self._later: list[Callable[[], Iterable[Router]]] = []

    @property
    def commands(self) -> dict[str, VerbSpec]:
        self._include_pending()
        return self._commands

    @property
    def aliases(self) -> dict[str, str]:
        self._include_pending()
        return self._aliases

    @property
    def actions(self) -> dict[str, ActionSpec]:
        self._include_pending()
        return self._actions

    def command(
        self,
        verb: str,
        *,
        summary: str,
        example: str,
        args: Iterable[Arg] = (),
        options: Iterable[Opt] = (),
        aliases: Iterable[str] = (),
    ) -> Callable[[H], H]:
        """Register a chat command verb; returns the handler unchanged."""

        def register(fn: H) -> H:
            _require_coroutine(fn, f"command {verb!r}")
            self._add_verb(VerbSpec(verb, summary, example, tuple(args), tuple(options), fn), tuple(aliases))
            return fn

        return register

    def action(self, action: str) -> Callable[[H], H]:
        """Register a button action id (e.g. `job.refresh`); returns the handler unchanged."""

        def register(fn: H) -> H:
            _require_coroutine(fn, f"action {action!r}")
            if action in self._actions:
                raise ValueError(f"action {action!r} is registered twice")
            self._actions[action] = ActionSpec(action, fn)
            return fn

        return register

    def _add_verb(self, spec: VerbSpec, aliases: tuple[str, ...]) -> None:
        for name in (spec.verb, *aliases):
            if name in self._commands or name in self._aliases:
                raise ValueError(f"verb {name!r} is registered twice")
        self._commands[spec.verb] = spec
        for alias in aliases:
            self._aliases[alias] = spec.verb

    def include(self, *routers: Router) -> Router:
        """Compose: take over the verbs and actions of other routers. First registration wins no ties."""
        self._include_pending()
        self._take(routers)
        return self

    def _take(self, routers: Iterable[Router]) -> None:
        for other in routers:
            for spec in other.commands.values():
                self._add_verb(spec, tuple(a for a, v in other.aliases.items() if v == spec.verb))
            for action in other.actions.values():
                if action.action in self._actions:
                    raise ValueError(f"action {action.action!r} is registered twice")
                self._actions[action.action] = action

    def include_later(self, load: Callable[[], Iterable[Router]]) -> Router:
        """Compose the routers `load` returns when this router is first asked for a verb or an action, so
        that the modules behind them are imported on first use, not when the app is wired (issue 17).

        >>> def capabilities():
        ...     from handlers import jobs
        ...     return [jobs.router]
        >>> router = Router("app").include_later(capabilities)  # handlers.jobs is not imported yet
        """
        self._later.append(load)
        return self

    def _include_pending(self) -> None:
        while self._later:
            routers = list(self._later[0]())  # an import that fails is tried again at the next use
            self._later.pop(0)
            self._take(routers)

    def find(self, verb: str) -> VerbSpec | None:
        return self.commands.get(self.aliases.get(verb, verb))

    def verbs(self) -> list[VerbSpec]:
        return list(self.commands.values())


def as_replies(result: Replies) -> list[Reply]:
    if result is None:
        return []
    if isinstance(result, Reply | Card):
        result = [result]
    return [r if isinstance(r, Reply) else Reply(card=r) for r in result]


def error_reference() -> str:
    """A short id shown to the user and logged with the traceback, to find one in the other."""
    return secrets.token_hex(4)


class Presenter(Protocol):
    """How usage problems and errors are shown; the help capability provides it (wording lives there)."""

    def usage(
        self, router: Router, spec: VerbSpec | None, problem: str | None, platform: Platform = "slack"
    ) -> Reply: ...

    def unknown_verb(self, router: Router, word: str, platform: Platform = "slack") -> Reply: ...

    def error(self, exc: BaseException, reference: str | None) -> Reply: ...

    def welcome(self, platform: Platform = "slack", personal: bool = False) -> Reply:
        """Said once when the bot is added to a conversation."""
        ...


class Dispatcher:
    """Runs a command or an action through the router; the single error route. Never raises."""

    def __init__(self, router: Router, ctx: Context, presenter: Presenter) -> None:
        self.router = router
        self.ctx = ctx
        self.presenter = presenter

    async def on_command(self, cmd: Command) -> list[Reply]:
        spec = self.router.find(cmd.verb)
        if spec is None:
            return [self.presenter.unknown_verb(self.router, cmd.verb, cmd.platform)]
        if cmd.options.get("help") is True:
            return [self.presenter.usage(self.router, spec, None, cmd.platform)]
        try:
            bound = replace(cmd, verb=spec.verb, params=spec.bind(cmd))
            return as_replies(await spec.handler(self.ctx, bound))
        except UsageError as exc:
            return [self.presenter.usage(self.router, spec, exc.message, cmd.platform)]
        except NotAllowed as exc:
            return [await self._refused(exc, cmd.user, cmd.platform, f"command {spec.verb}")]
        except Exception as exc:
            return [self._error_reply(exc, f"command {spec.verb}")]

    async def on_action(self, action: Action) -> list[Reply]:
        spec = self.router.actions.get(action.action)
        if spec is None:
            exc = FtbotError("This button is no longer supported. Run the command again for a fresh card.")
            return [self._error_reply(exc, "action")]
        try:
            return as_replies(await spec.handler(self.ctx, action))
        except NotAllowed as exc:
            return [await self._refused(exc, action.user, action.platform, f"action {action.action}")]
        except Exception as exc:
            return [self._error_reply(exc, f"action {action.action}")]

    async def _refused(self, exc: NotAllowed, user: User, platform: Platform, where: str) -> Reply:
        """The one place a refusal is audited (actor, act, subject) and answered, privately."""
        log.info("refused %s for %s on %s: %s", exc.act or "?", user.id, exc.subject or "-", where)
        if exc.audited:
            return replace(
                self.presenter.error(exc, None), ephemeral=True, replace_source=False, in_thread=False
            )
        try:
            await self.ctx.store.audit(
                platform=platform,
                actor=user,
                action=f"{exc.act or 'unknown'}.refused",
                subject=exc.subject or "-",
                detail={"act": exc.act, "reason": exc.message, "via": where},
            )
        except Exception as audit_exc:  # the user still hears why; the failure to record is logged
            log.error(
                "could not audit a refusal of %s for %s: %s", exc.act, user.id, type(audit_exc).__name__
            )
        return replace(self.presenter.error(exc, None), ephemeral=True, replace_source=False, in_thread=False)

    def _error_reply(self, exc: BaseException, where: str) -> Reply:
        ref = None
        if _is_store_failure(exc):
            # An outage, not a bug: one log line, and the user is told what happened instead of a reference.
            log.warning("the database failed during %s: %s", where, type(exc).__name__)
            exc = StoreUnavailable()
        if not isinstance(exc, FtbotError) and not _is_azure_error(exc):
            ref = error_reference()
            log.exception("unexpected error in %s (ref %s)", where, ref, exc_info=exc)
        return self.presenter.error(exc, ref)


def _is_store_failure(exc: BaseException) -> bool:
    from bot.store.health import is_store_failure

    return is_store_failure(exc)


def _is_azure_error(exc: BaseException) -> bool:
    try:
        from bot.azure.errors import AzureError
    except ImportError:  # pragma: no cover - the client package always ships with the bot
        return False
    return isinstance(exc, AzureError)
