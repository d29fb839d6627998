"""The idle sweep over 500 fine-tuned deployments on 3 resources (issue 13's benchmark).

The emulator runs in its own process with 3 accounts (its quotas raised: 100 jobs, 200 fine-tuned deployments
each; ARM pages of 20, so the list follows `nextLink` 9 times per account). Each job's fine-tuned model and
its two other kept checkpoints are deployed straight through ARM, 500 deployments in all. Simulated time
then moves 11 days; a third of the deployments are called; then one more day. The sweep
(`handlers.idle.sweep_all`, what the scheduler runs under its lease) runs here on a SQLite file, twice: the
first queues the 3-day warnings (the uncalled two thirds), the second must queue nothing new.

    .venv/bin/python bench/idle.py [--deployments 500] [--accounts 3]

Goals: at most 1 metrics request per resource per sweep (counted at the emulator, per account) and a sweep
within 5 s. Prints each figure and its ratio to the goal (<= 1.0 meets it).

Measured 2026-11-26 (2 shared cores, shared with other work): 500 deployments, 3 resources, 27 ARM list
pages, 1 metrics request per resource per sweep (ratio 1.00), sweep 0.72 s then 0.45 s (goal 5 s, ratio
0.14; an earlier run under heavier load, before the rows were written in one executemany: 2.0 s); 332
messages due (the uncalled two thirds get the 3-day warning) and queued in the first sweep, none new in the
second (the outbox dedupe keys hold them once).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.azure_clients import AzureClients
from bot.config import AzureResource, Settings
from bot.context import Context
from bot.store import Store
from emulator import datasets
from handlers.idle import sweep_all
from tests.watch.harness import EmulatorProcess, emulator_process

KEY_ENV = "FTBOT_BENCH_KEY"
API = {"api-version": "2025-04-01-preview"}
ARM_API = {"api-version": "2024-10-01"}
BEARER = {"Authorization": "Bearer bench-token-not-secret"}
SUB, RG = "00000000-0000-0000-0000-000000000001", "ftbot-rg"
DAY = 86400.0
GOAL_METRICS_PER_RESOURCE = 1
GOAL_SECONDS = 5.0


async def advance(emu: EmulatorProcess, seconds: float) -> None:
    await emu.admin("POST", "clock/advance", {"seconds": seconds})


async def counters(emu: EmulatorProcess) -> dict[str, int]:
    state = await emu.admin("GET", "state")
    return {k: int(v) for k, v in state["counters"].items()}


async def make_models(emu: EmulatorProcess, account: str, jobs: int) -> list[str]:
    """`jobs` succeeded jobs on `account`; their fine-tuned models and kept checkpoints' models."""
    async with httpx.AsyncClient(
        base_url=emu.account_url(account), headers={"api-key": "k"}, params=API, timeout=30
    ) as azure:
        content = datasets.path("good_training").read_bytes()
        up = await azure.post(
            "/openai/files", data={"purpose": "fine-tune"}, files={"file": ("train.jsonl", content)}
        )
        up.raise_for_status()
        await advance(emu, 30)
        ids = []
        for _ in range(jobs):
            created = await azure.post(
                "/openai/fine_tuning/jobs",
                json={"model": "gpt-4o-mini-2024-07-18", "training_file": up.json()["id"]},
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
        models: list[str] = []
        await advance(emu, 6 * 3600)
        for job_id in ids:
            job = (await azure.get(f"/openai/fine_tuning/jobs/{job_id}")).json()
            assert job["status"] == "succeeded", job["status"]
            page = (await azure.get(f"/openai/fine_tuning/jobs/{job_id}/checkpoints")).json()
            names = [job["fine_tuned_model"]] + [c["fine_tuned_model_checkpoint"] for c in page["data"]]
            models += list(dict.fromkeys(names))
        return models


async def deploy_all(emu: EmulatorProcess, account: str, models: list[str]) -> list[str]:
    base = f"{emu.url}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.CognitiveServices/accounts"
    names = []
    async with httpx.AsyncClient(timeout=30, headers=BEARER, params=ARM_API) as http:
        gate = asyncio.Semaphore(16)

        async def put(i: int, model: str) -> None:
            name = f"{account}-dep-{i:03d}"
            body = {
                "sku": {"name": "Standard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
            }
            async with gate:
                resp = await http.put(f"{base}/{account}/deployments/{name}", json=body)
            assert resp.status_code in (200, 201), resp.text
            names.append(name)

        await asyncio.gather(*(put(i, m) for i, m in enumerate(models)))
    return sorted(names)


async def call_some(emu: EmulatorProcess, account: str, names: list[str]) -> None:
    async with httpx.AsyncClient(
        base_url=emu.account_url(account), headers={"api-key": "k"}, params=API, timeout=30
    ) as azure:
        for name in names:
            resp = await azure.post(
                f"/openai/deployments/{name}/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
            )
            resp.raise_for_status()


def ratio(value: float, goal: float) -> str:
    return f"{value / goal:.2f}" if goal else "-"


async def main(args: argparse.Namespace) -> int:
    accounts = [f"bench-idle-{i + 1}" for i in range(args.accounts)]
    per_account = [
        args.deployments // args.accounts + (1 if i < args.deployments % args.accounts else 0)
        for i in range(args.accounts)
    ]
    options: dict[str, Any] = {
        "speed": 0,
        "extra_accounts": accounts,
        "max_running_jobs": 100,
        "max_queued_jobs": 100,
        "max_total_jobs": 100,
        "fine_tuned_deployment_quota": max(per_account) + 10,
    }
    os.environ[KEY_ENV] = "bench-key-not-secret"
    async with emulator_process(**options) as emu:
        print(f"making {args.deployments} deployments on {args.accounts} accounts ...", flush=True)
        deployed: dict[str, list[str]] = {}
        for account, count in zip(accounts, per_account, strict=True):
            models = await make_models(emu, account, math.ceil(count / 3))
            deployed[account] = await deploy_all(emu, account, models[:count])
        await advance(emu, 300)
        await advance(emu, 11 * DAY)
        for account, names in deployed.items():
            await call_some(emu, account, names[::3])  # a third is in use
        await advance(emu, DAY)

        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
                arm_endpoint=emu.url,
                azure_static_token="bench-token-not-secret",
                alert_channel="slack:CBENCHIDLE",
                resources=[
                    AzureResource(
                        name=a,
                        endpoint=emu.account_url(a),
                        api_key_env=KEY_ENV,
                        subscription_id=SUB,
                        resource_group=RG,
                        account_name=a,
                    )
                    for a in accounts
                ],
            )
            store = Store.open(settings.database_url)
            await store.upgrade()
            azure = AzureClients(settings)
            ctx = Context(settings=settings, store=store, azure=azure)
            try:
                results = []
                for round_no in (1, 2):
                    before = await counters(emu)
                    started = time.perf_counter()
                    report = await sweep_all(ctx)
                    seconds = time.perf_counter() - started
                    after = await counters(emu)
                    per_resource = {
                        a: after.get(f"metrics.query.{a}", 0) - before.get(f"metrics.query.{a}", 0)
                        for a in accounts
                    }
                    pages = after.get("deployments.list", 0) - before.get("deployments.list", 0)
                    rows = await store.outbox_rows()
                    results.append((round_no, report, seconds, per_resource, pages, len(rows)))
            finally:
                await azure.close()
                await store.close()

    print()
    worst_metrics = 0
    worst_seconds = 0.0
    for round_no, report, seconds, per_resource, pages, queued in results:
        worst_metrics = max(worst_metrics, *per_resource.values())
        worst_seconds = max(worst_seconds, seconds)
        print(
            f"sweep {round_no}: {report.deployments} fine-tuned deployments on {report.resources} resources in "
            f"{seconds:.2f} s; metrics requests per resource {per_resource}; ARM list pages {pages}; "
            f"messages due {report.due}, new in the outbox {report.queued} (outbox rows in total {queued})"
        )
    print()
    print(
        f"metrics requests per resource per sweep: {worst_metrics} (goal <= {GOAL_METRICS_PER_RESOURCE}, ratio "
        f"{ratio(worst_metrics, GOAL_METRICS_PER_RESOURCE)})"
    )
    print(
        f"sweep time: {worst_seconds:.2f} s (goal <= {GOAL_SECONDS:.0f} s, ratio {ratio(worst_seconds, GOAL_SECONDS)})"
    )
    ok = worst_metrics <= GOAL_METRICS_PER_RESOURCE and worst_seconds <= GOAL_SECONDS
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--accounts", type=int, default=3)
    sys.exit(asyncio.run(main(parser.parse_args())))
