"""The idle sweep's pure step: which warnings are due, to whom, once per lead time; which deployments Azure
deleted. Recorded inputs, no Azure, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.azure.monitor import DeploymentUsage
from bot.store import IdleRow
from handlers.idle import Seen, StepInput, StepResult, deletes_at, idle_step

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
ALERT = "slack:C0ALERT001"
MODEL = "gpt-4o-mini-2024-07-18.ft-0123abcd"


def step(
    now: datetime,
    seen: list[Seen],
    *,
    usage: dict[str, DeploymentUsage] | None = None,
    known: dict[str, IdleRow] | None = None,
    homes: dict[str, str] | None = None,
) -> StepResult:
    return idle_step(
        StepInput(
            resource="default",
            now=now,
            seen=seen,
            usage=usage or {},
            known=known or {},
            homes=homes or {},
            alert_key=ALERT,
            warn_days=[3.0, 1.0],
        )
    )


def standard(name: str = "dep-a", created: datetime = T0) -> Seen:
    return Seen(name, MODEL, "Standard", created)


def lead(result: StepResult) -> list[str]:
    return [q.key.rsplit(":", 1)[1] for q in result.queued]


def test_nothing_due_before_the_first_lead_time() -> None:
    result = step(T0 + timedelta(days=11, hours=23), [standard()])
    assert result.queued == []
    assert result.rows[0].deletes_at == T0 + timedelta(days=15)


def test_three_day_warning_goes_to_the_alert_channel_with_a_stable_key() -> None:
    first = step(T0 + timedelta(days=12, minutes=1), [standard()])
    again = step(T0 + timedelta(days=12, hours=5), [standard()], known={"dep-a": first.rows[0]})
    assert lead(first) == ["3d"]
    assert first.queued[0].conversation_key == ALERT
    assert first.queued[0].key == again.queued[0].key  # the outbox makes the repeat a no-op
    card = first.queued[0].payload["card"]
    assert "dep-a will be deleted in 2 days 23 hours" in card["title"]


def test_after_a_long_pause_only_the_tightest_lead_is_sent() -> None:
    assert lead(step(T0 + timedelta(days=14, hours=2), [standard()])) == ["1d"]


def test_a_deployment_used_yesterday_is_not_warned() -> None:
    now = T0 + timedelta(days=14)
    usage = {"dep-a": DeploymentUsage("dep-a", {(now - timedelta(days=1)).date(): 12.0})}
    result = step(now, [standard()], usage=usage)
    assert result.queued == []
    # Known to the day: the start of the day of the last call, never later than Azure's own count.
    assert result.rows[0].deletes_at == datetime(2026, 5, 14, tzinfo=UTC) + timedelta(days=15)


def test_a_keep_alive_known_to_the_second_moves_the_deadline() -> None:
    kept = T0 + timedelta(days=14, hours=3)
    before = IdleRow("default", "dep-a", MODEL, "Standard", T0, T0 + timedelta(days=15), kept_alive_at=kept)
    result = step(kept + timedelta(hours=1), [standard()], known={"dep-a": before})
    assert result.queued == []
    assert result.rows[0].deletes_at == kept + timedelta(days=15)


def test_usage_of_an_earlier_deployment_of_the_same_name_does_not_count() -> None:
    created = T0 + timedelta(days=3)
    usage = {"dep-a": DeploymentUsage("dep-a", {date(2026, 5, 1): 5.0})}
    result = step(created + timedelta(days=12, minutes=1), [standard(created=created)], usage=usage)
    assert lead(result) == ["3d"]


def test_home_conversation_wins_over_the_alert_channel() -> None:
    result = step(T0 + timedelta(days=12, minutes=1), [standard()], homes={"dep-a": "teams:19:abc"})
    assert result.queued[0].conversation_key == "teams:19:abc"


def test_snoozed_deployment_is_not_warned_until_the_snooze_ends() -> None:
    now = T0 + timedelta(days=12, minutes=1)
    before = IdleRow(
        "default",
        "dep-a",
        MODEL,
        "Standard",
        T0,
        T0 + timedelta(days=15),
        snoozed_until=now + timedelta(days=1),
    )
    assert step(now, [standard()], known={"dep-a": before}).queued == []
    assert lead(step(now + timedelta(days=1, minutes=1), [standard()], known={"dep-a": before})) == ["3d"]


@pytest.mark.parametrize("sku", ["DeveloperTier", "developertier", "DEVELOPERTIER"])
def test_developer_deployment_is_warned_two_hours_before_its_24_hours_end(sku: str) -> None:
    # ARM compares SKU names case-insensitively and echoes the case sent (REST samples send lower case).
    dev = Seen("dev-a", MODEL, sku, T0)
    assert dev.developer and deletes_at(dev, None) == T0 + timedelta(hours=24)
    assert step(T0 + timedelta(hours=21, minutes=59), [dev]).queued == []
    result = step(T0 + timedelta(hours=22, minutes=1), [dev])
    assert lead(result) == ["2h"]
    buttons = [b["label"] for b in result.queued[0].payload["card"]["buttons"]]
    assert "Keep alive" not in buttons and "Delete now" in buttons


def test_a_lower_case_developer_row_gone_is_said_to_have_ended_its_24_hours() -> None:
    row = IdleRow("default", "dev-a", MODEL, "developertier", T0, T0 + timedelta(hours=24))
    [note] = step(T0 + timedelta(hours=24, minutes=1), [], known={"dev-a": row}).queued
    assert "24 hours as a Developer deployment ended" in str(note.payload["card"])


def test_gone_at_its_time_is_reported_once_gone_early_is_not() -> None:
    row = IdleRow("default", "dep-a", MODEL, "Standard", T0, T0 + timedelta(days=15))
    deleted = step(T0 + timedelta(days=15, minutes=1), [], known={"dep-a": row})
    assert deleted.gone == ["dep-a"]
    assert deleted.queued[0].key.startswith("idle-deleted:default:dep-a:")
    card = deleted.queued[0].payload["card"]
    assert [b["label"] for b in card["buttons"]] == ["Redeploy"]
    assert card["buttons"][0]["payload"]["model"] == MODEL
    early = step(T0 + timedelta(days=3), [], known={"dep-a": row})
    assert early.gone == ["dep-a"] and early.queued == []
