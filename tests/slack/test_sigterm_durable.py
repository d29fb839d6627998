"""`ftbot serve` stopped with SIGTERM right after a burst of slash commands: every command acknowledged is
answered and its batched writes (its signature, its card's reference) are in the database afterwards."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.core.test_serve import clean_env, free_port
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, signed_headers

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_sigterm_after_a_burst_loses_no_batched_write(tmp_path: Path) -> None:
    n = 40
    async with FakeSlackApi(token=BOT_TOKEN) as slack:
        port = free_port()
        env = clean_env(
            tmp_path,
            FTBOT_PORT=str(port),
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            FTBOT_SLACK_API_URL=slack.api_url,
            PYTHONPATH=str(ROOT),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "serve",
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient() as http:
                while True:
                    try:
                        if (await http.get(f"http://127.0.0.1:{port}/healthz", timeout=1)).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "ftbot serve did not become healthy"
                    await asyncio.sleep(0.1)

            async def one(http: aiohttp.ClientSession, i: int) -> str:
                body, content_type = form_body(
                    payloads.slash_command("help", response_url=slack.response_url(f"s{i}"))
                )
                url = f"http://127.0.0.1:{port}/slack/events"
                async with http.post(
                    url, data=body.encode(), headers=signed_headers(body, content_type)
                ) as r:
                    assert r.status == 200
                    return await r.text()

            async with aiohttp.ClientSession() as http:
                acks = await asyncio.gather(*(one(http, i) for i in range(n)))
            assert all("busy" not in a for a in acks)
            proc.send_signal(signal.SIGTERM)  # at once: the work of most commands has barely started
            async with asyncio.timeout(30):
                assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    answered = len(slack.called("chat.postMessage")) + len(slack.called("chat.postEphemeral"))
    answered += len(slack.called("response_url"))
    assert answered == n
    with sqlite3.connect(tmp_path / "ftbot.db") as db:
        (signatures,) = db.execute(
            "SELECT count(*) FROM seen_events WHERE source = 'slack-signature'"
        ).fetchone()
    assert signatures == n
