"""The checkpoint table: step, losses, accuracies, with the deployable checkpoints marked."""

from __future__ import annotations

from collections.abc import Sequence

from cards.format import number, percent
from cards.jobs import job_key
from cards.model import Card, Table, Tone
from cards.views import CheckpointView

DEPLOYABLE_MARK = "✓"
# Statuses after which no checkpoint will ever become deployable, as the sentence says them.
_DEAD = {"failed": "failed", "cancelled": "was cancelled"}


def _valid_loss(checkpoint: CheckpointView) -> float | None:
    """The full validation loss when the service computed it, else the per-batch one."""
    if checkpoint.full_valid_loss is not None:
        return checkpoint.full_valid_loss
    return checkpoint.valid_loss


def checkpoints_card(
    job_id: str, checkpoints: Sequence[CheckpointView], more: str = "", job_status: str | None = None
) -> Card:
    """Checkpoints of a job by step; `more` points at further pages when the service has more.

    `job_status` (when known) tells a job that can no longer produce deployable checkpoints (failed,
    cancelled) from one still running.
    """
    if not checkpoints:
        return Card(
            title=f"Checkpoints of {job_id}",
            text="No checkpoints yet. One is saved at the end of each epoch.",
            summary=f"No checkpoints for job {job_id} yet.",
            key=f"{job_key(job_id)}:checkpoints",
        )
    ordered = sorted(checkpoints, key=lambda c: c.step)
    rows = tuple(
        (
            str(c.step),
            number(c.train_loss),
            number(_valid_loss(c)),
            percent(c.train_accuracy),
            percent(c.valid_accuracy),
            DEPLOYABLE_MARK if c.deployable else "",
        )
        for c in ordered
    )
    table = Table(
        columns=("Step", "Train loss", "Valid loss", "Train acc.", "Valid acc.", "Deployable"),
        rows=rows,
        more=more,
    )
    deployable = [c for c in ordered if c.deployable]
    if deployable:
        marked = f"{len(deployable)} checkpoint{'s' if len(deployable) != 1 else ''}"
        text = f"{DEPLOYABLE_MARK} marks the {marked} you can deploy (the last epochs)."
    elif job_status in _DEAD:
        text = f"This job {_DEAD[job_status]}; its checkpoints cannot be deployed."
    else:
        text = "None can be deployed yet: the last epochs become deployable when the job ends."
    scored = [c for c in ordered if _valid_loss(c) is not None]
    if scored:
        best = min(scored, key=lambda c: _valid_loss(c) or 0.0)
        text += f"\nLowest validation loss at step **{best.step}**"
        text += f": `{best.model}`" if best.model else "."
    return Card(
        title=f"Checkpoints of {job_id}",
        tone=Tone.INFO,
        badge=f"{len(ordered)} checkpoints",
        text=text,
        tables=(table,),
        summary=f"{len(ordered)} checkpoints of job {job_id}, {len(deployable)} deployable.",
        key=f"{job_key(job_id)}:checkpoints",
    )
