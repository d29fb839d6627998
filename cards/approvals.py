"""Deployment approval cards: the request (who, what, where, SKU, cost, rules), its decision and the deployment
that follows, plus the deployments list and the audit log. Builders only: they take plain views.

One card per request, keyed `approval:<id>`, updated in place for everyone as the request moves:
pending (Approve / Reject) -> approved ("Approved by X at T", provisioning) -> "Deployed" (endpoint, snippet)
or failed (plain words); rejected (reason) or expired ("Ask again").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cards.format import number, plural, when
from cards.model import Button, Card, Confirm, Fact, Table, Tone

# Button action ids. `REQUEST` opens a request from a button (checkpoints card, success alert):
# payload {"model": <fine-tuned model or checkpoint id>, "job": <job id>, optional "resource"}.
REQUEST = "deploy.request"
APPROVE = "deploy.approve"
REJECT = "deploy.reject"
ASK_AGAIN = "deploy.again"
VIEW = "deploy.view"  # Teams refresh: the card as this user may act on it
UNDEPLOY = "deploy.undeploy"
CLEANUP = "deploy.cleanup"

SKU_LABELS = {
    "Standard": "Standard",
    "GlobalStandard": "Global Standard",
    "DataZoneStandard": "Data Zone Standard",
    "DeveloperTier": "Developer",
    "ProvisionedManaged": "Provisioned",
}
IDLE_RULE = (
    "Azure deletes a fine-tuned deployment that is more than 15 days old and has had no calls for "
    "15 days in a row; until then it bills every hour, used or not."
)
DEVELOPER_RULE = (
    "Developer: no hosting fee (you pay only for tokens), no SLA, and Azure deletes it 24 hours after "
    "creation whatever its use."
)


def approval_key(approval_id: str) -> str:
    return f"approval:{approval_id}"


@dataclass(frozen=True, slots=True)
class ApprovalView:
    id: str
    state: str  # pending | approved | rejected | expired
    model: str
    deployment: str
    sku: str  # ARM SKU name
    capacity: int
    resource: str
    account: str
    region: str
    subscription: str
    requester: str
    created_at: datetime
    expires_at: datetime
    job_id: str | None = None
    checkpoint_step: int | None = None
    valid_loss: float | None = None
    base_model: str | None = None
    # Plain sentences about a source elsewhere: "The model comes from another region (eastus2 -> ...)."
    crossing: tuple[str, ...] = ()
    price_per_hour: float | None = None
    price_per_month: float | None = None
    currency: str = "USD"
    price_note: str = ""
    required_approvals: int = 1
    approved_by: tuple[str, ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    deploy_state: str | None = None  # putting | provisioning | succeeded | failed
    endpoint: str | None = None
    error: str | None = None
    local: bool = False  # embedded default: one person holds every role
    no_approvers: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _what(v: ApprovalView) -> str:
    if v.checkpoint_step is not None:
        loss = f", validation loss {number(v.valid_loss)}" if v.valid_loss is not None else ""
        return f"`{v.model}` (checkpoint at step {v.checkpoint_step}{loss})"
    loss = f" (validation loss {number(v.valid_loss)})" if v.valid_loss is not None else ""
    return f"`{v.model}`{loss}"


def _cost(v: ApprovalView) -> str:
    if v.sku == "DeveloperTier":
        return "No hosting fee (tokens only)"
    if v.price_per_hour is None:
        return "Not in the price table: check the Azure pricing page"
    return (
        f"{v.price_per_hour:,.2f} {v.currency}/hour, about {v.price_per_month or 0:,.0f} {v.currency}/month "
        "plus tokens"
    )


def _facts(v: ApprovalView) -> tuple[Fact, ...]:
    facts = [
        Fact("Asked by", v.requester),
        Fact("Model", _what(v)),
    ]
    if v.job_id:
        facts.append(Fact("Job", f"`{v.job_id}`"))
    facts += [
        Fact("Deployment name", f"`{v.deployment}`"),
        Fact("Where", f"{v.resource} (`{v.account}`), region {v.region or 'unknown'}"),
        Fact("Subscription", f"`{v.subscription}`" if v.subscription else "unknown"),
        Fact("SKU", f"{SKU_LABELS.get(v.sku, v.sku)}, capacity {v.capacity}"),
        Fact("Hosting cost", _cost(v)),
    ]
    return tuple(facts)


def _rules(v: ApprovalView) -> str:
    lines = list(v.crossing)
    lines.append(DEVELOPER_RULE if v.sku == "DeveloperTier" else IDLE_RULE)
    if v.price_note and v.sku != "DeveloperTier":
        lines.append(v.price_note)
    return "\n".join(lines)


def _approvals_line(v: ApprovalView) -> str:
    if v.required_approvals <= 1:
        return ""
    got = ", ".join(v.approved_by) if v.approved_by else "none yet"
    return f"Approvals: {len(v.approved_by)} of {v.required_approvals} ({got})."


def _snippet(v: ApprovalView) -> str:
    endpoint = (v.endpoint or "https://<resource>.openai.azure.com").rstrip("/")
    return (
        f'Call it: `curl "{endpoint}/openai/deployments/{v.deployment}/chat/completions?api-version=2025-04-01-preview" '
        '-H "api-key: $AZURE_OPENAI_API_KEY" -H "Content-Type: application/json" '
        '-d \'{"messages":[{"role":"user","content":"Hello"}]}\'`\n'
        f'Python: `AzureOpenAI(azure_endpoint="{endpoint}", api_version="2025-04-01-preview")'
        f'.chat.completions.create(model="{v.deployment}", messages=[...])`'
    )


def approval_card(v: ApprovalView, now: datetime, *, can_decide: bool = True) -> Card:
    """The request as it stands. `can_decide=False` is the view of someone who may not decide (no buttons:
    a status line), used for Teams' per-user refresh."""
    key = approval_key(v.id)
    title = f"Deploy {v.deployment}?"
    payload = {"id": v.id}
    footer = f"Request `{v.id}`, asked {when(v.created_at)}"
    if v.state == "pending":
        text_lines = [_rules(v)]
        if v.local:
            text_lines.append(
                "Local use: you hold every role here (requester and approver), so you can approve this yourself."
            )
        elif v.no_approvers:
            text_lines.append(
                "No approvers are configured for this resource, so nobody can approve this request. "
                "Ask whoever runs the bot to add approvers (`[roles] approvers` in the config file)."
            )
        else:
            text_lines.append(
                f"Waiting for {plural(v.required_approvals, 'approval')} from a configured approver "
                "(not the requester). Expires " + when(v.expires_at) + "."
            )
        line = _approvals_line(v)
        if line:
            text_lines.append(line)
        text_lines += list(v.warnings)
        buttons: tuple[Button, ...] = ()
        if can_decide and not v.no_approvers:
            buttons = (
                Button("Approve", APPROVE, payload, style="primary"),
                Button(
                    "Reject",
                    REJECT,
                    payload,
                    style="danger",
                    confirm=Confirm(
                        "Reject this deployment?",
                        f'To give a reason, use `reject {v.id} --reason "..."` instead.',
                        "Reject",
                        "Keep it",
                    ),
                ),
            )
        elif not can_decide:
            text_lines.append("Waiting for an approver.")
        return Card(
            title=title,
            tone=Tone.WARNING,
            badge="awaiting approval",
            text="\n".join(t for t in text_lines if t),
            facts=_facts(v),
            buttons=buttons,
            footer=footer + f'; reject with a reason: `reject {v.id} --reason "..."`',
            summary=f"{v.requester} asks to deploy {v.model} as {v.deployment}: awaiting approval",
            key=key,
            refresh=Button("Show my options", VIEW, payload),
        )
    if v.state == "rejected":
        reason = f" Reason: {v.reason}" if v.reason else " No reason given."
        return Card(
            title=f"Deployment {v.deployment} rejected",
            tone=Tone.NEUTRAL,
            badge="rejected",
            text=f"Rejected by {v.decided_by or '?'} at {when(v.decided_at)}.{reason}",
            facts=_facts(v),
            footer=footer,
            summary=f"Deployment {v.deployment} rejected by {v.decided_by or '?'}",
            key=key,
        )
    if v.state == "expired":
        return Card(
            title=f"Deployment request {v.deployment} expired",
            tone=Tone.NEUTRAL,
            badge="expired",
            text=(
                f"Nobody decided before {when(v.expires_at)}, so this request expired (it was not rejected). "
                "Ask again to post a fresh request; everything is checked again."
            ),
            facts=_facts(v),
            buttons=(Button("Ask again", ASK_AGAIN, payload, style="primary"),),
            footer=footer,
            summary=f"Deployment request {v.deployment} expired",
            key=key,
        )
    approved = f"Approved by {v.decided_by or '?'} at {when(v.decided_at, seconds=True)}."
    if len(v.approved_by) > 1:
        approved = f"Approved by {', '.join(v.approved_by)}; last at {when(v.decided_at, seconds=True)}."
    if v.deploy_state == "succeeded":
        return Card(
            title=f"Deployed {v.deployment}",
            tone=Tone.SUCCESS,
            badge="deployed",
            text=f"{approved}\nDeployed: `{v.model}` answers at deployment `{v.deployment}`.\n{_snippet(v)}\n"
            + (DEVELOPER_RULE if v.sku == "DeveloperTier" else IDLE_RULE),
            facts=(*_facts(v), Fact("Endpoint", v.endpoint or "?")),
            buttons=(
                Button(
                    "Undeploy",
                    UNDEPLOY,
                    {"name": v.deployment, "resource": v.resource},
                    style="danger",
                    confirm=Confirm(
                        "Delete this deployment?",
                        f"`{v.deployment}` stops answering now. The model stays and can be deployed again.",
                        "Delete deployment",
                        "Keep it",
                    ),
                ),
            ),
            footer=footer,
            summary=f"Deployed {v.deployment}",
            key=key,
        )
    if v.deploy_state == "failed":
        return Card(
            title=f"Deployment {v.deployment} failed",
            tone=Tone.ERROR,
            badge="failed",
            text=f"{approved}\nThe deployment did not succeed: {v.error or 'Azure gave no reason.'}",
            facts=_facts(v),
            footer=footer,
            summary=f"Deployment {v.deployment} failed",
            key=key,
        )
    return Card(
        title=f"Deploying {v.deployment}",
        tone=Tone.RUNNING,
        badge="provisioning",
        text=f"{approved}\nAzure is provisioning the deployment (usually a few minutes); this card updates "
        "when it is ready.",
        facts=_facts(v),
        footer=footer,
        summary=f"Deploying {v.deployment}: provisioning",
        key=key,
    )


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    name: str
    model: str
    sku: str
    created: datetime | None
    state: str
    approved_by: str


def deployments_card(resource: str, rows: Sequence[DeploymentRow], searched: str = "") -> Card:
    """`searched`: what a bounded read of the list did not reach (see `bot.azure.paging.Scan.note`)."""
    tail = f" {searched}" if searched else ""
    if not rows:
        return Card(
            title=f"Deployments of {resource}",
            text=f"No fine-tuned deployments. Ask for one with `deploy <job|model|checkpoint>`.{tail}",
            summary=f"No fine-tuned deployments on {resource}",
        )
    table = Table(
        columns=("Name", "Model", "SKU", "Created", "State", "Approved by"),
        rows=tuple(
            (r.name, r.model, SKU_LABELS.get(r.sku, r.sku), when(r.created), r.state, r.approved_by or "-")
            for r in rows
        ),
    )
    return Card(
        title=f"Deployments of {resource}",
        badge=plural(len(rows), "deployment"),
        text=f"Fine-tuned model deployments. Remove one with `undeploy <name>`.{tail}",
        tables=(table,),
        summary=f"{plural(len(rows), 'fine-tuned deployment')} on {resource}",
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    subject: str
    detail: str


def audit_card(rows: Sequence[AuditRow], deployment: str | None) -> Card:
    title = f"Audit log of {deployment}" if deployment else "Audit log"
    if not rows:
        return Card(title=title, text="Nothing recorded yet.", summary="Audit log: empty")
    table = Table(
        columns=("When", "Who", "What", "Subject", "Detail"),
        rows=tuple((when(r.at, seconds=True), r.actor, r.action, r.subject, r.detail) for r in rows),
    )
    return Card(
        title=title,
        badge=plural(len(rows), "entry", "entries"),
        tables=(table,),
        summary=f"{title}: {plural(len(rows), 'entry', 'entries')}",
    )


def confirm_card(title: str, text: str, button: Button) -> Card:
    """Asks before a destructive verb (undeploy, cleanup) runs; the button carries the confirmation."""
    return Card(title=title, tone=Tone.WARNING, text=text, buttons=(button,), summary=title)
