"""Real clients in a real browser: Debian's Chromium driven by Playwright for Python.

The project's test setup installs Chromium (`make test` runs `apt-get install chromium` when it is missing) and
the Microsoft 365 Agents Playground (npm, tests/js). Playwright never downloads a browser of its own here: it is
pointed at the system Chromium. Without them these tests skip with the reason, except where
FTBOT_REQUIRE_BROWSER=1 (CI), where a missing piece is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
# Without these the closed network floods the run with refused connections (see the README).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _missing(what: str) -> None:
    if os.environ.get("FTBOT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{what} (FTBOT_REQUIRE_BROWSER=1: `make test` installs it)")
    pytest.skip(f"{what}: run `make test`, which installs it")


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    _missing("Chromium is not installed")
    raise AssertionError  # unreachable: _missing raises


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
    executable = chromium_path()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def wait_for_http(url: str, within: float = 30.0) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{url} did not answer within {within:.0f} s")
            await asyncio.sleep(0.2)


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
