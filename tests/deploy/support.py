"""Acceptance helpers for deployments: the emulator in its own process, a succeeded job on it, and signed
Slack clicks from any user. Imported by the deploy tests and bench/approve.py."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from emulator import datasets
from tests.slack import payloads
from tests.slack.signing import form_body, interactive_body, signed_headers

API = {"api-version": "2025-04-01-preview"}
ROOT = Path(__file__).resolve().parents[2]
SOURCE_TENANT = "00000000-0000-0000-0000-0000000000bb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmulatorProcess:
    """`python -m emulator` on a port of its own, driven over HTTP like Azure (and its admin API)."""

    url: str
    process: asyncio.subprocess.Process
    subscription_id: str = "00000000-0000-0000-0000-000000000001"
    resource_group: str = "ftbot-rg"
    account_name: str = "emulated-aoai"

    @property
    def arm_url(self) -> str:
        return self.url

    def account_url(self, name: str) -> str:
        return f"{self.url}/accounts/{name}"

    async def state(self) -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            got: dict[str, Any] = (await http.get(f"{self.url}/_emulator/state")).json()
            return got

    async def puts(self) -> int:
        return int((await self.state())["counters"].get("deployments.put", 0))

    async def deployments(self, account: str = "emulated-aoai") -> dict[str, Any]:
        state = await self.state()
        accounts = state["accounts"]
        found = (
            accounts[account]
            if isinstance(accounts, dict)
            else next(a for a in accounts if a["name"] == account)
        )
        result: dict[str, Any] = found["deployments"]
        return result

    async def advance(self, seconds: float) -> None:
        async with httpx.AsyncClient() as http:
            r = await http.post(f"{self.url}/_emulator/clock/advance", json={"seconds": seconds})
            r.raise_for_status()

    async def succeeded_job(
        self,
        account: str | None = None,
        dataset: str = "good_training",
        model: str = "gpt-4o-mini-2024-07-18",
    ) -> str:
        """A job trained to its end (`succeeded`, or `failed` for a dataset made to fail evaluation)."""
        base = self.account_url(account) if account else self.url
        async with httpx.AsyncClient(base_url=base, headers={"api-key": "k"}, params=API) as azure:
            content = datasets.path(dataset).read_bytes()
            uploaded = await azure.post(
                "/openai/files", data={"purpose": "fine-tune"}, files={"file": ("train.jsonl", content)}
            )
            assert uploaded.status_code == 201, uploaded.text
            await self.advance(60)
            created = await azure.post(
                "/openai/fine_tuning/jobs",
                json={"model": model, "training_file": uploaded.json()["id"]},
            )
            assert created.status_code == 201, created.text
            job_id: str = created.json()["id"]
            for _ in range(20):
                await self.advance(600)
                job = (await azure.get(f"/openai/fine_tuning/jobs/{job_id}")).json()
                if job["status"] in ("succeeded", "failed"):
                    return job_id
            raise AssertionError(f"job did not succeed: {job}")

    async def stop(self) -> None:
        await stop_process(self.process)


async def stop_process(process: asyncio.subprocess.Process, *, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL) a child process and reap it."""
    if process.returncode is None:
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


@asynccontextmanager
async def emulator_process(
    *, speed: float = 0.001, extra_accounts: Sequence[str] = ()
) -> AsyncIterator[EmulatorProcess]:
    """The emulator in its own process; simulated time stands nearly still unless the test moves it."""
    port = free_port()
    args = [sys.executable, "-m", "emulator", "--port", str(port), "--speed", str(speed)]
    for extra in extra_accounts:
        args += ["--extra-account", extra]
    process = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    emu = EmulatorProcess(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                await emu.state()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.returncode is not None:
                    raise RuntimeError("the emulator process did not start") from None
                await asyncio.sleep(0.1)
        yield emu
    finally:
        await emu.stop()


def slack_user(user_id: str, name: str) -> dict[str, str]:
    return {"id": user_id, "username": name, "name": name, "team_id": "T0TEAM0001"}


async def slash(http: aiohttp.ClientSession, bot_url: str, text: str, user: str = payloads.USER) -> int:
    fields = payloads.slash_command(text)
    fields["user_id"] = user
    body, content_type = form_body(fields)
    resp = await http.post(
        f"{bot_url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
    )
    return resp.status


async def click(
    http: aiohttp.ClientSession,
    bot_url: str,
    action_id: str,
    value: str,
    ts: str,
    user: str,
    name: str = "someone",
) -> int:
    payload = payloads.block_actions(action_id, value, message_ts=ts)
    payload["user"] = slack_user(user, name)
    body, content_type = interactive_body(payload)
    resp = await http.post(
        f"{bot_url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
    )
    return resp.status


def button(blocks: Any, label: str) -> tuple[str, str]:
    """(action_id, value) of the Block Kit button called `label`."""
    for block in blocks if isinstance(blocks, list) else json.loads(blocks):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("type") == "button" and element["text"]["text"] == label:
                return element["action_id"], element.get("value", "")
    raise AssertionError(f"no {label!r} button in {blocks}")


def text_of(blocks: Any) -> str:
    return json.dumps(blocks if isinstance(blocks, list) else json.loads(blocks), ensure_ascii=False)


async def until(check: Callable[[], Awaitable[bool]], limit: float = 20) -> None:
    """Wait until another process (bot, emulator) shows what `check` looks for; bounded."""
    async with asyncio.timeout(limit):
        while not await check():  # noqa: ASYNC110 - the state lives in another process: polling is the way
            await asyncio.sleep(0.05)


def bot_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTBOT_", "SLACK_", "Microsoft"))}
    env.update(values)
    return env


@dataclass
class BotProcess:
    """`python -m bot.cli serve` in its own process: kill -9 it, start it again on the same database."""

    url: str
    process: asyncio.subprocess.Process


async def start_bot_process(env: dict[str, str], port: int | None = None) -> BotProcess:
    port = port or free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bot = BotProcess(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(f"{bot.url}/healthz")).status_code == 200:
                    return bot
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.returncode is not None:
                await stop_process(process, kill=True)
                raise RuntimeError("the bot process did not start")
            await asyncio.sleep(0.1)


def bot_process_env(
    emu: EmulatorProcess, database_url: str, slack_api_url: str, config_file: Path, **extra: str
) -> dict[str, str]:
    """Environment of a bot process pointed at the emulator process, a database and the stand-in Slack."""
    from tests.slack.conftest import BOT_TOKEN
    from tests.slack.signing import SIGNING_SECRET

    return bot_env(
        FTBOT_DATABASE_URL=database_url,
        FTBOT_AZURE_OPENAI_ENDPOINT=emu.url,
        FTBOT_AZURE_OPENAI_API_KEY="test-key-not-secret",
        FTBOT_ARM_ENDPOINT=emu.arm_url,
        FTBOT_SUBSCRIPTION_ID=emu.subscription_id,
        FTBOT_RESOURCE_GROUP=emu.resource_group,
        FTBOT_ACCOUNT_NAME=emu.account_name,
        FTBOT_AZURE_STATIC_TOKEN="emulator-token-not-secret",
        FTBOT_DEPLOY_POLL_INTERVAL="0.2",
        FTBOT_CONFIG_FILE=str(config_file),
        FTBOT_LOG_LEVEL="WARNING",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        FTBOT_SLACK_API_URL=slack_api_url,
        **extra,
    )


def roles_file(folder: Path, approvers: Sequence[str]) -> Path:
    path = folder / "ftbot.toml"
    listed = ", ".join(f'"{a}"' for a in approvers)
    path.write_text(f"[roles]\napprovers = [{listed}]\n", encoding="utf-8")
    return path


async def approval_card_of(
    slack_api: Any, store_url_reader: Callable[[str], Awaitable[str | None]], before: int
) -> tuple[str, str, str]:
    """(action_id, value, ts) of the newest approval card the stand-in Slack received."""
    calls = await slack_api.wait_for("chat.postMessage", before + 1)
    action_id, value = button(calls[-1].args["blocks"], "Approve")
    ts = None
    async with asyncio.timeout(10):
        while ts is None:
            ts = await store_url_reader(json.loads(value)["id"])
            await asyncio.sleep(0.02)
    return action_id, value, ts
