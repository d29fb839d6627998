"""Deployment approval cards: the request (who, what, where, SKU, cost, rules), its decision and the deployment
that follows, plus the deployments list and the audit log. Builders only: they take plain views.

One card per request, keyed `approval:<id>`, updated in place for everyone as the request moves:
pending (Approve / Reject) -> approved ("Approved by X at T", provisioning) -> "Deployed" (endpoint, snippet)
or failed (plain words); rejected (reason) or expired ("Ask again").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from cards.format import number, plural, when
from cards.markup import code, literal
from cards.model import Button, Card, Confirm, Fact, Table, Tone
from cards.models import RETIRING_SOON_DAYS, retiring_soon

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
_LABELS_BY_LOWER = {sku.lower(): label for sku, label in SKU_LABELS.items()}
DEVELOPER_SKU = "DeveloperTier"


def sku_label(sku: str) -> str:
    """How a card names an ARM SKU, in whatever case ARM echoed it (`developertier` -> Developer)."""
    return _LABELS_BY_LOWER.get(sku.lower(), sku)


def is_developer(sku: str) -> bool:
    """Whether an ARM SKU name is Developer (`DeveloperTier`), in any case: ARM echoes the case it was sent."""
    return sku.lower() == DEVELOPER_SKU.lower()


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


def deploy_request_button(
    label: str,
    job_id: str,
    model: str,
    *,
    checkpoint: str | None = None,
    resource: str | None = None,
    primary: bool = False,
) -> Button:
    """The button that opens a deployment request (`REQUEST`, handled by handlers/deploy.py through the
    approvals): on the checkpoints card, the success alert and a paused job's card. `model` is what to deploy
    (a fine-tuned model, a checkpoint's model name or a checkpoint id); `checkpoint` its checkpoint id."""
    payload = {"job": job_id, "model": model}
    if checkpoint:
        payload["checkpoint"] = checkpoint
    if resource:
        payload["resource"] = resource
    return Button(label, REQUEST, payload, style="primary" if primary else "default")


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
    # Developer deployments: when Azure deletes it (24 h after creation, on Azure's clock). Before the PUT,
    # when it would end if it were created now; `ends_known` once Azure has said when it was created.
    ends_at: datetime | None = None
    ends_known: bool = False


def _what(v: ApprovalView) -> str:
    if v.checkpoint_step is not None:
        loss = f", validation loss {number(v.valid_loss)}" if v.valid_loss is not None else ""
        return f"{code(v.model)} (checkpoint at step {v.checkpoint_step}{loss})"
    loss = f" (validation loss {number(v.valid_loss)})" if v.valid_loss is not None else ""
    return f"{code(v.model)}{loss}"


def _cost(v: ApprovalView) -> str:
    if is_developer(v.sku):
        return "No hosting fee (tokens only)"
    if v.price_per_hour is None:
        return "Not in the price table: check the Azure pricing page"
    currency = literal(v.currency)
    return (
        f"{v.price_per_hour:,.2f} {currency}/hour, about {v.price_per_month or 0:,.0f} {currency}/month "
        "plus tokens"
    )


def _facts(v: ApprovalView) -> tuple[Fact, ...]:
    facts = [
        Fact("Asked by", literal(v.requester)),
        Fact("Model", _what(v)),
    ]
    if v.job_id:
        facts.append(Fact("Job", code(v.job_id)))
    facts += [
        Fact("Deployment name", code(v.deployment)),
        Fact("Where", f"{literal(v.resource)} ({code(v.account)}), region {literal(v.region or 'unknown')}"),
        Fact("Subscription", code(v.subscription) if v.subscription else "unknown"),
        Fact("SKU", f"{literal(sku_label(v.sku))}, capacity {v.capacity}"),
        Fact("Hosting cost", _cost(v)),
    ]
    if is_developer(v.sku) and v.ends_at is not None:
        ends = when(v.ends_at)
        facts.append(
            Fact("Deleted by Azure", ends if v.ends_known else f"about {ends} (24 h after creation)")
        )
    return tuple(facts)


def developer_end(v: ApprovalView) -> str:
    """The 24 h end of a Developer deployment, with its time: "" for other SKUs."""
    if not is_developer(v.sku) or v.ends_at is None:
        return ""
    if v.ends_known:
        return f"Azure deletes {code(v.deployment)} at {when(v.ends_at)}, 24 hours after it was created."
    if v.state == "pending":
        return f"Approved now, it would be deleted at about {when(v.ends_at)} (24 hours after creation)."
    return f"Azure deletes {code(v.deployment)} at about {when(v.ends_at)} (24 hours after creation)."


def _rules(v: ApprovalView) -> str:
    lines = list(v.crossing)
    lines.append(DEVELOPER_RULE if is_developer(v.sku) else IDLE_RULE)
    if developer_end(v):
        lines.append(developer_end(v))
    if v.price_note and not is_developer(v.sku):
        lines.append(literal(v.price_note))
    return "\n".join(lines)


def _approvals_line(v: ApprovalView) -> str:
    if v.required_approvals <= 1:
        return ""
    got = ", ".join(literal(a) for a in v.approved_by) if v.approved_by else "none yet"
    return f"Approvals: {len(v.approved_by)} of {v.required_approvals} ({got})."


def _snippet(v: ApprovalView) -> str:
    endpoint = (v.endpoint or "https://<resource>.openai.azure.com").rstrip("/")
    curl = (
        f'curl "{endpoint}/openai/deployments/{v.deployment}/chat/completions?api-version=2025-04-01-preview" '
        '-H "api-key: $AZURE_OPENAI_API_KEY" -H "Content-Type: application/json" '
        '-d \'{"messages":[{"role":"user","content":"Hello"}]}\''
    )
    python = (
        f'AzureOpenAI(azure_endpoint="{endpoint}", api_version="2025-04-01-preview")'
        f'.chat.completions.create(model="{v.deployment}", messages=[...])'
    )
    return f"Call it: {code(curl)}\nPython: {code(python)}"


def by_command(approval_id: str) -> str:
    """How an approver decides a request without its buttons, e.g. from another conversation (the local chat
    page's second tab, a direct message with the bot): the request's card shows this line while pending."""
    approve = code(f"/ft approve {approval_id}")  # Teams shows `@ftbot approve ...` (cards.markup)
    reject = code(f'/ft reject {approval_id} --reason "..."')
    return f"An approver can also type {approve} or {reject} in any chat with the bot"


def approval_card(v: ApprovalView, now: datetime, *, can_decide: bool = True) -> Card:
    """The request as it stands. `can_decide=False` is the view of someone who may not decide (no buttons:
    a status line), used for Teams' per-user refresh."""
    key = approval_key(v.id)
    title = f"Deploy {literal(v.deployment)}?"
    payload = {"id": v.id}
    footer = f"Request {code(v.id)}, asked {when(v.created_at)}"
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
        text_lines += [literal(w) for w in v.warnings]
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
                        "To give a reason, use " + code(f'/ft reject {v.id} --reason "..."') + " instead.",
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
            footer=footer + ". " + by_command(v.id),
            summary=f"{literal(v.requester)} asks to deploy {literal(v.model)} as {literal(v.deployment)}: awaiting approval",
            key=key,
            refresh=Button("Show my options", VIEW, payload),
        )
    if v.state == "rejected":
        reason = f" Reason: {literal(v.reason)}" if v.reason else " No reason given."
        return Card(
            title=f"Deployment {literal(v.deployment)} rejected",
            tone=Tone.NEUTRAL,
            badge="rejected",
            text=f"Rejected by {literal(v.decided_by or '?')} at {when(v.decided_at)}.{reason}",
            facts=_facts(v),
            footer=footer,
            summary=f"Deployment {literal(v.deployment)} rejected by {literal(v.decided_by or '?')}",
            key=key,
        )
    if v.state == "expired":
        return Card(
            title=f"Deployment request {literal(v.deployment)} expired",
            tone=Tone.NEUTRAL,
            badge="expired",
            text=(
                f"Nobody decided before {when(v.expires_at)}, so this request expired (it was not rejected). "
                "Ask again to post a fresh request; everything is checked again."
            ),
            facts=_facts(v),
            buttons=(Button("Ask again", ASK_AGAIN, payload, style="primary"),),
            footer=footer,
            summary=f"Deployment request {literal(v.deployment)} expired",
            key=key,
        )
    approved = f"Approved by {literal(v.decided_by or '?')} at {when(v.decided_at, seconds=True)}."
    if len(v.approved_by) > 1:
        approved = f"Approved by {', '.join(literal(a) for a in v.approved_by)}; last at {when(v.decided_at, seconds=True)}."
    if v.deploy_state == "succeeded":
        return Card(
            title=f"Deployed {literal(v.deployment)}",
            tone=Tone.SUCCESS,
            badge="deployed",
            text=f"{approved}\nDeployed: {code(v.model)} answers at deployment {code(v.deployment)}.\n{_snippet(v)}\n"
            + (DEVELOPER_RULE if is_developer(v.sku) else IDLE_RULE)
            + (f"\n{developer_end(v)}" if developer_end(v) else ""),
            facts=(*_facts(v), Fact("Endpoint", literal(v.endpoint or "?"))),
            buttons=(
                Button(
                    "Undeploy",
                    UNDEPLOY,
                    {"name": v.deployment, "resource": v.resource},
                    style="danger",
                    confirm=Confirm(
                        "Delete this deployment?",
                        f"{code(v.deployment)} stops answering now. The model stays and can be deployed again.",
                        "Delete deployment",
                        "Keep it",
                    ),
                ),
            ),
            footer=footer,
            summary=f"Deployed {literal(v.deployment)}",
            key=key,
        )
    if v.deploy_state == "failed":
        return Card(
            title=f"Deployment {literal(v.deployment)} failed",
            tone=Tone.ERROR,
            badge="failed",
            text=f"{approved}\nThe deployment did not succeed: {literal(v.error or 'Azure gave no reason.')}",
            facts=_facts(v),
            footer=footer,
            summary=f"Deployment {literal(v.deployment)} failed",
            key=key,
        )
    return Card(
        title=f"Deploying {literal(v.deployment)}",
        tone=Tone.RUNNING,
        badge="provisioning",
        text=f"{approved}\nAzure is provisioning the deployment (usually a few minutes); this card updates "
        "when it is ready." + (f"\n{developer_end(v)}" if developer_end(v) else ""),
        facts=_facts(v),
        footer=footer,
        summary=f"Deploying {literal(v.deployment)}: provisioning",
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
    # The catalogue's retirement of the model (for a fine-tuned one, of its base model): no new fine-tuning
    # after `base_retires`; Azure keeps serving fine-tuned deployments until `served_until`.
    base: str = ""
    base_retires: date | None = None
    served_until: date | None = None


def _left(day: date, today: date) -> str:
    days = (day - today).days
    if days < 0:
        return f"since {day.isoformat()}"
    return f"on {day.isoformat()} ({'today' if days == 0 else plural(days, 'day') + ' left'})"


def retirement_flag(row: DeploymentRow, today: date) -> str:
    """⚠ and the date when the deployment's model (or its base) retires within `RETIRING_SOON_DAYS` days
    (or already has), on Azure's clock; "" otherwise."""
    if retiring_soon(row.served_until, today) and row.served_until is not None:
        return (
            f"⚠ {code(row.name)}: Azure stops serving models fine-tuned from {code(row.base)} "
            f"{_left(row.served_until, today)}. Retrain on a newer base model and move to it before then."
        )
    if retiring_soon(row.base_retires, today) and row.base_retires is not None:
        served = (
            f"; this deployment is served until about {row.served_until.isoformat()}"
            if row.served_until
            else ""
        )
        return (
            f"⚠ {code(row.name)}: its base model {code(row.base)} retires for fine-tuning "
            f"{_left(row.base_retires, today)}: no new fine-tuning of it after that{served}. "
            "Plan a move to a newer model."
        )
    return ""


def deployments_card(
    resource: str, rows: Sequence[DeploymentRow], today: date | None = None, searched: str = ""
) -> Card:
    """The fine-tuned deployments of a resource. With `today` (Azure's), a deployment whose model retires
    within `RETIRING_SOON_DAYS` days is flagged (⚠ on its row, and a line with the date). `searched`: what a
    bounded read of the list did not reach (see `bot.azure.paging.Scan.note`)."""
    tail = f" {searched}" if searched else ""
    where = literal(resource)
    if not rows:
        return Card(
            title=f"Deployments of {where}",
            text=f"No fine-tuned deployments. Ask for one with `deploy <job|model|checkpoint>`.{tail}",
            summary=f"No fine-tuned deployments on {where}",
        )
    flags = {r.name: retirement_flag(r, today) for r in rows} if today is not None else {}
    table = Table(
        columns=("Name", "Model", "SKU", "Created", "State", "Approved by"),
        rows=tuple(
            (
                f"⚠ {literal(r.name)}" if flags.get(r.name) else literal(r.name),
                literal(r.model),
                literal(sku_label(r.sku)),
                when(r.created),
                literal(r.state),
                literal(r.approved_by or "-"),
            )
            for r in rows
        ),
    )
    flagged = [f for f in flags.values() if f]
    lines = [f"Fine-tuned model deployments. Remove one with `undeploy <name>`.{tail}"]
    if flagged:
        lines.append(
            f"{plural(len(flagged), 'deployment')} on a model that retires within {RETIRING_SOON_DAYS} days "
            "or already has:"
        )
        lines += flagged
    return Card(
        title=f"Deployments of {where}",
        tone=Tone.WARNING if flagged else Tone.NEUTRAL,
        badge=plural(len(rows), "deployment"),
        text="\n".join(lines),
        tables=(table,),
        summary=f"{plural(len(rows), 'fine-tuned deployment')} on {where}"
        + (f", {len(flagged)} on a retiring model" if flagged else ""),
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    subject: str
    detail: str


def audit_card(rows: Sequence[AuditRow], deployment: str | None) -> Card:
    title = f"Audit log of {literal(deployment)}" if deployment else "Audit log"
    if not rows:
        return Card(title=title, text="Nothing recorded yet.", summary="Audit log: empty")
    table = Table(
        columns=("When", "Who", "What", "Subject", "Detail"),
        rows=tuple(
            (when(r.at, seconds=True), *(literal(c) for c in (r.actor, r.action, r.subject, r.detail)))
            for r in rows
        ),
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


def approved_by_command_card(v: ApprovalView) -> Card:
    """The answer to `approve <request>` typed by an approver: what their approval did. Not the request's card
    (that one is updated in place where it was posted, in the requester's conversation, and follows the
    deployment there); this one has no key and is not updated later."""
    footer = f"Request {code(v.id)}, asked by {literal(v.requester)} {when(v.created_at)}"
    what = f"{code(v.model)} as {code(v.deployment)} on {literal(v.resource)}"
    where = f"The request's card (in {literal(v.requester)}'s conversation) now shows this"
    if v.state == "pending":
        got = ", ".join(literal(a) for a in v.approved_by) or "none yet"
        return Card(
            title=f"Approval of {literal(v.deployment)} recorded",
            tone=Tone.WARNING,
            badge="awaiting approval",
            text=(
                f"Your approval to deploy {what} is recorded: {len(v.approved_by)} of {v.required_approvals} "
                f"({got}). It needs {plural(v.required_approvals - len(v.approved_by), 'more approval')} from "
                f"other approvers before {when(v.expires_at)}. {where}."
            ),
            facts=_facts(v),
            footer=footer,
            summary=f"Approval of {literal(v.deployment)} recorded",
        )
    if v.deploy_state == "failed":
        return Card(
            title=f"Approved, but deployment {literal(v.deployment)} failed",
            tone=Tone.ERROR,
            badge="failed",
            text=(
                f"You approved deploying {what}, and the deployment did not succeed: "
                f"{literal(v.error or 'Azure gave no reason.')} {where}."
            ),
            facts=_facts(v),
            footer=footer,
            summary=f"Deployment {literal(v.deployment)} failed",
        )
    if v.deploy_state == "succeeded":
        return Card(
            title=f"Approved: {literal(v.deployment)} is deployed",
            tone=Tone.SUCCESS,
            badge="deployed",
            text=f"You approved deploying {what}; it answers now. {where}.\n{_snippet(v)}"
            + (f"\n{developer_end(v)}" if developer_end(v) else ""),
            facts=_facts(v),
            footer=footer,
            summary=f"Deployed {literal(v.deployment)}",
        )
    return Card(
        title=f"Approved: deploying {literal(v.deployment)}",
        tone=Tone.RUNNING,
        badge="provisioning",
        text=(
            f"You approved deploying {what}; Azure is provisioning it (usually a few minutes). {where} and "
            f"follows it until it is deployed; {code('deployments')} lists it."
            + (f"\n{developer_end(v)}" if developer_end(v) else "")
        ),
        facts=_facts(v),
        footer=footer,
        summary=f"Approved: deploying {literal(v.deployment)}",
    )
