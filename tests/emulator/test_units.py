"""Pure parts: data checks on the shipped datasets, the loss model, the clock, the CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from emulator import datasets
from emulator.api_monitor import parse_duration, parse_timespan
from emulator.cli import build_parser, config_from_args
from emulator.clock import SimClock
from emulator.datacheck import inspect
from emulator.training import resolve_hyperparameters, simulate, step_message

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "ok", "kind", "harms", "eval_harms"),
    [
        ("good_training", True, "chat", set(), set()),
        ("good_validation", True, "chat", set(), set()),
        ("overfit_training", True, "chat", set(), set()),
        ("dpo_training", True, "dpo", set(), set()),
        ("rai_data_failure", True, "chat", {"violence", "self_harm", "hate_fairness"}, set()),
        ("rai_eval_failure", True, "chat", set(), {"violence", "self_harm"}),
        ("invalid_jsonl", False, None, set(), set()),
        ("too_few_examples", False, "chat", set(), set()),
    ],
)
def test_shipped_datasets(
    name: str, ok: bool, kind: str | None, harms: set[str], eval_harms: set[str]
) -> None:
    report = inspect(datasets.path(name).read_bytes())
    assert (report.ok, report.kind, set(report.harms), set(report.eval_harms)) == (
        ok,
        kind,
        harms,
        eval_harms,
    )
    if ok:
        assert report.examples >= 10 and report.tokens > 0


def test_dataset_helper() -> None:
    assert "good_training" in datasets.names() and len(datasets.names()) == 8
    assert datasets.path("good_training.jsonl") == datasets.path("good_training")
    with pytest.raises(KeyError):
        datasets.path("nope")


def test_data_checks_follow_the_cookbook_order() -> None:
    def detail(*lines: object) -> str:
        raw = "\n".join(json.dumps(line) for line in lines).encode()
        report = inspect(raw, min_examples=1)
        assert not report.ok
        return report.detail or ""

    assert "data_type" in detail([1, 2])
    assert "missing_messages_list" in detail({"messages": []})
    assert "message_missing_key" in detail({"messages": [{"content": "x"}]})
    assert "message_unrecognized_key" in detail({"messages": [{"role": "user", "content": "x", "mood": 1}]})
    assert "unrecognized_role" in detail({"messages": [{"role": "robot", "content": "x"}]})
    assert "example_missing_assistant_message" in detail({"messages": [{"role": "user", "content": "x"}]})
    mixed = ({"messages": [{"role": "assistant", "content": "a"}]}, {"prompt": "p", "completion": "c"})
    assert "mix formats" in detail(*mixed)
    bom = "\ufeff".encode() + datasets.path("good_training").read_bytes()
    assert inspect(bom).ok


def test_loss_model_is_deterministic_and_falls() -> None:
    hp = resolve_hyperparameters({}, 24, dpo=False)
    a = simulate(
        seed=1, training_fingerprint="t", validation_fingerprint="v", n_examples=24, hyperparameters=hp
    )
    b = simulate(
        seed=1, training_fingerprint="t", validation_fingerprint="v", n_examples=24, hyperparameters=hp
    )
    c = simulate(
        seed=1, training_fingerprint="t2", validation_fingerprint="v", n_examples=24, hyperparameters=hp
    )
    assert a == b and a != c and a.total_steps == 96  # 24 examples -> 4 default epochs
    assert a.steps[-1].train_loss < a.steps[0].train_loss
    # Real runs: `Step 100: training loss=0.0007721185684204102` (full float, no total, no validation).
    assert step_message(a.steps[-1]) == f"Step 96: training loss={a.steps[-1].train_loss!r}"
    with pytest.raises(ValueError, match="n_epochs"):
        resolve_hyperparameters({"n_epochs": 2.5}, 24, dpo=False)


def test_clock_speed_and_jumps() -> None:
    real = [100.0]
    clock = SimClock(speed=10, start=1000.0, real_time=lambda: real[0])
    real[0] += 2
    assert clock.now() == 1020.0
    clock.advance(5)
    clock.set_speed(0)
    real[0] += 50
    assert clock.now() == 1025.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_cli_arguments_make_the_config() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "0",
            "--speed",
            "120",
            "--account",
            "main",
            "--extra-account",
            "other:tenant-b",
            "--api-key",
            "k",
        ]
    )
    config = config_from_args(args)
    assert config.speed == 120 and config.default_account.name == "main" and config.api_key == "k"
    assert [(a.name, a.tenant_id) for a in config.extra_accounts] == [("other", "tenant-b")]


async def test_cli_serves_until_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "--port", "0", "--speed", "50",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = first.split(" on ", 1)[1].split()[0]
        async with httpx.AsyncClient(base_url=url) as admin:
            assert (await admin.get("/_emulator/clock")).json()["speed"] == 50
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_monitor_accepts_the_timespans_real_clients_send() -> None:
    """azure-mgmt-monitor / isodate write fractional seconds; a timespan may be start/duration or duration/end."""
    now = 1_800_000_000.0
    assert parse_duration("PT86400.0S") == 86400.0 and parse_duration("PT1H30M") == 5400.0
    assert parse_timespan("PT86400.0S", now) == (now - 86400.0, now)
    start, end = parse_timespan("2026-05-01T00:00:00Z/PT7200.0S", now)
    assert end - start == 7200.0
    start, end = parse_timespan("PT2H/2026-05-01T02:00:00Z", now)
    assert (end - start, start) == (7200.0, datetime(2026, 5, 1, tzinfo=UTC).timestamp())
