"""One file checked on several cores: byte ranges cut at line boundaries, checked by this process and forked
children, whoever is free taking the next range.

A large file is cut in ranges of whole lines of a few MB (counting tokens costs ~5x more CPU than the
checks alone, so a smaller file is worth splitting when tokens are counted), the last ones smaller and
smaller. This process checks the first range itself; the others are handed out one at a time through a
pipe of tickets, so a core that is slower, or busy with other work, checks fewer of them, and the processes
end within a small range of each other. The ranges' findings
are added in file order with their line numbers shifted (`StreamValidator.absorb`): the report is the one a
single process would give. The tokenizer is loaded before the fork, so its tables are shared with the
children, not copied. Only for processes that may fork (the CLI); a range whose child failed is checked here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import signal
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.dataprep.report import ValidationReport
from bot.dataprep.validator import BLOCK_SIZE, PartResult, StreamValidator, ValidationCancelled

# Below this, a second process costs more than it saves (fork, a second reader): ~0.5 s of work with
# tokens, ~0.4 s without.
MIN_PARALLEL_BYTES = 16 * 1024 * 1024
MIN_PARALLEL_BYTES_NO_TOKENS = 64 * 1024 * 1024
# Ranges handed out: large enough that the cost of each (a validator, a seek) stays noise (~10 ms of checks,
# ~50 ms with tokens). The last rounds of ranges (one range per process a round) are halved, then halved
# again, down to an eighth: whoever ends first waits at most for a small range, not a whole one. One byte a
# ticket: at most 256 ranges.
RANGE_BYTES = 4 * 1024 * 1024
MAX_RANGES = 256
_TAIL_SHIFTS = (1, 2, 3)
_TAIL_WIDTH = 32  # ranges a tail round at most (keeps the count under MAX_RANGES on many cores)
_CUT_READ = 64 * 1024  # read at each cut to find the next newline (lines are rarely longer)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def range_bounds(size: int, workers: int) -> list[int]:
    """Where the ranges of a file of `size` bytes start, before each is moved to a line's start, and its
    end: [0, ..., size], at least `workers` ranges. Ranges of RANGE_BYTES (more in a file of over
    MAX_RANGES / 2 of them; less in a small one), then rounds of halves, quarters and eighths."""
    width = max(1, min(workers, _TAIL_WIDTH))
    step = max(RANGE_BYTES, -(-size // (MAX_RANGES // 2)))
    step = max(1, min(step, size // (2 * width)))  # a small file still gets its tail
    tail = [step >> shift or 1 for shift in _TAIL_SHIFTS for _ in range(width)]
    head = max(0, size - sum(tail))
    count = -(-head // step)
    bounds = [head * k // count for k in range(count + 1)] if count else [0]
    for piece in tail:
        bounds.append(min(size, bounds[-1] + piece))
    bounds.append(size)
    bounds = sorted(set(bounds))
    if len(bounds) - 1 < workers:  # a tiny file: equal parts
        bounds = sorted({size * k // workers for k in range(workers + 1)})
    return bounds


def cut_points(path: str | Path, bounds: list[int]) -> list[int]:
    """`bounds` ([0, ..., size]) each moved to just after the next newline, so ranges hold whole lines;
    bounds that meet are merged."""
    size = bounds[-1]
    cuts = [0]
    with open(path, "rb") as stream:
        for bound in bounds[1:-1]:
            start = max(bound, cuts[-1])
            stream.seek(start)
            while True:
                block = stream.read(_CUT_READ)
                if not block:
                    break
                nl = block.find(b"\n")
                if nl >= 0:
                    cut = start + nl + 1
                    if cut < size:
                        cuts.append(cut)
                    break
                start += len(block)
    cuts.append(size)
    return sorted(set(cuts))


def _feed_range(
    validator: StreamValidator,
    path: str | Path,
    start: int,
    end: int,
    buffer: bytearray,
    cancel: threading.Event | None = None,
) -> None:
    """Feeds `path[start:end]` through `buffer` (one per process, reused: a new one is a few hundred page
    faults a range)."""
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        stream.seek(start)
        left = end - start
        while left > 0:
            if cancel is not None and cancel.is_set():
                raise ValidationCancelled()
            size = stream.readinto(view[: min(BLOCK_SIZE, left)])
            if not size:
                break
            validator.feed_buffer(buffer, size)
            left -= size


def _check_part(
    path: str | Path, start: int, end: int, options: dict[str, Any], buffer: bytearray
) -> PartResult:
    validator = StreamValidator(**options)
    validator.start_mid_file()
    _feed_range(validator, path, start, end, buffer)
    return validator.part_result()


def _claim(tickets: int) -> Iterator[int]:
    """The indexes of the ranges this process takes, one at a time, until none is left. A read of one byte
    from a pipe is atomic, and the pipe has no writer left: an empty read means every range is taken."""
    while ticket := os.read(tickets, 1):
        yield ticket[0]


@dataclass(slots=True)
class _Child:
    pid: int
    results: int  # the read end of its pipe, until `collect`
    collected: bool = False
    reaped: bool = False

    def collect(self) -> dict[int, PartResult]:
        """Its results, once it wrote them all; nothing if it died first (its ranges are then checked here).
        Not waited for: it exits while this process adds up the results (`stop` reaps it)."""
        parts: dict[int, PartResult] = {}
        self.collected = True
        with open(self.results, "rb") as stream, contextlib.suppress(EOFError, pickle.UnpicklingError):
            parts = pickle.load(stream)
        return parts

    def stop(self) -> None:
        """Reaps the child; first ends one that was not collected (the check failed or was cancelled here)."""
        if self.reaped:
            return
        if not self.collected:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.close(self.results)
        os.waitpid(self.pid, 0)
        self.reaped = True


def _start_child(
    tickets: int, path: str | Path, ranges: list[tuple[int, int]], options: dict[str, Any]
) -> _Child:
    """Forks a process that checks the ranges it claims and writes their results, pickled, to a pipe.
    (A plain fork: multiprocessing's Process costs a few ms more to start, and its imports.)"""
    results, out = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process with threads; the child only reads and counts.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: whatever happens, it ends here (no atexit handlers, no inherited buffers)
        code = 1
        try:
            os.close(results)
            buffer = bytearray(BLOCK_SIZE)
            parts = {i: _check_part(path, *ranges[i], options, buffer) for i in _claim(tickets)}
            with open(out, "wb") as stream:
                pickle.dump(parts, stream, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(out)
    return _Child(pid, results)


def validate_parallel(
    path: str | Path,
    *,
    workers: int,
    cancel: threading.Event | None = None,
    **options: Any,
) -> ValidationReport:
    """`validate_path` on `workers` processes. Options as for `StreamValidator`, without `max_invalid`
    (stopping after N invalid examples needs the count so far, which a later range does not have)."""
    if options.get("max_invalid") is not None:
        raise ValueError("max_invalid needs a single process")
    validator = StreamValidator(**options)  # loads the tokenizer before the fork: the children share it
    size = os.stat(path).st_size
    ranges = list(itertools.pairwise(cut_points(path, range_bounds(size, workers))))
    # Every range but the first (this process's own, where a byte-order mark may be) has a ticket; the
    # write end is closed before the fork, so no process holds it and the pipe ends when it is empty.
    tickets, fill = os.pipe()
    children: list[_Child] = []
    try:
        try:
            os.write(fill, bytes(range(1, len(ranges))))
        finally:
            os.close(fill)
        for _ in range(min(workers, len(ranges)) - 1):
            children.append(_start_child(tickets, path, ranges, options))
        buffer = bytearray(BLOCK_SIZE)
        _feed_range(validator, path, *ranges[0], buffer, cancel)
        parts: dict[int, PartResult] = {}
        for i in _claim(tickets):
            if cancel is not None and cancel.is_set():
                raise ValidationCancelled()
            parts[i] = _check_part(path, *ranges[i], options, buffer)
        for child in children:
            parts.update(child.collect())
        if cancel is not None and cancel.is_set():
            raise ValidationCancelled()
        for i in range(1, len(ranges)):
            validator.absorb(parts[i] if i in parts else _check_part(path, *ranges[i], options, buffer))
        return validator.finish()
    finally:
        os.close(tickets)
        for child in children:
            child.stop()
