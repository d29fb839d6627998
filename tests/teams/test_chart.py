"""Acceptance (issue 12), Teams: `chart <job>` answers with a card holding `Chart.Line` and an Image whose URL
the bot serves (a plain HTTP client gets the PNG), 404 with a wrong token and after expiry. The whole bot
with its embedded emulator; only the Bot Connector is a stand-in."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import update

from bot.app import RunningBot, start_bot
from bot.config import load_settings
from bot.schema import chart_images
from bot.store.base import utcnow
from cards.model import Card, Chart, ChartSeries, Fact
from tests.charts.azure_jobs import finished_job
from tests.teams.conftest import BotFactory, assert_cards_valid, payload
from tests.teams.fake_connector import FakeConnector


@pytest.fixture
async def bot(connector: FakeConnector, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}", emulator_speed=0.001
    )
    running = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        await running.close()
    assert_cards_valid(connector.calls)


def _find(node: Any, kind: str) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if node.get("type") == kind else []
        return own + [x for v in node.values() for x in _find(v, kind)]
    if isinstance(node, list):
        return [x for v in node for x in _find(v, kind)]
    return []


async def test_chart_card_image_is_served_then_expires(bot: RunningBot, connector: FakeConnector) -> None:
    job_id = await finished_job(bot.emulator)
    text = f"<at>ftbot</at> chart {job_id}"
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"{bot.url}/api/messages", json=payload("message_channel_mention", connector.url, text=text)
        )
        assert resp.status_code == 200
        calls = await connector.wait_until(lambda cs: any(_find(c.cards, "Chart.Line") for c in cs))
        card = next(c for call in calls for c in call.cards if _find(c, "Chart.Line"))
        (line,) = _find(card, "Chart.Line")
        assert [s["legend"] for s in line["data"]][:2] == ["training", "validation"]
        (image,) = _find(card, "Image")
        assert image["altText"].startswith("Line chart of training")
        url = image["url"]
        assert url.startswith(f"{bot.url}/charts/") and url.endswith(".png")
        token = url.rsplit("/", 1)[1].removesuffix(".png")
        assert len(token) >= 40  # 256 random bits

        # A plain HTTP client (no auth, no cookies) gets the picture.
        got = await http.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(got.content)).size == (1200, 675)

        # Any other token, or none, is a 404.
        wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert (await http.get(f"{bot.url}/charts/{wrong}.png")).status_code == 404
        assert (await http.get(f"{bot.url}/charts/../healthz.png")).status_code == 404

        # After its time is up (the row says it expired a second ago) it is a 404 too, and pruned later.
        async with await bot.store.write() as conn:
            await conn.execute(
                update(chart_images)
                .where(chart_images.c.token == token)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert (await http.get(url)).status_code == 404
        assert await bot.store.delete_expired_chart_images() == 1


async def test_without_an_image_host_a_small_chart_goes_inline(bot_factory: BotFactory) -> None:
    chart = Chart(
        "Loss",
        "training step",
        "loss",
        (ChartSeries("training", ((1.0, 2.0), (2.0, 1.0)), "train"),),
        "A line.",
    )
    async with bot_factory() as teams:
        assert teams.adapter.chart_images is None
        inline = await teams.adapter.pictured(Card(title="Chart", charts=(chart,)))
        (image,) = inline.images
        assert image.url.startswith("data:image/png;base64,") and image.alt == "A line."
        # A card already near the size limit keeps its native chart and text, without the picture.
        facts = tuple(Fact(f"fact {i}", "y" * 1500) for i in range(30))
        big = Card(title="Chart", text="x" * 19_000, facts=facts, charts=(chart,))
        assert (await teams.adapter.pictured(big)).images == ()


async def test_ttl_setting_is_read(tmp_path: Path) -> None:
    assert load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db").chart_ttl_days == 7
