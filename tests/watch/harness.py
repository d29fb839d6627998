"""End-to-end helpers for the watcher: the emulator and the bot as real processes, signed Slack commands,
jobs created straight in the emulator, and reading what reached the stand-in Slack API."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from emulator import datasets
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN
from tests.slack.fake_slack_api import Call, FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, signed_headers

ROOT = Path(__file__).resolve().parents[2]
API = {"api-version": "2025-04-01-preview"}
# Jobs in a few seconds: short non-training phases; 72 steps of 10 simulated seconds at x100 take ~7 s.
FAST = {"queue": 2.0, "setup": 10.0, "evaluation": 10.0, "file_processing": 1.0}
_LINE = re.compile(r"`(\d\d:\d\d:\d\d)` (.+)")
_ALERT = re.compile(r"(succeeded|failed|was cancelled|rejected by the safety check|safety evaluation)")


async def _read_until(stream: asyncio.StreamReader, marker: str, within: float) -> str:
    async with asyncio.timeout(within):
        while True:
            line = (await stream.readline()).decode(errors="replace")
            if not line:
                raise RuntimeError(f"process ended before printing {marker!r}")
            if marker in line:
                return line


@dataclass
class EmulatorProcess:
    url: str
    proc: asyncio.subprocess.Process

    async def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            resp = await http.request(method, f"/_emulator/{path}", json=body)
            resp.raise_for_status()
            return resp.json() if resp.content else None

    async def faults(self, **fractions: float) -> None:
        await self.admin("PUT", "faults/dataplane", fractions)

    async def clear_faults(self) -> None:
        await self.admin("DELETE", "faults")

    def account_url(self, account: str | None) -> str:
        return f"{self.url}/accounts/{account}" if account else self.url


@asynccontextmanager
async def emulator_process(**options: Any) -> AsyncIterator[EmulatorProcess]:
    """The emulator in its own process (`tests/watch/emulator_main.py`)."""
    options.setdefault("timings", FAST)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.watch.emulator_main",
        json.dumps(options),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await _read_until(proc.stdout, "URL ", 20)
        yield EmulatorProcess(line.split()[1].strip(), proc)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


@dataclass
class BotProcess:
    """`ftbot serve` in a subprocess, pointed at the emulator and the stand-in Slack API."""

    env: dict[str, str]
    log: Path
    proc: asyncio.subprocess.Process | None = None
    url: str = ""
    starts: list[str] = field(default_factory=list)
    _drainer: asyncio.Future[None] | None = None

    async def start(self) -> None:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "serve",
            "--port",
            "0",
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        line = await _read_until(self.proc.stderr, "ftbot listening on ", 30)
        self.url = line.split("ftbot listening on ", 1)[1].split()[0]
        self.starts.append(self.url)
        # Keep draining its log so the pipe never blocks the bot.
        self._drainer = asyncio.ensure_future(self._drain(self.proc.stderr, out))

    @staticmethod
    async def _drain(stream: asyncio.StreamReader, out: Any) -> None:
        try:
            while line := await stream.readline():
                out.write(line)
                out.flush()
        finally:
            out.close()

    async def kill(self) -> None:
        """kill -9: no shutdown, no lease released, nothing flushed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        if self._drainer is not None:
            await self._drainer

    async def exited(self, within: float) -> int:
        """Wait for the process to end by itself (a fault hook's `os._exit`); its exit code."""
        assert self.proc is not None
        async with asyncio.timeout(within):
            code = await self.proc.wait()
        if self._drainer is not None:
            await self._drainer
        return code

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._drainer is not None:
            await self._drainer


def bot_env(emu: EmulatorProcess, slack: FakeSlackApi, database_url: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTBOT_", "SLACK_", "Microsoft"))}
    env.update(
        {
            "FTBOT_AZURE_OPENAI_ENDPOINT": emu.url,
            "FTBOT_AZURE_OPENAI_API_KEY": "test-key-not-secret",
            "FTBOT_DATABASE_URL": database_url,
            "FTBOT_HOST": "127.0.0.1",
            "FTBOT_WATCH_INTERVAL": "1",
            "FTBOT_ALLOW_LOCAL_FILES": "1",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "FTBOT_SLACK_API_URL": slack.api_url,
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(more)
    return env


@asynccontextmanager
async def bot_process(env: dict[str, str], log: Path) -> AsyncIterator[BotProcess]:
    bot = BotProcess(env, log)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def slash(bot_url: str, text: str, channel: str = payloads.CHANNEL) -> None:
    body, content_type = form_body(payloads.slash_command(text, channel=channel))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot_url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        assert resp.status == 200, await resp.text()


# -- jobs straight in the emulator -----------------------------------------------------------------------------


async def create_jobs(
    base_url: str, count: int, dataset: str = "good_training", model: str = "gpt-4o-mini-2024-07-18"
) -> list[str]:
    """Upload once, wait until processed, create `count` jobs (as a script or the portal would)."""
    async with httpx.AsyncClient(
        base_url=base_url, headers={"api-key": "k"}, params=API, timeout=20
    ) as azure:
        content = datasets.path(dataset).read_bytes()
        uploaded = await azure.post(
            "/openai/files", data={"purpose": "fine-tune"}, files={"file": (f"{dataset}.jsonl", content)}
        )
        uploaded.raise_for_status()
        file_id = uploaded.json()["id"]
        async with asyncio.timeout(20):
            while (await azure.get(f"/openai/files/{file_id}")).json().get("status") != "processed":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        ids = []
        for _ in range(count):
            created = await azure.post(
                "/openai/fine_tuning/jobs", json={"model": model, "training_file": file_id}
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
        return ids


def create_job_with_sdk(base_url: str, dataset: str = "good_training") -> str:
    """A job started by someone's script with the openai SDK (blocking: run it in a thread)."""
    import time

    from openai import AzureOpenAI

    client = AzureOpenAI(azure_endpoint=base_url, api_key="sdk-user-key", api_version=API["api-version"])
    with datasets.path(dataset).open("rb") as fh:
        uploaded = client.files.create(file=fh, purpose="fine-tune")
    deadline = time.monotonic() + 20
    while client.files.retrieve(uploaded.id).status != "processed":
        if time.monotonic() > deadline:
            raise TimeoutError("file not processed")
        time.sleep(0.05)
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id)
    client.close()
    return job.id


# -- what reached Slack ----------------------------------------------------------------------------------------


def header(call: Call) -> str:
    blocks = call.args.get("blocks") or []
    return str(blocks[0]["text"]["text"]) if blocks and blocks[0].get("type") == "header" else ""


def is_job_card(call: Call) -> bool:
    return "ft1:job.refresh" in json.dumps(call.args.get("blocks") or [])


def alerts(slack: FakeSlackApi) -> list[Call]:
    """Top-level posts that are terminal alerts (job cards, with their Refresh button, are not)."""
    return [
        c
        for c in slack.posted()
        if not c.args.get("thread_ts") and not is_job_card(c) and _ALERT.search(header(c))
    ]


def alerts_by_job(slack: FakeSlackApi) -> Counter[str]:
    found: Counter[str] = Counter()
    for c in alerts(slack):
        match = re.search(r"ftjob-[0-9a-f]+", header(c))
        if match:
            found[match.group(0)] += 1
    return found


def event_lines(slack: FakeSlackApi) -> list[tuple[str, str]]:
    """(thread, "hh:mm:ss message") of every event line posted into a thread."""
    lines = []
    for c in slack.posted():
        thread = c.args.get("thread_ts")
        if not thread:
            continue
        for block in c.args.get("blocks") or []:
            text = (block.get("text") or {}).get("text", "") if block.get("type") == "section" else ""
            for m in _LINE.finditer(text):
                lines.append((str(thread), f"{m.group(1)} {m.group(2)}"))
    return lines


def job_card_ts(slack: FakeSlackApi, job_id: str) -> str:
    """The ts of the job card posted for `job_id` (by `start` or `watch`)."""
    for c in slack.posted():
        if is_job_card(c) and job_id in header(c) and not c.args.get("thread_ts"):
            return str(c.result.get("ts") or "")
    return ""


async def wait_until(check: Callable[[], bool], within: float, what: str) -> None:
    try:
        async with asyncio.timeout(within):
            while not check():  # noqa: ASYNC110 (the condition lives in another process's effects)
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out after {within:.0f} s waiting for {what}") from None
