"""The event page card: a job's events (time, level, message), with a pointer to the next page."""

from __future__ import annotations

from cards.format import clock, day, plural, when
from cards.jobs import job_key
from cards.markup import code, literal
from cards.model import Button, Card, Table, Tone
from cards.views import EventPageView, EventView

MORE_EVENTS = "job.events"
_LEVEL_MARK = {"error": "❌ error", "warning": "⚠️ warning", "warn": "⚠️ warning"}


def next_page_command(job_id: str, after: str) -> str:
    """The command that shows the next (older) page, as users type it after the trigger."""
    return f"/ft events {job_id} --after {after}"


def _times(events: tuple[EventView, ...]) -> tuple[list[str], str]:
    """Time cells and a line for the card text. One date: rows show `09:15:02` and the text names the date
    once; events spanning days: every row carries its full date, so no row is ambiguous."""
    days = {day(e.created_at) for e in events if e.created_at is not None}
    if len(days) <= 1:
        heading = f"Newest first, times in UTC on {days.pop()}." if days else "Newest first."
        return [clock(e.created_at) for e in events], heading
    return [when(e.created_at, seconds=True) for e in events], "Newest first."


def events_card(page: EventPageView, job_status: str | None = None) -> Card:
    """One page of events, newest first; when there are older ones, an "Older events" button (action
    `job.events`, payload `{"job": id, "after": last event id}`) and the command that does the same.
    A failed job's events are red, as its status card is."""
    if not page.events:
        return Card(
            title=f"Events of {literal(page.job_id)}",
            text="No events yet. They appear once the job starts.",
            summary=f"No events for job {literal(page.job_id)} yet.",
            key=f"{job_key(page.job_id)}:events",
        )
    times, heading = _times(page.events)
    rows = tuple(
        (time, literal(_LEVEL_MARK.get(event.level, event.level)), literal(event.message))
        for time, event in zip(times, page.events, strict=True)
    )
    more = ""
    buttons: tuple[Button, ...] = ()
    if page.has_more and page.next_after:
        command = next_page_command(page.job_id, page.next_after)
        more = f"There are older events: press **Older events** or type {code(command)}"
        buttons = (Button("Older events", MORE_EVENTS, {"job": page.job_id, "after": page.next_after}),)
    errors = sum(1 for e in page.events if e.level == "error")
    return Card(
        title=f"Events of {literal(page.job_id)}",
        tone=Tone.ERROR if job_status == "failed" else Tone.WARNING if errors else Tone.INFO,
        badge=plural(errors, "error") if errors else "",
        text=heading,
        tables=(Table(columns=("Time (UTC)", "Level", "Message"), rows=rows, more=more),),
        buttons=buttons,
        summary=f"{plural(len(page.events), 'event')} of job {literal(page.job_id)}.",
        key=f"{job_key(page.job_id)}:events",
    )
