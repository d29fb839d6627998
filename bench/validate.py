"""Benchmark of `bot.dataprep` pre-flight validation (plain script, not a test).

Generates a deterministic ~200 MB chat JSONL in a temp dir, then measures in one run, each variant in a
fresh subprocess (so peak RSS is its own): the validator without token counting, a cookbook-style
baseline (`json.loads` per line + the same checks in plain Python), bare `json.loads` per line, and the
validator with token counting. Prints MB/s, peak RSS and ratios against the baseline.

    .venv/bin/python bench/validate.py [--mb 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.dataprep import model_info, validate_path
from bot.dataprep.rules import check_chat
from bot.dataprep.tokens import get_encoding

MODEL = "gpt-4o-mini-2024-07-18"
GOALS = {"mb_per_s": 100.0, "ratio": 3.0, "rss_mb": 150.0}

_VOCABULARY = (
    "the model data training fine tuning azure job epoch loss token batch learning rate checkpoint deploy "
    "customer order invoice refund shipping weather forecast paris london tokyo please thanks question "
    "answer because however therefore example assistant user system channel slack teams report error "
    "warning value number result status pending running succeeded failed cancelled résumé naïve café 東京"
)
_WORDS = _VOCABULARY.split()
_SYSTEMS = [
    "You are a helpful assistant for an online shop. Answer briefly and politely.",
    "You are Clippy, a factual chatbot that is also sarcastic.",
    "You answer questions about Azure OpenAI fine-tuning jobs, clearly and in plain words.",
]


def _sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(lo, hi))).capitalize() + "."


def generate(path: Path, megabytes: int, seed: int = 42) -> int:
    """Writes chat examples until the file reaches `megabytes`; returns the number of examples."""
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    written = 0
    count = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            messages: list[dict[str, object]] = [{"role": "system", "content": rng.choice(_SYSTEMS)}]
            for turn in range(rng.randint(1, 3)):
                messages.append({"role": "user", "content": _sentence(rng, 8, 60)})
                answer: dict[str, object] = {"role": "assistant", "content": _sentence(rng, 10, 120)}
                if turn % 2:
                    answer["weight"] = rng.choice((0, 1))
                messages.append(answer)
            line = json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
            out.write(line)
            written += len(line.encode("utf-8"))
            count += 1
    return count


# -- variants (run in a child process; imports happen before the clock starts) --------------------------
def run_validator(path: str, count_tokens: bool) -> dict[str, object]:
    report = validate_path(path, model=MODEL, count_tokens=count_tokens)
    return {"examples": report.examples, "valid": report.valid, "errors": report.error_total}


def run_baseline(path: str) -> dict[str, object]:
    """Cookbook-style: read lines, json.loads each, then the same rules in plain Python (`rules.check_chat`)."""
    examples = valid = errors = no_system = no_user = 0
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            if not line.strip():
                continue
            examples += 1
            try:
                example = json.loads(line)
            except ValueError:
                errors += 1
                continue
            issues = check_chat(example)
            if issues:
                errors += len(issues)
                continue
            valid += 1
            roles = {m["role"] for m in example["messages"]}
            no_system += "system" not in roles
            no_user += "user" not in roles
    return {"examples": examples, "valid": valid, "errors": errors}


def run_bare_json(path: str) -> dict[str, object]:
    examples = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                json.loads(line)
                examples += 1
    return {"examples": examples}


VARIANTS = {
    "validator (no tokens)": lambda p: run_validator(p, False),
    "cookbook baseline": run_baseline,
    "bare json.loads": run_bare_json,
    "validator (tokens)": lambda p: run_validator(p, True),
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(variant: str, path: str) -> None:
    if variant == "validator (tokens)":
        get_encoding(model_info(MODEL).encoding)  # type: ignore[union-attr]  # load the tokenizer up front
    start, cpu = time.perf_counter(), _cpu_seconds()
    result = VARIANTS[variant](path)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_kb / 1024, **result}))


def measure(variant: str, path: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", variant, str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Fastest wall time and fastest CPU time over the rounds, largest peak RSS."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["cpu"] = min(r["cpu"] for r in runs)
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return best


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=200, help="size of the generated file in MB (default 200)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the fast variants, best kept (default 3)"
    )
    parser.add_argument("--keep", type=Path, help="write the file into this directory and keep it")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="ftbot-bench-") as tmp:
        folder = args.keep or Path(tmp)
        path = folder / f"chat-{args.mb}mb.jsonl"
        t0 = time.perf_counter()
        examples = generate(path, args.mb)
        size_mb = path.stat().st_size / 1_000_000
        print(
            f"generated {path.name}: {size_mb:.1f} MB, {examples:,} examples in {time.perf_counter() - t0:.1f} s"
        )
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        # Rounds interleave the variants so that load from other processes hits them alike.
        for _ in range(max(1, args.rounds)):
            for name in VARIANTS:
                if name != "validator (tokens)" or not runs[name]:
                    runs[name].append(measure(name, path))
        results = {name: best_of(r) for name, r in runs.items()}
    base = results["cookbook baseline"]
    print(
        f"{'variant':<24}{'wall s':>8}{'MB/s':>8}{'x base':>8}{'CPU s':>8}{'MB/CPU-s':>10}{'x base':>8}"
        f"{'peak RSS MB':>13}"
    )
    for name, r in results.items():
        print(
            f"{name:<24}{r['seconds']:>8.2f}{size_mb / r['seconds']:>8.1f}{base['seconds'] / r['seconds']:>8.2f}"
            f"{r['cpu']:>8.2f}{size_mb / r['cpu']:>10.1f}{base['cpu'] / r['cpu']:>8.2f}{r['peak_rss_mb']:>13.1f}"
        )
    fast = results["validator (no tokens)"]
    speed, ratio, cpu_ratio = (
        size_mb / fast["seconds"],
        base["seconds"] / fast["seconds"],
        base["cpu"] / fast["cpu"],
    )
    print(
        f"goals: >= {GOALS['mb_per_s']:.0f} MB/s: {speed:.1f} {verdict(speed >= GOALS['mb_per_s'])}; "
        f">= {GOALS['ratio']:.0f}x baseline: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU "
        f"{verdict(ratio >= GOALS['ratio'])}; "
        f"peak RSS < {GOALS['rss_mb']:.0f} MB: {fast['peak_rss_mb']:.1f} {verdict(fast['peak_rss_mb'] < GOALS['rss_mb'])}"
    )
    if fast["valid"] != base["valid"]:
        print("MISMATCH: validator and baseline disagree on the number of valid examples")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
