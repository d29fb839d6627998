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
    .venv/bin/python bench/startup.py --instructions [--rounds 1] [--root TREE] [--compare OTHER_TREE]

`--compare` adds "compare fresh DB" / "compare warm DB": another source tree (e.g. `git archive` of main)
launched the same way in the same rounds, right after this tree's, so an A/B of two commits shares its
baseline and its busy moments.

The environment's `PYTHONDONTWRITEBYTECODE` is dropped (the unmeasured first launch writes the `.pyc` files,
as `pip install` does for an installed bot). Prints the median (and min) per variant and the ratio of the medians to bare aiohttp,
the CPU time each process used until healthy and its ratio, and the load average (other work on the machine
inflates wall times); goal: `ftbot serve` <= 3x bare aiohttp. Exits 1 if a variant never becomes healthy.

`--instructions` counts instead of timing, for a figure that repeats on a shared machine: bare aiohttp, `ftbot
serve` on a fresh DB (and the compared tree's) each run under `valgrind --tool=callgrind` with
`PYTHONHASHSEED=0` in a fresh temp directory, and the instructions from launch to the first healthy `/healthz`
answer are read from the `summary:` line of callgrind's out file (the process's threads included). The process
ends itself right after writing that answer (`PROBE`, loaded as `sitecustomize`), so neither the poll's timing
nor the shutdown is counted: until the port is bound a refused connect costs the process nothing, and once it
is bound it has nothing else to do but answer (the warm-up's 0.2 s grace, which the slowed-down process would
otherwise outlast, is lifted). Each count takes ~0.5-1 min; `--rounds` repeats them. Exits 2 if valgrind is
not installed.
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
# Under callgrind a launch takes ~50x as long; the poll's interval does not change the count.
COUNTED_POLL = 0.02
COUNTED_TIMEOUT = 900.0

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


# `--instructions` puts this first on PYTHONPATH as `sitecustomize` (imported by `site` at start): the process
# exits right after the first healthy `/healthz` answer is written, before anything else runs. It patches two
# modules when they are first imported (nothing is imported earlier than it would be) and leaves sys.path as it
# found it.
PROBE = """
import os
import sys

sys.path.remove(os.path.dirname(__file__))


def exit_after_first_healthy(module):
    log_access = module.RequestHandler.log_access

    def log_access_then_exit(self, request, response, time):
        log_access(self, request, response, time)  # called right after the response's last byte is written
        if response.status == 200 and request.path == "/healthz":
            os._exit(0)

    module.RequestHandler.log_access = log_access_then_exit


def hold_warm_up(module):
    # The warm-up waits for the first healthy answer, or 0.2 s: at native speed the 5 ms poll always comes first,
    # under callgrind (~50x slower, timers still in wall time) it would not. bot.warmup.GRACE; in trees before
    # bot/warmup.py (--compare), bot.app.WARM_UP_GRACE.
    for name in ("GRACE", "WARM_UP_GRACE"):
        if hasattr(module, name):
            setattr(module, name, 3600.0)


PATCHES = {"aiohttp.web_protocol": exit_after_first_healthy, "bot.app": hold_warm_up, "bot.warmup": hold_warm_up}


class Patcher:
    @staticmethod
    def find_spec(name, path=None, target=None):
        patch = PATCHES.pop(name, None)
        if patch is None:
            return None
        for finder in sys.meta_path:
            spec = None if finder is Patcher else finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_then_patch(module):
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_then_patch
        return spec


sys.meta_path.insert(0, Patcher)
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
    return answer(port, 1.0) == 200


def answer(port: int, timeout: float) -> int | None:
    """The status of `GET /healthz`, None if there is no answer (not listening yet, or `timeout` passed)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    except OSError:
        return None
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


def callgrind_total(out_file: Path) -> int:
    """The instructions (Ir) on the `totals:` (or `summary:`) line of a callgrind out file."""
    with out_file.open() as lines:
        for line in lines:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {out_file}")


def launch_counted(argv: list[str], cwd: Path, port: int, trees: list[Path], valgrind: str | None) -> int:
    """Instructions from launch to the first healthy `/healthz` answer, under callgrind (0 without `valgrind`:
    a launch that only writes the `.pyc` files). `PROBE` ends the process right after that answer."""
    env = clean_env()
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(str(path.resolve()) for path in trees)
    out_file = cwd / "callgrind.out.%p"
    if valgrind is not None:
        argv = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out_file}", *argv]
    log = (cwd / "out.log").open("ab")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    started = time.perf_counter()
    unhealthy = 0
    try:
        while proc.poll() is None:
            # One request at a time, its answer waited for: a second request arriving while the slow process
            # answers the first would be counted too.
            status = answer(port, COUNTED_TIMEOUT)
            if status == 200:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired as exc:
                    raise RuntimeError(
                        f"{cwd.name}: answered healthy but did not exit (the probe did not load)"
                    ) from exc
                break
            if status is not None:
                unhealthy += 1
            if time.perf_counter() - started > COUNTED_TIMEOUT:
                raise RuntimeError(f"{cwd.name}: not healthy after {COUNTED_TIMEOUT:.0f} s")
            time.sleep(COUNTED_POLL)
        if proc.returncode != 0:
            raise RuntimeError(f"{cwd.name}: exited with {proc.returncode}: see {cwd / 'out.log'}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    if unhealthy:
        print(f"  ({unhealthy} answers before the healthy one: their count depends on the poll's timing)")
    return 0 if valgrind is None else callgrind_total(cwd / f"callgrind.out.{proc.pid}")


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


def count_instructions(work: Path, rounds: int, root: Path, compare: Path | None) -> int:
    """`--instructions`: bare aiohttp and `ftbot serve` (fresh DB) under callgrind, `rounds` times each."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print(
            "--instructions needs valgrind (its callgrind tool) on PATH; install it, e.g. `apt-get install valgrind`",
            file=sys.stderr,
        )
        return 2
    probe = work / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE)
    bare = work / "bare.py"
    bare.write_text(BARE)
    variants: dict[str, tuple[Callable[[int], list[str]], list[Path]]] = {
        "bare aiohttp": (lambda port: [sys.executable, str(bare), str(port)], [probe]),
        "ftbot fresh DB": (ftbot_argv, [probe, root]),
    }
    if compare is not None:
        # Only its own tree on the path: a second entry behind it costs ~8M (0.3%) of lookups, a bias in an A/B.
        variants["compare fresh DB"] = (ftbot_argv, [probe, compare])
    counts: dict[str, list[int]] = {name: [] for name in variants}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for argv, trees in variants.values():  # not counted: the .pyc files are written, the page cache warm
            launch_counted(
                argv(port := free_port()), Path(tempfile.mkdtemp(dir=work, prefix="pyc-")), port, trees, None
            )
        for round_no in range(rounds):
            for name, (argv, trees) in variants.items():
                started = time.perf_counter()
                port = free_port()
                counts[name].append(
                    launch_counted(
                        argv(port),
                        Path(tempfile.mkdtemp(dir=work, prefix=name.split()[0] + "-")),
                        port,
                        trees,
                        valgrind,
                    )
                )
                seconds[name].append(time.perf_counter() - started)
            print(
                f"round {round_no + 1}: "
                + ", ".join(
                    f"{name} {counts[name][-1] / 1e6:,.1f}M ({seconds[name][-1]:.0f} s)" for name in variants
                ),
                flush=True,
            )
    except RuntimeError as exc:
        print(f"FAILED: {exc}")
        return 1
    base = statistics.median(counts["bare aiohttp"])
    print(
        f"\ninstructions from launch to the first healthy /healthz (callgrind, PYTHONHASHSEED=0, fresh temp "
        f"directory), {f'median of {rounds} (min-max),' if rounds > 1 else '1 round,'} and the ratio to bare aiohttp"
    )
    for name, values in counts.items():
        med = statistics.median(values)
        spread = f" ({min(values) / 1e6:,.1f}-{max(values) / 1e6:,.1f}M)" if rounds > 1 else ""
        print(f"  {name:16s} {med / 1e6:9,.1f}M{spread}  x{med / base:.2f}")
    for name in counts:
        if name != "bare aiohttp":
            ratio = statistics.median(counts[name]) / base
            verdict = "meets" if ratio <= GOAL else "misses"
            print(
                f"goal ({name}): ftbot serve <= {GOAL:.0f}x bare aiohttp: instructions x{ratio:.2f} ({verdict})"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="rounds (default 7; 1 with --instructions)")
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
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions under callgrind instead of timing (bare aiohttp and ftbot fresh DB; needs valgrind)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ftbot-startup-"))
    if args.instructions:
        try:
            return count_instructions(work, args.rounds or 1, args.root, args.compare)
        finally:
            if not os.environ.get("FTBOT_BENCH_KEEP"):
                shutil.rmtree(work, ignore_errors=True)
    args.rounds = args.rounds or 7
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
