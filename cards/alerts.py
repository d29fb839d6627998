"""Proactive job cards: the terminal alerts (succeeded / failed / cancelled), the safety (RAI) notice, and
the batch of new events streamed into a job card's thread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cards.format import clock, plural
from cards.jobs import EVENTS, job_key
from cards.markup import code, literal
from cards.model import Button, Card, Fact, Image, Tone

CHECKPOINTS = "job.checkpoints"
MAX_EVENT_LINES = 30  # one streamed message stays readable (and inside Slack's 3,000-character sections)


@dataclass(frozen=True, slots=True)
class AlertView:
    """What a terminal alert says; plain values, filled by the watcher from the job."""

    job_id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    billed_tokens: int | None = None
    duration_seconds: float | None = None
    cost: str | None = None  # e.g. "about 0.22 USD (gpt-4o-mini at 3.00 USD per 1M trained tokens)"
    error_code: str | None = None
    error_message: str | None = None
    cancelled_by: str | None = None
    rai_phase: str | None = None  # "data" | "evaluation"
    rai_categories: tuple[str, ...] = ()
    resource: str | None = None


@dataclass(frozen=True, slots=True)
class AlertExtras:
    """Room for later capabilities (charts, deploy): more buttons and images on the success alert."""

    buttons: tuple[Button, ...] = ()
    images: tuple[Image, ...] = ()
    follow_ups: tuple[Card, ...] = field(default_factory=tuple)


def duration(seconds: float | None) -> str:
    """`1 h 05 min`, `12 min 30 s`, `45 s`."""
    if seconds is None or seconds < 0:
        return "unknown"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def alert_key(job_id: str) -> str:
    return f"{job_key(job_id)}:alert"


def _payload(view: AlertView) -> dict[str, str]:
    payload = {"job": view.job_id}
    if view.resource:
        payload["resource"] = view.resource
    return payload


def success_alert(view: AlertView, extras: AlertExtras | None = None) -> Card:
    """Fine-tuned model, tokens, duration, cost estimate; Checkpoints / Events (+ any `extras`)."""
    extras = extras or AlertExtras()
    facts = [
        Fact("Fine-tuned model", code(view.fine_tuned_model or "not reported")),
        Fact("Base model", code(view.model)),
    ]
    if view.trained_tokens is not None:
        facts.append(Fact("Trained tokens", f"{view.trained_tokens:,}"))
    if view.billed_tokens is not None and view.billed_tokens != view.trained_tokens:
        facts.append(Fact("Billed tokens", f"{view.billed_tokens:,}"))
    facts.append(Fact("Duration", duration(view.duration_seconds)))
    facts.append(Fact("Training cost (estimate)", view.cost or "no price known for this model"))
    buttons = (
        Button("Checkpoints", CHECKPOINTS, _payload(view), style="primary"),
        Button("Events", EVENTS, _payload(view)),
        *extras.buttons,
    )
    return Card(
        title=f"✅ Fine-tuning job {literal(view.job_id)} succeeded",
        tone=Tone.SUCCESS,
        text=f"The model {code(view.fine_tuned_model or 'not reported')} is ready to deploy.",
        facts=tuple(facts),
        images=extras.images,
        buttons=buttons,
        summary=f"Job {literal(view.job_id)} succeeded: {literal(view.fine_tuned_model or 'no model reported')}.",
        key=alert_key(view.job_id),
    )


_NEXT_STEP = {
    "jsonlValidationFailed": "Fix the file (`/ft validate` shows the lines), then `/ft start` again.",
    "fileImportFailed": "Check that the file's URL is reachable, then `/ft start` again.",
    "quotaExceeded": "Wait for running jobs to finish or cancel some, then `/ft start` again.",
}


def failed_alert(view: AlertView) -> Card:
    error_code = f" ({code(view.error_code)})" if view.error_code else ""
    next_step = _NEXT_STEP.get(
        view.error_code or "", "Look at the job's events for the cause, fix it and `/ft start` again."
    )
    return Card(
        title=f"❌ Fine-tuning job {literal(view.job_id)} failed",
        tone=Tone.ERROR,
        text=f"**Failed**{error_code}: {literal(view.error_message or 'no message from the service')}\n"
        f"**What to do**: {next_step}",
        facts=(Fact("Base model", code(view.model)), Fact("Ran for", duration(view.duration_seconds))),
        buttons=(Button("Events", EVENTS, _payload(view)),),
        summary=f"Job {literal(view.job_id)} failed.",
        key=alert_key(view.job_id),
    )


def cancelled_alert(view: AlertView) -> Card:
    by = f" by {literal(view.cancelled_by)}" if view.cancelled_by else ""
    return Card(
        title=f"Fine-tuning job {literal(view.job_id)} was cancelled",
        tone=Tone.WARNING,
        text=f"The job was cancelled{by}. Nothing more will be trained; work done so far is not kept.",
        facts=(Fact("Base model", code(view.model)), Fact("Ran for", duration(view.duration_seconds))),
        buttons=(Button("Events", EVENTS, _payload(view)),),
        summary=f"Job {literal(view.job_id)} was cancelled{by}.",
        key=alert_key(view.job_id),
    )


def rai_notice(view: AlertView) -> Card:
    """The safety failure in plain words: which check, which kinds of harm, what it means, what to do."""
    kinds = ", ".join(literal(c) for c in view.rai_categories) or "not named by Azure"
    if view.rai_phase == "data":
        title = f"🛡️ Training data rejected by the safety check: {literal(view.job_id)}"
        meaning = (
            "Azure checks training data for harmful content before training. This data failed, so **nothing "
            "was trained and nothing was charged**."
        )
        todo = (
            f"Review the examples that contain {kinds} content (Azure does not say which lines), remove or "
            "rewrite them, run `/ft validate` on the new file, then `/ft start` again."
        )
    else:
        title = f"🛡️ Trained model failed the safety evaluation: {literal(view.job_id)}"
        meaning = (
            "Training finished, but Azure's safety evaluation of the trained model scored above the allowed "
            "thresholds, so **Azure keeps no deployable model** from this job; training was not charged."
        )
        todo = (
            f"Review the training data for examples that teach {kinds} behaviour and remove them "
            "(`/ft validate` checks the format, not harm), then `/ft start` again with the new file."
        )
    return Card(
        title=title,
        tone=Tone.ERROR,
        text=f"{meaning}\n**Harm categories**: {kinds}.\n**What to do**: {todo}",
        facts=(
            Fact("Base model", code(view.model)),
            Fact("Check", "training data" if view.rai_phase == "data" else "model evaluation"),
        ),
        buttons=(Button("Events", EVENTS, _payload(view)),),
        summary=f"Job {literal(view.job_id)} failed Azure's safety check ({kinds}).",
        key=alert_key(view.job_id),
    )


def terminal_alert(view: AlertView, extras: AlertExtras | None = None) -> Card:
    """The alert for a terminal status: success, safety notice, failure or cancellation."""
    if view.status == "succeeded":
        return success_alert(view, extras)
    if view.status == "failed" and view.rai_phase:
        return rai_notice(view)
    if view.status == "failed":
        return failed_alert(view)
    return cancelled_alert(view)


@dataclass(frozen=True, slots=True)
class StreamLine:
    at: datetime | None
    level: str
    message: str


def event_batch_card(job_id: str, lines: Sequence[StreamLine], skipped: int = 0) -> Card:
    """New events of one poll, oldest first, as one message for the job card's thread."""
    shown = list(lines)[-MAX_EVENT_LINES:]
    skipped += len(lines) - len(shown)
    marks = {"error": "❌ ", "warning": "⚠️ ", "warn": "⚠️ "}
    text = "\n".join(
        f"`{clock(line.at)}` {marks.get(line.level, '')}{literal(line.message)}" for line in shown
    )
    if skipped:
        text += f"\n_{plural(skipped, 'progress line')} thinned out; {code(f'/ft events {job_id}')} lists them all._"
    errors = sum(1 for line in shown if line.level == "error")
    return Card(
        title=f"{literal(job_id)}: {plural(len(shown), 'new event')}",
        tone=Tone.WARNING if errors else Tone.INFO,
        text=text,
        summary=literal(shown[-1].message if shown else f"Job {job_id}"),
    )
