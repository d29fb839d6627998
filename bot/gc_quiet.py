"""Full garbage collections kept out of the way of requests (issue 17: no pause over 50 ms).

Start-up freezes its heap (`bot.warmup.WarmUp`), so what the collector still walks is mostly the work in
flight. Python's own rule runs a full collection after 10 collections of the middle generation once the old
one grew by a quarter; with the start-up heap frozen the old generation is small, so under a burst that rule
fired every ~10 s, each time walking every object of the 200 commands in flight (25-40 thousand objects,
13-25 ms of CPU, several times that in wall time on a loaded machine: bench/ack.py).

Here a full collection waits for 100 collections of the middle generation instead of 10 (a flood of minutes
before one happens), and every second, if the old generation took anything in since the last one and no
request or command is in flight, one runs at once: then it holds up nobody, and the old generation stays
small. The young generations keep Python's defaults (700, 10): measured against 3,000, their pauses stay
shorter (fewer objects each), and their total cost is a few hundred ms of CPU per 10 s burst either way.

    stop = collect_when_quiet(quiet=adapters.inflight.all_idle, alive=lambda: scheduler.running)
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

THRESHOLDS = (700, 10, 100)  # Python's defaults are (700, 10, 10)
CHECK_EVERY = 1.0  # seconds between looks for a quiet moment
WORTH_IT = 10  # middle-generation collections since the last full one (Python's own pace) before a quiet one


def collect_when_quiet(quiet: Callable[[], bool], alive: Callable[[], bool]) -> Callable[[], None]:
    """Set the thresholds above and, while `alive()`, run a full collection whenever `quiet()` and worth it.

    The thresholds are the process's (the collector is): they are set back to what they were when the checks
    end, with `alive()`, or at once by calling the function returned (the bot's close)."""
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle | None = None

    def stop() -> None:
        nonlocal handle
        if handle is not None:
            handle.cancel()
            handle = None
            gc.set_threshold(*before)

    def check() -> None:
        nonlocal handle
        if not alive():
            stop()
            return
        if gc.get_count()[2] >= WORTH_IT and quiet():
            gc.collect()
        handle = loop.call_later(CHECK_EVERY, check)

    handle = loop.call_later(CHECK_EVERY, check)
    return stop
