"""Teams messages answered: ftbot's `/api/messages` against a minimal botbuilder bot, in the same run.

Five processes: a stand-in Bot Connector that accepts every reply (`{"id": ...}`, as the real one answers);
ftbot (`bot.app.start_bot` on its embedded default: the emulator in-process, Teams served unauthenticated on
loopback, a SQLite file) with one fine-tuning job created in the emulator; a minimal botbuilder bot (the same
`CloudAdapter` class, `ConfigurationBotFrameworkAuthentication` without credentials, an `ActivityHandler`
that echoes the text: the SDK's own sample, no ftbot); the same bot with ftbot's connector-client cache; and
a client. Every bot replies through the stand-in connector within the turn, so the time from POSTing an
activity to its HTTP response includes posting the reply. The client sends the same Teams personal-chat activity (recorded payload, a new id each time) one at
a time (`--concurrency` for more), to each bot in turn, round after round:

    ftbot `help`            the command list card (no Azure call)
    ftbot `status <job>`    the job card (calls to the emulator's data plane: the job, and its events while it runs)
    minimal bot             `help`, echoed as text
    minimal, cached clients the same bot with ftbot's connector-client cache (adapters/teams_connectors.py):
                            the SDK's floor without its per-turn client construction, for information

    .venv/bin/python bench/teams.py [--n 300] [--rounds 3] [--concurrency 1] [--ftbot-source /work/main]

Prints p50/p99 and messages/s per round and pooled over the rounds (after a warm-up of 20 per bot), the
p50 ratio of each ftbot command to the minimal bot (and to the one with cached clients), and whether the goal (ftbot's p50 <= 1.0x the minimal
bot's) is met. Exit code 1 when a reply is missing at the connector or a request was not answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import itertools
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
# The ftbot process may run another checkout (`--ftbot-source`, for a before/after in one run).
SOURCE_ENV = "FTBOT_BENCH_SOURCE"
sys.path.insert(0, os.environ.get(SOURCE_ENV) or str(ROOT))

PAYLOAD = ROOT / "tests" / "teams" / "payloads" / "message_personal.json"
API = {"api-version": "2025-04-01-preview"}
WARMUP = 20
GOAL_RATIO = 1.0


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- the processes -------------------------------------------------------------------------------------------------


async def serve_forever(app: web.Application, ready: str) -> None:
    """Listen on an ephemeral loopback port, print `READY <url> <extra>`, serve until stdin closes."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"READY http://127.0.0.1:{runner.addresses[0][1]} {ready}".strip(), flush=True)
    await until_stdin_closes()
    await runner.cleanup()


async def until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def connector_main() -> None:
    """The stand-in Bot Connector: accepts sends, replies and updates; `GET /count` says how many."""
    received = itertools.count(1)
    count = {"n": 0}

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        count["n"] += 1
        return web.json_response({"id": f"act-{next(received)}"})

    async def how_many(_: web.Request) -> web.Response:
        return web.json_response(count)

    app = web.Application()
    app.router.add_post("/v3/conversations/{conversation}/activities", accept)
    app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", accept)
    app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", accept)
    app.router.add_get("/count", how_many)
    asyncio.run(serve_forever(app, ""))


def minimal_main(tuned: bool = False) -> None:
    """The minimal botbuilder bot: the SDK's echo sample on the same adapter class; `tuned`: with ftbot's
    connector-client cache (adapters/teams_connectors.py), the floor ftbot's own work is added to."""
    from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

    class Config:
        APP_ID = ""
        APP_PASSWORD = ""
        APP_TENANTID = ""
        APP_TYPE = "MultiTenant"

    class EchoBot(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))

    authentication: Any = ConfigurationBotFrameworkAuthentication(Config())
    if tuned:
        from adapters.teams_connectors import CachedConnectors

        authentication = CachedConnectors(authentication)
    adapter = CloudAdapter(authentication)
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        response = await adapter.process(request, bot)
        return response or web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    asyncio.run(serve_forever(app, ""))


def ftbot_main() -> None:
    """ftbot on its embedded default (Teams unauthenticated on loopback), with one job in the emulator."""
    import httpx

    from bot.app import start_bot
    from bot.config import load_settings
    from emulator import datasets

    logging.basicConfig(level=logging.ERROR)
    import bot

    print(f"ftbot from {Path(bot.__file__).parent.parent}", file=sys.stderr)

    async def run(tmp: str) -> None:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'ftbot.db'}", emulator_speed=1.0
        )
        bot = await start_bot(settings, host="127.0.0.1", port=0)
        try:
            assert "teams" in bot.adapters, "Teams is not served on the embedded default"
            async with httpx.AsyncClient(
                base_url=bot.emulator.url, headers={"api-key": "k"}, params=API
            ) as azure:
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
            print(f"READY {bot.url} {created.json()['id']}", flush=True)
            await until_stdin_closes()
        finally:
            await bot.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(tmp))


async def send_all(url: str, bodies: Sequence[dict[str, Any]], concurrency: int) -> tuple[list[float], float]:
    """POST the activities, `concurrency` at a time over kept-alive connections; each one's seconds to its
    HTTP response, and the wall time of the whole batch."""
    queue = list(reversed(bodies))
    timings: list[float] = []

    async def worker(http: aiohttp.ClientSession) -> None:
        while queue:
            body = queue.pop()
            began = time.perf_counter()
            async with http.post(url, json=body) as resp:
                await resp.read()
                if not 200 <= resp.status < 300:
                    raise RuntimeError(f"{url} answered HTTP {resp.status}")
            timings.append(time.perf_counter() - began)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        began = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return timings, time.perf_counter() - began


def client_main(url: str, concurrency: int) -> None:
    bodies = json.loads(sys.stdin.read())
    timings, wall = asyncio.run(send_all(url, bodies, concurrency))
    print(json.dumps({"timings": timings, "wall": wall}))


# -- the driver ----------------------------------------------------------------------------------------------------


class Child:
    """One of the bench's processes, started with a role; `url` and `extra` from its READY line."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, extra: str) -> None:
        self.proc = proc
        self.url = url
        self.extra = extra

    @classmethod
    async def start(cls, role: str, source: Path = ROOT) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role",
            role,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, SOURCE_ENV: str(source)},
        )
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"the {role} process exited before it was ready")
                if line.startswith("READY "):
                    break
        _, url, *extra = line.split()
        return cls(proc, url, " ".join(extra))

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                await self.proc.wait()
                return
        self.proc.kill()
        await self.proc.wait()


_ids = itertools.count(1)


def activities(text: str, service_url: str, n: int) -> list[dict[str, Any]]:
    template = json.loads(PAYLOAD.read_text(encoding="utf-8"))
    out = []
    for _ in range(n):
        activity = copy.deepcopy(template)
        activity.update(id=f"bench-{next(_ids)}", text=text, serviceUrl=service_url)
        out.append(activity)
    return out


async def from_client(
    url: str, bodies: Sequence[dict[str, Any]], concurrency: int
) -> tuple[list[float], float]:
    """Send from a client process of its own: the client's work shares no loop or core time slice with a bot."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role",
        "client",
        "--url",
        url,
        "--concurrency",
        str(concurrency),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(json.dumps(bodies).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"the client failed with exit code {proc.returncode}")
    result = json.loads(out)
    return result["timings"], result["wall"]


async def replies(connector: Child) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{connector.url}/count") as resp:
        return int((await resp.json())["n"])


def report(name: str, samples: Sequence[float], wall: float) -> float:
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    print(f"  {name:<26} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   {len(samples) / wall:6.0f} msg/s")
    return p50


async def main(n: int, rounds: int, concurrency: int, source: Path) -> int:
    connector = await Child.start("connector")
    ftbot = await Child.start("ftbot", source)
    minimal = await Child.start("minimal")
    tuned = await Child.start("tuned")
    try:
        service_url = f"{connector.url}/"
        job = ftbot.extra
        cases = {
            "minimal botbuilder bot": (f"{minimal.url}/api/messages", "help"),
            "minimal, cached clients": (f"{tuned.url}/api/messages", "help"),
            "ftbot `help`": (f"{ftbot.url}/api/messages", "help"),
            "ftbot `status <job>`": (f"{ftbot.url}/api/messages", f"status {job}"),
        }
        expected = 0
        for url, text in cases.values():  # warm-up: first SQLite writes, first Azure call, imports
            await from_client(url, activities(text, service_url, WARMUP), concurrency)
            expected += WARMUP
        pooled: dict[str, tuple[list[float], float]] = {name: ([], 0.0) for name in cases}
        print(f"{n} Teams messages per bot and round, {concurrency} at a time, {rounds} round(s); job {job}")
        for round_no in range(1, rounds + 1):
            print(f" round {round_no}")
            # Alternate the order so neither bot always follows the other.
            order = list(cases.items()) if round_no % 2 else list(reversed(cases.items()))
            for name, (url, text) in order:
                timings, wall = await from_client(url, activities(text, service_url, n), concurrency)
                report(name, timings, wall)
                samples, total = pooled[name]
                pooled[name] = (samples + timings, total + wall)
                expected += n
        print(" all rounds pooled" if rounds > 1 else " result")
        p50s = {name: report(name, samples, wall) for name, (samples, wall) in pooled.items()}
        baseline = p50s["minimal botbuilder bot"]
        met = True
        for name in ("ftbot `help`", "ftbot `status <job>`"):
            ratio = p50s[name] / baseline if baseline > 0 else float("inf")
            met = met and ratio <= GOAL_RATIO
            tuned_ratio = p50s[name] / p50s["minimal, cached clients"]
            print(
                f"  p50 ratio {name} / minimal bot: {ratio:.2f}x   (/ minimal with cached clients: {tuned_ratio:.2f}x)"
            )
        print(f"  goal (p50 <= {GOAL_RATIO:g}x the minimal botbuilder bot): {'met' if met else 'NOT met'}")
        got = await replies(connector)
        print(f"  replies at the connector: {got}/{expected}")
        return 0 if got == expected else 1
    finally:
        await asyncio.gather(connector.stop(), ftbot.stop(), minimal.stop(), tuned.stop())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="messages per bot and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at a time")
    parser.add_argument(
        "--ftbot-source",
        type=Path,
        default=ROOT,
        help="run ftbot from this checkout (e.g. main, for a before/after)",
    )
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    roles = {
        "connector": connector_main,
        "minimal": minimal_main,
        "tuned": lambda: minimal_main(tuned=True),
        "ftbot": ftbot_main,
    }
    if args.role == "client":
        client_main(args.url, args.concurrency)
    elif args.role:
        roles[args.role]()
    else:
        sys.exit(asyncio.run(main(args.n, args.rounds, args.concurrency, args.ftbot_source.resolve())))
