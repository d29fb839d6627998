"""Time to acknowledge Slack slash commands: ftbot against a bare aiohttp handler and a tuned minimal Bolt app,
each server in its own process, driven by a load client in its own process (issue 17's benchmark).

Processes: the Azure emulator (`python -m emulator`, every data-plane answer delayed by `--latency`), a
stand-in Slack Web API (counts the cards it is sent), the bot (`bot.app.start_bot` with Slack configured, real
handlers, SQLite), the bare baseline (`return web.Response()`), the tuned minimal Bolt baseline (slack-bolt
`AsyncApp`, `process_before_response=True`, one `/ft` listener that only acks, the same aiohttp glue as the
bot, start-up heap frozen out of the GC), and a load client. Every request is a correctly signed
`/ft status <running job>` with its own `trigger_id` (so its own signature: no replay filtering flatters
ftbot), sent over keep-alive connections.

    .venv/bin/python bench/ack.py [--seconds 5] [--burst 30] [--latency 0.5]

1. Burst: the fresh bot is driven closed-loop at saturation (100 connections) for `--burst` seconds; its RSS
   before, right after and once its work drained, its garbage collections (measured with `gc.callbacks`: how
   many of each generation, the longest pause of each), how many commands it took, finished (card posted)
   during the burst and answered "busy", the bookkeeping writes it gave up on (over their time bound), the
   most commands in flight and the most writes queued in its store, and the CPU seconds every process used.
2. Scenarios, each target in turn for `--seconds`: open-loop at 20/s and 200/s (latency counted from when
   each request was due, so a slow server cannot hide its queue), and closed-loop with 1, 20 and 100
   connections. p50 and p99 per target, ftbot's ratios to both baselines, throughput, busy answers.
3. Every command ftbot took (not answered busy) must have got its card in the stand-in Slack API (exit 1
   otherwise); the goals are printed: at 100 connections p99 <= 3x the minimal Bolt app, RSS growth < 30 MB
   over the burst, queue bounded, no GC pause over 50 ms. A pause is printed in wall time and in the thread's
   CPU time: the goal is checked on the CPU time (the collector's own work); the wall time also holds
   whatever else the machine ran meanwhile (the collector holds the GIL but the OS may still preempt it).

ACK_BENCH_TRACE=1 adds, for the bot: the time inside its handler; wall time and event-loop turns of each step
of a command (under a flood one turn carries a hundred answers, so the turns a step waits cost the most);
the slowest collections and how many objects they walked. ACK_BENCH_PROFILE=FILE writes a cProfile of the
bot process in CPU time. ACK_BENCH_GC_THRESHOLD=a,b,c sets other collector thresholds in the bot (experiments).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.deploy.support import API, emulator_process  # noqa: E402
from tests.slack import payloads  # noqa: E402
from tests.slack.signing import SIGNING_SECRET, signed_headers  # noqa: E402

BOT_TOKEN = "xoxb-bench-token"
CONTENT_TYPE = "application/x-www-form-urlencoded"
GOAL_BOLT_RATIO = 3.0
GOAL_RSS_MB = 30.0
GOAL_GC_MS = 50.0
SCENARIOS = (("open", 20), ("open", 200), ("closed", 1), ("closed", 20), ("closed", 100))


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (nan for no samples)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- what runs inside each server process ------------------------------------------------------------------


class GcPauses:
    """The garbage collections since `reset`, timed with `gc.callbacks`: the longest pause of each generation
    in wall time and in the thread's CPU time (the collector's own work), and how many there were."""

    def __init__(self) -> None:
        self._began = self._began_cpu = 0.0
        self._walked = 0
        self.trace = bool(os.environ.get("ACK_BENCH_TRACE"))  # also the slowest pauses, with what they walked
        self.reset()
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.max_ms = 0.0
        self.max_cpu_ms = 0.0
        self.max_gen = -1
        self.over_50 = 0
        self.collections = [0, 0, 0]
        self.cpu_ms = 0.0  # all the collections' CPU time
        self.by_gen = [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]  # per generation: longest wall ms, longest CPU ms
        self.slowest: list[
            tuple[float, float, int, int, int]
        ] = []  # wall, CPU, generation, walked, collected

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        generation = info.get("generation", 0)
        if phase == "start":
            if self.trace:  # counted before the pause's timing starts
                self._walked = sum(len(gc.get_objects(g)) for g in range(generation + 1))
            self._began, self._began_cpu = time.perf_counter(), time.thread_time()
            return
        took = (time.perf_counter() - self._began) * 1000
        took_cpu = (time.thread_time() - self._began_cpu) * 1000
        self.max_cpu_ms = max(self.max_cpu_ms, took_cpu)
        self.cpu_ms += took_cpu
        longest = self.by_gen[generation]
        longest[0], longest[1] = max(longest[0], took), max(longest[1], took_cpu)
        self.collections[generation] += 1
        if took > GOAL_GC_MS:
            self.over_50 += 1
        if took > self.max_ms:
            self.max_ms, self.max_gen = took, generation
        if self.trace:
            self.slowest.append((took, took_cpu, generation, self._walked, info.get("collected", 0)))
            self.slowest = sorted(self.slowest, reverse=True)[:5]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        resident = int(f.read().split()[1])
    return resident * os.sysconf("SC_PAGE_SIZE") / 2**20


async def serve_control(url: str, stats: Any, reset: Any) -> None:
    """Tell the parent where we listen, then answer `stats` / `reset` lines on stdin until it closes."""
    print(json.dumps({"url": url}), flush=True)
    loop = asyncio.get_running_loop()
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        if line == "reset":
            reset()
        print(json.dumps(stats()), flush=True)


async def role_bare() -> None:
    async def bare(_: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_post("/slack/events", bare)
    await serve_app(app, {})


async def role_bolt(slack_api: str) -> None:
    """The tuned minimal Bolt app: only what any Bolt app needs to ack a slash command, done the fast way."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    bolt = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=slack_api),
        signing_secret=SIGNING_SECRET,
        process_before_response=True,
        logger=logging.getLogger("bolt"),
    )

    @bolt.command("/ft")
    async def ack_only(ack: Any) -> None:
        await ack()

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    await serve_app(app, {})


async def serve_app(app: web.Application, extra: dict[str, Any]) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    gc.collect()
    gc.freeze()
    pauses = GcPauses()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    await serve_control(url, lambda: {"rss_mb": rss_mb(), "gc_max_ms": pauses.max_ms}, pauses.reset)
    await runner.cleanup()


async def role_bot(config: dict[str, Any]) -> None:
    from bot.app import start_bot
    from bot.config import Settings

    logging.basicConfig(level=logging.ERROR)
    profile = None
    if os.environ.get("ACK_BENCH_PROFILE"):  # a cProfile of the bot process, written when it stops
        import cProfile

        # In CPU time: what the bot spends, not what it waits for (Azure, the database's thread, the OS).
        profile = cProfile.Profile(time.process_time)
        profile.enable()
    handled: list[float] = []
    if os.environ.get("ACK_BENCH_TRACE"):
        from adapters.slack import SlackAdapter

        original = SlackAdapter.handle

        async def timed(self: Any, request: web.Request) -> web.Response:
            began = time.perf_counter()
            try:
                return await original(self, request)
            finally:
                handled.append(time.perf_counter() - began)

        SlackAdapter.handle = timed  # type: ignore[method-assign]
    phases = trace_phases() if os.environ.get("ACK_BENCH_TRACE") else None
    given_up = count_bookkeeping_given_up()
    finished = count_finished()
    bot = await start_bot(Settings(**config))
    if os.environ.get("ACK_BENCH_GC_THRESHOLD"):  # an experiment: other thresholds for the bot's collector
        await bot.warming
        gc.set_threshold(*(int(n) for n in os.environ["ACK_BENCH_GC_THRESHOLD"].split(",")))
    slack = bot.adapters["slack"]
    pauses = GcPauses()

    def stats() -> dict[str, Any]:
        inflight, batch = slack._inflight, bot.store.batch
        return {
            "rss_mb": rss_mb(),
            "finished": finished[0],
            "bookkeeping_given_up": given_up[0],
            "bookkeeping_slow": given_up[1],
            "gc_max_ms": pauses.max_ms,
            "gc_max_gen": pauses.max_gen,
            "gc_max_cpu_ms": pauses.max_cpu_ms,
            "gc_over_50": pauses.over_50,
            "gc_collections": pauses.collections,
            "gc_by_gen": pauses.by_gen,
            "gc_cpu_ms": pauses.cpu_ms,
            "gc_slowest": pauses.slowest,
            "gc_frozen": frozen[0],
            "gc_old_now": [len(gc.get_objects(g)) for g in range(3)] if pauses.trace else None,
            "tasks": len(inflight.tasks),
            "max_tasks": inflight.max_tasks,
            "limit": inflight.limit,
            "refused": inflight.refused,
            "backlog": batch.backlog,
            "max_backlog": batch.max_backlog,
            "batch_limit": batch.limit,
            "commits": batch.commits,
            "written": batch.written,
            "handle_p50_ms": percentile(handled, 50) * 1000,
            "handle_p99_ms": percentile(handled, 99) * 1000,
            **({"phases": phases.summary()} if phases is not None else {}),
        }

    frozen = [gc.get_freeze_count()]  # walks the whole frozen heap (~15 ms): counted at resets only

    def reset() -> None:
        frozen[0] = gc.get_freeze_count()
        handled.clear()
        if phases is not None:
            phases.reset()
        pauses.reset()
        slack._inflight.max_tasks = len(slack._inflight.tasks)
        bot.store.batch.max_backlog = bot.store.batch.backlog

    try:
        await serve_control(f"{bot.url}/slack/events", stats, reset)
    finally:
        await bot.close()
        if profile is not None:
            profile.disable()
            profile.dump_stats(os.environ["ACK_BENCH_PROFILE"])


class Phases:
    """Wall time and event-loop turns spent in each traced step of a command (ACK_BENCH_TRACE=1).

    Under a flood every loop turn carries the answers to a hundred connections, so a step that waits on
    something outside the loop (a socket, a thread) costs whole turns: the turns a command needs bound how
    many commands finish per second."""

    def __init__(self) -> None:
        self.turns = 0
        self.steps: dict[str, list[tuple[float, int]]] = {}
        self.turn_ms: list[float] = []
        self._turn_began = 0.0

    def count_turns(self, loop: asyncio.AbstractEventLoop) -> None:
        run_once = loop._run_once  # type: ignore[attr-defined]

        def counted() -> None:
            self.turns += 1
            began = time.perf_counter()
            run_once()
            self.turn_ms.append((time.perf_counter() - began) * 1000)

        loop._run_once = counted  # type: ignore[attr-defined]

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            began, turns = time.perf_counter(), self.turns
            try:
                return await original(*args, **kwargs)
            finally:
                self.steps.setdefault(label, []).append((time.perf_counter() - began, self.turns - turns))

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.steps.clear()
        self.turn_ms.clear()

    def summary(self) -> dict[str, str]:
        out = {
            label: f"n={len(s)} wall p50 {percentile([w for w, _ in s], 50) * 1000:.0f} ms, "
            f"turns p50 {percentile([t for _, t in s], 50):.0f}"
            for label, s in self.steps.items()
        }
        busy = [t for t in self.turn_ms if t > 0.05]
        out["loop turn"] = (
            f"n={len(self.turn_ms)} p50 {percentile(busy, 50):.1f} ms, p90 {percentile(busy, 90):.1f} ms "
            f"(turns doing anything)"
        )
        return out


def count_bookkeeping_given_up() -> list[int]:
    """Counters of the bookkeeping writes (replay check, card reference, conversation) the bot gave up on
    (`bot.store.health.best_effort`: failed or over its time bound with no commit meanwhile; each also skips
    the next seconds'), and of those that were over their bound while the store kept committing (the write
    stays queued; nothing is skipped)."""

    class Counting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "carrying on without it" in message:
                count[0] += 1
            elif message.startswith("slow: "):
                count[1] += 1

    count = [0, 0]
    health = logging.getLogger("bot.store.health")
    health.setLevel(logging.INFO)
    health.propagate = False  # counted, not printed
    health.addHandler(Counting())
    return count


def count_finished() -> list[int]:
    """A counter of the slash commands the bot finished (its card sent), kept up to date in a list."""
    from adapters.slack import SlackAdapter

    count = [0]
    original = SlackAdapter._run_command

    async def counted(self: Any, *args: Any) -> None:
        await original(self, *args)
        count[0] += 1

    SlackAdapter._run_command = counted  # type: ignore[method-assign]
    return count


def trace_phases() -> Phases:
    from adapters.slack import AckFirst, SlackAdapter
    from adapters.slack_sender import SlackSender
    from bot.azure.transport import AzureTransport
    from bot.store import Store

    phases = Phases()
    phases.count_turns(asyncio.get_running_loop())
    phases.wrap(AckFirst, "then", "task: ack-first hold + command")
    phases.wrap(SlackAdapter, "_run_command", "command after the hold")
    phases.wrap(SlackAdapter, "_first_delivery", "  replay check (batched write)")
    phases.wrap(Store, "get_job", "  store.get_job (read)")
    phases.wrap(AzureTransport, "call", "  one Azure call")
    phases.wrap(SlackSender, "_post", "  chat.postMessage")
    phases.wrap(Store, "remember_message", "  remember the card (batched write)")
    return phases


async def role_slack() -> None:
    """The stand-in Slack Web API, counting calls instead of keeping them (a burst sends tens of thousands)."""
    from tests.slack.fake_slack_api import Call, FakeSlackApi

    class CountingSlackApi(FakeSlackApi):
        async def _record(self, call: Call) -> None:
            counts[call.method] = counts.get(call.method, 0) + 1

        def _post_message(self, args: Any) -> dict[str, Any]:
            answer = super()._post_message(args)
            self.channels.clear()  # no history kept: nothing here reads it
            return answer

    counts: dict[str, int] = {}
    async with CountingSlackApi(token=BOT_TOKEN) as slack:
        await serve_control(slack.api_url, lambda: counts, counts.clear)


# -- the load client ----------------------------------------------------------------------------------------


async def role_client(url: str, mode: str, level: int, seconds: float, fields: dict[str, str]) -> None:
    """Open-loop (`level` requests per second, each timed from when it was due) or closed-loop (`level`
    connections, each sending its next request when the last is answered); prints the results as JSON."""
    latencies: list[float] = []
    outcome = {"busy": 0, "errors": 0}
    serial = iter(range(10**9))

    def signed() -> tuple[bytes, dict[str, str]]:
        body = urlencode({**fields, "trigger_id": f"13345224609.738474920.{next(serial)}"})
        return body.encode(), signed_headers(body, CONTENT_TYPE)

    async def one(http: aiohttp.ClientSession, due: float) -> None:
        data, headers = signed()
        try:
            async with http.post(url, data=data, headers=headers) as resp:
                text = await resp.read()
                if resp.status != 200:
                    outcome["errors"] += 1
                    return
        except aiohttp.ClientError:
            outcome["errors"] += 1
            return
        latencies.append(time.perf_counter() - due)
        if b"busy" in text:
            outcome["busy"] += 1

    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=0 if mode == "open" else level)
    async with aiohttp.ClientSession(connector=connector) as http:
        if mode == "open":
            tasks = []
            for i in range(int(level * seconds)):
                due = began + i / level
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(loop.create_task(one(http, due)))
            await asyncio.gather(*tasks)
        else:
            end = began + seconds

            async def worker() -> None:
                while time.perf_counter() < end:
                    await one(http, time.perf_counter())

            await asyncio.gather(*(worker() for _ in range(level)))
    elapsed = time.perf_counter() - began
    print(json.dumps({"latencies": latencies, "elapsed": elapsed, "cpu": time.process_time(), **outcome}))


# -- the orchestrator ---------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    url: str

    async def ask(self, line: str = "stats") -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()
        answer: dict[str, Any] = json.loads(await self.process.stdout.readline())
        return answer

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            async with asyncio.timeout(15):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def launch(name: str, *args: str) -> Server:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role",
        name,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line:
        raise RuntimeError(f"the {name} process did not start")
    return Server(name, process, json.loads(line)["url"])


@dataclass
class Run:
    latencies: list[float]
    elapsed: float
    busy: int
    errors: int
    cpu: float = 0.0  # the load client's own CPU seconds

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50) * 1000

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99) * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def drive(url: str, mode: str, level: int, seconds: float, fields: dict[str, str]) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role",
        "client",
        url,
        mode,
        str(level),
        str(seconds),
        json.dumps(fields),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the load client failed with exit code {process.returncode}")
    got = json.loads(out)
    return Run(got["latencies"], got["elapsed"], got["busy"], got["errors"], got["cpu"])


async def running_job(emulator_url: str, advance: Any) -> str:
    """A fine-tuning job that is running in the emulator (created before the latency fault is on)."""
    from emulator import datasets

    async with httpx.AsyncClient(base_url=emulator_url, headers={"api-key": "k"}, params=API) as azure:
        content = datasets.path("good_training").read_bytes()
        uploaded = await azure.post(
            "/openai/files", data={"purpose": "fine-tune"}, files={"file": ("train.jsonl", content)}
        )
        uploaded.raise_for_status()
        await advance(60)
        created = await azure.post(
            "/openai/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": uploaded.json()["id"]},
        )
        created.raise_for_status()
        await advance(200)
        job_id: str = created.json()["id"]
        return job_id


async def drained(bot: Server, within: float = 60.0) -> dict[str, Any]:
    """Wait until the bot has no work in flight and no write queued; its stats then."""
    deadline = time.monotonic() + within
    while True:
        stats = await bot.ask()
        if (stats["tasks"] == 0 and stats["backlog"] == 0) or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.2)


def ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b > 0 else "   n/a"


async def main(
    seconds: float, burst: float, latency: float, scenarios: Sequence[tuple[str, int]] = SCENARIOS
) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ftbot-bench-ack-"))
    servers: list[Server] = []
    async with emulator_process() as emu:
        try:
            slack = await launch("slack")
            servers.append(slack)
            job = await running_job(emu.url, emu.advance)
            async with httpx.AsyncClient() as admin:
                set_latency = await admin.put(
                    f"{emu.url}/_emulator/faults/dataplane", json={"latency_ms": latency * 1000}
                )
                set_latency.raise_for_status()
            config = {
                "azure_openai_endpoint": emu.url,
                "azure_openai_api_key": "bench-key-not-secret",
                "arm_endpoint": emu.arm_url,
                "subscription_id": emu.subscription_id,
                "resource_group": emu.resource_group,
                "account_name": emu.account_name,
                "database_url": f"sqlite+aiosqlite:///{tmp / 'ftbot.db'}",
                "host": "127.0.0.1",
                "port": 0,
                "slack_bot_token": BOT_TOKEN,
                "slack_signing_secret": SIGNING_SECRET,
                "slack_api_url": slack.url,
                "watch_interval": 3600,
                # The user may view any job (an operator): the bench measures answers, not refusals.
                "roles": {"operators": [payloads.USER]},
            }
            bot = await launch("bot", json.dumps(config))
            bare = await launch("bare")
            bolt = await launch("bolt", slack.url)
            servers += [bot, bare, bolt]
            fields = payloads.slash_command(f"status {job}")
            fields["trigger_id"] = secrets.token_hex(4)
            targets = {"bare aiohttp": bare, "minimal Bolt": bolt, "ftbot": bot}
            taken = 0

            def took(run: Run) -> int:
                return len(run.latencies) - run.busy

            for server in targets.values():  # warm-up: first connections, Bolt's auth.test, first Azure call
                run = await drive(server.url, "closed", 2, 1.0, fields)
                taken += took(run) if server is bot else 0
            await drained(bot)
            print(
                f"`/ft status {job}`, Azure answering in {latency:g} s; signed, one trigger_id per request; "
                f"ftbot capacity {(await bot.ask())['limit']} commands in flight"
            )

            # 1. The burst, on the fresh bot.
            before = await bot.ask("reset")
            if before["gc_old_now"]:
                print(f"  before the burst, objects in the collector's generations: {before['gc_old_now']}")
            pids = {
                "ftbot": bot.process.pid,
                "emulator": emu.process.pid,
                "Slack stand-in": slack.process.pid,
            }
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            load_before = os.getloadavg()[0]
            run = await drive(bot.url, "closed", 100, burst, fields)
            taken += took(run)
            right_after = await bot.ask()
            finished_in_burst = right_after["finished"] - before["finished"]
            settled = await drained(bot)
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            cpu["load client"] = run.cpu
            growth = right_after["rss_mb"] - before["rss_mb"]
            print(f"\nburst: closed-loop, 100 connections, {burst:g} s, at ftbot")
            print(
                f"  acks {len(run.latencies)} ({run.rate:.0f}/s), taken {took(run)}, answered busy {run.busy}, "
                f"errors {run.errors}; p50 {run.p50:.1f} ms, p99 {run.p99:.1f} ms"
            )
            print(
                f"  commands finished (card posted) during the burst {finished_in_burst} "
                f"({finished_in_burst / run.elapsed:.1f}/s)"
            )
            print(
                "  bookkeeping writes given up (over their time bound, each skipping the next 10 s of them): "
                f"{settled['bookkeeping_given_up'] - before['bookkeeping_given_up']}; over the bound while the "
                f"store kept committing (still written): {settled['bookkeeping_slow'] - before['bookkeeping_slow']}"
            )
            print(
                "  CPU seconds over the burst and its drain: "
                + ", ".join(f"{name} {secs:.1f}" for name, secs in cpu.items())
                + f" (2 cores; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)"
            )
            print(
                f"  RSS {before['rss_mb']:.1f} MB before, {right_after['rss_mb']:.1f} MB right after "
                f"(+{growth:.1f} MB), {settled['rss_mb']:.1f} MB once drained"
            )
            print(
                f"  most commands in flight {right_after['max_tasks']} (limit {right_after['limit']}), "
                f"most writes queued {right_after['max_backlog']} (limit {right_after['batch_limit']}), "
                f"{right_after['written']} writes in {right_after['commits']} commits so far"
            )
            print(
                f"  longest GC pause {right_after['gc_max_ms']:.1f} ms (generation {right_after['gc_max_gen']}; "
                f"{right_after['gc_max_cpu_ms']:.1f} ms of CPU), "
                f"pauses over {GOAL_GC_MS:g} ms: {right_after['gc_over_50']}, "
                f"collections by generation {right_after['gc_collections']}"
            )
            print(
                "    longest pause by generation (wall / CPU ms): "
                + ", ".join(f"{g}: {w:.1f} / {c:.1f}" for g, (w, c) in enumerate(right_after["gc_by_gen"]))
                + f"; {right_after['gc_cpu_ms']:.0f} ms of CPU in all; "
                f"{right_after['gc_frozen']:,} objects frozen out of the collector's way"
            )
            print(
                f"    by the time the work drained: collections by generation {settled['gc_collections']}, "
                "longest pause by generation (wall / CPU ms) "
                + ", ".join(f"{g}: {w:.1f} / {c:.1f}" for g, (w, c) in enumerate(settled["gc_by_gen"]))
            )
            for wall, cpu_ms, gen, walked, collected in right_after["gc_slowest"]:
                print(
                    f"    slow collection: generation {gen}, {wall:.1f} ms wall / {cpu_ms:.1f} ms CPU, "
                    f"{walked:,} objects walked, {collected:,} collected"
                )
            for label, figure in right_after.get("phases", {}).items():
                print(f"    {label}: {figure}")
            burst_stats = (growth, right_after, run)

            # 2. The scenarios, every target in turn.
            print(
                f"\nscenarios ({seconds:g} s each; open-loop latency counted from when each request was due)"
            )
            print(
                f"  {'load':<16}{'bare p50/p99':>18}{'Bolt p50/p99':>18}{'ftbot p50/p99':>18}"
                f"{'x bare p50/p99':>18}{'x Bolt p50/p99':>18}{'ftbot/s':>9}{'busy':>7}"
            )
            at_100: tuple[float, float] = (math.nan, math.nan)
            gc_scenarios = gc_scenarios_cpu = 0.0
            for mode, level in scenarios:
                results: dict[str, Run] = {}
                for name, server in targets.items():
                    if server is bot:
                        await bot.ask("reset")
                    results[name] = await drive(server.url, mode, level, seconds, fields)
                    if server is bot:
                        taken += took(results[name])
                        settled = await drained(bot)
                        gc_scenarios = max(gc_scenarios, settled["gc_max_ms"])
                        gc_scenarios_cpu = max(gc_scenarios_cpu, settled["gc_max_cpu_ms"])
                b, m, f = results["bare aiohttp"], results["minimal Bolt"], results["ftbot"]
                label = f"{level}/s open" if mode == "open" else f"{level} conn closed"
                print(
                    f"  {label:<16}{b.p50:8.1f} /{b.p99:7.1f}{m.p50:9.1f} /{m.p99:7.1f}{f.p50:9.1f} /{f.p99:7.1f}"
                    f"   {ratio(f.p50, b.p50)} /{ratio(f.p99, b.p99)}   {ratio(f.p50, m.p50)} /{ratio(f.p99, m.p99)}"
                    f"{f.rate:9.0f}{f.busy:7d}"
                )
                if (mode, level) == ("closed", 100):
                    at_100 = (f.p99, m.p99)
            if os.environ.get("ACK_BENCH_TRACE"):
                print(
                    f"  last ftbot run, inside the handler: { ({k: v for k, v in settled.items() if 'handle' in k}) }"
                )
                for label, figure in settled.get("phases", {}).items():
                    print(f"    {label}: {figure}")
            print(
                f"  longest GC pause in ftbot during the scenarios: {gc_scenarios:.1f} ms "
                f"({gc_scenarios_cpu:.1f} ms of CPU)"
            )

            # 3. Every command taken got its card; the goals.
            deadline = time.monotonic() + 60
            while (posted := (await slack.ask()).get("chat.postMessage", 0)) < taken:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            print(f"\ncards posted {posted} for {taken} commands taken (the rest were answered busy)")
            print(f"  stand-in Slack API calls: {await slack.ask()}")
            growth, stats, run = burst_stats
            p99, bolt_p99 = at_100
            goals = [
                (
                    f"p99 at 100 connections <= {GOAL_BOLT_RATIO:g}x minimal Bolt",
                    p99 <= GOAL_BOLT_RATIO * bolt_p99,
                    f"{p99:.1f} ms vs {bolt_p99:.1f} ms: {ratio(p99, bolt_p99).strip()}",
                ),
                (
                    f"RSS growth over the burst < {GOAL_RSS_MB:g} MB",
                    growth < GOAL_RSS_MB,
                    f"+{growth:.1f} MB",
                ),
                (
                    "queue bounded",
                    stats["max_tasks"] <= stats["limit"] + 16
                    and stats["max_backlog"] <= stats["batch_limit"],
                    f"{stats['max_tasks']} in flight, {stats['max_backlog']} writes queued",
                ),
                (
                    f"no GC pause over {GOAL_GC_MS:g} ms (the collector's own time: CPU)",
                    max(stats["gc_max_cpu_ms"], gc_scenarios_cpu) <= GOAL_GC_MS,
                    f"longest {max(stats['gc_max_cpu_ms'], gc_scenarios_cpu):.1f} ms of CPU, "
                    f"{max(stats['gc_max_ms'], gc_scenarios):.1f} ms of wall time with the machine's other load",
                ),
            ]
            for what, met, figure in goals:
                print(f"  goal {what}: {'met' if met else 'NOT met'} ({figure})")
            return 0 if posted == taken else 1
        finally:
            for server in servers:
                with contextlib.suppress(Exception):
                    await server.stop()


def role_main(argv: list[str]) -> int:
    role, rest = argv[0], argv[1:]
    if role == "client":
        url, mode, level, seconds, fields = rest
        asyncio.run(role_client(url, mode, int(level), float(seconds), json.loads(fields)))
    elif role == "bot":
        asyncio.run(role_bot(json.loads(rest[0])))
    elif role == "bare":
        asyncio.run(role_bare())
    elif role == "bolt":
        asyncio.run(role_bolt(rest[0]))
    elif role == "slack":
        asyncio.run(role_slack())
    else:
        raise SystemExit(f"unknown role {role}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--role":
        sys.exit(role_main(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per scenario and target")
    parser.add_argument("--burst", type=float, default=30.0, help="seconds of the saturation burst")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the Azure side takes to answer")
    parser.add_argument(
        "--scenarios",
        default=",".join(f"{m}:{n}" for m, n in SCENARIOS),
        help="comma-separated open:RATE and closed:CONNECTIONS (default: all five)",
    )
    args = parser.parse_args()
    chosen = [(m, int(n)) for m, n in (item.split(":") for item in args.scenarios.split(","))]
    sys.exit(asyncio.run(main(args.seconds, args.burst, args.latency, chosen)))
