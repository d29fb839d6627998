"""The demo walkthrough's second user: each tab of the chat page is a user with a conversation of its own, so
the approver never sees the requester's approval card. They type `approve <request id>` (the id and that
command are on the card) in their own tab; the requester's card updates in place in the first tab. Driven over
Direct Line as Web Chat does, against the whole bot and the emulator, with roles configured (a shared bot:
four-eyes applies)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bot.app import RunningBot, start_bot
from bot.config import Roles
from emulator import datasets
from tests.conftest import bot_settings
from tests.webchat.conftest import DirectLineClient, card_text, cards

API = {"api-version": "2025-04-01-preview"}


@pytest.fixture
async def shared_bot(emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    roles = Roles(approvers=["bob"])
    bot = await start_bot(
        bot_settings(
            emulator,
            tmp_path,
            allow_local_files=True,
            roles=roles,
            azure_static_token="emulator-token-not-secret",
        )
    )
    try:
        yield bot
    finally:
        await bot.close()


async def _succeeded_job(emulator: Any) -> str:
    async with httpx.AsyncClient(base_url=emulator.url, headers={"api-key": "k"}, params=API) as azure:
        content = datasets.path("good_training").read_bytes()
        uploaded = await azure.post(
            "/openai/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", content)}
        )
        emulator.advance(60)
        created = await azure.post(
            "/openai/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": uploaded.json()["id"]},
        )
        job: str = created.json()["id"]
        for _ in range(20):
            emulator.advance(600)
            if (await azure.get(f"/openai/fine_tuning/jobs/{job}")).json()["status"] == "succeeded":
                return job
    raise AssertionError("the job did not succeed")


def _puts(emulator: Any) -> int:
    return int(emulator.state.summary()["counters"].get("deployments.put", 0))


async def _answer(tab: DirectLineClient, words: str) -> str:
    """The text of the first card the bot posted in this tab, from now on, that contains `words`."""
    mark = len(tab.seen)

    def found(acts: list[dict[str, Any]]) -> bool:
        return any(words in card_text(c) for a in acts[mark:] if a["from"]["role"] == "bot" for c in cards(a))

    try:
        seen = await tab.wait_for(found)
    except TimeoutError:
        raise AssertionError([card_text(c) for _, c in tab.bot_cards()]) from None
    return next(
        card_text(c)
        for a in seen[mark:]
        if a["from"]["role"] == "bot"
        for c in cards(a)
        if words in card_text(c)
    )


async def test_a_second_tab_approves_by_command_and_the_first_tab_card_updates(
    shared_bot: RunningBot, emulator: Any
) -> None:
    job = await _succeeded_job(emulator)
    async with aiohttp.ClientSession() as http:
        alice = await DirectLineClient(http, shared_bot.url).connect("alice")
        bob = await DirectLineClient(http, shared_bot.url).connect("bob")
        carol = await DirectLineClient(http, shared_bot.url).connect("carol")
        await alice.say(f"deploy {job} --name demo-model")
        shown = await _answer(alice, "Deploy demo-model?")
        # The card shows its request id and the command a second user types.
        match = re.search(r"type approve ([0-9a-f]{12}) or reject", shown)
        assert match is not None, repr(shown)
        request = match.group(1)
        card_id = next(i for i, c in alice.bot_cards() if "Deploy demo-model?" in card_text(c))

        await alice.say(f"approve {request}")  # four-eyes: not the requester
        assert "someone else" in await _answer(alice, "may not approve")
        await carol.say(f"approve {request}")  # not an approver
        assert "only the configured approvers" in await _answer(carol, "may not approve")
        assert _puts(emulator) == 0

        mark = len(alice.seen)
        await bob.say(f"approve {request}")
        answer = await _answer(bob, "You approved deploying")
        assert request in answer and "alice's conversation" in answer
        assert _puts(emulator) == 1
        # The first tab's card is updated in place (the same activity id), not posted again.
        updated = await alice.wait_for(lambda acts: any(a["id"] == card_id and cards(a) for a in acts[mark:]))
        again = next(a for a in updated[mark:] if a["id"] == card_id and cards(a))
        assert "Approved by bob" in card_text(cards(again)[0])

        await bob.say(f"approve {request}")  # a second approve changes nothing and says why
        shown = await _answer(bob, "already approved")
        assert "Not possible for this request" in shown and "already approved by bob" in shown
        assert _puts(emulator) == 1
