"""Benchmark of `ftbot validate` (bot.dataprep) on realistic data, against cookbook-style baselines (plain
script, not a test).

Generates deterministic realistic JSONL (tests/dataprep/realistic.py: 1-8 turns, tool calls and results,
weights, unicode/CJK/emoji, repeated system prompts, ~1% invalid lines of 8 kinds; and a DPO file), then
measures in one run, each variant in a fresh subprocess: `ftbot validate` as users run it (tokens and cost,
all usable cores), the same on one process, the same with quicktok's `count` replaced by `len` (what the
token path costs besides the tokenizer), the OpenAI cookbook's way (`json.loads` per line, the checks in
plain Python, tokens with tiktoken), `ftbot validate --no-tokens` against the same baseline without tokens,
bare `json.loads`, and the DPO file both ways. Prints MB/s (wall and per CPU-second, children included),
peak memory of the whole process tree and ratios; checks the goals; exits 1 if a validator and its
baseline disagree on valid examples or on tokens.

    .venv/bin/python bench/validate.py [--mb 200] [--dpo-mb 50] [--rounds 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.dataprep import model_info
from bot.dataprep.cli import main as ftbot_validate
from bot.dataprep.rules import check_chat, check_dpo
from bot.dataprep.tokens import get_encoding
from tests.dataprep.realistic import write_chat, write_dpo
from tests.dataprep.reference import cookbook_tokens, reference_encoding

MODEL = "gpt-4.1-mini-2025-04-14"  # takes SFT and DPO; o200k_base
GOALS = {"mb_per_s": 100.0, "ratio": 5.0, "memory_mb": 150.0}


# -- the cookbook's way: json.loads per line, the checks in plain Python, tokens with tiktoken ------------
def run_cookbook(path: str, method: str, count_tokens: bool, _workers: int | None = None) -> dict[str, Any]:
    """Streaming (the notebook loads the whole file first, which only costs more): decode, check, count."""
    encode = reference_encoding("o200k_base").encode_ordinary if count_tokens else None
    examples = valid = tokens = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            examples += 1
            try:
                example = json.loads(raw.decode("utf-8"))
            except ValueError:
                continue
            issues = check_dpo(example) if method == "dpo" else check_chat(example)
            if issues:
                continue
            valid += 1
            if encode is None:
                continue
            tokens += cookbook_tokens(example, method, encode)
    return {"examples": examples, "valid": valid, "tokens": tokens if count_tokens else None}


def run_ftbot(path: str, method: str, count_tokens: bool, workers: int | None) -> dict[str, Any]:
    """`ftbot validate FILE --model M [--method dpo] [--no-tokens] [--workers N] --json`, as users run it."""
    argv = [path, "--model", MODEL, "--method", method, "--json"]
    if not count_tokens:
        argv.append("--no-tokens")
    if workers:
        argv += ["--workers", str(workers)]
    out = io.StringIO()
    ftbot_validate(argv, stdout=out)
    report = json.loads(out.getvalue())
    stats = report.get("token_stats")
    return {
        "examples": report["examples"],
        "valid": report["valid"],
        "tokens": stats["total"] if stats else None,
    }


class _NoTokenizer:
    """Stands in for quicktok's encoding: `count` is `len`, so that what is left is the validator's own cost."""

    count = staticmethod(len)


def run_ftbot_without_tokenizer(
    path: str, method: str, count_tokens: bool, workers: int | None
) -> dict[str, Any]:
    """`run_ftbot` with the tokenizer's `count` replaced by `len`: the token path's cost besides quicktok
    (the difference to "ftbot validate, 1 process" is quicktok's own). Its token total is not a count."""
    from bot.dataprep import tokens

    tokens.get_encoding = lambda _name: _NoTokenizer  # type: ignore[assignment,return-value]
    return run_ftbot(path, method, count_tokens, workers)


def run_bare_json(path: str, method: str, count_tokens: bool, _workers: int | None = None) -> dict[str, Any]:
    examples = 0
    with open(path, "rb") as fh:
        for line in fh:
            with contextlib.suppress(ValueError):
                json.loads(line)
            examples += 1
    return {"examples": examples}


# name -> (file, method, function, count_tokens, workers)
VARIANTS: dict[str, tuple[str, str, Any, bool, int | None]] = {
    "ftbot validate": ("chat", "sft", run_ftbot, True, None),
    "ftbot validate, 1 process": ("chat", "sft", run_ftbot, True, 1),
    "tokens, quicktok stubbed": ("chat", "sft", run_ftbot_without_tokenizer, True, 1),
    "cookbook + tiktoken": ("chat", "sft", run_cookbook, True, None),
    "ftbot validate --no-tokens": ("chat", "sft", run_ftbot, False, None),
    "--no-tokens, 1 process": ("chat", "sft", run_ftbot, False, 1),
    "cookbook, no tokens": ("chat", "sft", run_cookbook, False, None),
    "bare json.loads": ("chat", "sft", run_bare_json, False, None),
    "DPO: ftbot validate": ("dpo", "dpo", run_ftbot, True, None),
    "DPO: cookbook + tiktoken": ("dpo", "dpo", run_cookbook, True, None),
}
# Variants slow enough that one round says enough.
SLOW = {"cookbook + tiktoken", "DPO: cookbook + tiktoken"}
# Variants of a fraction of a second, whose single runs the box's swings (the same loop 0.11 or 0.20 s) hit
# hardest: QUICK_FACTOR times the rounds, ours and their baseline alike, the best kept.
QUICK = {"ftbot validate --no-tokens", "--no-tokens, 1 process", "cookbook, no tokens", "bare json.loads"}
QUICK_FACTOR = 3
# (ours, baseline) pairs whose valid examples and tokens must agree.
PAIRS = [
    ("ftbot validate", "cookbook + tiktoken"),
    ("ftbot validate, 1 process", "cookbook + tiktoken"),
    ("ftbot validate --no-tokens", "cookbook, no tokens"),
    ("--no-tokens, 1 process", "cookbook, no tokens"),
    ("DPO: ftbot validate", "DPO: cookbook + tiktoken"),
]


def _cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def child(variant: str, path: str) -> None:
    _, method, run, count_tokens, workers = VARIANTS[variant]
    # Imports and the tokenizer's load happen before the clock starts; the load is reported on its own.
    t0 = time.perf_counter()
    if run is run_ftbot and count_tokens:
        get_encoding(model_info(MODEL).encoding)  # type: ignore[union-attr]
    elif run is run_cookbook and count_tokens:
        reference_encoding("o200k_base")
    load = time.perf_counter() - t0
    start, cpu = time.perf_counter(), _cpu_seconds()
    result = run(path, method, count_tokens, workers)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "load": load,
                # Peak RSS of this process plus the largest child's: counts shared pages (the tokenizer's
                # tables, shared after the fork) twice, an upper bound.
                "rss_sum_mb": (me.ru_maxrss + kids.ru_maxrss) / 1024,
                **result,
            }
        )
    )


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for kid in fh.read().split():
                    pids.extend(_tree(int(kid)))
    except OSError:
        pass
    return pids


def _pss_kb(pids: list[int]) -> int:
    """Proportional set size of the processes: each shared page counted once, split among its sharers."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def measure(variant: str, files: dict[str, Path]) -> dict[str, Any]:
    """Runs one variant in a fresh process; samples the memory of its process tree every 10 ms."""
    path = files[VARIANTS[variant][0]]
    cmd = [sys.executable, __file__, "--child", variant, str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_pss = 0
    while proc.poll() is None:
        peak_pss = max(peak_pss, _pss_kb(_tree(proc.pid)))
        time.sleep(0.01)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{variant} failed:\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["pss_mb"] = peak_pss / 1024
    result["mb"] = path.stat().st_size / 1_000_000
    return result


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Fastest wall time and fastest CPU time over the rounds, largest memory."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["cpu"] = min(r["cpu"] for r in runs)
    for key in ("pss_mb", "rss_sum_mb"):
        best[key] = max(r[key] for r in runs)
    return best


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _files(folder: Path, mb: float, dpo_mb: float) -> dict[str, Path]:
    files = {"chat": folder / f"chat-{mb:g}mb.jsonl", "dpo": folder / f"dpo-{dpo_mb:g}mb.jsonl"}
    for kind, path in files.items():
        if path.exists():  # --keep: deterministic, so reused
            continue
        t0 = time.perf_counter()
        lines = write_chat(path, mb) if kind == "chat" else write_dpo(path, dpo_mb)
        print(
            f"generated {path.name}: {path.stat().st_size / 1e6:.1f} MB, {lines:,} lines in {time.perf_counter() - t0:.0f} s"
        )
    return files


def _utf8_check() -> str:
    """Which UTF-8 check the no-token path ran with (bot/dataprep/utf8.py)."""
    from bot.dataprep import utf8

    if not utf8.NATIVE:
        return "UTF-8 checked by CPython's decoder (bot/dataprep/_utf8.c not built)"
    from bot.dataprep import _utf8

    return f"UTF-8 checked by bot/dataprep/_utf8.c ({'AVX2' if _utf8.SIMD else 'byte by byte'})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=200, help="size of the chat file in MB (default 200)")
    parser.add_argument("--dpo-mb", type=float, default=50, help="size of the DPO file in MB (default 50)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the fast variants, best kept (default 3; the no-token ones run 3x as many)",
    )
    parser.add_argument("--keep", type=Path, help="write the files into this directory and keep (reuse) them")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="ftbot-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files = _files(folder, args.mb, args.dpo_mb)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
        load_start = os.getloadavg()[0]
        # Rounds interleave the variants so that load from other processes hits them alike.
        rounds = max(1, args.rounds)
        for round_ in range(rounds * QUICK_FACTOR):
            for name in VARIANTS:
                if name in QUICK or (round_ < rounds and (name not in SLOW or not runs[name])):
                    runs[name].append(measure(name, files))
        results = {name: best_of(r) for name, r in runs.items()}
    print(
        f"{os.cpu_count()} cores, load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        f"(other processes make the wall figures and ratios noisy); model {MODEL}; {_utf8_check()}"
    )
    print(
        f"{'variant':<28}{'MB':>6}{'wall s':>8}{'MB/s':>8}{'CPU s':>8}{'MB/CPU-s':>10}"
        f"{'load s':>8}{'PSS MB':>8}{'RSS sum':>9}"
    )
    for name, r in results.items():
        print(
            f"{name:<28}{r['mb']:>6.0f}{r['seconds']:>8.2f}{r['mb'] / r['seconds']:>8.1f}{r['cpu']:>8.2f}"
            f"{r['mb'] / r['cpu']:>10.1f}{r['load']:>8.2f}{r['pss_mb']:>8.1f}{r['rss_sum_mb']:>9.1f}"
        )

    def ratios(ours: str, base: str) -> tuple[float, float]:
        a, b = results[ours], results[base]
        return b["seconds"] / a["seconds"], b["cpu"] / a["cpu"]

    status = 0
    for ours, base in PAIRS:
        wall, cpu = ratios(ours, base)
        a, b = results[ours], results[base]
        agree = a["valid"] == b["valid"] and a.get("tokens") == b.get("tokens")
        tokens = f", {a['tokens']:,} tokens" if a.get("tokens") is not None else ""
        print(
            f"{ours} vs {base}: {wall:.2f}x wall, {cpu:.2f}x CPU; {a['valid']:,} valid{tokens}: "
            f"{'the same' if agree else 'MISMATCH ' + json.dumps([a, b])}"
        )
        status |= not agree
    stub, one = results["tokens, quicktok stubbed"], results["ftbot validate, 1 process"]
    print(
        f"quicktok's count: {one['cpu'] - stub['cpu']:.2f} of the {one['cpu']:.2f} CPU-s of one process; "
        f"the rest alone: {stub['mb'] / stub['cpu']:.1f} MB/CPU-s"
    )
    tok = results["ftbot validate"]
    speed = tok["mb"] / tok["seconds"]
    wall, cpu = ratios("ftbot validate", "cookbook + tiktoken")
    print(
        f"goals with tokens: >= {GOALS['mb_per_s']:.0f} MB/s: {speed:.1f} {verdict(speed >= GOALS['mb_per_s'])} "
        f"({tok['mb'] / tok['cpu']:.1f} MB per CPU-second; on {os.cpu_count()} free cores the goal needs "
        f"{GOALS['mb_per_s'] / (os.cpu_count() or 1):.0f}); "
        f">= {GOALS['ratio']:.0f}x cookbook + tiktoken: {wall:.2f}x wall, {cpu:.2f}x CPU "
        f"{verdict(wall >= GOALS['ratio'])}; memory < {GOALS['memory_mb']:.0f} MB: {tok['pss_mb']:.1f} PSS "
        f"({tok['rss_sum_mb']:.1f} RSS summed) {verdict(tok['pss_mb'] < GOALS['memory_mb'])}"
    )
    wall, cpu = ratios("ftbot validate --no-tokens", "cookbook, no tokens")
    print(
        f"goal without tokens: >= {GOALS['ratio']:.0f}x the streaming baseline: {wall:.2f}x wall, {cpu:.2f}x CPU "
        f"{verdict(wall >= GOALS['ratio'])}"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
