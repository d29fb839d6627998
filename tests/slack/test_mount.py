"""`mount_slack` wiring: off without credentials; with them, the route, the Sender and the file fetcher."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from adapters.slack import ROUTE, mount_slack
from bot.config import load_settings
from bot.context import Context
from bot.notifier import Notifier
from bot.router import Dispatcher, Router
from bot.store import Store
from handlers.help import Presenter


def _routes(app: web.Application) -> set[str]:
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


async def test_not_configured_mounts_nothing(tmp_path: Path) -> None:
    settings = load_settings(slack_bot_token=None, slack_signing_secret=None)
    store = Store.open(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    notifier = Notifier()
    dispatcher = Dispatcher(Router(), Context(settings=settings, store=store, azure=None), Presenter())
    app = web.Application()
    assert mount_slack(app, settings, dispatcher, store, notifier) is None
    assert ROUTE not in _routes(app)
    assert "slack" not in dispatcher.ctx.file_fetchers
    await store.close()


async def test_configured_mounts_route_sender_and_fetcher(tmp_path: Path) -> None:
    settings = load_settings(
        slack_bot_token="xoxb-x", slack_signing_secret="s", slack_api_url="http://127.0.0.1:9/api/"
    )
    store = Store.open(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    notifier = Notifier()
    dispatcher = Dispatcher(Router(), Context(settings=settings, store=store, azure=None), Presenter())
    app = web.Application()
    adapter = mount_slack(app, settings, dispatcher, store, notifier)
    assert adapter is not None
    assert ROUTE in _routes(app)
    assert notifier.sender("slack") is adapter.sender
    assert dispatcher.ctx.file_fetchers["slack"] == adapter.fetch_slack_file
    assert adapter.client.base_url == "http://127.0.0.1:9/api/"
    await adapter.close()
    await store.close()
