"""`ftbot demo` as a newcomer runs it: a real process on the embedded default that serves the chat page and
prints its address and three commands to try."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bot.app import DEMO_COMMANDS, demo_banner
from tests.core.test_serve import FTBOT, clean_env, free_port


@pytest.mark.slow
def test_demo_serves_the_page_and_says_what_to_try(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*FTBOT, "demo"],
        cwd=tmp_path,
        env=clean_env(tmp_path, FTBOT_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = time.monotonic()
        status = None
        while time.monotonic() - started < 20 and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            except httpx.TransportError:
                time.sleep(0.05)
        assert status == 200
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        # 200 with the bundle installed (make install), 503 saying how to install it otherwise.
        assert page.status_code in (200, 503)
        assert "local demo" in page.text if page.status_code == 200 else "make install" in page.text
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"Open http://127.0.0.1:{port}/ in a browser" in output
    for command in DEMO_COMMANDS:
        assert f"    {command}\n" in output
    # The embedded emulator's address, for moving its clock to see the idle guard.
    assert re.search(r"curl -X POST http://127\.0\.0\.1:\d+/_emulator/clock/advance ", output), output


def test_the_banner_says_how_a_second_user_approves() -> None:
    # Each tab is a user of its own, with a conversation of its own: a second user never sees the first one's
    # approval card, so the banner says what to type where (the walkthrough's bob got "Unknown command").
    banner = demo_banner("http://127.0.0.1:3978")
    assert "http://127.0.0.1:3978/?user=bob" in banner and "`approve <request id>`" in banner


def test_the_banner_says_how_to_move_the_emulated_clock_only_with_the_emulator() -> None:
    banner = demo_banner("http://127.0.0.1:3978", "http://127.0.0.1:4567")
    assert "FTBOT_IDLE_SWEEP_INTERVAL=60" in banner
    assert "curl -X POST http://127.0.0.1:4567/_emulator/clock/advance" in banner and '{"days": 13}' in banner
    assert "_emulator" not in demo_banner("http://127.0.0.1:3978")
