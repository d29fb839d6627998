"""A running bot app with the Teams adapter mounted, a real SQLite store and the stand-in Connector.

Only the far side is fake: activities go over HTTP to `/api/messages` of a real aiohttp server running the
real botbuilder `CloudAdapter`; replies go over HTTP to `FakeConnector`. The router is a small test router
whose handlers record what reached them, so a test can tell "dispatched" from "rejected".
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.teams import TeamsAdapter, mount_teams
from bot.config import load_settings
from bot.context import Context
from bot.model import Action, Command, Reply
from bot.notifier import Notifier
from bot.router import Arg, Dispatcher, Opt, Router
from bot.store import Store
from cards.model import Button, Card, Confirm, Fact, Table, Tone
from handlers.help import Presenter
from tests.cards.validate import assert_valid_adaptive
from tests.teams.fake_connector import Call, FakeConnector, running_connector

PAYLOADS = Path(__file__).with_name("payloads")


def payload(kind: str, service_url: str, **changes: Any) -> dict[str, Any]:
    """A recorded activity from `payloads/`, aimed at the stand-in Connector, with top-level changes."""
    activity = json.loads((PAYLOADS / f"{kind}.json").read_text(encoding="utf-8"))
    activity["serviceUrl"] = service_url
    activity.update(copy.deepcopy(changes))
    return activity


def job_id(text: str) -> str:
    if not text.startswith("ftjob-"):
        raise ValueError(f"`{text[:40]}` is not a job id (ftjob-...)")
    return text


def job_card(job: str, status: str = "running") -> Card:
    return Card(
        title=f"Job `{job}`",
        tone=Tone.RUNNING,
        badge=status,
        facts=(Fact("Status", status), Fact("Model", "gpt-4o-mini")),
        tables=(Table(columns=("step", "loss"), rows=(("10", "1.20"), ("20", "0.95"))),),
        buttons=(
            Button("Refresh", action="job.refresh", payload={"job": job}, style="primary"),
            Button("Events", action="job.events", payload={"job": job}),
            Button(
                "Cancel",
                action="job.cancel",
                payload={"job": job},
                style="danger",
                confirm=Confirm("Cancel the job?", f"`{job}` stops and cannot be resumed."),
            ),
        ),
        summary=f"Job {job}: {status}",
        key=f"job:{job}",
    )


@dataclass
class Seen:
    commands: list[Command] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    reached: asyncio.Event = field(default_factory=asyncio.Event)  # a handler is waiting on `gate`


def make_router(seen: Seen) -> Router:
    router = Router("teams-test")

    @router.command("status", summary="Show a job", example="status ftjob-abc", args=(Arg("job", job_id),))
    async def status(ctx: Context, cmd: Command) -> Reply:
        seen.commands.append(cmd)
        return Reply(job_card(cmd.params["job"]))

    @router.command("slow", summary="Takes its time", example="slow")
    async def slow(ctx: Context, cmd: Command) -> Reply:
        seen.commands.append(cmd)
        seen.reached.set()
        await seen.gate.wait()
        return Reply(Card(title="Slow result", text="finally"))

    @router.command(
        "upload", summary="Show attached files", example="upload", options=(Opt("note", metavar="TEXT"),)
    )
    async def upload(ctx: Context, cmd: Command) -> Reply:
        seen.commands.append(cmd)
        rows = tuple((a.name, a.content_type) for a in cmd.attachments)
        return Reply(
            Card(title="Files", text=str(cmd.params["note"]), tables=(Table(("name", "type"), rows),))
        )

    @router.action("job.refresh")
    async def refresh(ctx: Context, action: Action) -> Reply:
        seen.actions.append(action)
        return Reply(job_card(action.payload["job"], status="succeeded"), replace_source=True)

    @router.action("job.events")
    async def events(ctx: Context, action: Action) -> Reply:
        seen.actions.append(action)
        return Reply(Card(title=f"Events of `{action.payload['job']}`", text="step 10: loss 1.2"))

    @router.action("job.cancel")
    async def cancel(ctx: Context, action: Action) -> list[Reply]:
        seen.actions.append(action)
        seen.reached.set()
        await seen.gate.wait()
        return [
            Reply(job_card(action.payload["job"], status="cancelled"), replace_source=True),
            Reply(Card(title="Cancelled", text=f"`{action.payload['job']}` was cancelled.")),
        ]

    return router


def card_text(card: dict[str, Any]) -> str:
    """All the text an Adaptive Card shows (TextBlocks, facts), in order, one piece per line."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                out.append(str(node.get("text", "")))
            if node.get("type") == "FactSet":
                out.extend(f"{f['title']}: {f['value']}" for f in node.get("facts", []))
            for key, value in node.items():
                if key not in ("fallback",):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return "\n".join(out)


def assert_cards_valid(calls: list[Call]) -> None:
    """Every Adaptive Card the bot sent validates against the official 1.5 schema and Teams' limits."""
    for call in calls:
        for card in call.cards:
            assert_valid_adaptive(card)


@dataclass
class TeamsBot:
    client: TestClient[web.Request, web.Application]
    adapter: TeamsAdapter
    connector: FakeConnector
    store: Store
    notifier: Notifier
    seen: Seen

    async def post(self, activity: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST an activity to /api/messages; the status and the JSON body (None when there is none)."""
        resp = await self.client.post("/api/messages", json=activity, headers=headers or {})
        text = await resp.text()
        return resp.status, (json.loads(text) if text else None)

    def payload(self, kind: str, **changes: Any) -> dict[str, Any]:
        return payload(kind, self.connector.url, **changes)


BotFactory = Callable[..., AbstractAsyncContextManager[TeamsBot]]


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with running_connector() as running:
        yield running


@pytest.fixture
def bot_factory(tmp_path: Path, connector: FakeConnector) -> BotFactory:
    @asynccontextmanager
    async def make(
        answer_within: float = 5.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, **settings: Any
    ) -> AsyncIterator[TeamsBot]:
        # Without app credentials these tests drive the Bot Framework Emulator's local, unauthenticated mode.
        settings.setdefault("teams_no_auth", "MicrosoftAppId" not in settings)
        # Signing keys are never fetched from the real Bot Framework in tests: nothing listens on port 9.
        settings.setdefault("teams_openid_metadata_url", "http://127.0.0.1:9/.well-known/openidconfiguration")
        config = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/ftbot.db", **settings)
        store = Store.open(config.database_url)
        await store.upgrade()
        seen = Seen()
        notifier = Notifier()
        ctx = Context(settings=config, store=store, azure=None, notifier=notifier)
        dispatcher = Dispatcher(make_router(seen), ctx, Presenter())
        app = web.Application()
        adapter = mount_teams(
            app, config, dispatcher, store, notifier, answer_within=answer_within, sleep=sleep
        )
        client = TestClient(TestServer(app, host="127.0.0.1", port=0))
        await client.start_server()
        try:
            yield TeamsBot(client, adapter, connector, store, notifier, seen)
        finally:
            seen.gate.set()  # never leave a handler waiting
            await client.close()
            await store.close()
        assert_cards_valid(connector.calls)

    return make


@pytest.fixture
async def teams_bot(bot_factory: BotFactory) -> AsyncIterator[TeamsBot]:
    async with bot_factory() as bot:
        yield bot
