"""The client registry against the emulator: data plane and ARM of the configured resource, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.azure_clients import AzureClients
from bot.errors import NotFound
from emulator import datasets
from tests.conftest import bot_settings


async def test_default_resource_data_plane_and_arm(emulator: Any, tmp_path: Path) -> None:
    clients = AzureClients(bot_settings(emulator, tmp_path), emulator=True)
    try:
        data = clients.data()
        assert clients.data() is data, "one client per resource"
        uploaded = await data.upload_file(datasets.path("good_training"))
        emulator.advance(60)
        job = await data.create_job("gpt-4o-mini-2024-07-18", uploaded.id, seed=105)
        emulator.advance(48 * 3600)
        done = await data.get_job(job.id)
        assert done.fine_tuned_model
        deployments = [d async for d in clients.arm().deployments()]
        assert deployments == []
    finally:
        await clients.close()


def test_unknown_resource_names_the_configured_ones(emulator: Any, tmp_path: Path) -> None:
    clients = AzureClients(bot_settings(emulator, tmp_path))
    with pytest.raises(NotFound) as info:
        clients.resource("sweden")
    assert "`default`" in info.value.hint
