"""Start-up sweep of what a crash left in the temporary folder: old `ftbot-data-*` spool folders and
`ftbot-upload-*.part` copies go; recent ones and those of a process still running stay."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from handlers.spool import SWEEP_AGE, sweep_spool
from tests.conftest import bot_settings


def _aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    for entry in [path, *(path.iterdir() if path.is_dir() else ())]:
        os.utime(entry, (then, then))
    return path


def _spool(root: Path, name: str, age: float) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "abcd1234-train.jsonl").write_bytes(b"x" * 1000)
    return _aged(folder, age)


def _file(root: Path, name: str, age: float) -> Path:
    path = root / name
    path.write_bytes(b"y")
    return _aged(path, age)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_only_a_crashed_process_leftovers(tmp_path: Path) -> None:
    old = SWEEP_AGE + 60
    crashed = _spool(tmp_path, f"ftbot-data-{_dead_pid()}-q1w2e3", old)
    unnamed = _spool(tmp_path, "ftbot-data-zz9x", old)  # from before the pid was in the name
    mine_before = _spool(tmp_path, f"ftbot-data-{os.getpid()}-r4t5", old)  # pid 1 again after a restart
    recent = _spool(tmp_path, f"ftbot-data-{_dead_pid()}-y6u7", 10)
    live = _spool(tmp_path, f"ftbot-data-{os.getppid()}-i8o9", old)  # another bot still running
    part_old = _file(tmp_path, "ftbot-upload-a1b2.part", old)
    part_new = _file(tmp_path, "ftbot-upload-c3d4.part", 10)
    unrelated = _file(tmp_path, "someone-else.part", old)

    # A file written recently inside an old folder keeps it (a download still being written).
    busy = _spool(tmp_path, f"ftbot-data-{_dead_pid()}-busy", old)
    (busy / "new.jsonl").write_bytes(b"fresh")

    assert sweep_spool(tmp_path) == 4
    gone = {crashed, unnamed, mine_before, part_old}
    assert all(not p.exists() for p in gone)
    assert all(p.exists() for p in (recent, live, part_new, busy, unrelated))


async def test_start_up_sweeps_the_temporary_folder(
    tmp_path: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.app import start_bot

    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    leftover = _spool(root, f"ftbot-data-{_dead_pid()}-crash", SWEEP_AGE + 60)
    bot = await start_bot(bot_settings(emulator, tmp_path))
    try:
        assert not leftover.exists()
    finally:
        await bot.close()
