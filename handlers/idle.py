"""Idle deployment guard: warn before Azure deletes a fine-tuned deployment (15 days without calls; a
Developer deployment 24 hours after it was made), and say so when it did.

A sweep (the scheduler, one replica at a time through a database lease) takes, per resource, the ARM list of
deployments (following `nextLink`) and ONE Monitor metrics query (daily request totals split by
`ModelDeploymentName`), works out each fine-tuned deployment's deletion time on Azure's clock (the `Date` of
its answers), and runs the pure `idle_step`: which warnings are due (one per deployment per lead time, keyed
in the outbox so a restart never repeats one) and which deployments Azure deleted. The warning's buttons:
Keep alive (one minimal completion), Delete now (the `undeploy` path), Snooze; the deleted note's: Redeploy
(an approval request, as `deploy`).

Last use is known to the day (metrics are daily), so the bot takes the start of the day of the last call:
its deletion time is never later than Azure's, so a warning is never late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import params as p
from bot.azure import errors as az
from bot.azure.models import Deployment, canonical_sku, is_developer_sku
from bot.azure.monitor import DeploymentUsage
from bot.context import Context
from bot.errors import InvalidState, NotFound, UsageError
from bot.model import Action, Command, Conversation, Reply, User
from bot.policy import Act
from bot.router import Router
from bot.store import IdleRow, Queued
from cards.idle import (
    DELETE_NOW,
    KEEP_ALIVE,
    REDEPLOY,
    SNOOZE,
    IdleView,
    deleted_card,
    idle_list_card,
    kept_alive_card,
    snoozed_card,
    warning_card,
)
from cards.markup import code
from cards.model import Card
from cards.serial import card_to_json
from handlers import deploy

log = logging.getLogger(__name__)
router = Router("idle")

SWEEP_NAME = "idle-sweep"
IDLE_PERIOD = timedelta(days=15)
DEVELOPER_LIFETIME = timedelta(hours=24)
DEVELOPER_LEAD = timedelta(hours=2)
LOOKBACK_DAYS = 16  # metrics cover the whole 15-day window and the day before
# A deployment gone at most this long before its computed deletion time was deleted by the idle rule
# (our time is the start of the day of its last call, Azure's the call itself: Azure's is never earlier).
GONE_SLACK = timedelta(minutes=5)
SKU_WORDS = {sku: word for word, sku in deploy.SKUS.items()}


def is_fine_tuned(model: str | None) -> bool:
    name = model or ""
    return ".ft-" in name or name.startswith(("ft:", "ftchkpt-", "ftckpt")) or ":ckpt-" in name


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# -- the pure step ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """A fine-tuned deployment in ARM's list."""

    name: str
    model: str
    sku: str
    created_at: datetime

    @property
    def developer(self) -> bool:
        return is_developer_sku(self.sku)


@dataclass(frozen=True, slots=True)
class Lead:
    """A warning lead time: `label` goes into the dedupe key."""

    label: str
    before: timedelta


@dataclass
class StepResult:
    rows: list[IdleRow] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    queued: list[Queued] = field(default_factory=list)


def seen_from_arm(deployments: Sequence[Deployment]) -> list[Seen]:
    found = []
    for d in deployments:
        if not is_fine_tuned(d.model_name):
            continue
        created = _parse_time((d.systemData or {}).get("createdAt"))
        if created is None:
            continue  # nothing to count 15 days from
        found.append(Seen(d.name, d.model_name or "?", d.sku.name if d.sku else "?", created))
    return found


def last_use(
    seen: Seen, usage: DeploymentUsage | None, before: IdleRow | None
) -> tuple[datetime | None, datetime | None]:
    """(last call as far as known, own keep-alive): the start of the day of the last call in the metrics,
    the bot's own keep-alive (known to the second) and what earlier sweeps knew, whichever is latest."""
    same = before is not None and before.created_at == seen.created_at
    kept = before.kept_alive_at if same and before is not None else None
    candidates = [kept, before.last_used_at if same and before is not None else None]
    if usage is not None and usage.last_used is not None:
        candidates.append(
            datetime(usage.last_used.year, usage.last_used.month, usage.last_used.day, tzinfo=UTC)
        )
    known = [c for c in candidates if c is not None and c >= _midnight(seen.created_at)]
    return (max(known) if known else None), kept


def deletes_at(seen: Seen, last_used: datetime | None) -> datetime:
    if seen.developer:
        return seen.created_at + DEVELOPER_LIFETIME
    return max(seen.created_at, last_used or seen.created_at) + IDLE_PERIOD


def leads_for(seen: Seen, warn_days: Sequence[float]) -> list[Lead]:
    if seen.developer:
        return [Lead("2h", DEVELOPER_LEAD)]
    return [Lead(f"{d:g}d", timedelta(days=d)) for d in warn_days]


@dataclass(frozen=True, slots=True)
class StepInput:
    resource: str
    now: datetime  # Azure's clock
    seen: Sequence[Seen]
    usage: Mapping[str, DeploymentUsage]
    known: Mapping[str, IdleRow]  # this resource's rows from earlier sweeps, by deployment
    homes: Mapping[str, str]  # deployment -> conversation key where it was approved
    alert_key: str | None
    warn_days: Sequence[float]
    snooze_days: int = 1


def view_of(resource: str, row: IdleRow, now: datetime) -> IdleView:
    # the price table's module on first use, not at start-up (issue 17)
    from bot.dataprep.prices import hosting_price

    price = hosting_price(row.sku)
    return IdleView(
        resource=resource,
        deployment=row.deployment,
        model=row.model,
        sku=row.sku,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        deletes_at=row.deletes_at,
        now=now,
        price_per_hour=price.per_hour if price else None,
        currency=price.currency if price else "USD",
    )


def idle_step(i: StepInput) -> StepResult:
    """(what earlier sweeps knew, what Azure says now) -> (rows to store, deployments gone, messages)."""
    out = StepResult()
    names = set()
    for s in i.seen:
        names.add(s.name)
        before = i.known.get(s.name)
        same = before is not None and before.created_at == s.created_at
        used, kept = last_use(s, i.usage.get(s.name), before)
        row = IdleRow(
            resource=i.resource,
            deployment=s.name,
            model=s.model,
            sku=s.sku,
            created_at=s.created_at,
            deletes_at=deletes_at(s, used),
            last_used_at=used,
            kept_alive_at=kept,
            snoozed_until=before.snoozed_until if same and before is not None else None,
            conversation_key=i.homes.get(s.name),
        )
        out.rows.append(row)
        target = row.conversation_key or i.alert_key
        left = row.deletes_at - i.now
        if target is None or left <= timedelta(0):
            continue
        if row.snoozed_until is not None and row.snoozed_until > i.now:
            continue
        due = [lead for lead in leads_for(s, i.warn_days) if left <= lead.before]
        if not due:
            continue
        # Only the tightest lead that is due: after a long pause the bot says "1 day", not "3 days" then "1".
        lead = min(due, key=lambda x: x.before)
        card = warning_card(view_of(i.resource, row, i.now), snooze_days=i.snooze_days)
        key = f"idle:{i.resource}:{s.name}:{_stamp(s.created_at)}:{_stamp(row.deletes_at)}:{lead.label}"
        out.queued.append(Queued(key, target, {"op": "post", "card": card_to_json(card)}))
    for name, before in i.known.items():
        if name in names or before.gone_at is not None:
            continue
        out.gone.append(name)
        if i.now < before.deletes_at - GONE_SLACK:
            continue  # deleted before its time: someone deleted it (undeploy, the portal), not the idle rule
        target = before.conversation_key or i.alert_key
        if target is None:
            continue
        card = deleted_card(
            i.resource, name, before.model, before.sku, developer=is_developer_sku(before.sku)
        )
        key = f"idle-deleted:{i.resource}:{name}:{_stamp(before.created_at)}"
        out.queued.append(Queued(key, target, {"op": "post", "card": card_to_json(card)}))
    return out


# -- talking to Azure ------------------------------------------------------------------------------------------


@dataclass
class Survey:
    """One resource as Azure shows it now: fine-tuned deployments, their daily use, Azure's now."""

    resource: str
    now: datetime
    seen: list[Seen]
    usage: dict[str, DeploymentUsage]
    metrics_calls: int = 0


async def survey(ctx: Context, resource: str) -> Survey:
    """ARM list (all pages) then one metrics query for every deployment of the resource."""
    arm = ctx.azure.arm(resource)
    listed = await arm.list_deployments()
    now = arm.now()
    seen = seen_from_arm(listed)
    if not seen:
        return Survey(resource, now, seen, {})
    start = _midnight(now) - timedelta(days=LOOKBACK_DAYS)
    metrics = ctx.azure.metrics()
    try:
        usage = await metrics.deployment_daily_totals(
            arm.account_id, start=start, end=now, top=len(listed) + 10
        )
        return Survey(resource, now, seen, usage, metrics_calls=1)
    except az.BadRequest as exc:
        # A resource kind that publishes only `ModelRequests` (Foundry) refuses the first name: ask once more.
        log.info("idle: %s has no AzureOpenAIRequests metric (%s); using ModelRequests", resource, exc)
        usage = await metrics.deployment_daily_totals(
            arm.account_id, start=start, end=now, top=len(listed) + 10, metric="ModelRequests"
        )
        return Survey(resource, now, seen, usage, metrics_calls=2)


async def _homes(ctx: Context, resource: str, seen: Sequence[Seen]) -> dict[str, str]:
    approved = await ctx.store.approvals_of(resource)
    homes = {}
    for s in seen:
        a = approved.get(s.name)
        if a is not None and a.model == s.model:
            homes[s.name] = a.conversation_key
    return homes


async def alert_conversation(ctx: Context) -> str | None:
    """FTBOT_ALERT_CHANNEL as a stored conversation key (a Slack channel is recorded on first use; a Teams
    conversation must have talked to the bot once, which stores its reference)."""
    key = ctx.settings.alert_channel
    if not key:
        return None
    platform, _, conv_id = key.partition(":")
    if await ctx.store.get_conversation(key) is None:
        if platform == "slack" and conv_id:
            await ctx.store.save_conversation(Conversation("slack", conv_id, reference={"channel": conv_id}))
        else:
            log.warning("idle: FTBOT_ALERT_CHANNEL %s is not a conversation the bot knows yet", key)
    return key


@dataclass
class SweepReport:
    resources: int = 0
    deployments: int = 0
    due: int = 0  # messages the step produced (warnings and deleted notes)
    queued: int = 0  # of which new in the outbox (the rest were queued by an earlier sweep)
    gone: int = 0
    metrics_calls: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)


async def sweep_resource(ctx: Context, resource: str, alert_key: str | None, report: SweepReport) -> None:
    try:
        found = await survey(ctx, resource)
    except az.AzureError as exc:
        # Without fresh usage a deployment used since could be warned about: skip this resource this time.
        log.warning("idle: skipping %s this sweep: %s", resource, exc)
        report.failed.append(resource)
        return
    known = {
        name: row
        for (_res, name), row in (await ctx.store.idle_rows(resource)).items()
        if row.gone_at is None
    }
    leads = ctx.settings.idle_warn_leads
    result = idle_step(
        StepInput(
            resource=resource,
            now=found.now,
            seen=found.seen,
            usage=found.usage,
            known=known,
            homes=await _homes(ctx, resource, found.seen),
            alert_key=alert_key,
            warn_days=leads,
            snooze_days=max(1, round(min(leads))) if leads else 1,
        )
    )
    new = await ctx.store.commit_idle_sweep(resource, result.rows, result.gone, result.queued)
    report.resources += 1
    report.deployments += len(found.seen)
    report.due += len(result.queued)
    report.queued += new
    report.gone += len(result.gone)
    report.metrics_calls += found.metrics_calls


async def sweep_all(ctx: Context) -> SweepReport:
    """One sweep over every configured resource (no lease: the caller holds it)."""
    started = time.perf_counter()
    report = SweepReport()
    alert_key = await alert_conversation(ctx)
    await asyncio.gather(*(sweep_resource(ctx, name, alert_key, report) for name in ctx.azure.names()))
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class IdleSweeper:
    """The scheduled sweep: claims the database lease so one replica sweeps, then delivers through the
    outbox (the watcher's delivery sends what this queued)."""

    ctx: Context
    owner: str
    interval: float

    async def tick(self) -> SweepReport | None:
        store = self.ctx.store
        lease = timedelta(seconds=max(60.0, 2 * self.interval))
        every = timedelta(seconds=self.interval)
        if not await store.claim_sweep(SWEEP_NAME, self.owner, lease=lease, every=every):
            return None
        ran = False
        try:
            report = await sweep_all(self.ctx)
            ran = True
        finally:
            await store.finish_sweep(SWEEP_NAME, self.owner, ran=ran)
        if report.queued:
            log.info("idle sweep: %d deployments, %d messages queued", report.deployments, report.queued)
        kick = self.ctx.extras.get("watcher")
        if kick is not None and report.queued:
            await kick.deliver_once()
        return report


# -- the verb and the buttons ----------------------------------------------------------------------------------


@router.command(
    "idle",
    summary="Fine-tuned deployments by the time Azure's idle rule leaves them, with their idle cost",
    example="idle --resource default",
    options=(deploy.RESOURCE,),
)
async def idle(ctx: Context, cmd: Command) -> Card:
    chosen = cmd.params.get("resource")
    names = [ctx.azure.resource(chosen).name] if chosen else ctx.azure.names()
    surveys = await asyncio.gather(*(survey(ctx, n) for n in names))
    views = []
    for found in surveys:
        known = await ctx.store.idle_rows(found.resource)
        for s in found.seen:
            before = known.get((found.resource, s.name))
            used, kept = last_use(s, found.usage.get(s.name), before)
            row = IdleRow(
                found.resource, s.name, s.model, s.sku, s.created_at, deletes_at(s, used), used, kept
            )
            views.append(view_of(found.resource, row, found.now))
    return idle_list_card(chosen, views)


def _target(action: Action) -> tuple[str, str]:
    name = action.payload.get("name", "")
    try:
        return action.payload.get("resource") or "", deploy.deployment_name(name)
    except ValueError as exc:
        raise UsageError("This button carries no valid deployment name.") from exc


async def _owner(ctx: Context, resource: str, name: str) -> str | None:
    a = (await ctx.store.approvals_of(resource)).get(name)
    return a.requested_by if a is not None else None


async def _require(ctx: Context, user: User, act: Act, resource: str, name: str) -> None:
    if ctx.policy is not None:
        owner = await _owner(ctx, resource, name)
        await ctx.policy.require(user, act, resource=resource, owner=owner, subject=name)


@router.action(KEEP_ALIVE)
async def keep_alive(ctx: Context, action: Action) -> Reply:
    resource, name = _target(action)
    res = ctx.azure.resource(resource or None).name
    await _require(ctx, action.user, Act.KEEP_ALIVE, res, name)
    existing = await ctx.azure.arm(res).find_deployment(name)
    if existing is None:
        raise NotFound(f"There is no deployment {code(name)} on {res} any more.", hint="See `idle`.")
    if existing.sku is not None and is_developer_sku(existing.sku.name):
        raise InvalidState(
            "A Developer deployment ends 24 hours after it was made whatever its use: a call does not help.",
            hint="Deploy it again as Standard to keep it.",
        )
    client = ctx.azure.data(res)
    answer = await client.chat_completion(name, [{"role": "user", "content": "ping"}], max_tokens=1)
    at = client.now()
    await ctx.store.set_idle_fields(res, name, kept_alive_at=at)
    await ctx.store.audit(
        platform=action.platform,
        actor=action.user,
        action="idle.keep_alive",
        subject=name,
        detail={"resource": res, "model": existing.model_name},
    )
    created = _parse_time((existing.systemData or {}).get("createdAt")) or at
    sku = existing.sku.name if existing.sku else "?"
    row = IdleRow(res, name, existing.model_name or "?", sku, created, at + IDLE_PERIOD, at, at)
    reply = _reply_text(answer)
    return Reply(
        kept_alive_card(view_of(res, row, at), action.user.name or action.user.id, reply), replace_source=True
    )


def _reply_text(answer: Any) -> str:
    try:
        return str(answer.choices[0].message.content or "")[:200]
    except (AttributeError, IndexError, TypeError):
        return ""


@router.action(DELETE_NOW)
async def delete_now(ctx: Context, action: Action) -> Reply:
    resource, name = _target(action)
    card = await deploy.undeploy_now(ctx, action.user, action.platform, name, resource or None)
    await ctx.store.forget_idle(ctx.azure.resource(resource or None).name, [name])
    return Reply(card, replace_source=True)


@router.action(SNOOZE)
async def snooze(ctx: Context, action: Action) -> Reply:
    resource, name = _target(action)
    res = ctx.azure.resource(resource or None).name
    try:
        days = p.int_between(1, 14)(action.payload.get("days", "1"))
    except ValueError as exc:
        raise UsageError("This button carries no valid number of days.") from exc
    await _require(ctx, action.user, Act.KEEP_ALIVE, res, name)
    until = ctx.azure_now(res) + timedelta(days=days)
    if not await ctx.store.set_idle_fields(res, name, snoozed_until=until):
        raise NotFound(f"The idle guard does not know {code(name)} on {res}.", hint="See `idle`.")
    await ctx.store.audit(
        platform=action.platform,
        actor=action.user,
        action="idle.snooze",
        subject=name,
        detail={"resource": res, "days": days, "until": until.isoformat()},
    )
    return Reply(snoozed_card(res, name, action.user.name or action.user.id, until), replace_source=True)


@router.action(REDEPLOY)
async def redeploy(ctx: Context, action: Action) -> Reply:
    resource, name = _target(action)
    model = action.payload.get("model", "")
    if not model:
        raise UsageError("This button carries no model to deploy.")
    sku_word = SKU_WORDS.get(canonical_sku(str(action.payload.get("sku", ""))), "standard")
    return await deploy.request_deploy(
        ctx,
        action.user,
        action.conversation,
        action.platform,
        model,
        name=name,
        sku_word=sku_word,
        resource=resource or None,
    )


__all__ = ["IdleSweeper", "idle_step", "router", "sweep_all"]
