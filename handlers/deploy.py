"""Deployments through an approval in the channel: `deploy`, the Approve / Reject buttons, `approve`, `reject`,
`deployments`, `undeploy`, `cleanup` and `audit`; `sweep` (run by the scheduler) follows deployments being
provisioned and expires requests nobody decided.

The flow: `deploy` checks what can be checked and posts the approval card (keyed `approval:<id>`). An
approver's click adds their vote; once enough distinct approvers said yes, one compare-and-set in the store
(`pending -> approved`) picks the single winner, who re-checks the world and sends the one ARM PUT. The
deployment is then followed (by `sweep`, on whichever replica holds the row's lease, also after a restart)
until it settles, and the card moves to "Deployed" or the failure in plain words.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from bot import params as p
from bot.azure import errors as az
from bot.azure import ids
from bot.azure.arm import DEVELOPER_SKU, DeploymentOperation
from bot.azure.dataplane import is_v1
from bot.azure.errors import rai_failure
from bot.azure.models import (
    Checkpoint,
    Deployment,
    FineTuningJob,
    canonical_sku,
    is_developer_sku,
    normalise_status,
)
from bot.config import AzureResource
from bot.context import Context
from bot.dataprep.models import DEPLOYMENT_TYPES, base_model_name, deployable_as, model_info, served_until
from bot.errors import FtbotError, InvalidState, NotAllowed, NotFound, RequestClosed, UsageError
from bot.model import Action, Command, Conversation, MessageRef, Platform, Reply, User
from bot.policy import Act, Role
from bot.router import Arg, Opt, Router
from bot.store import Approval, NewApproval
from bot.store.approvals import DeployState
from cards.alerts import AlertExtras
from cards.approvals import (
    APPROVE,
    ASK_AGAIN,
    CLEANUP,
    REJECT,
    REQUEST,
    SKU_LABELS,
    UNDEPLOY,
    VIEW,
    ApprovalView,
    AuditRow,
    DeploymentRow,
    approval_card,
    approval_key,
    approved_by_command_card,
    audit_card,
    confirm_card,
    deploy_request_button,
    deployments_card,
)
from cards.markup import code, literal
from cards.model import Button, Card, Confirm, Tone
from handlers.paused import find_pause_checkpoint, is_paused

log = logging.getLogger(__name__)
router = Router("deploy")

SKUS = {
    "standard": "Standard",
    "globalstandard": "GlobalStandard",
    "datazone": "DataZoneStandard",
    "provisioned": "ProvisionedManaged",
    "developer": DEVELOPER_SKU,
}
SKU_WORDS = {sku: word for word, sku in SKUS.items()}
DEFAULT_CAPACITY = {"DeveloperTier": 50}
# Azure deletes a Developer deployment this long after it was created, whatever its use (2026 section).
DEVELOPER_LIFETIME = timedelta(hours=24)
CREATED_AT = "deployment_created_at"  # detail key: ARM's systemData.createdAt of the deployment
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")
SYSTEM = User(id="ftbot", name="ftbot")
REQUEST_ID_RE = re.compile(r"[a-f0-9]{12}")


async def _none() -> None:
    return None


def follow_lease(ctx: Context) -> timedelta:
    """How long a replica holds a deployment it follows: three sweeps, so a dead replica's rows are taken
    over within seconds while a live one renews its lease on every look."""
    return timedelta(seconds=max(1.0, 3 * ctx.settings.deploy_poll_interval))


# Held from the approval to the PUT's answer: the re-checks and the PUT are ARM calls of up to a minute each
# (bot/azure/transport.py), not one sweep. A lease as short as `follow_lease` ran out under load while the
# winner still looked, and the sweep (of this or another replica) took the request over and sent a second PUT.
# The cost: a replica that dies before its PUT is answered is taken over after this, not within seconds.
PUT_LEASE = timedelta(minutes=3)


def put_lease(ctx: Context) -> timedelta:
    return max(PUT_LEASE, follow_lease(ctx))


def deployment_name(text: str) -> str:
    value = text.strip().strip("`")
    if not NAME_RE.fullmatch(value):
        raise ValueError(
            "a deployment name is 2-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
        )
    return value


def request_id(text: str) -> str:
    value = text.strip().strip("`")
    if not REQUEST_ID_RE.fullmatch(value):
        raise ValueError("a request id is 12 hex characters (shown at the bottom of the approval card)")
    return value


RESOURCE = Opt("resource", p.resource_name, metavar="NAME", help="which Azure resource (default: the first)")


# -- what to deploy ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A deployable model found on the source resource, with what the card says about it."""

    model: str  # what the PUT names: the fine-tuned model or a checkpoint's model
    job: FineTuningJob
    step: int | None = None  # set when it is a checkpoint (not the final model)
    valid_loss: float | None = None
    paused: bool = False  # the checkpoint a paused job made where it stopped (handlers/paused.py)


def _loss(c: Checkpoint) -> float | None:
    m = c.metrics
    return m.full_valid_loss if m.full_valid_loss is not None else m.valid_loss


async def _checkpoints(ctx: Context, resource: str | None, job: FineTuningJob) -> list[Checkpoint]:
    items = [c async for c in ctx.azure.data(resource).checkpoints(job.id, limit=10)]
    return sorted(items, key=lambda c: c.step_number or 0)


def _deployable_job(job: FineTuningJob) -> None:
    rai = rai_failure(job)
    if rai is not None and rai.phase == "evaluation":
        raise InvalidState(
            f"Job {code(job.id)} failed its safety evaluation, so Azure will not deploy its model.",
            hint="Review the training data and train again.",
        )
    if not job.succeeded or not job.fine_tuned_model:
        state = {"failed": "failed", "cancelled": "was cancelled"}.get(job.status, f"is {job.status}")
        raise InvalidState(
            f"Job {code(job.id)} {state}; only a job that succeeded can be deployed.",
            hint=f"See {code(f'/ft status {job.id}')}.",
        )


def _paused_target(job: FineTuningJob, point: Checkpoint | None, what: str) -> Target | None:
    if point is None or what not in (point.id, point.fine_tuned_model_checkpoint):
        return None
    return Target(point.fine_tuned_model_checkpoint or point.id, job, point.step_number, _loss(point), True)


def _still_deployable(job: FineTuningJob, a: Approval) -> None:
    """At approval time: a paused job's checkpoint is deployed only while the job is still paused; anything
    else needs the job to have succeeded (as when it was asked for)."""
    if a.detail.get("paused_job") and a.checkpoint_step is not None:
        if is_paused(job) or job.succeeded:
            return
        raise InvalidState(
            f"Job {code(job.id)} is no longer paused (it is {normalise_status(job.status).word}); the checkpoint "
            "it made when it paused is deployed only while it stays paused.",
            hint=f"Pause it again, or deploy it once it has succeeded: {code(f'deploy {job.id}')}.",
        )
    _deployable_job(job)


async def find_target(ctx: Context, what: str, resource: str | None, job_hint: str | None = None) -> Target:
    """A job id, a fine-tuned model name, a checkpoint id or a checkpoint's model name -> what to deploy.
    `job_hint`: the job a button named (looked at first; a paused job's checkpoint is found there)."""
    client = ctx.azure.data(resource)
    if what.startswith("ftjob-"):
        job = await client.get_job(p.job_id(what))
        if is_paused(job):
            point = await find_pause_checkpoint(client, job)
            if point is not None:
                raise InvalidState(
                    f"Job {code(job.id)} is paused, so it has no final model yet; the checkpoint it made where it "
                    f"stopped (step {point.step_number}) can be deployed.",
                    hint=f"{code(f'deploy {point.id}')}, or the Deploy this checkpoint button on its card.",
                )
        _deployable_job(job)
        points = await _checkpoints(ctx, resource, job)
        return Target(job.fine_tuned_model or "", job, None, _loss(points[-1]) if points else None)
    checkpoint_name = what.startswith(("ftchkpt-", "ftckpt")) or ":ckpt-step-" in what
    if job_hint and checkpoint_name:
        try:
            hinted = await client.get_job(p.job_id(job_hint or ""))
        except (ValueError, az.NotFound):
            hinted = None
        if hinted is not None and is_paused(hinted):
            found = _paused_target(hinted, await find_pause_checkpoint(client, hinted), what)
            if found is not None:
                return found
    scan = client.scan()
    async for job in client.jobs(status="succeeded", limit=50, max_items=200, scan=scan):
        if what == job.fine_tuned_model:
            points = await _checkpoints(ctx, resource, job)
            return Target(what, job, None, _loss(points[-1]) if points else None)
        if not (
            what.startswith(("ftchkpt-", "ftckpt"))
            or (job.fine_tuned_model and what.startswith(job.fine_tuned_model))
        ):
            continue
        points = await _checkpoints(ctx, resource, job)
        for index, c in enumerate(points):
            if what in (c.id, c.fine_tuned_model_checkpoint):
                if index < len(points) - 3:
                    raise InvalidState(
                        f"The checkpoint at step {c.step_number} is not deployable: Azure keeps only the "
                        "last three epochs of a job.",
                        hint=f"See {code(f'/ft checkpoints {job.id}')}.",
                    )
                final = index == len(points) - 1
                model = job.fine_tuned_model if final else (c.fine_tuned_model_checkpoint or c.id)
                return Target(model or c.id, job, None if final else c.step_number, _loss(c))
    if checkpoint_name:
        # A paused job's checkpoint (typed, or from a button whose job is no longer the hint).
        async for job in client.jobs(status="paused", limit=50, max_items=20, scan=client.scan()):
            found = _paused_target(job, await find_pause_checkpoint(client, job), what)
            if found is not None:
                return found
    searched = scan.note("jobs")
    raise NotFound(
        f"No deployable model or checkpoint called {code(what[:120])} was found among the succeeded (and "
        "paused) jobs." + (f" {searched}" if searched else ""),
        hint="Use a job id (`deploy ftjob-...`) or pick a row with a Deploy button on `/ft checkpoints <job>`.",
    )


def offered_skus(base_model: str | None) -> tuple[str, ...] | None:
    """The `--sku` words Azure offers for deployments of models fine-tuned from `base_model`, per the bundled
    catalogue; None when the catalogue does not know the model (then Azure decides at the PUT)."""
    info = model_info(base_model)
    if info is None:
        return None
    return tuple(word for word in DEPLOYMENT_TYPES if word in info.deployment_types)


def _sku_offered(sku_word: str, base_model: str | None) -> None:
    """Refuse, before anyone is asked to approve, a SKU the model is not offered in; say which ones are."""
    offered = offered_skus(base_model)
    if offered is None or sku_word in offered:
        return
    label = SKU_LABELS.get(SKUS[sku_word], SKUS[sku_word])
    bases = ", ".join(f"`{b}`" for b in deployable_as(sku_word))
    only = f" {label} deployments are for models fine-tuned from {bases}." if bases else ""
    raise InvalidState(
        f"Azure does not offer {label} deployments of models fine-tuned from {code(str(base_model))}.{only} "
        f"It offers: {', '.join(code(w) for w in offered)}. Nobody was asked to approve.",
        hint=f"Use one of those, e.g. {code(f'--sku {offered[0]}')}.",
    )


def _default_name(target: Target) -> str:
    suffix = target.job.suffix or "ft"
    name = f"{suffix}-{target.job.id.removeprefix('ftjob-')[:8]}"
    if target.step is not None:
        name += f"-step{target.step}"
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name)[:64]
    return name if NAME_RE.fullmatch(name) else f"ft-{target.job.id[-8:]}"


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a request asks for, checked; what `decide` re-checks."""

    target: Target
    resource: str  # where the deployment goes
    source_resource: str  # where the model lives
    name: str
    sku: str
    capacity: int
    source: str | None = None
    cross_tenant: bool = False
    source_tenant: str | None = None
    crossing: tuple[str, ...] = field(default_factory=tuple)


def _crossing(src: AzureResource, dst: AzureResource) -> tuple[tuple[str, ...], bool]:
    lines: list[str] = []
    if src.name == dst.name:
        return (), False
    if src.region and dst.region and src.region != dst.region:
        lines.append(f"Cross-region: the model was trained in {src.region} and is deployed in {dst.region}.")
    if src.subscription_id and dst.subscription_id and src.subscription_id != dst.subscription_id:
        lines.append(
            f"Cross-subscription: from subscription {code(src.subscription_id)} to {code(dst.subscription_id)}."
        )
    tenant = bool(src.tenant_id and dst.tenant_id and src.tenant_id != dst.tenant_id)
    if tenant:
        lines.append(
            f"Cross-tenant: the model's resource {code(src.name)} is in tenant {code(src.tenant_id)}, the deployment "
            f"goes to tenant {code(dst.tenant_id)}; the bot signs in to both."
        )
    if not lines:
        lines.append(f"The model comes from resource {code(src.name)}.")
    return tuple(lines), tenant


def _other_name(plan: Plan) -> str:
    """A free-looking name for a second deployment from the same job: the step, for a checkpoint."""
    tail = f"-step{plan.target.step}" if plan.target.step is not None else "-2"
    return f"{plan.name[: 64 - len(tail)]}{tail}"


async def _check_target_side(
    ctx: Context,
    plan: Plan,
    *,
    ignore: str | None = None,
    deployments: list[Deployment] | None = None,
    waiting: list[Approval] | None = None,
) -> None:
    """Checks against the target resource now: one deployment per model, name free, quota. `ignore`: the
    request being decided (its own reservation does not count against it). `deployments` and `waiting`:
    already fetched (the approval path fetches them at once with the model's job)."""
    if deployments is None:
        deployments = await ctx.azure.arm(plan.resource).list_deployments()
    for d in deployments:
        if d.model_name == plan.target.model and d.name != plan.name:
            raise InvalidState(
                f"{code(plan.target.model)} is already deployed as {code(d.name)}; Azure allows one deployment per "
                "fine-tuned model.",
                hint=f"Remove it first with {code(f'undeploy {d.name}')}, or use that one.",
            )
        if d.name == plan.name:
            # Usually a checkpoint of a job whose final model took the job's default name.
            serving = f" (it serves {code(d.model_name)})" if d.model_name else ""
            raise InvalidState(
                f"A deployment called {code(plan.name)} already exists on {plan.resource}{serving}.",
                hint=f"Ask again under another name: {code(f'deploy {plan.target.model} --name {_other_name(plan)}')}; "
                f"or remove that one first with {code(f'undeploy {plan.name}')}.",
            )
    used = sum(1 for d in deployments if ids.counts_as_fine_tuned_deployment(d.model_name))
    if waiting is None:
        waiting = await ctx.store.open_approvals(plan.resource)
    waiting = [a for a in waiting if a.id != ignore]
    for a in waiting:
        if a.deployment == plan.name:
            raise InvalidState(
                f"The name {code(plan.name)} is already taken by request {code(a.id)} ({a.state}).",
                hint="Pick another name with `--name`.",
            )
        if a.model == plan.target.model:
            raise InvalidState(
                f"{code(plan.target.model)} already has a deployment request {code(a.id)} ({a.state}).",
            )
    quota = ctx.settings.fine_tuned_deployment_quota
    reserved = sum(1 for a in waiting if a.state == "approved")
    if used + reserved >= quota:
        raise InvalidState(
            f"{plan.resource} already has {used + reserved} of its {quota} fine-tuned deployments.",
            hint="Remove one with `undeploy <name>` (see `deployments`).",
        )


def _aux_missing(ctx: Context, plan: Plan) -> None:
    if plan.cross_tenant and ctx.azure.auxiliary_tokens(plan.source_resource) is None:
        src = ctx.azure.resource(plan.source_resource)
        raise InvalidState(
            f"This deploy crosses tenants (the model is in tenant {code(src.tenant_id)}), and the bot has no "
            f"credential for that tenant, so Azure would refuse it. Nobody was asked to approve.",
            hint=f"Set `client_id_env` and `client_secret_env` on resource {code(src.name)} in the config file, "
            "naming environment variables with a service principal of that tenant, and restart the bot.",
        )


async def make_plan(
    ctx: Context,
    what: str,
    *,
    name: str | None,
    sku_word: str,
    capacity: int | None,
    resource: str | None,
    source_resource: str | None,
    job_hint: str | None = None,
) -> Plan:
    dst = ctx.azure.resource(resource)
    src = ctx.azure.resource(source_resource) if source_resource else dst
    target = await find_target(ctx, what, src.name, job_hint)
    sku = SKUS[sku_word]
    _sku_offered(sku_word, target.job.model)
    crossing, tenant = _crossing(src, dst)
    plan = Plan(
        target=target,
        resource=dst.name,
        source_resource=src.name,
        name=name or _default_name(target),
        sku=sku,
        capacity=capacity or DEFAULT_CAPACITY.get(sku, 1),
        source=src.arm_id if src.name != dst.name else None,
        cross_tenant=tenant,
        source_tenant=src.tenant_id or None,
        crossing=crossing,
    )
    _aux_missing(ctx, plan)
    await _check_target_side(ctx, plan)
    return plan


# -- views and card updates ------------------------------------------------------------------------------------


def _no_approvers(ctx: Context, resource: str) -> bool:
    policy = ctx.policy
    if policy is None:
        return True
    return not policy.local and not policy.roles_config(resource).approvers


async def view_of(ctx: Context, a: Approval) -> ApprovalView:
    # the price table's module on first use, not at start-up (issue 17)
    from bot.dataprep.prices import hosting_price

    res = ctx.azure.resource(a.resource)
    price = hosting_price(a.sku)
    votes = await ctx.store.votes(a.id)
    detail: Mapping[str, Any] = a.detail
    note = f"Price: {price.source}, as of {price.as_of}." if price is not None else ""
    ends_at, ends_known = None, False
    if is_developer_sku(a.sku):
        created = _parse_time(detail.get(CREATED_AT))
        if created is not None:
            ends_at, ends_known = created + DEVELOPER_LIFETIME, True
        elif a.state == "pending":
            ends_at = ctx.azure_now(a.resource) + DEVELOPER_LIFETIME
        elif a.decided_at is not None:
            ends_at = a.decided_at + DEVELOPER_LIFETIME
    warnings: list[str] = []
    if detail.get("paused_job"):
        warnings.append(
            "A checkpoint of a paused job, made where it stopped: it is deployed only while the job stays "
            "paused (checked again at approval)."
        )
    return ApprovalView(
        id=a.id,
        state=a.state,
        model=a.model,
        deployment=a.deployment,
        sku=a.sku,
        capacity=a.capacity,
        resource=a.resource,
        account=res.account_name,
        region=res.region,
        subscription=res.subscription_id,
        requester=a.requester,
        created_at=a.created_at,
        expires_at=a.expires_at,
        job_id=a.job_id,
        checkpoint_step=a.checkpoint_step,
        valid_loss=detail.get("valid_loss"),
        base_model=detail.get("base_model"),
        crossing=tuple(detail.get("crossing") or ()),
        price_per_hour=price.per_hour if price else None,
        price_per_month=price.per_month if price else None,
        currency=price.currency if price else "USD",
        price_note=note,
        required_approvals=a.required_approvals,
        approved_by=tuple(n or i for i, n in votes),
        decided_by=a.decider if a.decided_by else None,
        decided_at=a.decided_at,
        reason=a.reason,
        deploy_state=a.deploy_state,
        endpoint=a.endpoint or res.endpoint,
        error=a.error,
        local=bool(ctx.policy and ctx.policy.local),
        no_approvers=_no_approvers(ctx, a.resource),
        warnings=tuple(warnings),
        ends_at=ends_at,
        ends_known=ends_known,
    )


async def card_of(ctx: Context, a: Approval, *, can_decide: bool = True) -> Card:
    card = approval_card(await view_of(ctx, a), ctx.clock(), can_decide=can_decide)
    if a.platform == "teams" and card.refresh is not None:
        # Teams refreshes automatically for these users: the requester sees a status line, not buttons.
        card = replace(card, refresh_users=(a.requested_by,))
    elif card.refresh is not None:
        card = replace(card, refresh=None)
    return card


async def update_card(ctx: Context, a: Approval) -> None:
    """Update the request's card in its conversation for everyone (proactive: expiry, provisioning, result)."""
    if ctx.notifier is None:
        return
    conversation = await ctx.store.get_conversation(a.conversation_key)
    message = await ctx.store.find_message(approval_key(a.id), a.conversation_key)
    if conversation is None or message is None:
        return
    try:
        await ctx.notifier.update(a.platform, conversation.reference, message, await card_of(ctx, a))
    except Exception as exc:  # a card that cannot be updated must not stop the deployment's follow-up
        log.warning("could not update the card of request %s: %s", a.id, type(exc).__name__)


async def _audit(ctx: Context, platform: str, who: User, action: str, a: Approval, **detail: Any) -> None:
    await ctx.store.audit(
        platform=platform,
        actor=who,
        action=action,
        subject=a.deployment,
        detail={
            "request": a.id,
            "resource": a.resource,
            "model": a.model,
            "sku": a.sku,
            "capacity": a.capacity,
            **{k: v for k, v in detail.items() if v is not None},
        },
    )


# -- asking ---------------------------------------------------------------------------------------------------


async def request_deploy(
    ctx: Context,
    user: User,
    conversation: Conversation,
    platform: Platform,
    what: str,
    *,
    name: str | None = None,
    sku_word: str = "standard",
    capacity: int | None = None,
    resource: str | None = None,
    source_resource: str | None = None,
    job_hint: str | None = None,
) -> Reply:
    target_resource = ctx.azure.resource(resource).name
    if ctx.policy is not None:
        await ctx.policy.require(user, Act.REQUEST_DEPLOY, resource=target_resource)
    plan = await make_plan(
        ctx,
        what,
        name=name,
        sku_word=sku_word,
        capacity=capacity,
        resource=resource,
        source_resource=source_resource,
        job_hint=job_hint,
    )
    roles = ctx.policy.roles_config(plan.resource) if ctx.policy else None
    new = NewApproval(
        resource=plan.resource,
        model=plan.target.model,
        deployment=plan.name,
        sku=plan.sku,
        capacity=plan.capacity,
        platform=platform,
        conversation_key=conversation.key,
        requester=user,
        required_approvals=1
        if roles is None or (ctx.policy and ctx.policy.local)
        else roles.required_approvals,
        ttl=timedelta(seconds=ctx.settings.approval_ttl),
        job_id=plan.target.job.id,
        checkpoint_step=plan.target.step,
        source=plan.source,
        source_tenant=plan.source_tenant if plan.cross_tenant else None,
        cross_tenant=plan.cross_tenant,
        detail={
            "valid_loss": plan.target.valid_loss,
            "base_model": plan.target.job.model,
            "crossing": list(plan.crossing),
            "source_resource": plan.source_resource,
            **({"paused_job": True} if plan.target.paused else {}),
        },
    )
    approval = await ctx.store.create_approval(new, secrets.token_hex(6))
    await _audit(ctx, platform, user, "deploy.request", approval, job=approval.job_id)
    return Reply(await card_of(ctx, approval))


@router.command(
    "deploy",
    summary="Ask to deploy a fine-tuned model or checkpoint (an approver approves in the channel)",
    example="deploy ftjob-0123456789abcdef0123456789abcdef --sku developer",
    args=(Arg("what", help="a job id, a fine-tuned model or a checkpoint id"),),
    options=(
        Opt("name", deployment_name, metavar="NAME", help="deployment name (default: from the job)"),
        Opt(
            "sku",
            p.one_of(*SKUS),
            default="standard",
            metavar="SKU",
            help="standard (default), globalstandard, datazone, provisioned or developer (24 h, no hosting fee)",
        ),
        Opt("capacity", p.int_between(1, 1000), metavar="N", help="capacity units (default 1; Developer 50)"),
        RESOURCE,
        Opt("source-resource", p.resource_name, metavar="NAME", help="the resource the model was trained in"),
    ),
)
async def deploy(ctx: Context, cmd: Command) -> Reply:
    prm = cmd.params
    return await request_deploy(
        ctx,
        cmd.user,
        cmd.conversation,
        cmd.platform,
        prm["what"],
        name=prm["name"],
        sku_word=prm["sku"],
        capacity=prm["capacity"],
        resource=prm["resource"],
        source_resource=prm["source_resource"],
    )


@router.action(REQUEST)
async def request_button(ctx: Context, action: Action) -> Reply:
    what = action.payload.get("model") or action.payload.get("checkpoint") or action.payload.get("job") or ""
    if not what:
        raise UsageError("This button carries nothing to deploy.")
    return await request_deploy(
        ctx,
        action.user,
        action.conversation,
        action.platform,
        what,
        resource=action.payload.get("resource"),
        job_hint=action.payload.get("job") if what != action.payload.get("job") else None,
    )


# -- deciding ------------------------------------------------------------------------------------------------


async def _load(ctx: Context, action: Action) -> Approval:
    try:
        approval_id = request_id(action.payload.get("id", ""))
    except ValueError as exc:
        raise UsageError("This button carries no valid request id.") from exc
    found = await ctx.store.get_approval(approval_id)
    if found is None:
        raise NotFound(f"There is no deployment request {code(approval_id)}.")
    return found


def _owner(ctx: Context) -> str:
    owner: str | None = ctx.extras.get("deploy.owner")
    if owner is None:
        owner = f"deploy-{secrets.token_hex(6)}"
        ctx.extras["deploy.owner"] = owner
    return owner


PLATFORM_NAMES = {"slack": "Slack", "teams": "Teams", "web": "the local chat page"}


async def _refuse(ctx: Context, platform: str, user: User, a: Approval, why: str) -> NotAllowed:
    await _audit(ctx, platform, user, "deploy.approve.refused", a, reason=why)
    return NotAllowed(
        f"You may not approve this deployment: {why}.",
        act=Act.APPROVE_DEPLOY.value,
        subject=a.deployment,
        audited=True,
    )


def _closed(a: Approval) -> FtbotError:
    words = {
        "approved": f"was already approved by {literal(a.decider or '?')}",
        "rejected": f"was already rejected by {literal(a.decider or '?')}",
        "expired": "has expired: press Ask again on its card, or run `/ft deploy` again, for a fresh request",
    }
    return RequestClosed(f"This request {words.get(a.state, 'is ' + literal(a.state))}.")


async def _expire_if_due(ctx: Context, a: Approval) -> Approval:
    if a.state == "pending" and a.expires_at <= ctx.clock():
        if await ctx.store.decide(a.id, "expired"):
            a = await ctx.store.get_approval(a.id) or a
            await _audit(ctx, a.platform, SYSTEM, "deploy.expired", a)
            await update_card(ctx, a)
        else:
            a = await ctx.store.get_approval(a.id) or a
    return a


async def _may_approve(ctx: Context, user: User, a: Approval, platform: str) -> None:
    local = bool(ctx.policy and ctx.policy.local)
    if platform != a.platform:
        # Four-eyes and votes compare user ids, which are per platform; the roles may name one person on
        # both (a Slack id and an AAD id): from the other platform the requester could approve their own.
        where = PLATFORM_NAMES.get(a.platform, a.platform)
        raise await _refuse(
            ctx, platform, user, a, f"it was asked for in {where}: approve it there, where who asked is known"
        )
    if not local and user.id == a.requested_by:
        raise await _refuse(
            ctx, platform, user, a, "you asked for it, and a request needs someone else's approval"
        )
    if ctx.policy is None:
        raise await _refuse(ctx, platform, user, a, "no approvers are configured")
    decision = await ctx.policy.check(user, Act.APPROVE_DEPLOY, resource=a.resource)
    if not decision.allowed:
        raise await _refuse(ctx, platform, user, a, decision.reason)


def _source_ref(action: Action) -> MessageRef | None:
    return action.message


async def approve_request(
    ctx: Context, user: User, platform: str, a: Approval, source: MessageRef | None, *, typed: bool = False
) -> Reply:
    """One approval of `a` by `user`, from the Approve button (the answer is the request's card, updating
    `source`, the clicked one) or from `approve <request>` typed anywhere (`typed`: the request's card is
    updated where it was posted and the one who typed gets a card saying what happened). The same checks either way: a configured
    approver, not the requester (four-eyes, except in local use), not expired, still pending; the one
    compare-and-set below picks the single winner, who sends the one PUT."""
    a = await _expire_if_due(ctx, a)
    if a.state != "pending":
        raise _closed(a)
    await _may_approve(ctx, user, a, platform)
    votes = 1
    if a.required_approvals > 1:  # one approval needs no tally: the compare-and-set below is the vote
        votes = await ctx.store.add_vote(a.id, user)
        if votes < a.required_approvals:
            await _audit(ctx, platform, user, "deploy.approve", a, votes=votes)
            return await _approved_reply(ctx, a, source, typed)
    if not await ctx.store.decide(a.id, "approved", by=user, lease_owner=_owner(ctx), lease=put_lease(ctx)):
        current = await ctx.store.get_approval(a.id) or a
        raise _closed(current) if current.state != "pending" else RequestClosed("This request just expired.")
    decided = replace(
        a,
        state="approved",
        decided_by=user.id,
        decided_by_name=user.name or None,
        decided_at=ctx.clock(),
        deploy_state="putting",
    )
    done = await start_deployment(ctx, decided, _owner(ctx))  # the PUT first; the records after it
    await _audit(ctx, platform, user, "deploy.approve", done, votes=votes, decided=True)
    return await _approved_reply(ctx, done, source, typed)


async def _approved_reply(ctx: Context, a: Approval, source: MessageRef | None, typed: bool) -> Reply:
    if not typed:
        return Reply(await card_of(ctx, a), update=source)
    await update_card(ctx, a)
    # Not the request's card (keyed, followed until deployed in the requester's conversation): a card of its
    # own, saying what this approval did and where to follow it.
    return Reply(approved_by_command_card(await view_of(ctx, a)), ephemeral=True)


@router.action(APPROVE)
async def approve_button(ctx: Context, action: Action) -> Reply:
    a = await _load(ctx, action)
    return await approve_request(ctx, action.user, action.platform, a, _source_ref(action))


@router.command(
    "approve",
    summary="Approve a deployment request by its id (approvers; the id is on the request's card)",
    example="approve 0123456789ab",
    args=(Arg("request", request_id),),
)
async def approve(ctx: Context, cmd: Command) -> Reply:
    a = await ctx.store.get_approval(cmd.params["request"])
    if a is None:
        raise NotFound(f"There is no deployment request {code(cmd.params['request'])}.")
    return await approve_request(ctx, cmd.user, cmd.platform, a, None, typed=True)


async def start_deployment(ctx: Context, a: Approval, owner: str) -> Approval:
    """The winner of the approval (or whoever resumes a request stuck before its PUT): re-check, PUT once."""
    try:
        plan = Plan(
            target=Target(
                a.model, FineTuningJob(id=a.job_id or "", status="succeeded", fine_tuned_model=a.model)
            ),
            resource=a.resource,
            source_resource=str(a.detail.get("source_resource") or a.resource),
            name=a.deployment,
            sku=a.sku,
            capacity=a.capacity,
            source=a.source,
            cross_tenant=a.cross_tenant,
        )
        arm = ctx.azure.arm(a.resource)
        _aux_missing(ctx, plan)
        # The world may have moved since the request: model still there, name free, quota. The three looks
        # go out together: this is on the path from the click to the PUT.
        job_look = ctx.azure.data(plan.source_resource).get_job(a.job_id) if a.job_id else _none()
        deployments, waiting, job = await asyncio.gather(
            arm.list_deployments(), ctx.store.open_approvals(a.resource), job_look
        )
        existing = next((d for d in deployments if d.name == a.deployment), None)
        if existing is not None and existing.model_name == a.model:
            # Taken over after an earlier holder's PUT went through (the name was free when asked, so this
            # deployment is that PUT's): follow it, do not send another.
            operation = DeploymentOperation(existing, operation_url=None, status_code=200)
        else:
            if job is not None:
                _still_deployable(job, a)
            await _check_target_side(ctx, plan, ignore=a.id, deployments=deployments, waiting=waiting)
            # Compare-and-set before the PUT: only the lease holder sends it, and the renewed lease covers the
            # PUT. False: the lease ran out during the looks and another sweep holds the request now.
            if not await ctx.store.set_deploy_state(a.id, "putting", owner=owner, lease=put_lease(ctx)):
                log.info("deployment %s: another replica took the request over; no PUT here", a.deployment)
                return await ctx.store.get_approval(a.id) or a
            operation = await arm.put_deployment(
                a.deployment,
                a.model,
                sku=a.sku,
                capacity=a.capacity,
                source=a.source if not a.cross_tenant else None,
                source_account=a.source if a.cross_tenant else None,
                auxiliary_tokens=ctx.azure.auxiliary_tokens(plan.source_resource) if a.cross_tenant else None,
            )
    except (FtbotError, az.AzureError) as exc:
        message = exc.message if isinstance(exc, FtbotError | az.AzureError) else str(exc)
        await ctx.store.set_deploy_state(a.id, "failed", owner=owner, error=message[:1000])
        failed = await ctx.store.get_approval(a.id) or a
        await _audit(ctx, a.platform, SYSTEM, "deploy.result", failed, result="failed", error=message[:300])
        return failed
    state: DeployState = "succeeded" if operation.deployment.succeeded else "provisioning"
    if operation.deployment.is_settled and not operation.deployment.succeeded:
        state = "failed"
    await ctx.store.set_deploy_state(
        a.id,
        state,
        owner=owner,
        lease=follow_lease(ctx),
        operation_url=operation.operation_url,
        **_created(a, operation.deployment),
    )
    done = await ctx.store.get_approval(a.id) or a
    if state != "provisioning":
        await _audit(ctx, a.platform, SYSTEM, "deploy.result", done, result=state)
    return done


@router.action(VIEW)
async def view_button(ctx: Context, action: Action) -> Reply:
    """Teams' automatic refresh: the card as this user may act on it."""
    a = await _expire_if_due(ctx, await _load(ctx, action))
    can = False
    if a.state == "pending" and ctx.policy is not None:
        own = action.user.id == a.requested_by and not ctx.policy.local
        can = (
            not own and (await ctx.policy.check(action.user, Act.APPROVE_DEPLOY, resource=a.resource)).allowed
        )
    return Reply(await card_of(ctx, a, can_decide=can), replace_source=True)


async def reject_request(
    ctx: Context, user: User, platform: str, a: Approval, reason: str | None, source: MessageRef | None
) -> Reply:
    a = await _expire_if_due(ctx, a)
    if a.state != "pending":
        raise _closed(a)
    if user.id != a.requested_by and ctx.policy is not None:
        decision = await ctx.policy.check(user, Act.APPROVE_DEPLOY, resource=a.resource)
        if not decision.allowed:
            await _audit(ctx, platform, user, "deploy.reject.refused", a, reason=decision.reason)
            raise NotAllowed(
                f"You may not reject this deployment: {decision.reason}.",
                act=Act.APPROVE_DEPLOY.value,
                subject=a.deployment,
                audited=True,
            )
    if not await ctx.store.decide(a.id, "rejected", by=user, reason=reason):
        raise _closed(await ctx.store.get_approval(a.id) or a)
    a = await ctx.store.get_approval(a.id) or a
    await _audit(ctx, platform, user, "deploy.reject", a, reason=reason or "")
    card = await card_of(ctx, a)
    if source is not None:
        return Reply(card, update=source)
    await update_card(ctx, a)
    return Reply(card, ephemeral=True)


@router.action(REJECT)
async def reject_button(ctx: Context, action: Action) -> Reply:
    a = await _load(ctx, action)
    return await reject_request(ctx, action.user, action.platform, a, None, _source_ref(action))


@router.command(
    "reject",
    summary="Reject a deployment request, with a reason",
    example="reject 0123456789ab --reason not before the release",
    args=(Arg("request", request_id),),
    options=(Opt("reason", metavar="TEXT", help="why (shown on the card and in the audit log)"),),
)
async def reject(ctx: Context, cmd: Command) -> Reply:
    a = await ctx.store.get_approval(cmd.params["request"])
    if a is None:
        raise NotFound(f"There is no deployment request {code(cmd.params['request'])}.")
    reason = cmd.params["reason"]
    if not reason and len(cmd.args) > 1:
        reason = " ".join(cmd.args[1:])
    return await reject_request(ctx, cmd.user, cmd.platform, a, reason, None)


@router.action(ASK_AGAIN)
async def ask_again(ctx: Context, action: Action) -> Reply:
    a = await _load(ctx, action)
    if a.state != "expired":
        raise InvalidState("Only an expired request can be asked again.")
    reply = await request_deploy(
        ctx,
        action.user,
        action.conversation,
        action.platform,
        a.job_id if a.checkpoint_step is None and a.job_id else a.model,
        name=a.deployment,
        sku_word=SKU_WORDS.get(canonical_sku(a.sku), "standard"),
        capacity=a.capacity,
        resource=a.resource,
        source_resource=str(a.detail.get("source_resource") or a.resource),
    )
    return reply


# -- following (scheduler) ------------------------------------------------------------------------------------


async def follow(ctx: Context, a: Approval, owner: str) -> Approval:
    """One look at a deployment being created: a pure step from what Azure says now to the stored state."""
    if a.deploy_state == "putting":
        return await start_deployment(ctx, a, owner)
    arm = ctx.azure.arm(a.resource)
    try:
        deployment = await arm.find_deployment(a.deployment)
    except az.AzureError as exc:
        log.info("deployment %s: could not look (%s); will look again", a.deployment, exc.code)
        await ctx.store.set_deploy_state(a.id, "provisioning", owner=owner, lease=follow_lease(ctx))
        return a
    state: DeployState
    error: str | None
    extra: dict[str, Any] = {}
    if deployment is None:
        state, error = "failed", "The deployment disappeared before it was ready (deleted in Azure?)."
    elif deployment.succeeded:
        state, error = "succeeded", None
        extra = _created(a, deployment)
    elif deployment.is_settled:
        state = "failed"
        error = f"Azure reports the deployment as {deployment.provisioning_state}."
    else:
        await ctx.store.set_deploy_state(a.id, "provisioning", owner=owner, lease=follow_lease(ctx))
        return a
    await ctx.store.set_deploy_state(a.id, state, owner=owner, error=error, **extra)
    done = await ctx.store.get_approval(a.id) or a
    await _audit(ctx, a.platform, SYSTEM, "deploy.result", done, result=state, error=error)
    await update_card(ctx, done)
    return done


def _created(a: Approval, deployment: Deployment) -> dict[str, Any]:
    """The deployment's creation time as ARM says it (`systemData.createdAt`), kept in the request's detail
    for a Developer deployment (its card states its 24 h end); {} when nothing new is known."""
    created = (deployment.systemData or {}).get("createdAt")
    if not is_developer_sku(a.sku) or not isinstance(created, str) or a.detail.get(CREATED_AT) == created:
        return {}
    return {"detail": {**a.detail, CREATED_AT: created}}


async def sweep(ctx: Context) -> None:
    """Expire requests nobody decided in time; follow deployments being provisioned (ours or orphaned)."""
    try:
        for approval_id in await ctx.store.due_for_expiry(ctx.clock()):
            if await ctx.store.decide(approval_id, "expired"):
                a = await ctx.store.get_approval(approval_id)
                if a is not None:
                    await _audit(ctx, a.platform, SYSTEM, "deploy.expired", a)
                    await update_card(ctx, a)
        owner = _owner(ctx)
        for a in await ctx.store.claim_deploys(owner, limit=20, lease=follow_lease(ctx)):
            before = a.deploy_state
            after = await follow(ctx, a, owner)
            if before == "putting" and after.deploy_state != "putting":
                await update_card(ctx, after)
    except Exception:
        log.exception("deployment sweep failed; will run again")


# -- deployments, undeploy, cleanup, audit ----------------------------------------------------------------------


@router.command(
    "deployments",
    summary="Fine-tuned deployments of a resource and who approved them",
    example="deployments --resource default",
    options=(RESOURCE,),
)
async def deployments(ctx: Context, cmd: Command) -> Card:
    resource = ctx.azure.resource(cmd.params["resource"]).name
    approved = await ctx.store.approvals_of(resource)
    arm = ctx.azure.arm(resource)
    rows = []
    scan = arm.scan()
    for d in await arm.list_deployments(scan=scan):
        if not ids.counts_as_fine_tuned_deployment(d.model_name):
            continue
        created = (d.systemData or {}).get("createdAt")
        a = approved.get(d.name)
        mine = a is not None and a.model == d.model_name
        base, retires = model_retirement(d.model_name, a.detail.get("base_model") if a and mine else None)
        rows.append(
            DeploymentRow(
                name=d.name,
                model=d.model_name or "?",
                sku=d.sku.name if d.sku else "?",
                created=_parse_time(created),
                state=d.provisioning_state or "?",
                approved_by=a.decider if a is not None and mine else "",
                base=base,
                base_retires=retires,
                served_until=served_until(retires),
            )
        )
    # Retirements are days on Azure's clock: the `Date` of the ARM answer just read (the data plane's, as
    # `ctx.azure_now` gives it, may not have answered yet in this process).
    return deployments_card(
        resource, rows, today=arm.now().date(), searched=scan.note("deployments", "The rest were not read.")
    )


def model_retirement(model: str | None, base_hint: str | None = None) -> tuple[str, date | None]:
    """(base model, the day it retires for fine-tuning) from the bundled catalogue (`retires=`): a base model
    is its own base; a fine-tuned model or checkpoint named `<base>.ft-...` has that base; a bare checkpoint
    id (`ftchkpt-...`) the base its request recorded. ("", None) when the catalogue does not say."""
    for name in (model, base_hint):
        info = model_info(name) if name else None
        if info is not None and name:
            base = base_model_name(name)
            return base, date.fromisoformat(info.retires) if info.retires else None
    return "", None


def _parse_time(value: object) -> Any:
    from datetime import datetime

    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


async def _delete_allowed(ctx: Context, user: User, resource: str, deployment: str) -> None:
    if ctx.policy is None:
        return
    owner = None
    a = (await ctx.store.approvals_of(resource)).get(deployment)
    if a is not None:
        owner = a.requested_by
    await ctx.policy.require(user, Act.DELETE_DEPLOY, resource=resource, owner=owner)


async def undeploy_now(ctx: Context, user: User, platform: str, name: str, resource: str | None) -> Card:
    res = ctx.azure.resource(resource).name
    await _delete_allowed(ctx, user, res, name)
    arm = ctx.azure.arm(res)
    existing = await arm.find_deployment(name)
    if existing is None:
        raise NotFound(f"There is no deployment {code(name)} on {res}.", hint="See `deployments`.")
    await arm.delete_deployment(name)
    await ctx.store.audit(
        platform=platform,
        actor=user,
        action="deploy.delete",
        subject=name,
        detail={"resource": res, "model": existing.model_name},
    )
    return Card(
        title=f"Deleting {literal(name)}",
        tone=Tone.SUCCESS,
        text=f"Deployment {code(name)} of {code(existing.model_name)} is being deleted; hosting charges stop. "
        "The model stays and can be deployed again.",
        summary=f"Deleting deployment {literal(name)}",
    )


@router.command(
    "undeploy",
    summary="Delete a deployment (asks to confirm)",
    example="undeploy my-model-v1",
    args=(Arg("name", deployment_name),),
    options=(Opt("yes", flag=True, default=False, help="skip the confirmation"), RESOURCE),
)
async def undeploy(ctx: Context, cmd: Command) -> Card:
    name, resource = cmd.params["name"], cmd.params["resource"]
    if cmd.params["yes"]:
        return await undeploy_now(ctx, cmd.user, cmd.platform, name, resource)
    res = ctx.azure.resource(resource).name
    await _delete_allowed(ctx, cmd.user, res, name)
    payload = {"name": name, "resource": res}
    button = Button(
        "Delete deployment",
        UNDEPLOY,
        payload,
        style="danger",
        confirm=Confirm("Delete this deployment?", f"{code(name)} stops answering now.", "Delete", "Keep it"),
    )
    return confirm_card(
        f"Delete deployment {literal(name)}?", f"{code(name)} on {res} stops answering and billing.", button
    )


@router.action(UNDEPLOY)
async def undeploy_button(ctx: Context, action: Action) -> Reply:
    try:
        name = deployment_name(action.payload.get("name", ""))
    except ValueError as exc:
        raise UsageError("This button carries no valid deployment name.") from exc
    card = await undeploy_now(ctx, action.user, action.platform, name, action.payload.get("resource"))
    return Reply(card, replace_source=True)


async def cleanup_now(ctx: Context, user: User, platform: str, job_id: str, resource: str | None) -> Card:
    res = ctx.azure.resource(resource).name
    client = ctx.azure.data(res)
    job = await client.get_job(job_id)
    stored = await ctx.store.get_job(job_id)
    if ctx.policy is not None:
        await ctx.policy.require(
            user, Act.DELETE_DEPLOY, resource=res, owner=stored.requested_by if stored else None
        )
    names = {job.fine_tuned_model} - {None}
    if job.succeeded:
        names |= {c.fine_tuned_model_checkpoint for c in await _checkpoints(ctx, res, job)} - {None}
        names |= {c.id for c in await _checkpoints(ctx, res, job)}
    arm = ctx.azure.arm(res)
    mine = [d for d in await arm.list_deployments() if d.model_name in names]
    done: list[str] = []
    for d in mine:
        if await arm.delete_deployment(d.name):
            done.append(f"deleting deployment {code(d.name)}")
            await ctx.store.audit(
                platform=platform,
                actor=user,
                action="deploy.delete",
                subject=d.name,
                detail={"resource": res, "model": d.model_name, "via": "cleanup", "job": job.id},
            )
    still = [d.name for d in await arm.list_deployments() if d.model_name in names]
    if still:
        await ctx.store.audit(
            platform=platform,
            actor=user,
            action="cleanup.waiting",
            subject=job.id,
            detail={"deployments": still},
        )
        return Card(
            title=f"Clean-up of {literal(job.id)}: waiting for deployments",
            tone=Tone.WARNING,
            text=("; ".join(done) + "." if done else "")
            + f"\nThe model is still deployed as {', '.join(code(n) for n in still)}; it cannot be deleted "
            f"until that is gone. Run {code(f'cleanup {job.id}')} again in a minute.",
            summary=f"Clean-up of {literal(job.id)} waits for its deployments",
        )
    files = [f for f in (job.training_file, job.validation_file, *job.result_files) if f]
    ended = job.is_terminal
    # The v1 API has no `DELETE fine_tuning/jobs/{id}` (it would answer 404): nothing is sent, the card says so.
    job_kept = ended and client.v1
    if ended and not client.v1:
        try:
            await client.delete_job(job.id)
            done.append(f"deleted the job and its model {code(job.fine_tuned_model or '-')}")
        except az.NotFound:
            pass
    for file_id in files:
        try:
            await client.delete_file(file_id)
            done.append(f"deleted file {code(file_id)}")
        except az.NotFound:
            continue
    await ctx.store.audit(
        platform=platform,
        actor=user,
        action="cleanup",
        subject=job.id,
        detail={"resource": res, "done": done, **({"kept": "job (v1 API)"} if job_kept else {})},
    )
    text = "\n".join(f"• {d}" for d in done) or "Nothing was left to delete."
    if job_kept:
        return Card(
            title=f"Cleaned up {literal(job.id)}: the job stays",
            tone=Tone.WARNING,
            text=f"{text}\n{_v1_keeps(job)}",
            summary=f"Cleaned up the files of {literal(job.id)}; the job stays (v1 API)",
        )
    return Card(
        title=f"Cleaned up {literal(job.id)}",
        tone=Tone.SUCCESS,
        text=text,
        summary=f"Cleaned up {literal(job.id)}",
    )


def _v1_keeps(job: FineTuningJob) -> str:
    """What `cleanup` on a v1 resource leaves, and how to remove it."""
    what, stay, them = f"The job {code(job.id)}", "stays", "it"
    if job.fine_tuned_model:
        what, stay, them = f"{what} and its model {code(job.fine_tuned_model)}", "stay", "them"
    return (
        f"{what} {stay} in Azure: this resource uses Azure's v1 API, which cannot delete a fine-tuning job. "
        f"To delete {them}, use the Azure AI Foundry portal, or have this resource set to a dated api-version "
        f"(e.g. `2025-04-01-preview`) and run {code(f'cleanup {job.id}')} again."
    )


@router.command(
    "cleanup",
    summary="Delete a job's deployments, then its model, then its files (asks to confirm)",
    example="cleanup ftjob-0123456789abcdef0123456789abcdef",
    args=(Arg("job", p.job_id),),
    options=(Opt("yes", flag=True, default=False, help="skip the confirmation"), RESOURCE),
)
async def cleanup(ctx: Context, cmd: Command) -> Card:
    job_id, resource = cmd.params["job"], cmd.params["resource"]
    if cmd.params["yes"]:
        return await cleanup_now(ctx, cmd.user, cmd.platform, job_id, resource)
    target = ctx.azure.resource(resource)
    res = target.name
    if is_v1(target.api_version):
        gone, what = (
            "Deployments and the files go",
            "Deletes the job's deployments, then its training, validation and result files. The job and its "
            "model stay: this resource uses Azure's v1 API, which cannot delete a fine-tuning job.",
        )
    else:
        gone, what = (
            "Deployments, the model and the files go",
            "Deletes the job's deployments, then its model, then its training, validation and result files.",
        )
    button = Button(
        "Clean up",
        CLEANUP,
        {"job": job_id, "resource": res},
        style="danger",
        confirm=Confirm("Delete all of it?", f"{gone}; this cannot be undone."),
    )
    return confirm_card(f"Clean up {literal(job_id)}?", what, button)


@router.action(CLEANUP)
async def cleanup_button(ctx: Context, action: Action) -> Reply:
    try:
        job_id = p.job_id(action.payload.get("job", ""))
    except ValueError as exc:
        raise UsageError("This button carries no valid job id.") from exc
    card = await cleanup_now(ctx, action.user, action.platform, job_id, action.payload.get("resource"))
    return Reply(card, replace_source=True)


@router.command(
    "audit",
    summary="Who requested, approved, rejected, deployed and deleted what",
    example="audit --deployment my-model-v1 --limit 20",
    options=(
        Opt("limit", p.int_between(1, 100), default=20, metavar="N", help="how many (1-100, default 20)"),
        Opt("deployment", deployment_name, metavar="NAME", help="only this deployment"),
    ),
)
async def audit(ctx: Context, cmd: Command) -> Card:
    entries = await ctx.store.recent_audit(cmd.params["limit"], cmd.params["deployment"])
    rows = [
        AuditRow(
            e.at,
            e.actor_name or e.actor,
            e.action,
            e.subject,
            ", ".join(
                f"{k}={v}" for k, v in e.detail.items() if k in ("reason", "result", "request", "error")
            )[:120],
        )
        for e in entries
    ]
    return audit_card(rows, cmd.params["deployment"])


async def deploy_alert_extras(ctx: Context, job: FineTuningJob, resource: str | None) -> AlertExtras:
    """The success alert's Deploy button (handlers/watcher.py `register_success_extras`): it opens an
    approval request for the fine-tuned model, as the checkpoints card's buttons do."""
    if not job.fine_tuned_model:
        return AlertExtras()
    return AlertExtras(
        buttons=(deploy_request_button("Deploy", job.id, job.fine_tuned_model, resource=resource),)
    )


__all__ = ["REQUEST", "Role", "router", "sweep"]
