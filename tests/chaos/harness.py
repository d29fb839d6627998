"""The bot and the Azure emulator as separate processes, so a test can kill the bot (`kill -9`, SIGTERM) at a
chosen moment and start it again on the same SQLite file. Slack's side is the stand-in Web API in the test's
own process; the bot talks to all three over HTTP, as in production."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import IO, Any

import httpx

from bot.store import Store
from tests.slack.conftest import BOT_TOKEN
from tests.slack.signing import SIGNING_SECRET

START_LIMIT = 30.0  # seconds for a process to answer (a loaded CI machine is slow to import)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTBOT_", "SLACK_", "Microsoft"))}
    env.update(extra)
    return env


def spawn(
    command: list[str], env: dict[str, str], log: Path, cwd: Path
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start `command` with its output in `log` (read by the test when something goes wrong)."""
    out = open(log, "wb")  # noqa: SIM115 - the caller closes it with the process
    return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd), out


async def wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_LIMIT
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{what} exited with {process.returncode}")
            with suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not answer within {START_LIMIT:g} s")


@asynccontextmanager
async def emulator_process(tmp_path: Path, speed: float = 10.0) -> AsyncIterator[str]:
    """`python -m emulator` on a free port; yields its URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "emulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--speed",
        str(speed),
    ]
    process, log = spawn(command, clean_env(), tmp_path / "emulator.log", tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http(f"{url}/_emulator/clock", process, "the emulator")
        yield url
    finally:
        process.kill()  # a test tool: held replies (latency faults) need not finish
        process.wait(timeout=10)
        log.close()


class BotProcess:
    """`python -m bot.cli serve` against the emulator process and the stand-in Slack API, on one SQLite file
    that survives restarts."""

    def __init__(self, tmp_path: Path, azure_url: str, slack_api_url: str, **settings: str) -> None:
        self.tmp_path = tmp_path
        self.database_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        self.azure_url = azure_url
        self.slack_api_url = slack_api_url
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.runs = 0
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        account = await self._account()
        port = free_port()
        env = clean_env(
            FTBOT_HOST="127.0.0.1",
            FTBOT_PORT=str(port),
            FTBOT_DATABASE_URL=self.database_url,
            FTBOT_AZURE_OPENAI_ENDPOINT=self.azure_url,
            FTBOT_AZURE_OPENAI_API_KEY="test-key-not-secret",
            FTBOT_ARM_ENDPOINT=self.azure_url,
            FTBOT_SUBSCRIPTION_ID=account["subscription_id"],
            FTBOT_RESOURCE_GROUP=account["resource_group"],
            FTBOT_ACCOUNT_NAME=account["name"],
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            FTBOT_SLACK_API_URL=self.slack_api_url,
            **{f"FTBOT_{k.upper()}": v for k, v in self.settings.items()},
        )
        self.runs += 1
        command = [sys.executable, "-m", "bot.cli", "serve"]
        self.process, self._log = spawn(command, env, self.tmp_path / f"bot-{self.runs}.log", self.tmp_path)
        self.url = f"http://127.0.0.1:{port}"
        await wait_http(f"{self.url}/healthz", self.process, "the bot")

    async def _account(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5) as http:
            state = (await http.get(f"{self.azure_url}/_emulator/state")).json()
        return dict(next(iter(state["accounts"].values())))

    async def kill(self, sig: int = signal.SIGKILL) -> int:
        """Send `sig` and wait for the process to end (SIGTERM: its graceful shutdown, during which it may
        still talk to the stand-ins in this event loop); its exit code."""
        assert self.process is not None
        self.process.send_signal(sig)
        deadline = time.monotonic() + 20
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"the bot did not stop within 20 s of signal {sig}")
            await asyncio.sleep(0.05)
        if self._log is not None:
            self._log.close()
        return code

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            await self.kill(signal.SIGTERM)

    def logs(self) -> str:
        return "\n".join(
            (self.tmp_path / f"bot-{n}.log").read_text(errors="replace") for n in range(1, self.runs + 1)
        )

    @asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        """The bot's own database, read while it runs (SQLite WAL lets a reader in beside the writer)."""
        store = Store.open(self.database_url)
        try:
            yield store
        finally:
            await store.close()
