"""Acceptance (issue 11) with bot processes: 20 concurrent Approve clicks over two replicas on one PostgreSQL
send one PUT; a bot killed (-9) while the deployment is provisioning finishes following it after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.store import Store
from tests.deploy.support import (
    EmulatorProcess,
    approval_card_of,
    bot_process_env,
    click,
    roles_file,
    slash,
    start_bot_process,
    stop_process,
    text_of,
    until,
)
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.payloads import CHANNEL

APPROVER = "U0APPROVER1"


@pytest.fixture
async def pg_url(postgres_server: str) -> AsyncIterator[str]:
    store = Store.open(postgres_server)
    await store.upgrade()
    await store.close()
    yield postgres_server


def _reader(store: Store):  # type: ignore[no-untyped-def]
    async def read(approval_id: str) -> str | None:
        ref = await store.find_message(f"approval:{approval_id}", f"slack:{CHANNEL}")
        return ref.message_id if ref else None

    return read


@pytest.mark.postgres
async def test_twenty_concurrent_approvals_over_two_replicas_send_one_put(
    pg_url: str, emu: EmulatorProcess, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    env = bot_process_env(emu, pg_url, slack_api.api_url, roles_file(tmp_path, [APPROVER]))
    replicas = await asyncio.gather(start_bot_process(env), start_bot_process(env))
    store = Store.open(pg_url)
    try:
        job = await emu.succeeded_job()
        async with aiohttp.ClientSession() as http:
            assert await slash(http, replicas[0].url, f"deploy {job} --name raced") == 200
            action_id, value, ts = await approval_card_of(slack_api, _reader(store), 0)
            statuses = await asyncio.gather(
                *(
                    click(http, replicas[i % 2].url, action_id, value, ts, APPROVER, "grace")
                    for i in range(20)
                )
            )
        assert statuses == [200] * 20

        async def all_answered() -> bool:
            # One winner updates the card; the 19 others are told privately that it is already approved.
            return (
                len(slack_api.called("chat.postEphemeral")) >= 19
                and len(slack_api.called("chat.update")) >= 1
            )

        await until(all_answered)
        assert await emu.puts() == 1
        assert list(await emu.deployments()) == ["raced"]
        losers = [text_of(c.args["blocks"]) for c in slack_api.called("chat.postEphemeral")]
        assert all("already approved" in t for t in losers)
    finally:
        await store.close()
        for replica in replicas:
            await stop_process(replica.process)


async def test_kill_9_during_provisioning_then_restart_reaches_deployed(
    emu: EmulatorProcess, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}"
    env = bot_process_env(emu, database, slack_api.api_url, roles_file(tmp_path, [APPROVER]))
    bot = await start_bot_process(env)
    store = Store.open(database)
    try:
        job = await emu.succeeded_job()
        async with aiohttp.ClientSession() as http:
            assert await slash(http, bot.url, f"deploy {job} --name survivor") == 200
            action_id, value, ts = await approval_card_of(slack_api, _reader(store), 0)
            assert await click(http, bot.url, action_id, value, ts, APPROVER, "grace") == 200

        async def put_sent() -> bool:
            return await emu.puts() == 1

        await until(put_sent)
        assert (await emu.deployments())["survivor"] in ("Accepted", "Creating")
        await stop_process(bot.process, kill=True)  # kill -9 while Azure is still provisioning

        await emu.advance(600)
        bot = await start_bot_process(env)

        async def deployed() -> bool:
            return any(
                "Deployed survivor" in text_of(c.args["blocks"]) for c in slack_api.called("chat.update")
            )

        await until(deployed)
        assert await emu.puts() == 1
    finally:
        await store.close()
        await stop_process(bot.process)
