"""The real Slack adapter (real Bolt app, real SQLite store) on a local aiohttp server, driven by signed HTTP
requests; only the far side is fake: the stand-in Slack Web API records what the bot sends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import ROUTE, SlackAdapter, mount_slack
from bot.app import RunningBot
from bot.config import load_settings
from bot.context import Context
from bot.model import Action, Command, Reply
from bot.notifier import Notifier
from bot.router import Arg, Dispatcher, Router
from bot.store import Store
from cards.model import Button, Card, Confirm, Fact, Tone
from handlers.help import Presenter
from tests.cards.validate import assert_valid_blocks
from tests.slack import payloads
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, interactive_body, json_body, signed_headers

BOT_TOKEN = "xoxb-1111-2222-secret-test-token"


def job_card(job: str, status: str = "running") -> Card:
    return Card(
        title=f"Job {job}",
        tone=Tone.RUNNING,
        facts=(Fact("Status", status),),
        buttons=(
            Button("Refresh", action="job.refresh", payload={"job": job}, style="primary"),
            Button(
                "Cancel",
                action="job.cancel",
                payload={"job": job},
                style="danger",
                confirm=Confirm("Cancel the job?", f"`{job}` stops and cannot be resumed."),
            ),
            Button("Docs", url="https://learn.microsoft.com/azure/ai-services/openai/how-to/fine-tuning"),
        ),
        key=f"job:{job}",
    )


@dataclass
class Handled:
    """What reached the dispatcher, and a gate a handler can be made to wait on."""

    commands: list[Command] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    gate_reached: asyncio.Event = field(default_factory=asyncio.Event)
    files: list[tuple[str, bytes]] = field(default_factory=list)


def test_router(handled: Handled) -> Router:
    router = Router("slack-tests")

    @router.command("status", summary="Show a job", example="status ftjob-abc", args=(Arg("job"),))
    async def status(_ctx: Context, cmd: Command) -> Card:
        handled.commands.append(cmd)
        return job_card(cmd.params["job"])

    @router.command("slow", summary="Waits for the test", example="slow")
    async def slow(_ctx: Context, cmd: Command) -> Card:
        handled.commands.append(cmd)
        handled.gate_reached.set()
        await handled.gate.wait()
        return Card(title="Done waiting")

    @router.command("thread", summary="Answers in a thread", example="thread")
    async def thread(_ctx: Context, cmd: Command) -> Reply:
        handled.commands.append(cmd)
        return Reply(Card(title="In the thread"), in_thread=True)

    @router.command("whisper", summary="Answers only to you", example="whisper")
    async def whisper(_ctx: Context, cmd: Command) -> Reply:
        handled.commands.append(cmd)
        return Reply(Card(title="Just for you"), ephemeral=True)

    @router.command("files", summary="Lists attached files", example="files")
    async def files(_ctx: Context, cmd: Command) -> Card:
        handled.commands.append(cmd)
        return Card(
            title="Files",
            facts=tuple(Fact(a.name, str(a.size)) for a in cmd.attachments) or (Fact("none", "-"),),
        )

    @router.command(
        "read", summary="Reads a Slack file", example="read F0123ABCD", args=(Arg("file", required=False),)
    )
    async def read(ctx: Context, cmd: Command) -> Card:
        # What the `start` handler does with a training file: fetch it through the platform's fetcher.
        handled.commands.append(cmd)
        ref: str = cmd.params["file"] or cmd.attachments[0].platform_id or ""
        name, chunks = await ctx.file_fetchers[cmd.platform](
            ref, user=cmd.user, conversation=cmd.conversation
        )
        content = b"".join([chunk async for chunk in chunks])
        handled.files.append((name, content))
        return Card(title=f"Read {name}", facts=(Fact("Bytes", str(len(content))),))

    @router.command("boom", summary="Fails", example="boom")
    async def boom(_ctx: Context, cmd: Command) -> Card:
        raise RuntimeError("handler exploded")

    @router.action("job.refresh")
    async def refresh(_ctx: Context, action: Action) -> Reply:
        handled.actions.append(action)
        return Reply(job_card(action.payload["job"], status="succeeded"), replace_source=True)

    @router.action("job.cancel")
    async def cancel(_ctx: Context, action: Action) -> Reply:
        handled.actions.append(action)
        return Reply(Card(title=f"Cancelling {action.payload['job']}"), in_thread=True)

    return router


@dataclass
class SlackHarness:
    slack: FakeSlackApi
    http: TestClient
    adapter: SlackAdapter
    store: Store
    notifier: Notifier
    dispatcher: Dispatcher
    handled: Handled

    async def send(
        self, body: str, content_type: str, *, headers: dict[str, str] | None = None, **sign: Any
    ) -> aiohttp.ClientResponse:
        hdrs = signed_headers(body, content_type, **sign) if headers is None else headers
        return await self.http.post(ROUTE, data=body.encode(), headers=hdrs)

    async def command(self, text: str, **fields: Any) -> aiohttp.ClientResponse:
        response_url = fields.pop("response_url", self.slack.response_url())
        return await self.send(*form_body(payloads.slash_command(text, response_url=response_url, **fields)))

    async def click(self, action_id: str, value: str, **kwargs: Any) -> aiohttp.ClientResponse:
        kwargs.setdefault("response_url", self.slack.response_url("click"))
        return await self.send(*interactive_body(payloads.block_actions(action_id, value, **kwargs)))

    async def event(self, inner: dict[str, Any], *, retry: int = 0, **kwargs: Any) -> aiohttp.ClientResponse:
        body, content_type = json_body(payloads.event(inner, **kwargs))
        headers = signed_headers(body, content_type)
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        return await self.send(body, content_type, headers=headers)


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
async def slack_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store.open(f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}")
    await store.upgrade()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def harness(slack_api: FakeSlackApi, slack_store: Store) -> AsyncIterator[SlackHarness]:
    settings = load_settings(
        slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=slack_api.api_url
    )
    handled = Handled()
    notifier = Notifier()
    ctx = Context(settings=settings, store=slack_store, azure=None, notifier=notifier)
    dispatcher = Dispatcher(test_router(handled), ctx, Presenter())
    app = web.Application()
    adapter = mount_slack(app, settings, dispatcher, slack_store, notifier)
    assert adapter is not None
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        yield SlackHarness(slack_api, http, adapter, slack_store, notifier, dispatcher, handled)
        handled.gate.set()  # never leave a handler waiting on a failed test
    assert_all_valid(slack_api)


def assert_all_valid(slack: FakeSlackApi) -> None:
    """Every message the bot sent in the test must be valid Block Kit."""

    for message in slack.messages():
        assert_valid_blocks({"blocks": message.get("blocks"), "text": message.get("text")})


@contextlib.asynccontextmanager
async def slack_bot(
    emu: Any, tmp_path: Path, slack: FakeSlackApi, **settings: Any
) -> AsyncIterator[RunningBot]:
    """The whole bot on an ephemeral port: Azure is `emu` (the in-process emulator or its own process), Slack
    the stand-in Web API; every Block Kit message it sent is checked when it stops. `settings` add to (or
    replace) `tests.conftest.bot_settings`."""
    from bot.app import start_bot
    from tests.conftest import bot_settings

    running = await start_bot(
        bot_settings(
            emu,
            tmp_path,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.api_url,
            **settings,
        )
    )
    try:
        yield running
    finally:
        await running.close()
    assert_all_valid(slack)
