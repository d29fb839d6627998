"""Run the emulator in a process of its own for the watcher's end-to-end tests and bench:
`python -m tests.watch.emulator_main '{"speed": 100, "max_running_jobs": 20, ...}'`. Prints `URL <url>`.

Options beyond the CLI's: the per-account job limits, shorter non-training timings, extra accounts."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys

from emulator.config import AccountConfig, EmulatorConfig, Timings
from emulator.server import start


async def main(options: dict[str, object]) -> None:
    timings = Timings(**options.pop("timings", {}))  # type: ignore[arg-type]
    accounts = [AccountConfig(name=str(n)) for n in options.pop("extra_accounts", [])]  # type: ignore[attr-defined]
    config = dataclasses.replace(EmulatorConfig(), timings=timings, extra_accounts=accounts, **options)  # type: ignore[arg-type]
    emu = await start(port=0, config=config)
    print(f"URL {emu.url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}")))
