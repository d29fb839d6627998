"""A pause that is worth something: the checkpoint Azure makes when a job pauses.

Azure (2026 section of the reference): only a running job that trained at least one step can pause; once it
is paused and its safety evaluation has passed, a deployable checkpoint exists at the step it stopped, and
resuming continues the training. The wire says nothing more than the checkpoints list: the pause checkpoint
is the one made after the job began to pause (the `Pausing job.` / `Job paused.` events), so an earlier
epoch's checkpoint is never offered for it. Until that checkpoint appears (the evaluation takes a while) there
is nothing to deploy.

`pause_checkpoint(job, events, checkpoints)` is the pure rule; `find_pause_checkpoint(client, job)` reads
what it needs (the newest events, the checkpoints) only for a paused job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.models import Checkpoint, FineTuningJob, JobEvent, StatusKind, normalise_status

# Newest events read to find when the pause began (a paused job logs nothing after `Job paused.`).
PAUSE_EVENTS = 20
_PAUSE = re.compile(r"\bpaus(e|ed|ing)\b", re.IGNORECASE)
_RESUME = re.compile(r"\bresum(e|ed|ing)\b", re.IGNORECASE)


def is_paused(job: FineTuningJob) -> bool:
    return normalise_status(job.status).kind is StatusKind.PAUSED


def paused_since(events: Sequence[JobEvent]) -> int | None:
    """When the latest pause began (Unix seconds): the oldest pause event newer than any resume and any
    training step, from events newest first. None when the events do not say."""
    since: int | None = None
    for event in events:
        if _RESUME.search(event.message) or event.is_metrics:
            break
        if _PAUSE.search(event.message) and event.created_at is not None:
            since = event.created_at
    return since


def pause_checkpoint(
    job: FineTuningJob, events: Sequence[JobEvent], checkpoints: Sequence[Checkpoint]
) -> Checkpoint | None:
    """The deployable checkpoint of a paused job: the newest one made since the pause began; None for a job
    that is not paused, or whose checkpoint is not there yet (still being evaluated)."""
    if not is_paused(job):
        return None
    since = paused_since(events)
    if since is None:
        return None
    made = [c for c in checkpoints if c.created_at is not None and c.created_at >= since]
    return max(made, key=lambda c: (c.step_number or 0, c.created_at or 0)) if made else None


async def find_pause_checkpoint(client: AzureOpenAIClient, job: FineTuningJob) -> Checkpoint | None:
    """`pause_checkpoint` with what Azure says now: two small reads, only for a paused job."""
    if not is_paused(job):
        return None
    page = await client.list_events(job.id, limit=PAUSE_EVENTS)
    if paused_since(page.data) is None:
        return None
    checkpoints = [c async for c in client.checkpoints(job.id, limit=10)]
    return pause_checkpoint(job, page.data, checkpoints)


__all__ = ["find_pause_checkpoint", "is_paused", "pause_checkpoint", "paused_since"]
