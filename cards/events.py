"""The event page card: a job's events (time, level, message), with a pointer to the next page."""

from __future__ import annotations

from cards.format import clock
from cards.jobs import job_key
from cards.model import Button, Card, Table, Tone
from cards.views import EventPageView

MORE_EVENTS = "job.events"
_LEVEL_MARK = {"error": "❌ error", "warning": "⚠️ warning", "warn": "⚠️ warning"}


def next_page_command(job_id: str, after: str) -> str:
    """The command that shows the next page, as users type it after the trigger."""
    return f"events {job_id} --after {after}"


def events_card(page: EventPageView) -> Card:
    """One page of events, newest first; when there are more, the footer says how to get them."""
    if not page.events:
        return Card(
            title=f"Events of {page.job_id}",
            text="No events yet. They appear once the job starts.",
            summary=f"No events for job {page.job_id} yet.",
            key=f"{job_key(page.job_id)}:events",
        )
    rows = tuple(
        (clock(event.created_at), _LEVEL_MARK.get(event.level, event.level), event.message)
        for event in page.events
    )
    more = ""
    buttons: tuple[Button, ...] = ()
    if page.has_more and page.next_after:
        command = next_page_command(page.job_id, page.next_after)
        more = f"Older events: `{command}`"
        buttons = (Button("Older events", MORE_EVENTS, {"job": page.job_id, "after": page.next_after}),)
    errors = sum(1 for e in page.events if e.level == "error")
    return Card(
        title=f"Events of {page.job_id}",
        tone=Tone.WARNING if errors else Tone.INFO,
        badge=f"{errors} error{'s' if errors != 1 else ''}" if errors else "",
        tables=(Table(columns=("Time (UTC)", "Level", "Message"), rows=rows, more=more),),
        buttons=buttons,
        summary=f"{len(page.events)} events of job {page.job_id}.",
        key=f"{job_key(page.job_id)}:events",
    )
