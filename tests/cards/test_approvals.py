"""Approval cards in every state: what they say, which buttons they carry, and that both renderers' output
is valid (Adaptive Card 1.5 schema and Teams limits; Block Kit limits)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.dataprep.prices import hosting_price
from cards.approvals import (
    APPROVE,
    ASK_AGAIN,
    REJECT,
    UNDEPLOY,
    ApprovalView,
    AuditRow,
    DeploymentRow,
    approval_card,
    approved_by_command_card,
    audit_card,
    deployments_card,
)
from cards.checkpoints import DEPLOY_ACTION, checkpoints_card
from cards.model import Button, Card
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from cards.views import CheckpointView
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
BASE = ApprovalView(
    id="0123456789ab",
    state="pending",
    model="gpt-4o-mini-2024-07-18.ft-0123:ckpt-step-20",
    deployment="support-bot",
    sku="Standard",
    capacity=1,
    resource="default",
    account="contoso-aoai",
    region="swedencentral",
    subscription="sub-1",
    requester="Ada",
    created_at=NOW,
    expires_at=NOW + timedelta(hours=24),
    job_id="ftjob-0123",
    checkpoint_step=20,
    valid_loss=0.4123,
    price_per_hour=1.7,
    price_per_month=1.7 * 720,
)


def valid(card: Card) -> str:
    teams = render_adaptive(card)
    assert_valid_adaptive(teams)
    slack = render_blocks(card)
    assert_valid_blocks(slack)
    return json.dumps(teams) + json.dumps(slack)


def actions(card: Card) -> list[str]:
    return [b.action for b in card.buttons]


def test_pending_card_says_who_what_where_cost_and_rules() -> None:
    card = approval_card(BASE, NOW)
    shown = valid(card)
    for words in (
        "Ada",
        "step 20",
        "0.412",
        "swedencentral",
        "sub-1",
        "1.70 USD/hour",
        "1,224 USD/month",
        "15 days",
    ):
        assert words in shown, words
    assert actions(card) == [APPROVE, REJECT]
    assert card.key == "approval:0123456789ab"


@pytest.mark.parametrize("sku", ["DeveloperTier", "developertier"])
def test_developer_card_has_no_hosting_fee_and_the_24_hour_rule(sku: str) -> None:
    # Any case: ARM echoes the SKU as it was sent (Microsoft's REST samples send lower case).
    shown = valid(approval_card(replace(BASE, sku=sku, capacity=50), NOW))
    assert "No hosting fee" in shown and "24 hours" in shown and "USD/hour" not in shown
    assert "Developer, capacity 50" in shown and "15 days" not in shown


def test_local_no_approvers_and_viewer_variants() -> None:
    assert "hold every role" in valid(approval_card(replace(BASE, local=True), NOW))
    closed = approval_card(replace(BASE, no_approvers=True), NOW)
    assert "nobody can approve" in valid(closed) and closed.buttons == ()
    other = approval_card(BASE, NOW, can_decide=False)
    assert other.buttons == () and "Waiting for an approver" in valid(other)


def test_crossing_is_said_plainly() -> None:
    line = (
        "Cross-tenant: the model's resource `other` is in tenant `t-b`, the deployment goes to tenant `t-a`."
    )
    assert "Cross-tenant" in valid(approval_card(replace(BASE, crossing=(line,)), NOW))


@pytest.mark.parametrize(
    ("changes", "words", "buttons"),
    [
        ({"state": "rejected", "decided_by": "Grace", "decided_at": NOW, "reason": "not yet"}, "not yet", []),
        ({"state": "expired"}, "expired", [ASK_AGAIN]),
        (
            {"state": "approved", "decided_by": "Grace", "decided_at": NOW, "deploy_state": "putting"},
            "Approved by Grace",
            [],
        ),
        (
            {
                "state": "approved",
                "decided_by": "Grace",
                "decided_at": NOW,
                "deploy_state": "succeeded",
                "endpoint": "https://x.openai.azure.com",
            },
            "https://x.openai.azure.com/openai/deployments/support-bot/chat/completions",
            [UNDEPLOY],
        ),
        (
            {
                "state": "approved",
                "decided_by": "Grace",
                "decided_at": NOW,
                "deploy_state": "failed",
                "error": "quota",
            },
            "did not succeed: quota",
            [],
        ),
    ],
)
def test_decided_states(changes: dict[str, object], words: str, buttons: list[str]) -> None:
    card = approval_card(replace(BASE, **changes), NOW)  # type: ignore[arg-type]
    assert words in valid(card)
    assert actions(card) == buttons


def test_pending_card_shows_its_request_id_and_both_commands() -> None:
    # A second user (another tab of the chat page, a direct message) decides by command: the card says how.
    shown = valid(approval_card(BASE, NOW))
    # Slack: a plain message in a channel does not reach the bot, so the slash command; Teams: the mention.
    assert "`/ft approve 0123456789ab`" in shown and '`/ft reject 0123456789ab --reason \\"...\\"`' in shown
    assert "@ftbot approve 0123456789ab" in shown
    assert "approve 0123456789ab" not in valid(approval_card(replace(BASE, state="expired"), NOW))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"required_approvals": 2, "approved_by": ("Grace",)}, "1 of 2 (Grace). It needs 1 more approval"),
        ({"state": "approved", "decided_by": "Grace", "deploy_state": "putting"}, "Azure is provisioning it"),
        (
            {"state": "approved", "decided_by": "Grace", "deploy_state": "provisioning"},
            "`deployments` lists it",
        ),
        (
            {"state": "approved", "deploy_state": "succeeded", "endpoint": "https://x.openai.azure.com"},
            "https://x.openai.azure.com/openai/deployments/support-bot/chat/completions",
        ),
        ({"state": "approved", "deploy_state": "failed", "error": "quota"}, "did not succeed: quota"),
    ],
)
def test_the_answer_to_approve_by_command_says_what_happened(changes: dict[str, object], words: str) -> None:
    card = approved_by_command_card(replace(BASE, **changes))  # type: ignore[arg-type]
    shown = valid(card)
    assert words in shown and "Ada's conversation" in shown and "0123456789ab" in shown
    # Not the request's card: no key (so it is not taken for it and updated), no buttons.
    assert card.key is None and card.buttons == ()


def test_teams_refresh_lists_the_users_it_is_for() -> None:
    card = replace(approval_card(BASE, NOW), refresh_users=("29:ada",))
    rendered = render_adaptive(card)
    assert rendered["refresh"]["userIds"] == ["29:ada"]
    assert rendered["refresh"]["action"]["type"] == "Action.Execute"
    assert_valid_adaptive(rendered)
    assert "refresh" not in json.dumps(render_blocks(card))


def test_deployments_and_audit_cards() -> None:
    rows = [DeploymentRow("support-bot", "gpt-4o-mini.ft-1", "GlobalStandard", NOW, "Succeeded", "Grace")]
    assert "Global Standard" in valid(deployments_card("default", rows))
    assert "No fine-tuned deployments" in valid(deployments_card("default", []))
    audit = audit_card(
        [AuditRow(NOW, "Grace", "deploy.approve", "support-bot", "request=0123")], "support-bot"
    )
    assert "deploy.approve" in valid(audit)


def test_checkpoints_card_has_a_deploy_button_per_deployable_row() -> None:
    def point(step: int, deployable: bool) -> CheckpointView:
        return CheckpointView(
            id=f"ftchkpt-{step}",
            step=step,
            model=f"m:ckpt-step-{step}",
            train_loss=0.5,
            valid_loss=0.6,
            full_valid_loss=None,
            train_accuracy=None,
            valid_accuracy=None,
            created_at=None,
            deployable=deployable,
        )

    card = checkpoints_card("ftjob-1", [point(s, s > 10) for s in (10, 20, 30, 40)], job_status="succeeded")
    valid(card)
    assert [b.label for b in card.buttons] == ["Deploy step 20", "Deploy step 30", "Deploy step 40", "Chart"]
    assert all(b.action == DEPLOY_ACTION and b.payload["job"] == "ftjob-1" for b in card.buttons[:3])
    assert card.buttons[0].payload["model"] == "m:ckpt-step-20"
    assert isinstance(card.buttons[0], Button)


def test_hosting_prices_are_dated_and_sourced() -> None:
    standard = hosting_price("Standard")
    assert (
        standard is not None
        and standard.per_hour > 0
        and standard.as_of
        and "learn.microsoft.com" in standard.source
    )
    developer = hosting_price("DeveloperTier")
    assert developer is not None and developer.per_hour == 0
    assert hosting_price("developertier") == developer  # ARM echoes the case sent
    assert hosting_price("standard") == standard
    assert hosting_price("NoSuchSku") is None
