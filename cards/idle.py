"""Idle guard cards: the warning before Azure's idle rule deletes a deployment, the note after it did, and the
`idle` list of fine-tuned deployments by time left."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cards.approvals import is_developer, sku_label
from cards.format import NOT_SET, plural, when
from cards.markup import code, literal
from cards.model import Button, Card, Confirm, Fact, Table, Tone

KEEP_ALIVE = "idle.keep"
DELETE_NOW = "idle.delete"
SNOOZE = "idle.snooze"
REDEPLOY = "idle.redeploy"


@dataclass(frozen=True, slots=True)
class IdleView:
    """What the cards say about one fine-tuned deployment (times on Azure's clock)."""

    resource: str
    deployment: str
    model: str
    sku: str
    created_at: datetime
    last_used_at: datetime | None
    deletes_at: datetime
    now: datetime
    price_per_hour: float | None = None
    currency: str = "USD"

    @property
    def developer(self) -> bool:
        return is_developer(self.sku)

    @property
    def idle_since(self) -> datetime:
        return max(self.created_at, self.last_used_at or self.created_at)

    @property
    def idle_cost(self) -> float | None:
        """Hosting billed since the last call (or since created): what idling has cost so far."""
        if self.price_per_hour is None:
            return None
        hours = max(0.0, (self.now - self.idle_since).total_seconds() / 3600)
        return hours * self.price_per_hour


def time_left(deletes_at: datetime, now: datetime) -> str:
    """`in 3 days`, `in 1 day 4 hours`, `in 2 hours`, `in 25 minutes`, `now`."""
    seconds = (deletes_at - now).total_seconds()
    if seconds <= 0:
        return "now"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"in {plural(days, 'day')}" + (f" {plural(hours, 'hour')}" if hours and days < 3 else "")
    if hours:
        return f"in {plural(hours, 'hour')}"
    return f"in {plural(max(1, rest // 60), 'minute')}"


def money(value: float | None, currency: str = "USD") -> str:
    return NOT_SET if value is None else f"{value:,.2f} {literal(currency)}"


def _sku(sku: str) -> str:
    return sku_label(sku)


def idle_key(resource: str, deployment: str) -> str:
    return f"idle:{resource}:{deployment}"


def warning_card(v: IdleView, *, snooze_days: int) -> Card:
    left = time_left(v.deletes_at, v.now)
    payload = {"resource": v.resource, "name": v.deployment}
    if v.developer:
        why = (
            f"Developer deployments are deleted 24 hours after they were made, whatever their use: "
            f"{code(v.deployment)} goes {left}. The model stays and can be deployed again."
        )
    else:
        why = (
            f"{code(v.deployment)} has had no calls since {when(v.idle_since)}. Azure deletes a fine-tuned "
            f"deployment after 15 days without calls: this one goes {left}. Until then it bills hosting by the "
            "hour. The model stays and can be deployed again."
        )
    buttons: list[Button] = []
    if not v.developer:
        buttons.append(Button("Keep alive", KEEP_ALIVE, payload, style="primary"))
    buttons.append(
        Button(
            "Delete now",
            DELETE_NOW,
            payload,
            style="danger",
            confirm=Confirm(
                "Delete this deployment?",
                f"{code(v.deployment)} stops answering and billing now.",
                "Delete",
                "Keep it",
            ),
        )
    )
    buttons.append(
        Button(f"Snooze {plural(snooze_days, 'day')}", SNOOZE, {**payload, "days": str(snooze_days)})
    )
    facts = [
        Fact("Deployment", code(v.deployment)),
        Fact("Model", code(v.model)),
        Fact("Resource", literal(v.resource)),
        Fact("SKU", literal(_sku(v.sku))),
        Fact("Created", when(v.created_at)),
        Fact("Last call", when(v.last_used_at) if v.last_used_at else "none seen"),
        Fact("Deleted by Azure", f"{when(v.deletes_at)} ({left})"),
        Fact(
            "Hosting",
            f"{money(v.price_per_hour, v.currency)} an hour" if v.price_per_hour else "no hosting fee",
        ),
    ]
    if v.price_per_hour:
        facts.append(Fact("Cost while idle", money(v.idle_cost, v.currency)))
    return Card(
        title=f"{literal(v.deployment)} will be deleted {left}",
        tone=Tone.WARNING,
        text=why,
        facts=tuple(facts),
        buttons=tuple(buttons),
        summary=f"Idle deployment {literal(v.deployment)} on {literal(v.resource)} will be deleted {left}",
        key=idle_key(v.resource, v.deployment),
        badge="idle",
    )


def deleted_card(resource: str, deployment: str, model: str, sku: str, *, developer: bool) -> Card:
    rule = "its 24 hours as a Developer deployment ended" if developer else "it had no calls for 15 days"
    return Card(
        title=f"{literal(deployment)} was deleted by Azure",
        tone=Tone.INFO,
        text=f"Azure deleted {code(deployment)} on {literal(resource)}: {rule} (the idle rule). "
        f"The model {code(model)} remains "
        "and can be deployed again (through an approval).",
        buttons=(
            Button(
                "Redeploy", REDEPLOY, {"resource": resource, "name": deployment, "model": model, "sku": sku}
            ),
        ),
        summary=f"Deployment {literal(deployment)} was deleted by Azure's idle rule; the model remains",
    )


def kept_alive_card(v: IdleView, who: str, reply: str) -> Card:
    return Card(
        title=f"{literal(v.deployment)} kept alive",
        tone=Tone.SUCCESS,
        text=f"{literal(who)} sent one minimal chat completion to {code(v.deployment)}; Azure's 15-day idle count starts "
        f"again. The deployment answered: “{literal(reply or '(empty)')}”.",
        facts=(
            Fact("Resource", literal(v.resource)),
            Fact(
                "Deleted by Azure, at the earliest",
                f"{when(v.deletes_at)} ({time_left(v.deletes_at, v.now)})",
            ),
            Fact(
                "Hosting",
                f"{money(v.price_per_hour, v.currency)} an hour" if v.price_per_hour else "no hosting fee",
            ),
        ),
        summary=f"Deployment {literal(v.deployment)} kept alive",
        key=idle_key(v.resource, v.deployment),
    )


def snoozed_card(resource: str, deployment: str, who: str, until: datetime) -> Card:
    return Card(
        title=f"Warnings about {literal(deployment)} snoozed",
        tone=Tone.NEUTRAL,
        text=f"{literal(who)} snoozed idle warnings for {code(deployment)} on {literal(resource)} until {when(until)}. Azure still "
        "deletes it on its own schedule.",
        summary=f"Idle warnings for {literal(deployment)} snoozed until {when(until)}",
        key=idle_key(resource, deployment),
    )


def idle_list_card(resource: str | None, views: Sequence[IdleView]) -> Card:
    where = literal(resource) if resource else "every resource"
    if not views:
        return Card(
            title=f"Idle guard: {where}",
            text="No fine-tuned deployments.",
            summary=f"No fine-tuned deployments on {where}",
        )
    ordered = sorted(views, key=lambda v: v.deletes_at)
    rows = tuple(
        (
            literal(v.deployment),
            literal(v.resource),
            literal(_sku(v.sku)),
            when(v.last_used_at) if v.last_used_at else "none seen",
            when(v.deletes_at),
            time_left(v.deletes_at, v.now),
            money(v.idle_cost, v.currency),
        )
        for v in ordered
    )
    total = sum(v.idle_cost or 0.0 for v in views)
    currency = views[0].currency
    return Card(
        title=f"Idle guard: {where}",
        badge=plural(len(views), "deployment"),
        text="Fine-tuned deployments by the time Azure's idle rule leaves them (15 days without calls; Developer: "
        f"24 hours after creation). Hosting billed while idle so far: {money(total, currency)}.",
        tables=(
            Table(
                columns=(
                    "Deployment",
                    "Resource",
                    "SKU",
                    "Last call",
                    "Deleted at",
                    "Time left",
                    "Idle cost",
                ),
                rows=rows,
            ),
        ),
        summary=f"{plural(len(views), 'fine-tuned deployment')} on {where}",
    )
