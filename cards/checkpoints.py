"""The checkpoint table: step, losses, accuracies, with the deployable checkpoints marked."""

from __future__ import annotations

from collections.abc import Sequence

from cards.approvals import REQUEST, deploy_request_button
from cards.format import number, percent, plural
from cards.jobs import CHART, job_key
from cards.markup import code, literal
from cards.model import Button, Card, Table, Tone
from cards.views import CheckpointView

DEPLOYABLE_MARK = "✓"
# The action of the Deploy buttons (handled by handlers/deploy.py through the approvals).
DEPLOY_ACTION = REQUEST
# Statuses after which no checkpoint will ever become deployable, as the sentence says them.
_DEAD = {"failed": "failed", "cancelled": "was cancelled"}


def _valid_loss(checkpoint: CheckpointView) -> float | None:
    """The full validation loss when the service computed it, else the per-batch one."""
    if checkpoint.full_valid_loss is not None:
        return checkpoint.full_valid_loss
    return checkpoint.valid_loss


# How far (relative) the last validation loss must sit above the lowest one to count as a rise, so noise
# in the last digits of a flat curve is not called overfitting.
RISE_MARGIN = 0.02


def overfitting_warning(checkpoints: Sequence[CheckpointView]) -> str:
    """A warning line when the checkpoints look overfitted, else "".

    The rule, on checkpoints ordered by step that have both a training and a validation loss (the full
    validation loss when there is one): there are at least three; the lowest validation loss is not in the
    last two; each of the last two is higher than that lowest one, the last by more than `RISE_MARGIN`
    (relative); and the training loss at the last checkpoint is lower than at the best one. The model kept
    learning the training data while getting worse on data it has not seen: the mark of overfitting.
    """
    scored = [
        c
        for c in sorted(checkpoints, key=lambda c: c.step)
        if c.train_loss is not None and _valid_loss(c) is not None
    ]
    if len(scored) < 3:
        return ""
    losses = [_valid_loss(c) or 0.0 for c in scored]
    low = min(losses)
    best = scored[losses.index(low)]
    last_two = losses[-2:]
    rose = losses.index(low) < len(scored) - 2 and all(v > low for v in last_two)
    clear = last_two[-1] > low * (1 + RISE_MARGIN)
    trained_on = (scored[-1].train_loss or 0.0) < (best.train_loss or 0.0)
    if not (rose and clear and trained_on):
        return ""
    return (
        f"Validation loss rose over the last epochs ({number(low)} → {number(last_two[-1])}) while training "
        f"loss fell: likely overfitting. Prefer the checkpoint at step {best.step} (lowest validation loss), "
        "or retrain with fewer epochs or a smaller learning-rate multiplier."
    )


def checkpoints_card(
    job_id: str, checkpoints: Sequence[CheckpointView], more: str = "", job_status: str | None = None
) -> Card:
    """Checkpoints of a job by step; `more` points at further pages when the service has more.

    `job_status` (when known) tells a job that can no longer produce deployable checkpoints (failed,
    cancelled) from one still running. Overfitting (see `overfitting_warning`) is said first, in WARNING tone.
    """
    if not checkpoints:
        finished = job_status in ("succeeded", "failed", "cancelled", "canceled")
        return Card(
            title=f"Checkpoints of {literal(job_id)}",
            text=(
                f"This job {literal(job_status or '')} without keeping any checkpoints."
                if finished
                else "No checkpoints yet. One is saved at the end of each epoch."
            ),
            summary=f"No checkpoints for job {literal(job_id)}" + ("." if finished else " yet."),
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
    if deployable and job_status == "paused":
        text = (
            f"{DEPLOYABLE_MARK} marks the checkpoint Azure made where the job paused: it passed the safety "
            "evaluation and can be deployed while the job stays paused."
        )
    elif deployable:
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
        text += f": {code(best.model)}" if best.model else "."
    warning = overfitting_warning(ordered)
    if warning:
        text = f"{warning}\n{text}"
    # One Deploy button per deployable row (at most three: Azure keeps the last three epochs).
    deploys = [
        deploy_request_button(f"Deploy step {c.step}", job_id, c.model or c.id, primary=c is deployable[-1])
        for c in deployable[-3:]
    ]
    buttons = (*deploys, Button("Chart", CHART, {"job": job_id}))
    return Card(
        title=f"Checkpoints of {literal(job_id)}",
        tone=Tone.WARNING if warning else Tone.INFO,
        buttons=buttons,
        badge=plural(len(ordered), "checkpoint"),
        text=text,
        tables=(table,),
        summary=(
            f"{plural(len(ordered), 'checkpoint')} of job {literal(job_id)}, {len(deployable)} deployable."
            + (" Likely overfitting." if warning else "")
        ),
        key=f"{job_key(job_id)}:checkpoints",
    )
