"""What a crashed process left in the temporary folder: the spooled sources of `handlers.data` and the
streamed-upload copies of `bot.azure.upload`, swept at start-up.

Apart from `handlers.data` (and the Azure client and HTTP stack it imports) so that the sweep at every start
imports only the standard library (issue 17).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("handlers.data")

SPOOL_PREFIX = "ftbot-data-"  # temporary folders of spooled sources (swept at start-up after a crash)
UPLOAD_PART_GLOB = "ftbot-upload-*.part"  # bot.azure.upload's copies of streamed uploads
SWEEP_AGE = 300.0  # seconds untouched before a crashed process's spool is removed


def sweep_spool(folder: Path | None = None, *, older_than: float = SWEEP_AGE) -> int:
    """Remove what a crashed process left in the temporary folder: `ftbot-data-*` spool folders and
    `ftbot-upload-*.part` copies untouched for `older_than` seconds. A folder of another process that is
    still running is kept. Returns how many entries were removed; never raises (run at start-up)."""
    root = folder or Path(tempfile.gettempdir())
    cutoff = time.time() - older_than
    removed = freed = 0
    try:
        entries = [*root.glob(f"{SPOOL_PREFIX}*"), *root.glob(UPLOAD_PART_GLOB)]
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_symlink() or _newest_change(entry) > cutoff or _owner_alive(entry.name):
                continue
            size = _size(entry)
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as exc:
            log.warning("could not remove the leftover %s: %s", entry.name, exc.strerror or exc)
            continue
        removed += 1
        freed += size
    if removed:
        log.info("removed %d leftover spool file(s)/folder(s) in %s (%.1f MB)", removed, root, freed / 2**20)
    return removed


def _newest_change(entry: Path) -> float:
    newest = entry.stat().st_mtime
    if entry.is_dir():
        for child in entry.iterdir():
            newest = max(newest, child.lstat().st_mtime)
    return newest


def _size(entry: Path) -> int:
    if entry.is_dir():
        return sum(child.lstat().st_size for child in entry.iterdir())
    return entry.stat().st_size


def _owner_alive(name: str) -> bool:
    """`ftbot-data-<pid>-...` of another process that still runs (this process has none at start-up; a
    folder named with our own pid is a previous life's, e.g. pid 1 in a restarted container)."""
    match = re.match(rf"{SPOOL_PREFIX}(\d+)-", name)
    if match is None:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists, owned by someone else
    return True
