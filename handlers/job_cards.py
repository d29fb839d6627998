"""Every card of a job shows its current state: after a change made from chat (cancel, pause, resume), the
job's cards in other conversations (its home channel, where someone ran `status`) are updated in place at once,
so none keeps a live Cancel button for a job that was cancelled elsewhere. The watcher does the same on every
status change it sees (`handlers/watch.py`, `holders`); this is the immediate path for changes made here.
"""

from __future__ import annotations

import asyncio
import logging

from bot.context import Context
from bot.model import MessageRef
from bot.store.health import best_effort
from cards.jobs import job_key
from cards.model import Card

log = logging.getLogger(__name__)

UPDATE_WITHIN = 10.0  # seconds one card update may take (a platform that hangs does not hold the others)


async def update_job_cards(ctx: Context, job_id: str, card: Card, *, skip: MessageRef | None = None) -> int:
    """Replace every stored card of `job_id` with `card` (except `skip`, the message being answered in place);
    the number updated. Best effort: a refusal (message deleted, bot removed) is logged and the rest go on."""
    if ctx.notifier is None:
        return 0
    holders = (await ctx.store.card_holders([job_key(job_id)])).get(job_key(job_id), [])
    updated = 0
    for conversation_key, ref in holders:
        if skip is not None and (ref.conversation_id, ref.message_id) == (
            skip.conversation_id,
            skip.message_id,
        ):
            continue
        conversation = await ctx.store.get_conversation(conversation_key)
        if conversation is None:
            continue
        try:
            async with asyncio.timeout(UPDATE_WITHIN):
                await ctx.notifier.update(conversation.platform, conversation.reference, ref, card)
        except Exception as exc:
            log.info(
                "job %s: its card in %s was not updated: %s", job_id, conversation_key, type(exc).__name__
            )
            continue
        updated += 1
        # It shows news as of now: a watcher's update queued before this is older and is not applied.
        await best_effort(
            ctx.store.card_shown(job_key(job_id), conversation_key, ref.message_id),
            "record the card's version",
            default=None,
            store=ctx.store,
        )
    return updated


def refresh_job_cards(ctx: Context, job_id: str, card: Card, *, skip: MessageRef | None = None) -> None:
    """`update_job_cards` after the answer is out (in the background)."""
    from handlers.reconcile import spawn  # reconcile builds on handlers.jobs, which calls this

    spawn(ctx, _quietly(ctx, job_id, card, skip))


async def _quietly(ctx: Context, job_id: str, card: Card, skip: MessageRef | None) -> None:
    try:
        await update_job_cards(ctx, job_id, card, skip=skip)
    except Exception as exc:  # the store is down: the watcher updates the cards on its next look
        log.info("job %s: its other cards were not updated: %s", job_id, type(exc).__name__)
