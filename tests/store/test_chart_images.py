"""Chart pictures in the database, on SQLite and PostgreSQL: served until they expire, never for a guess."""

from __future__ import annotations

from datetime import timedelta

from bot.store import Store
from bot.store.base import utcnow

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


async def test_a_picture_is_kept_until_it_expires(store: Store) -> None:
    token = await store.save_chart_image(PNG, ttl=timedelta(days=7), job_id="ftjob-" + "1" * 32)
    assert len(token) >= 40
    assert await store.chart_image(token) == PNG
    assert await store.chart_image(token, now=utcnow() + timedelta(days=6, hours=23)) == PNG
    assert await store.chart_image(token, now=utcnow() + timedelta(days=7, seconds=1)) is None


async def test_unknown_tokens_and_pruning(store: Store) -> None:
    kept = await store.save_chart_image(PNG, ttl=timedelta(days=7))
    gone = await store.save_chart_image(PNG, ttl=timedelta(seconds=-1))
    assert kept != gone
    assert await store.chart_image(gone) is None
    assert await store.chart_image(kept[:-1]) is None
    assert await store.chart_image("") is None and await store.chart_image("x" * 65) is None
    assert await store.delete_expired_chart_images() == 1
    assert await store.chart_image(kept) == PNG
