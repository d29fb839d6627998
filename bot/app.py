"""The one wiring module: builds the store, Azure clients, router, dispatcher, adapters and scheduler into one
aiohttp application on one port, and tears them down in order. The only place in `bot/` that imports
`handlers/` and `adapters/`.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import logging
import os
import signal
import sys
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.engine import make_url

from bot.azure_clients import AzureClients
from bot.chart_images import ChartImages
from bot.checks import CheckPool
from bot.config import Settings, is_loopback_host
from bot.context import Context
from bot.errors import StartupError
from bot.model import Platform, Reply
from bot.notifier import Notifier
from bot.policy import Policy
from bot.router import Dispatcher, Presenter, Router, VerbSpec
from bot.scheduler import Scheduler
from bot.schema import HEAD_REVISION
from bot.store import Store
from bot.warmup import WarmUp

log = logging.getLogger("ftbot")
STORE = web.AppKey("store", Store)
# What start-up does after the bot listens (bot/warmup.py): `/healthz` ends its wait and reports it broken.
WARM_UP = web.AppKey("warm_up", WarmUp)
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# The adapters give work in flight 3 s each on shutdown (their own requests included); the server then gives
# any other request 2 s. 3 + 3 + 2 < 9, the outer limit, which keeps the whole stop under 10 s.
SERVER_GRACE = 2.0
SHUTDOWN_LIMIT = 9.0


def build_router() -> Router:
    """Every capability's router, composed in a fixed order (first match wins). The handler modules (with the
    Azure client, httpx and the card builders they import) are loaded when the router is first asked for a
    verb or an action, or by the warm-up right after `/healthz` answers, not before it (issue 17)."""
    return Router("ftbot").include_later(_capability_routers)


# Imported by the warm-up in a worker thread; `_capability_routers` and `_wire_handlers` then find them loaded.
HANDLER_MODULES = (
    "handlers.help",
    "handlers.jobs",
    "handlers.start",
    "handlers.watch",
    "handlers.deploy",
    "handlers.idle",
    "handlers.chart",
    "handlers.models",
    "handlers.quota",
    "handlers.watcher",
    "handlers.reconcile",
)


# Held while the warm-up's thread imports the handler modules: a command that needs them sooner waits for that
# thread instead of importing beside it (two threads importing modules that import each other can deadlock).
_HANDLERS_LOADING = threading.Lock()


def _capability_routers() -> list[Router]:
    _load_handlers()
    from handlers import chart, deploy, idle, jobs, start, watch
    from handlers import help as help_handlers
    from handlers import models as models_handlers
    from handlers import quota as quota_handlers

    return [
        help_handlers.router,
        jobs.router,
        start.router,
        watch.router,
        deploy.router,
        idle.router,
        chart.router,
        models_handlers.router,
        quota_handlers.router,
    ]


def _load_handlers() -> None:
    with _HANDLERS_LOADING:
        for name in HANDLER_MODULES:
            importlib.import_module(name)


def schedule(scheduler: Scheduler, ctx: Context) -> None:
    """Periodic work of the handlers: deployments being provisioned, approval requests due to expire."""
    from handlers import deploy
    from handlers.idle import IdleSweeper
    from handlers.watcher import replica_id

    scheduler.every("deploy-sweep", ctx.settings.deploy_poll_interval, lambda: deploy.sweep(ctx))
    # The idle sweep's cadence is kept in the database (its lease row's last run), so a restart or a second
    # replica neither skips nor repeats a sweep; the scheduler only looks often enough to notice it is due.
    interval = ctx.settings.idle_sweep_interval
    sweeper = IdleSweeper(ctx, owner=replica_id(), interval=interval)
    ctx.extras["idle"] = sweeper
    scheduler.every("idle-sweep", min(interval, 60.0), sweeper.tick)


def _reconciler() -> Any:
    from handlers import reconcile

    return reconcile


def presenter() -> Presenter:
    """The help capability's wording of usage, errors and welcomes, loaded when first shown."""
    return _LazyPresenter()


class _LazyPresenter:
    """`handlers.help.Presenter`, imported on first use (see `build_router`)."""

    def __init__(self) -> None:
        self._real: Presenter | None = None

    def _presenter(self) -> Presenter:
        if self._real is None:
            _load_handlers()
            from handlers.help import Presenter as HelpPresenter

            self._real = HelpPresenter()
        return self._real

    def usage(
        self, router: Router, spec: VerbSpec | None, problem: str | None, platform: Platform = "slack"
    ) -> Reply:
        return self._presenter().usage(router, spec, problem, platform)

    def unknown_verb(self, router: Router, word: str, platform: Platform = "slack") -> Reply:
        return self._presenter().unknown_verb(router, word, platform)

    def error(self, exc: BaseException, reference: str | None) -> Reply:
        return self._presenter().error(exc, reference)

    def welcome(self, platform: Platform = "slack", personal: bool = False) -> Reply:
        return self._presenter().welcome(platform, personal)


@dataclass
class RunningBot:
    """A started bot: its URL and parts, for `serve`, the demo and end-to-end tests."""

    settings: Settings
    url: str
    store: Store
    ctx: Context
    dispatcher: Dispatcher
    runner: web.AppRunner
    scheduler: Scheduler
    emulator: Any = None
    adapters: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        """Stop taking requests, let in-flight ones finish, then stop the scheduler and close connections."""
        warm_up = self.runner.app[WARM_UP]
        warm_up.healthy.set()  # a warm-up still waiting for the first `/healthz` runs now
        try:
            if warm_up.task is not None:
                await asyncio.gather(warm_up.task, return_exceptions=True)
            await self.runner.cleanup()
        finally:
            gc.unfreeze()
            stop_gc_checks, warm_up.gc_quiet_stop = warm_up.gc_quiet_stop, None
            if stop_gc_checks is not None:
                stop_gc_checks()  # the collector's thresholds back to what they were before start-up

    @property
    def warming(self) -> asyncio.Task[None]:
        """The start-up's background part (`bot.warmup.WarmUp`): done once the handlers, the scheduler and the
        deferred adapters are ready."""
        task = self.runner.app[WARM_UP].task
        assert task is not None  # started by start_bot
        return task

    async def force_close(self, within: float = 0.8) -> None:
        """After a shutdown that ran out of time: stop and close what the interrupted cleanup did not,
        giving up after `within` seconds (a hung database must not keep the process alive)."""
        await self.scheduler.stop()
        with suppress(TimeoutError):
            async with asyncio.timeout(within):
                for part in (self.ctx.azure, self.store, self.emulator):
                    if part is not None:
                        with suppress(Exception):
                            await part.close()


async def _start_emulator(settings: Settings) -> tuple[Settings, Any]:
    from emulator.server import start as start_emulator

    emu = await start_emulator(host="127.0.0.1", port=0, speed=settings.emulator_speed)
    log.info(
        "no Azure endpoint configured: using the embedded emulator at %s (speed x%g)",
        emu.url,
        settings.emulator_speed,
    )
    pointed = settings.model_copy(
        update={
            "azure_openai_endpoint": emu.url,
            "arm_endpoint": emu.arm_url,
            "subscription_id": emu.subscription_id,
            "resource_group": emu.resource_group,
            "account_name": emu.account_name,
        }
    )
    return pointed, emu


def _samples_dir() -> Path | None:
    """The emulator's example datasets, usable by name in local use (`start ... --training good-train`)."""
    folder = Path(str(resources.files("emulator") / "datasets"))
    return folder if folder.is_dir() else None


async def open_store(settings: Settings) -> Store:
    """Open the database and bring its schema up to date; a StartupError names it when it does not answer.

    Migrations (and the advisory lock replicas queue on) run without the statement timeout; the store the
    bot then uses bounds every statement by `db_timeout`. A database already at the head (every start but
    the first) is told by one query on that store: no second engine. Otherwise the schema is brought up to
    date on an engine without the timeout, told what that query found (not asked again), and the timed
    store, already connected, is the one returned."""
    timed = Store.open(settings.database_url, timeout=settings.db_timeout)
    found = await timed.revision()
    if found == HEAD_REVISION:
        return timed
    store = Store.open(settings.database_url)
    try:
        await store.upgrade(found=found)
    except Exception as exc:
        await store.close()
        await timed.close()
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        raise StartupError(
            f"the database at {shown} is not usable ({type(exc).__name__}: {exc}); check FTBOT_DATABASE_URL"
        ) from exc
    await store.close()
    return timed


async def _sweep_spool() -> None:
    """Spooled copies a crash left in the temporary folder go before the bot takes new work."""
    from handlers.spool import sweep_spool

    try:
        await asyncio.to_thread(sweep_spool)
    except Exception:  # a failed clean-up must not stop start-up
        log.warning("could not sweep leftover spool files", exc_info=True)


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers a read and commits a write; 503 otherwise (full, read-only, hung)."""
    store = request.app[STORE]
    checks = await store.check_health()
    warm_up = request.app.get(WARM_UP)
    if warm_up is not None and warm_up.broken:
        checks["handlers"] = False  # a deploy whose handlers do not import must not look healthy
    ok = all(checks.values())
    if ok and warm_up is not None:
        warm_up.healthy.set()
    return web.json_response({"status": "ok" if ok else "unavailable", **checks}, status=200 if ok else 503)


async def start_bot(settings: Settings, *, host: str | None = None, port: int | None = None) -> RunningBot:
    """Start everything and listen; with no Azure endpoint configured, the emulator runs in-process."""
    # The address actually bound is what decides, e.g., whether unauthenticated Teams may be served.
    settings = settings.model_copy(
        update={
            "host": settings.host if host is None else host,
            "port": settings.port if port is None else port,
        }
    )
    store = await open_store(settings)
    await _sweep_spool()
    emulator = None
    embedded = settings.uses_emulator
    if embedded:
        try:
            settings, emulator = await _start_emulator(settings)
        except Exception:
            await store.close()
            raise
    azure = AzureClients(settings, emulator=embedded)
    notifier = Notifier()
    ctx = Context(
        settings=settings,
        store=store,
        azure=azure,
        notifier=notifier,
        local_files=settings.allow_local_files or (embedded and not _platform_configured(settings)),
        samples_dir=_samples_dir(),
        checks=CheckPool(
            workers=settings.validation_workers,
            queue=settings.validation_queue,
            per_user=settings.validations_per_user,
        ),
    )
    ctx.policy = Policy(settings, local=ctx.local_files and embedded and not _platform_configured(settings))
    _log_authorization(settings, ctx.policy)
    router = build_router()
    ctx.extras["router"] = router
    dispatcher = Dispatcher(router, ctx, presenter())
    scheduler = Scheduler(ctx)

    # Chat payloads are small; a large body is refused before anything reads it (files never come this way).
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[STORE] = store
    app.router.add_get("/healthz", healthz)
    # `ctx.settings` is read at publish time: the public URL is known only once the port is bound.
    chart_images = ChartImages(store, lambda: ctx.settings)
    chart_images.mount(app)
    scheduler.every("prune-chart-images", 3600, chart_images.prune)
    adapters = _mount_adapters(
        app, settings, dispatcher, store, notifier, resource=_resource_label(settings, embedded)
    )
    if "teams" in adapters:
        adapters["teams"].chart_images = chart_images
    if "web" in adapters:  # the local chat page runs its turns through its own Teams adapter
        adapters["web"].turns.chart_images = chart_images

    # What `/healthz` does not need comes right after it can answer, in the background: the handlers, the
    # data-plane client (a command that needs either first builds it itself), the scheduler and the adapters
    # built after start-up (the local chat page, local Teams). Then the heap is frozen.
    from adapters.inflight import all_idle

    app[WARM_UP] = warm_up = WarmUp(
        scheduler,
        _deferred_builds(adapters),
        wire=functools.partial(_wire_handlers, ctx, scheduler),
        azure=azure,
        quiet=all_idle,
    )

    async def on_cleanup(_app: web.Application) -> None:
        await scheduler.stop()
        await _reconciler().stop_background(ctx)
        for adapter in adapters.values():
            closer = getattr(adapter, "close", None)
            if closer is not None:
                with suppress(Exception):
                    await closer()
        await azure.close()
        if ctx.checks is not None:
            ctx.checks.close()
        await store.close()
        if emulator is not None:
            await emulator.close()

    app.on_cleanup.append(on_cleanup)
    runner = web.AppRunner(app, shutdown_timeout=SERVER_GRACE, handle_signals=False, access_log=None)
    await runner.setup()
    bind_host, bind_port = settings.host, settings.port
    site = web.TCPSite(runner, bind_host, bind_port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    actual_port = runner.addresses[0][1] if runner.addresses else bind_port
    url = f"http://{bind_host}:{actual_port}"
    if not settings.public_url:
        settings = settings.model_copy(update={"public_url": url})
        ctx.settings = settings
    warm_up.start()  # once the port is bound
    return RunningBot(settings, url, store, ctx, dispatcher, runner, scheduler, emulator, adapters)


def _deferred_builds(adapters: dict[str, Any]) -> list[Any]:
    """The `adapters.deferred.Deferred` builds of the mounted adapters (local Teams, the chat page's turns)."""
    found = []
    # The chat page's own adapter is warmed at start-up only when Teams is served anyway (the embedded default:
    # the SDK is loaded regardless); otherwise the page warms it when first opened.
    serving = adapters if "teams" in adapters else {k: v for k, v in adapters.items() if k != "web"}
    for adapter in serving.values():
        for part in (adapter, getattr(adapter, "turns", None)):
            deferred = getattr(part, "deferred", None)
            if deferred is not None:
                found.append(deferred)
    return found


async def _wire_handlers(ctx: Context, scheduler: Scheduler) -> None:
    """The handlers' part of start-up, run by the warm-up before the scheduler starts: their modules imported
    in a worker thread (the loop keeps answering; a command that arrives sooner loads them through the router
    itself, waiting for the thread's imports), their periodic work scheduled, and the starts a crash or a lost
    reply left unfinished taken over, to be settled with Azure right away and every interval after."""
    await asyncio.to_thread(_load_handlers)
    ctx.extras["router"].verbs()  # the capability routers composed (their modules are loaded by now)
    schedule(scheduler, ctx)
    _schedule_watchers(ctx, scheduler)
    reconcile = _reconciler()
    await reconcile.take_over(ctx)
    scheduler.every(
        "reconcile-starts", ctx.settings.reconcile_interval, functools.partial(reconcile.sweep, ctx), now=True
    )


def _schedule_watchers(ctx: Context, scheduler: Scheduler) -> None:
    """Job watchers and the outbox delivery (handlers/watcher.py) on the scheduler: a poll every
    FTBOT_WATCH_INTERVAL seconds, deliveries (and their retries) a few times per interval."""
    from handlers.chart import chart_alert_extras
    from handlers.deploy import deploy_alert_extras
    from handlers.watcher import Watcher, register_success_extras

    # The success alert: a Deploy button (approvals) and the loss chart in its thread.
    register_success_extras(deploy_alert_extras)
    register_success_extras(chart_alert_extras)

    interval = ctx.settings.watch_interval
    watcher = Watcher(ctx, interval=interval)
    ctx.extras["watcher"] = watcher
    scheduler.every("watch-jobs", interval, watcher.tick)
    scheduler.every("deliver-outbox", max(0.5, min(2.0, interval / 4)), watcher.deliver_once)


def _resource_label(settings: Settings, embedded: bool) -> str:
    """What the local chat page's header names as the Azure resource."""
    if embedded:
        return "Azure emulator (local)"
    return settings.account_name or urlsplit(settings.azure_openai_endpoint or "").hostname or "Azure OpenAI"


def _mount_adapters(
    app: web.Application,
    settings: Settings,
    dispatcher: Dispatcher,
    store: Store,
    notifier: Notifier,
    *,
    resource: str = "Azure OpenAI",
) -> dict[str, Any]:
    # Each platform's SDK is imported only when that platform is served; the local ones (the chat page and
    # unauthenticated local Teams) build their Bot Framework adapter after start-up (adapters/deferred.py).
    from adapters.directline import mount_directline

    mounted: dict[str, Any] = {}
    # The local chat page (Web Chat over a local Direct Line): on loopback, or with a secret.
    web_chat = mount_directline(app, settings, dispatcher, store, notifier, resource=resource)
    if web_chat is not None:
        mounted["web"] = web_chat
    if settings.slack_bot_token is not None and settings.slack_signing_secret is not None:
        from adapters.slack import mount_slack

        slack = mount_slack(app, settings, dispatcher, store, notifier)
        if slack is not None:
            mounted["slack"] = slack
    else:
        log.info("Slack is not configured (SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET); /slack/events is off")
    # Without an app id nothing authenticates Teams requests: serve them only when opted in (or the embedded
    # default) and on a loopback address (local use: the Bot Framework Emulator, tests).
    # The Bot Framework SDK is imported only when Teams is served (the chat page loads it when first opened).
    if settings.microsoft_app_id:
        from adapters.teams import mount_teams

        mounted["teams"] = mount_teams(app, settings, dispatcher, store, notifier)
    elif settings.teams_unauthenticated() and _is_loopback(settings.host):
        from adapters.deferred import mount_teams_deferred

        local = settings.model_copy(update={"teams_no_auth": True})
        mounted["teams"] = mount_teams_deferred(app, local, dispatcher, store, notifier)
    elif settings.teams_unauthenticated():
        log.warning(
            "Teams is off: MicrosoftAppId is not set and FTBOT_HOST=%s is reachable from other machines",
            settings.host,
        )
    else:
        log.info(
            "Teams is off: MicrosoftAppId is not set (FTBOT_TEAMS_NO_AUTH=1 serves it unauthenticated locally)"
        )
    return mounted


def _is_loopback(host: str) -> bool:
    return is_loopback_host(host)


def _log_authorization(settings: Settings, policy: Policy) -> None:
    """Say at start who may do what, so a missing roles file is noticed before someone is refused."""
    if policy.local:
        log.info("authorization: local use (embedded emulator, no chat platform): you hold every role")
        return
    roles = settings.roles
    if not (roles.operators or roles.admins):
        log.warning(
            "authorization: no operators configured ([roles] operators in the TOML file): jobs not started "
            "from chat, other conversations' jobs and `list --all` are refused to everybody"
        )


def _platform_configured(settings: Settings) -> bool:
    # The chat page behind a secret on a reachable address is shared too: no local files there.
    shared_page = settings.directline_secret is not None and not _is_loopback(settings.host)
    return bool(settings.slack_bot_token or settings.microsoft_app_id or shared_page)


DEMO_COMMANDS = (
    "help",
    "start gpt-4o-mini-2024-07-18 --training good_training --validation good_validation",
    "list",
)


def demo_banner(url: str, emulator_url: str | None = None) -> str:
    """What `ftbot demo` prints once the page is up: where to go and what to type; with the embedded
    emulator, how to move its clock (Azure's idle rule and a Developer deployment's end are days away)."""
    tries = "\n".join(f"    {command}" for command in DEMO_COMMANDS)
    clock = (
        "To see idle-deployment warnings, run the demo with FTBOT_IDLE_SWEEP_INTERVAL=60, deploy a model, then\n"
        "move the emulated Azure's clock on (README: Trying the idle guard):\n"
        f"    curl -X POST {emulator_url}/_emulator/clock/advance -H 'Content-Type: application/json' "
        "-d '{\"days\": 13}'\n"
        if emulator_url
        else ""
    )
    return (
        f"\nftbot demo is running. Open {url}/ in a browser and try:\n{tries}\n"
        "Each tab is its own user. To approve a deployment as a second user, open a second tab at\n"
        f"    {url}/?user=bob\n"
        "and type `approve <request id>` there (the approval card shows the id and that command).\n"
        f"{clock}"
        "Ctrl-C stops the demo.\n"
    )


def _desktop_session() -> bool:
    """A person at a desktop ran the demo in a terminal (not CI, not a script, not over plain SSH)."""
    if not sys.stdout.isatty() or os.environ.get("CI"):
        return False
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def _open_browser(url: str) -> None:
    import webbrowser  # only for the demo at a desktop (~75 ms of every start otherwise)

    with suppress(Exception):
        webbrowser.open(url)


async def serve(settings: Settings, *, demo: bool = False) -> int:
    """Run until SIGTERM/SIGINT, then shut down gracefully; the exit code for the CLI."""
    bot = await start_bot(settings)
    log.info("ftbot listening on %s (health: %s/healthz)", bot.url, bot.url)
    if "web" in bot.adapters:
        log.info("local chat page: %s/", bot.url)
        if demo:
            print(demo_banner(bot.url, getattr(bot.emulator, "url", None)), flush=True)
            if _desktop_session():
                # Best effort, in a thread: a browser launcher may take a moment, and may not exist.
                asyncio.get_running_loop().run_in_executor(None, _open_browser, f"{bot.url}/")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    try:
        async with asyncio.timeout(SHUTDOWN_LIMIT):
            await bot.close()
    except TimeoutError:
        log.warning("shutdown took too long; closing what is left")
        await bot.force_close()
    log.info("stopped")
    return 0


def run_emulator(argv: list[str]) -> int:
    """`ftbot emulator ...`: the emulator's own command line (wired here, the one place bot/ meets it)."""
    from emulator.cli import main as emulator_main

    return emulator_main(argv)
