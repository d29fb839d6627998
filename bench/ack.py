"""Time-to-ack of `/ft status <id>` slash commands while Azure is slow (issue 4's benchmark).

The whole bot runs in this process (`bot.app.start_bot`: real Bolt app, real handlers, SQLite, the embedded
emulator); the emulator's data plane answers every request after a fixed delay (its `latency_ms` fault, set
through the admin API), and a stand-in Slack Web API records the cards. N concurrent, correctly signed slash
commands are sent at once; the time from sending each to receiving its HTTP response is its time-to-ack.
The baseline is a bare aiohttp handler (`return web.Response()`) on its own port in the same process, hit the
same way with the same bodies. Finally every command must have got its job card in the stand-in Slack API.

    .venv/bin/python bench/ack.py [--n 100] [--latency 2.0] [--rounds 3]

Prints p50/p99 for both per round, then pooled over all rounds (the first burst after start-up included: it
also opens every connection to Azure and runs every code path for the first time), the p99 ratio, and whether
the goal (p99 <= 100 ms and <= 3x bare) is met. Exit code 1 when a command did not get its card.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import RunningBot, start_bot
from bot.config import load_settings
from emulator import datasets
from tests.slack import payloads
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, signed_headers

BOT_TOKEN = "xoxb-bench-token"
API = {"api-version": "2025-04-01-preview"}
GOAL_P99_MS = 100.0
GOAL_RATIO = 3.0


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def fire(url: str, bodies: Sequence[str], content_type: str) -> list[float]:
    """POST every body at once (fresh connections, no pool limit); return each request's seconds to response."""

    async def one(http: aiohttp.ClientSession, body: str, start: asyncio.Event) -> float:
        headers = signed_headers(body, content_type)
        await start.wait()
        began = time.perf_counter()
        async with http.post(url, data=body.encode(), headers=headers) as resp:
            await resp.read()
            elapsed = time.perf_counter() - began
            if resp.status != 200:
                raise RuntimeError(f"{url} answered HTTP {resp.status}")
        return elapsed

    start = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as http:
        tasks = [asyncio.create_task(one(http, body, start)) for body in bodies]
        await asyncio.sleep(0)
        start.set()
        return list(await asyncio.gather(*tasks))


async def fire_from_client_process(url: str, body: str, content_type: str, n: int) -> list[float]:
    """Run `fire` in a separate process, as Slack is: the client's own work does not share the bot's loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        url,
        "--n",
        str(n),
        "--content-type",
        content_type,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(body.encode())
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed with exit code {proc.returncode}")
    timings: list[float] = json.loads(out)
    return timings


async def bare_server() -> tuple[web.AppRunner, str]:
    async def bare(_: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_post("/slack/events", bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"


async def running_job(bot: RunningBot) -> str:
    """A fine-tuning job in the emulator, created before the latency fault is switched on."""
    async with httpx.AsyncClient(base_url=bot.emulator.url, headers={"api-key": "k"}, params=API) as azure:
        content = datasets.path("good_training").read_bytes()
        uploaded = await azure.post(
            "/openai/files", data={"purpose": "fine-tune"}, files={"file": ("train.jsonl", content)}
        )
        uploaded.raise_for_status()
        bot.emulator.advance(60)
        created = await azure.post(
            "/openai/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": uploaded.json()["id"]},
        )
        created.raise_for_status()
        bot.emulator.advance(200)
        job_id: str = created.json()["id"]
        return job_id


async def set_latency(bot: RunningBot, seconds: float) -> None:
    async with httpx.AsyncClient(base_url=bot.emulator.url) as admin:
        resp = await admin.put("/_emulator/faults/dataplane", json={"latency_ms": seconds * 1000})
        resp.raise_for_status()


def cards_for(slack: FakeSlackApi, job_id: str) -> int:
    return sum(1 for c in slack.called("chat.postMessage") if job_id in str(c.args.get("blocks")))


def report(name: str, samples: Sequence[float]) -> tuple[float, float]:
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    print(f"  {name:<22} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {max(samples) * 1000:7.1f} ms")
    return p50, p99


async def main(n: int, latency: float, rounds: int) -> int:
    logging.basicConfig(level=logging.WARNING)
    async with FakeSlackApi(token=BOT_TOKEN) as slack:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'ftbot.db'}",
                slack_bot_token=BOT_TOKEN,
                slack_signing_secret=SIGNING_SECRET,
                slack_api_url=slack.api_url,
                emulator_speed=1.0,
            )
            bot = await start_bot(settings, host="127.0.0.1", port=0)
            bare_runner, bare_url = await bare_server()
            try:
                job_id = await running_job(bot)
                await set_latency(bot, latency)
                bot_url = f"{bot.url}/slack/events"
                body, content_type = form_body(payloads.slash_command(f"status {job_id}"))
                # Warm-up: Bolt's one-time auth.test, the first SQLite connection, the first Azure call.
                await fire_from_client_process(bot_url, body, content_type, 1)
                await fire_from_client_process(bare_url, body, content_type, 1)
                await slack.wait_for("chat.postMessage", 1)

                print(f"{n} concurrent signed `/ft status {job_id}`, Azure answering in {latency:g} s")
                slack_all: list[float] = []
                bare_all: list[float] = []
                for round_no in range(1, rounds + 1):
                    bare = await fire_from_client_process(bare_url, body, content_type, n)
                    acks = await fire_from_client_process(bot_url, body, content_type, n)
                    print(f" round {round_no}")
                    report("bare aiohttp handler", bare)
                    report("ftbot /slack/events", acks)
                    bare_all += bare
                    slack_all += acks
                    expected = 1 + round_no * n
                    with contextlib.suppress(TimeoutError):  # counted below
                        await slack.wait_for("chat.postMessage", expected)
                    got = cards_for(slack, job_id)
                    print(f"  job cards posted: {got}/{expected}")
                    if got != expected:
                        return 1
                print(" all rounds pooled" if rounds > 1 else " result")
                _, bare_p99 = report("bare aiohttp handler", bare_all)
                _, slack_p99 = report("ftbot /slack/events", slack_all)
                ratio = slack_p99 / bare_p99 if bare_p99 > 0 else float("inf")
                met = slack_p99 <= GOAL_P99_MS and ratio <= GOAL_RATIO
                print(f"  p99 ratio ftbot/bare: {ratio:.2f}x")
                print(
                    f"  goal (p99 <= {GOAL_P99_MS:g} ms and <= {GOAL_RATIO:g}x bare): {'met' if met else 'NOT met'}"
                )
                return 0
            finally:
                await bare_runner.cleanup()
                await bot.close()


def client_main(url: str, n: int, content_type: str) -> int:
    body = sys.stdin.read()
    print(json.dumps(asyncio.run(fire(url, [body] * n, content_type))))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="concurrent slash commands per round")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds the Azure side takes to answer")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of N commands")
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)  # the load-client process
    parser.add_argument("--content-type", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        sys.exit(client_main(args.client, args.n, args.content_type))
    sys.exit(asyncio.run(main(args.n, args.latency, args.rounds)))
