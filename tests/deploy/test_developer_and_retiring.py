"""Deployments as Azure offers them in 2026 (issue 15), the whole bot against the emulator on a simulated clock
that starts on 2026-08-01 (the host's clock is elsewhere: every date below is Azure's):

- `deploy ... --sku developer` asks for approval with the 24 h end and its time, creates an ARM
  `DeveloperTier` deployment at the emulator, the card then states when Azure deletes it, and the idle guard
  warns 2 hours before that;
- a SKU the model is not offered in (Developer for gpt-4o-mini: `fine-tuning-deploy.md` lists Developer
  deployments for o4-mini and the gpt-4.1 family only) is refused before approval, with the list that works
  (and the emulator would refuse it too), while o4-mini, which does not train as Developer, deploys so;
- a Developer deployment made outside the bot with ARM's lower-case `developertier` is Developer to the idle
  guard (24 h, no Keep alive, no hourly price) and to `deployments`;
- `deployments` flags a deployment whose base model retires within 60 days, with the date.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import RunningBot, start_bot
from bot.azure import errors as az
from bot.config import Roles
from bot.model import Action, User
from cards.approvals import DeploymentRow, deployments_card
from cards.format import when
from cards.model import Card
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from cards.serial import card_from_json
from emulator import datasets
from emulator.config import EmulatorConfig
from emulator.server import start
from handlers import deploy
from handlers.deploy import model_retirement, offered_skus
from handlers.idle import sweep_all
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks
from tests.conftest import bot_settings
from tests.handlers.test_jobs_flow import CHANNEL, card_text, run

START = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
BOB = User("U2", "Bob")  # the approver
HOUR = 3600.0
RFT = {"type": "reinforcement", "reinforcement": {"grader": {"type": "string_check"}}}


@pytest.fixture
async def emu() -> AsyncIterator[Any]:
    running = await start(speed=0, config=EmulatorConfig(start_time=START.timestamp()))
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def bot(emu: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = bot_settings(
        emu,
        tmp_path,
        azure_static_token="emulator-token-not-secret",
        roles=Roles(approvers=[BOB.id], operators=[BOB.id]),
        deploy_poll_interval=3600,  # the test follows the deployment by hand
        idle_sweep_interval=3600,
    )
    running = await start_bot(settings)
    try:
        yield running
    finally:
        await running.close()


async def trained(bot: RunningBot, emu: Any, model: str, **kwargs: Any) -> tuple[str, str]:
    """(job id, fine-tuned model) of a job trained to its end on the emulator."""
    client = bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    valid = await client.upload_file(datasets.path("good_validation"))
    emu.advance(60)
    job = await client.create_job(model, train.id, validation_file=valid.id, **kwargs)
    emu.advance(3 * HOUR)
    done = await client.get_job(job.id)
    assert done.succeeded and done.fine_tuned_model, done.status
    return job.id, done.fine_tuned_model


def shown(card: Card) -> str:
    """Rendered for both platforms (validated), and the card's own text."""
    assert_valid_blocks(render_blocks(card))
    assert_valid_adaptive(render_adaptive(card))
    facts = "\n".join(f"{f.label}: {f.value}" for f in card.facts)
    return f"{card.title}\n{card.text}\n{facts}"


def sim_now(emu: Any) -> datetime:
    return datetime.fromtimestamp(emu.state.now(), UTC)


async def test_developer_deployment_states_its_24_hour_end_and_is_warned_two_hours_before(
    bot: RunningBot, emu: Any
) -> None:
    job_id, model = await trained(bot, emu, "gpt-4.1-mini-2025-04-14")
    [request] = await run(bot, f"deploy {job_id} --sku developer --name dev-a")
    text = shown(request.card)
    asked_at = sim_now(emu)
    assert request.card.badge == "awaiting approval"
    assert "SKU: Developer, capacity 50" in text
    assert "Hosting cost: No hosting fee (tokens only)" in text
    assert "deletes it 24 hours after creation whatever its use" in text
    # The end, with its time, on Azure's clock (2026-08-01 + 3 h here; the host is months away).
    expected = when(asked_at + timedelta(hours=24))
    assert f"Approved now, it would be deleted at about {expected} (24 hours after creation)." in text
    assert f"Deleted by Azure: about {expected} (24 h after creation)" in text

    approve = next(b for b in request.card.buttons if b.label == "Approve")
    [approved] = await bot.dispatcher.on_action(
        Action(approve.action, dict(approve.payload), BOB, CHANNEL, "slack")
    )
    # At the emulator: an ARM `DeveloperTier` deployment of the fine-tuned model, capacity 50.
    made = emu.state.default_account.deployments["dev-a"]
    assert made.sku == {"name": "DeveloperTier", "capacity": 50} and made.developer
    assert made.model["name"] == model
    ends = datetime.fromtimestamp(made.created_at, UTC) + timedelta(hours=24)
    assert f"Azure deletes `dev-a` at {when(ends)}, 24 hours after it was created." in shown(approved.card)

    emu.advance(300)
    [a] = [x for x in (await bot.store.approvals_of("default")).values() if x.deployment == "dev-a"]
    a = await deploy.follow(bot.ctx, a, deploy._owner(bot.ctx))  # one look: Azure says Succeeded
    assert a.deploy_state == "succeeded"
    deployed = await deploy.card_of(bot.ctx, a)
    text = shown(deployed)
    assert deployed.title == "Deployed dev-a"
    assert f"Azure deletes `dev-a` at {when(ends)}, 24 hours after it was created." in text
    assert f"Deleted by Azure: {when(ends)}" in text

    # The idle guard: nothing 2.5 hours before the end, a warning once 2 hours before it.
    emu.advance((ends - sim_now(emu)).total_seconds() - 2.5 * HOUR)
    await sweep_all(bot.ctx)
    assert not await warnings(bot, "dev-a")
    emu.advance(HOUR)
    await sweep_all(bot.ctx)
    [warning] = await warnings(bot, "dev-a")
    text = shown(warning)
    assert "24 hours after they were made" in text and "Keep alive" not in [b.label for b in warning.buttons]
    assert warning.title == "dev-a will be deleted in 1 hour"
    assert f"Deleted by Azure: {when(ends)} (in 1 hour)" in text and "SKU: Developer" in text
    await sweep_all(bot.ctx)
    assert len(await warnings(bot, "dev-a")) == 1, "warned once"

    # Azure deletes it at 24 h; the guard says so.
    emu.advance(2 * HOUR)
    assert "dev-a" not in emu.state.default_account.deployments
    await sweep_all(bot.ctx)
    notes = [c for c in await queued_cards(bot) if c.title.startswith("dev-a was deleted by Azure")]
    assert len(notes) == 1 and "24 hours as a Developer deployment ended" in shown(notes[0])


async def queued_cards(bot: RunningBot) -> list[Card]:
    return [card_from_json(r["payload"]["card"]) for r in await bot.store.outbox_rows()]


async def warnings(bot: RunningBot, name: str) -> list[Card]:
    return [c for c in await queued_cards(bot) if c.title.startswith(f"{name} will be deleted")]


async def test_a_sku_the_model_is_not_offered_in_is_refused_before_approval_with_the_list(
    bot: RunningBot, emu: Any
) -> None:
    job_id, model = await trained(bot, emu, "gpt-4o-mini-2024-07-18")
    [refused] = await run(bot, f"deploy {job_id} --sku developer")
    text = card_text(refused)
    assert (
        "Azure does not offer Developer deployments of models fine-tuned from `gpt-4o-mini-2024-07-18`"
        in text
    )
    assert (
        "Developer deployments are for models fine-tuned from `gpt-4.1-nano`, `gpt-4.1-mini`, `gpt-4.1`, "
        "`o4-mini`." in text
    )
    assert "It offers: `standard`, `globalstandard`, `datazone`, `provisioned`." in text
    assert "Nobody was asked to approve" in text and refused.ephemeral
    assert not await bot.store.open_approvals("default")
    # The emulator (Azure's rules) would refuse that PUT too; the ones offered are asked for as usual.
    with pytest.raises(az.AzureError) as raised:
        await bot.ctx.azure.arm().put_deployment("direct", model, sku="DeveloperTier", capacity=50)
    assert raised.value.code == "InvalidResourceProperties" and "'DeveloperTier'" in str(raised.value)
    assert "direct" not in emu.state.default_account.deployments
    [asked] = await run(bot, f"deploy {job_id} --sku provisioned --name prov")
    assert "SKU: Provisioned, capacity 1" in card_text(asked) and asked.card.badge == "awaiting approval"


async def test_o4_mini_deploys_as_developer_though_it_does_not_train_so(bot: RunningBot, emu: Any) -> None:
    job_id, model = await trained(bot, emu, "o4-mini-2025-04-16", method=RFT)
    [request] = await run(bot, f"deploy {job_id} --sku developer --name dev-o4")
    assert request.card.badge == "awaiting approval", card_text(request)
    assert "SKU: Developer, capacity 50" in shown(request.card)
    approve = next(b for b in request.card.buttons if b.label == "Approve")
    await bot.dispatcher.on_action(Action(approve.action, dict(approve.payload), BOB, CHANNEL, "slack"))
    made = emu.state.default_account.deployments["dev-o4"]
    assert (
        made.sku == {"name": "DeveloperTier", "capacity": 50}
        and made.developer
        and made.model["name"] == model
    )


async def test_a_lower_case_developertier_made_outside_the_bot_is_developer(
    bot: RunningBot, emu: Any
) -> None:
    """Microsoft's REST samples send SKU names in lower case and ARM echoes the case sent: a deployment made by
    a script with `developertier` ends 24 h after creation, costs no hosting fee and cannot be kept alive."""
    _, model = await trained(bot, emu, "gpt-4.1-mini-2025-04-14")
    body = {
        "sku": {"name": "developertier", "capacity": 50},
        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
    }
    async with httpx.AsyncClient(headers={"Authorization": "Bearer emulator-token-not-secret"}) as http:
        put = await http.put(
            f"{emu.arm_url}{emu.account_id}/deployments/dev-low",
            params={"api-version": "2025-07-01-preview"},
            json=body,
        )
        assert put.status_code == 201, put.text
        assert put.json()["sku"]["name"] == "developertier"  # echoed as sent, as ARM may
    made = emu.state.default_account.deployments["dev-low"]
    created = datetime.fromtimestamp(made.created_at, UTC)
    emu.advance(300)

    # The ARM model reads it in its canonical spelling.
    [listed] = [d for d in await bot.ctx.azure.arm().list_deployments() if d.name == "dev-low"]
    assert listed.sku is not None and listed.sku.name == "DeveloperTier"

    # The idle guard: the 24 h rule, no hourly price, no Keep alive.
    await sweep_all(bot.ctx)
    row = await bot.store.idle_row("default", "dev-low")
    assert row is not None and row.sku == "DeveloperTier"
    assert row.deletes_at == created + timedelta(hours=24)
    [idle] = await run(bot, "idle")
    text = card_text(idle)
    assert "dev-low" in text and "Developer" in text and "DeveloperTier" not in text
    assert "an hour" not in text and "1.70" not in text
    [kept] = await bot.dispatcher.on_action(
        Action("idle.keep", {"resource": "default", "name": "dev-low"}, BOB, CHANNEL, "slack")
    )
    assert "A Developer deployment ends 24 hours after it was made" in card_text(kept)

    # `deployments` names it Developer too.
    [listing] = await run(bot, "deployments")
    row_text = card_text(listing)
    assert "dev-low" in row_text and "Developer" in row_text and "developertier" not in row_text


def test_the_skus_offered_follow_the_catalogue() -> None:
    every = ("standard", "globalstandard", "datazone", "provisioned")
    # fine-tuning-deploy.md (2026-02-11): Developer for o4-mini, gpt-4.1, gpt-4.1-mini, gpt-4.1-nano only.
    for base in (
        "o4-mini-2025-04-16",
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
    ):
        assert offered_skus(base) == (*every, "developer"), base
    for base in ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-5-2025-08-07"):
        assert offered_skus(base) == every, base
    assert offered_skus("gpt-4.1-mini-2025-04-14.ft-0123") == (*every, "developer")  # continued fine-tuning
    assert offered_skus("a-model-nobody-knows") is None  # Azure decides at the PUT


async def test_deployments_flag_a_model_retiring_within_60_days_on_azures_clock(
    bot: RunningBot, emu: Any
) -> None:
    _, mini = await trained(bot, emu, "gpt-4o-mini-2024-07-18")  # base retires 2026-10-01
    _, four_one = await trained(bot, emu, "gpt-4.1-2025-04-14")  # base retires 2026-10-14
    arm = bot.ctx.azure.arm()
    await arm.put_deployment("mini-dep", mini)
    await arm.put_deployment("four-one-dep", four_one, sku="GlobalStandard")
    emu.advance(300)

    # 2026-08-01: 61 days before gpt-4o-mini retires. Nothing flagged.
    assert sim_now(emu).date() == date(2026, 8, 1)
    [calm] = await run(bot, "deployments")
    text = shown(calm.card)
    assert "mini-dep" in card_text(calm) and "⚠" not in card_text(calm) and "retire" not in text

    # 2026-08-03: 59 days. gpt-4o-mini's deployment is flagged with the date; gpt-4.1's (72 days) is not.
    emu.advance(2 * 86400)
    [flagged] = await run(bot, "deployments")
    text = card_text(flagged)
    assert (
        "⚠ `mini-dep`: its base model `gpt-4o-mini-2024-07-18` retires for fine-tuning on 2026-10-01 "
        "(59 days left): no new fine-tuning of it after that; this deployment is served until about "
        "2027-10-01." in text
    ), text
    assert "⚠ mini-dep" in text and "⚠ four-one-dep" not in text and "`four-one-dep`" not in text
    assert "1 deployment on a model that retires within 60 days or already has" in text
    assert flagged.card.summary.endswith("1 on a retiring model")
    shown(flagged.card)


def test_retirement_flags_on_the_card() -> None:
    today = date(2027, 9, 15)
    rows = [
        DeploymentRow("old", "gpt-4o-mini-2024-07-18.ft-abc", "Standard", None, "Succeeded", "Bob",
                      "gpt-4o-mini-2024-07-18", date(2026, 10, 1), date(2027, 10, 1)),
        DeploymentRow("gone", "gpt-4o.ft-x", "Standard", None, "Succeeded", "", "gpt-4o", date(2026, 1, 1), None),
        DeploymentRow("new", "gpt-5.ft-x", "Standard", None, "Succeeded", "", "", None, None),
    ]  # fmt: skip
    card = deployments_card("default", rows, today=today)
    text = shown(card)
    assert (
        "Azure stops serving models fine-tuned from `gpt-4o-mini-2024-07-18` on 2027-10-01 (16 days left)"
        in text
    )
    assert "`gone`: its base model `gpt-4o` retires for fine-tuning since 2026-01-01" in text
    assert "`new`" not in text
    # Without Azure's date the card flags nothing (it never guesses with the host's clock).
    assert "⚠" not in shown(deployments_card("default", rows))


def test_the_base_model_of_a_deployment() -> None:
    assert model_retirement("gpt-4o-mini-2024-07-18.ft-0123-support") == (
        "gpt-4o-mini-2024-07-18",
        date(2026, 10, 1),
    )
    assert model_retirement("gpt-4.1-2025-04-14.ft-0123:ckpt-step-20")[1] == date(2026, 10, 14)
    assert model_retirement("gpt-4o-2024-08-06")[1] == date(2026, 10, 1)  # a base model: its own date
    # A bare checkpoint id names no base: the base its request recorded.
    assert model_retirement("ftchkpt-" + "0" * 32, "o4-mini-2025-04-16")[1] == date(2026, 10, 16)
    assert model_retirement("ftchkpt-" + "0" * 32) == ("", None)
    assert model_retirement("gpt-5-2025-08-07.ft-1")[1] is None  # no retirement announced
