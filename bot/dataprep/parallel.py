"""One file checked on several cores: byte ranges cut at line boundaries, one forked process per range.

A large file is split in `workers` ranges of whole lines (counting tokens costs ~5x more CPU than the
checks alone, so a smaller file is worth splitting when tokens are counted); this process checks the
first, a forked child each of the others, and the children's findings are added in file order with their
line numbers shifted (`StreamValidator.absorb`): the report is the one a single process would give. The
tokenizer is loaded before the fork, so its tables are shared with the children, not copied. Only for
processes that may fork (the CLI); a child that fails has its range checked here instead.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import warnings
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.dataprep.report import ValidationReport
from bot.dataprep.validator import BLOCK_SIZE, PartResult, StreamValidator, ValidationCancelled

# Below this, a second process costs more than it saves (fork, a second reader): ~0.5 s of work with
# tokens, ~0.4 s without.
MIN_PARALLEL_BYTES = 16 * 1024 * 1024
MIN_PARALLEL_BYTES_NO_TOKENS = 64 * 1024 * 1024


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cut_points(path: str | Path, size: int, parts: int) -> list[int]:
    """Offsets that split the file in up to `parts` ranges, each just after a newline (so ranges hold whole
    lines): [0, c1, ..., size]."""
    cuts = [0]
    with open(path, "rb") as stream:
        for k in range(1, parts):
            start = max(size * k // parts, cuts[-1])
            stream.seek(start)
            while True:
                block = stream.read(BLOCK_SIZE)
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
    cancel: threading.Event | None = None,
) -> None:
    buffer = bytearray(BLOCK_SIZE)
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


def _check_part(path: str | Path, start: int, end: int, options: dict[str, Any]) -> PartResult:
    validator = StreamValidator(**options)
    validator.start_mid_file()
    _feed_range(validator, path, start, end)
    return validator.part_result()


def _child(conn: Connection, path: str | Path, start: int, end: int, options: dict[str, Any]) -> None:
    try:
        conn.send(_check_part(path, start, end, options))
    finally:
        conn.close()


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
    cuts = cut_points(path, size, workers)
    context = multiprocessing.get_context("fork")
    children: list[tuple[Any, Connection, int, int]] = []
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process with threads; the child only reads and counts.
            warnings.simplefilter("ignore", DeprecationWarning)
            for start, end in itertools.pairwise(cuts[1:]):
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(send, path, start, end, options), daemon=True)
                process.start()
                send.close()
                children.append((process, receive, start, end))
        _feed_range(validator, path, 0, cuts[1] if len(cuts) > 1 else size, cancel)
        for process, receive, start, end in children:
            try:
                part = receive.recv()
            except (EOFError, OSError):
                part = None  # the child died: check its range here
            receive.close()
            process.join()
            if cancel is not None and cancel.is_set():
                raise ValidationCancelled()
            if part is None:
                part = _check_part(path, start, end, options)
            validator.absorb(part)
    finally:
        for process, receive, _, _ in children:
            if process.is_alive():
                process.terminate()
                process.join()
            receive.close()
    return validator.finish()
