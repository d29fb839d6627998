"""Cold start: `ftbot serve` on its embedded default, from launch to a healthy `/healthz` (issue 17).

Every variant is a fresh process started the same way (this interpreter, a clean environment, its own temp
working directory, a free loopback port) and polled with `GET /healthz` every 5 ms until it answers 200;
the figure is the time from `Popen` to that answer. Then it is stopped with SIGTERM. Variants, interleaved
round by round so that a busy moment of the shared machine hits them all:

| variant | what runs |
|---|---|
| bare aiohttp | a `web.Application` with one `/healthz` handler, `web.run_app` (the baseline) |
| minimal Bolt | slack-bolt `AsyncApp` (it checks its token on the first request, not at start) behind its aiohttp handler, plus `/healthz` |
| ftbot fresh DB | `ftbot serve` in an empty directory: creates and migrates `ftbot.db`, starts the emulator |
| ftbot warm DB | `ftbot serve` again on the database the fresh run left (schema current) |

    .venv/bin/python bench/startup.py [--rounds 7] [--no-bolt] [--root TREE] [--compare OTHER_TREE]

`--compare` adds "compare fresh DB" / "compare warm DB": another source tree (e.g. `git archive` of main)
launched the same way in the same rounds, right after this tree's, so an A/B of two commits shares its
baseline and its busy moments.

The environment's `PYTHONDONTWRITEBYTECODE` is dropped (the unmeasured first launch writes the `.pyc` files,
as `pip install` does for an installed bot). Prints the median (and min) per variant and the ratio of the medians to bare aiohttp,
the CPU time each process used until healthy and its ratio, and the load average (other work on the machine
inflates wall times); goal: `ftbot serve` <= 3x bare aiohttp. Exits 1 if a variant never becomes healthy.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 3.0
POLL = 0.005
TIMEOUT = 60.0

BARE = """
from aiohttp import web
async def healthz(request):
    return web.json_response({"status": "ok"})
app = web.Application()
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), print=None)
"""

BOLT = """
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.adapter.aiohttp import to_bolt_request, to_aiohttp_response
bolt = AsyncApp(token="xoxb-bench-not-secret", signing_secret="bench-not-secret")
@bolt.command("/ft")
async def ft(ack):
    await ack("ok")
async def events(request):
    body = await request.text()
    return to_aiohttp_response(await bolt.async_dispatch(to_bolt_request(request, body)))
async def healthz(request):
    return web.json_response({"status": "ok"})
app = web.Application()
app.router.add_post("/slack/events", events)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), print=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The environment without any bot, Slack, Teams or Azure settings: the embedded default."""
    drop = ("FTBOT_", "SLACK_", "MICROSOFTAPP", "AZURE_")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(drop)}
    # Compiled modules are cached as an installed package has them (pip writes them at install); a shell
    # that sets PYTHONDONTWRITEBYTECODE would otherwise recompile the bot's own modules on every launch.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far (Linux /proc; its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def launch(argv: list[str], cwd: Path, port: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) from launch to the first 200 on /healthz; the process is stopped after."""
    log = (cwd / "out.log").open("ab")
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=clean_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            if healthy(port):
                return time.perf_counter() - started, cpu_seconds(proc.pid)
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[1:3]} exited with {proc.returncode}: see {cwd / 'out.log'}")
            if time.perf_counter() - started > TIMEOUT:
                raise RuntimeError(f"{argv[1:3]} not healthy after {TIMEOUT:.0f} s")
            time.sleep(POLL)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def ftbot_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]


def with_root(
    root: Path, run: Callable[[Path, int], tuple[float, float]]
) -> Callable[[Path, int], tuple[float, float]]:
    """`run` with `root` first on PYTHONPATH (its `bot` package is found before the other tree's)."""

    def launch_from(cwd: Path, port: int) -> tuple[float, float]:
        saved = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = os.pathsep.join([str(root.resolve()), saved]).rstrip(os.pathsep)
        try:
            return run(cwd, port)
        finally:
            os.environ["PYTHONPATH"] = saved

    return launch_from


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-bolt", action="store_true", help="skip the minimal Bolt app")
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the source tree of the bot to launch (e.g. an older commit's)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="another source tree launched in the same rounds (before/after figures sharing one baseline)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ftbot-startup-"))
    scripts = {"bare": work / "bare.py", "bolt": work / "bolt.py"}
    scripts["bare"].write_text(BARE)
    scripts["bolt"].write_text(BOLT)

    def script(name: str) -> Callable[[Path, int], tuple[float, float]]:
        return lambda cwd, port: launch([sys.executable, str(scripts[name]), str(port)], cwd, port)

    def ftbot(cwd: Path, port: int) -> tuple[float, float]:
        return launch(ftbot_argv(port), cwd, port)

    variants: dict[str, Callable[[Path, int], tuple[float, float]]] = {"bare aiohttp": script("bare")}
    if not args.no_bolt:
        variants["minimal Bolt"] = script("bolt")
    variants["ftbot fresh DB"] = ftbot
    variants["ftbot warm DB"] = ftbot
    if args.compare is not None:
        variants["compare fresh DB"] = with_root(args.compare, ftbot)
        variants["compare warm DB"] = with_root(args.compare, ftbot)
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    env_path = os.pathsep.join([str(args.root.resolve()), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = env_path.rstrip(os.pathsep)
    load_before = os.getloadavg()[0]
    try:
        # One unmeasured launch of each: the .pyc files are written and the page cache is warm.
        for run in variants.values():
            cwd = Path(tempfile.mkdtemp(dir=work))
            run(cwd, free_port())
        for round_no in range(args.rounds):
            # Each tree's warm run reuses the database its fresh run created.
            dirs = {tree: Path(tempfile.mkdtemp(dir=work)) for tree in ("ftbot", "compare")}
            for name, run in variants.items():
                tree = name.split()[0]
                cwd = dirs[tree] if tree in dirs else Path(tempfile.mkdtemp(dir=work))
                wall, used = run(cwd, free_port())
                times[name].append(wall)
                cpu[name].append(used)
            print(
                f"round {round_no + 1}: "
                + ", ".join(f"{name} {times[name][-1] * 1000:.0f} ms" for name in variants),
                flush=True,
            )
    except RuntimeError as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        if not os.environ.get("FTBOT_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(times["bare aiohttp"])
    base_cpu = statistics.median(cpu["bare aiohttp"])
    print(
        f"\nlaunch to healthy /healthz, {args.rounds} rounds: wall median (min) and its ratio to bare aiohttp; "
        "CPU seconds of the process until then (steadier when the machine is shared) and its ratio; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    for name, values in times.items():
        med, med_cpu = statistics.median(values), statistics.median(cpu[name])
        print(
            f"  {name:16s} {med * 1000:7.0f} ms (min {min(values) * 1000:5.0f})  x{med / base:.2f}   "
            f"CPU {med_cpu * 1000:5.0f} ms  x{med_cpu / base_cpu:.2f}"
        )
    for tree in ("ftbot", "compare"):
        names = [n for n in variants if n.startswith(tree)]
        if not names:
            continue
        worst = max(statistics.median(times[n]) for n in names) / base
        worst_cpu = max(statistics.median(cpu[n]) for n in names) / base_cpu
        verdict = "meets" if worst <= GOAL else "misses"
        print(
            f"goal{' (compared tree)' if tree == 'compare' else ''}: ftbot serve <= {GOAL:.0f}x bare aiohttp: "
            f"wall x{worst:.2f} ({verdict}), CPU x{worst_cpu:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
