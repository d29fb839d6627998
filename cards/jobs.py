"""Job cards: one job's status (progress bar, Refresh/Events/Pause/Resume/Cancel, and "Deploy this
checkpoint" once a paused job's checkpoint passed Azure's safety evaluation) and the job list."""

from __future__ import annotations

from collections.abc import Sequence

from cards.approvals import deploy_request_button
from cards.format import NOT_SET, hyperparameters, number, plural, progress_bar, progress_percent, when
from cards.markup import code, literal
from cards.model import Button, Card, Confirm, Fact, Table, Tone
from cards.views import JobView

REFRESH = "job.refresh"
EVENTS = "job.events"
CANCEL = "job.cancel"
PAUSE = "job.pause"
RESUME = "job.resume"
CHECKPOINTS = "job.checkpoints"
SHOW = "job.show"
CHART = "job.chart"
DEPLOY_PAUSED = "Deploy this checkpoint"
# Jobs that have (or had) training steps to draw.
_CHARTABLE = frozenset({"running", "paused", "pausing", "resuming", "succeeded", "failed", "cancelled"})

_TONES = {
    "succeeded": Tone.SUCCESS,
    "failed": Tone.ERROR,
    "cancelled": Tone.WARNING,
    "cancelling": Tone.WARNING,
    "paused": Tone.WARNING,
    "pausing": Tone.WARNING,
    "running": Tone.RUNNING,
    "resuming": Tone.RUNNING,
    "pending": Tone.INFO,
    "created": Tone.INFO,
    "queued": Tone.INFO,
    "not running": Tone.INFO,
    "validating_files": Tone.INFO,
}


def status_tone(status: str) -> Tone:
    """Tone for a job status word (the bot's normalised word: `bot.azure.models.normalise_status`);
    statuses we do not know yet are neutral, never an error."""
    return _TONES.get(status, Tone.NEUTRAL)


def job_key(job_id: str) -> str:
    """`Card.key` of a job's status card, so later updates replace it in place."""
    return f"job:{job_id}"


def _badge(job: JobView) -> str:
    if job.terminal:
        return job.status
    pct = progress_percent(job.step, job.total_steps)
    if pct is not None:
        return f"{job.status} {pct}%"
    return f"{job.status} · step {job.step}" if job.step is not None else job.status


def progress_line(job: JobView) -> str:
    """`▓▓▓▓░░░░░░ 40% (step 40/100)` when the total is known; `Step 40 (total not known yet)` when only the
    step is (Azure sends no total: the bot works it out from the resolved epochs, batch size and example
    count); "" before the first metrics event."""
    bar = progress_bar(job.step, job.total_steps)
    if bar:
        return bar
    return f"Step {job.step} (total not known yet)" if job.step is not None else ""


def _facts(job: JobView) -> tuple[Fact, ...]:
    facts = [Fact("Status", literal(job.status)), Fact("Base model", code(job.model))]
    if job.training_type:
        note = f" ({job.training_note})" if job.training_note else ""
        facts.append(Fact("Training type", f"{literal(job.training_type)}{note}"))
    if job.fine_tuned_model:
        facts.append(Fact("Fine-tuned model", code(job.fine_tuned_model)))
    files = code(job.training_file) if job.training_file else NOT_SET
    if job.validation_file:
        files += f" (validation {code(job.validation_file)})"
    facts.append(Fact("Training file", files))
    facts.append(Fact("Hyperparameters", literal(hyperparameters(job.hyperparameters))))
    if job.suffix:
        facts.append(Fact("Suffix", literal(job.suffix)))
    facts.append(Fact("Created", when(job.created_at)))
    if job.finished_at:
        facts.append(Fact("Finished", when(job.finished_at)))
    elif job.estimated_finish and not job.terminal:
        facts.append(Fact("Estimated finish", when(job.estimated_finish)))
    if job.trained_tokens:
        facts.append(Fact("Trained tokens", f"{job.trained_tokens:,}"))
    return tuple(facts)


def rai_explanation(job: JobView) -> str:
    """What a failed responsible-AI (safety) check means and what to do, in plain words; "" when none failed.

    The internal error code (`contentFilter`) is left out: it tells users nothing the sentence does not.
    """
    categories = ", ".join(literal(c) for c in job.rai_categories)
    if job.rai_phase == "data":
        found = f": {categories}" if categories else ""
        return (
            f"Azure's safety check found harmful content in the training data{found}. The job was not "
            "trained and not charged. Rewrite or remove the examples with that content (Azure does not say "
            "which lines), then `start` again."
        )
    if job.rai_phase == "evaluation":
        failed = f" for: {categories}" if categories else ""
        return (
            f"The trained model failed Azure's safety evaluation{failed}. It cannot be deployed; training was "
            "not charged. Review the training data for content that teaches these behaviours and retrain."
        )
    return ""


def _text(job: JobView, note: str = "") -> str:
    lines = []
    if job.data_note and job.data_note != note:
        lines.append(job.data_note)
    if note:
        lines.append(note)
    bar = progress_line(job)
    if bar and job.status not in ("failed", "cancelled"):
        lines.append(bar)
    rai = rai_explanation(job)
    if rai:
        lines.append(f"**Failed safety check**: {rai}")
    elif job.error_message or job.error_code:
        error_code = f" ({code(job.error_code)})" if job.error_code else ""
        lines.append(
            f"**Failed**{error_code}: {literal(job.error_message) if job.error_message else 'no message from the service'}"
        )
    if job.status == "succeeded" and job.fine_tuned_model and not rai:
        lines.append(f"Ready to deploy as {code(job.fine_tuned_model)}.")
    if job.status == "paused":
        lines.append(pause_line(job))
    return "\n".join(lines)


def pause_line(job: JobView) -> str:
    """What a pause is worth: the checkpoint Azure made where the job stopped, once it passed the safety
    evaluation, or that it is still being evaluated."""
    point = job.pause_checkpoint
    if point is None:
        return (
            "Paused. Azure makes a checkpoint at the step it stopped and evaluates it for safety; once it "
            "passes, it can be deployed from this card (Refresh). Resume continues the training."
        )
    loss = f", validation loss {number(point.valid_loss)}" if point.valid_loss is not None else ""
    name = f" ({code(point.model)})" if point.model and point.model != point.id else ""
    return (
        f"Paused at step {point.step:,}: checkpoint {code(point.id)}{name} passed Azure's safety evaluation"
        f"{loss} and can be deployed while the job stays paused. Resume continues the training."
    )


# How a status reads in a sentence ("Job X failed."); others read "Job X is <status>".
_SAID = {
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "was cancelled",
}


def status_sentence(job: JobView) -> str:
    """`Job ftjob-x is running (40%).`, `Job ftjob-x failed.`: the card's notification text."""
    if job.rai_phase and job.status == "failed":
        return f"Job {literal(job.id)} failed Azure's safety check."
    if job.status in _SAID:
        return f"Job {literal(job.id)} {_SAID[job.status]}."
    pct = progress_percent(job.step, job.total_steps)
    if pct is not None:
        progress = f" ({pct}%)"
    elif job.step is not None:
        progress = f" (step {job.step})"
    else:
        progress = ""
    return f"Job {literal(job.id)} is {literal(job.status.replace('_', ' '))}{progress}."


def job_buttons(job: JobView) -> tuple[Button, ...]:
    """Refresh and Events always; Pause while running, Resume while paused; Cancel (with a confirmation)
    only while the job can still change."""
    payload = {"job": job.id}
    buttons = [
        Button("Refresh", REFRESH, payload, style="primary"),
        Button("Events", EVENTS, payload),
    ]
    if job.status in _CHARTABLE:
        buttons.append(Button("Chart", CHART, payload))
    if job.status == "running":
        buttons.append(Button("Pause", PAUSE, payload))
    elif job.status == "paused":
        buttons.append(Button("Resume", RESUME, payload))
    if job.status in ("succeeded", "paused"):
        buttons.append(Button("Checkpoints", CHECKPOINTS, payload))
    point = job.pause_checkpoint
    if job.status == "paused" and point is not None:
        buttons.append(
            deploy_request_button(DEPLOY_PAUSED, job.id, point.model or point.id, checkpoint=point.id)
        )
    if not job.terminal:
        confirm = Confirm(
            title="Cancel this job?",
            text=f"Job {code(job.id)} stops now; training done so far is lost. This cannot be undone.",
            ok="Yes, cancel it",
            dismiss="Keep it running",
        )
        buttons.append(Button("Cancel", CANCEL, payload, style="danger", confirm=confirm))
    return tuple(buttons)


def job_card(job: JobView, updated_at_text: str = "", note: str = "") -> Card:
    """The status card of one job. `updated_at_text` (e.g. "Updated 2025-04-01 09:15 UTC") goes in the
    footer; `note` is one line shown first in the text (e.g. a summary of the training data)."""
    return Card(
        title=f"Fine-tuning job {literal(job.id)}",
        tone=status_tone(job.status),
        badge=literal(_badge(job)),
        text=_text(job, note),
        facts=_facts(job),
        buttons=job_buttons(job),
        footer=updated_at_text,
        summary=status_sentence(job),
        key=job_key(job.id),
    )


def job_list_card(
    jobs: Sequence[JobView], filter_text: str = "", more: str = "", *, searched: str = ""
) -> Card:
    """Recent jobs as a table. `filter_text` says what was asked for (e.g. "status=running");
    `more` points at the next page (e.g. "`list --after ftjob-...`"); `searched` what a bounded search did
    not read ("Searched the newest 1,000 jobs ..."). An empty list says what to do next."""
    asked = literal(filter_text)
    shown = f" ({asked})" if filter_text else ""
    tail = f" {searched}" if searched else ""
    if not jobs:
        if searched:
            text = f"No jobs match {asked or 'the search'}.{tail}"
        elif filter_text:
            text = f"No recent jobs match {asked}. `/ft list` without it shows every recent job."
        else:
            text = (
                "No fine-tuning jobs yet. Start one: attach a JSONL training file and send "
                "`/ft start gpt-4o-mini-2024-07-18 --training train.jsonl`. `/ft help start` shows every option."
            )
        return Card(
            title=f"Fine-tuning jobs{shown}",
            text=text,
            summary=f"No fine-tuning jobs match {asked}." if filter_text else "No fine-tuning jobs yet.",
        )
    rows = tuple(
        (
            code(job.id),
            literal(_badge(job)),
            literal(job.fine_tuned_model or job.model),
            when(job.created_at),
        )
        for job in jobs
    )
    # Each row opens its job's card (Teams: click the id); the full id rides in the payload.
    opens = tuple(Button("Open job", SHOW, {"job": job.id}) for job in jobs)
    table = Table(columns=("Job", "Status", "Model", "Created"), rows=rows, more=more, row_actions=opens)
    return Card(
        title=f"Fine-tuning jobs{shown}",
        text=f"Showing {plural(len(jobs), 'job')}. Details: `/ft status JOB`.{tail}",
        tables=(table,),
        footer=f"Filter: {asked}" if filter_text else "",
        summary=f"{plural(len(jobs), 'fine-tuning job')}{shown}.",
        key="jobs",
    )
