"""Button payloads: pack for each platform, unpack back, reject what is not ours."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.payload import (
    PREFIX,
    SLACK_ACTION_ID_MAX,
    SLACK_VALUE_MAX,
    Packed,
    PayloadError,
    pack_slack,
    pack_teams,
    teams_verb,
    unpack_slack,
    unpack_teams,
)

actions = st.from_regex(r"[a-z][a-z0-9_-]{0,10}(\.[a-z][a-z0-9_-]{0,10}){0,2}", fullmatch=True)
keys = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
payloads = st.dictionaries(keys, st.text(max_size=40), max_size=5)


def test_slack_round_trip() -> None:
    packed = pack_slack("job.cancel", {"job": "ftjob-abc123"})
    assert packed.action_id == "ft1:job.cancel"
    assert json.loads(packed.value) == {"job": "ftjob-abc123"}
    assert unpack_slack(packed.action_id, packed.value) == Packed("job.cancel", {"job": "ftjob-abc123"})


def test_slack_discriminator_keeps_ids_unique_and_unpacks_to_the_same_action() -> None:
    first = pack_slack("job.refresh", {"job": "a"}, "0")
    second = pack_slack("job.refresh", {"job": "b"}, "1")
    assert first.action_id != second.action_id
    assert unpack_slack(second.action_id, second.value) == Packed("job.refresh", {"job": "b"})


def test_teams_round_trip_and_verb() -> None:
    data = pack_teams("job.events", {"job": "ftjob-abc123"})
    assert data["ft"] == PREFIX
    assert teams_verb("job.events") == "ft1:job.events"
    # Action.Submit merges other keys (inputs, msteams) into the data: they are ignored.
    merged = {**data, "msteams": {"type": "task/fetch"}, "comment": "typed in"}
    assert unpack_teams(merged) == Packed("job.events", {"job": "ftjob-abc123"})


@pytest.mark.parametrize(
    "action", ["", "Job.cancel", "job..cancel", "job:cancel", "1job", "a" * 65, "job cancel"]
)
def test_bad_action_names_raise_at_pack_time(action: str) -> None:
    with pytest.raises(PayloadError):
        pack_slack(action, {})
    with pytest.raises(PayloadError):
        pack_teams(action, {})


def test_bad_payloads_raise_at_pack_time() -> None:
    with pytest.raises(PayloadError, match="key"):
        pack_slack("job.cancel", {"Job Id": "x"})
    with pytest.raises(PayloadError, match="string"):
        pack_teams("job.cancel", {"job": 3})  # type: ignore[dict-item]
    with pytest.raises(PayloadError, match="discriminator"):
        pack_slack("job.cancel", {}, "a:b")


def test_size_limits_are_checked_at_pack_time() -> None:
    with pytest.raises(PayloadError, match=str(SLACK_VALUE_MAX)):
        pack_slack("job.cancel", {"job": "x" * SLACK_VALUE_MAX})
    with pytest.raises(PayloadError, match="Teams"):
        pack_teams("job.cancel", {"job": "x" * 3000})
    # Non-ASCII is \u-escaped, so a value under the limit in characters can still be over it on the wire.
    with pytest.raises(PayloadError):
        pack_slack("job.cancel", {"job": "é" * 400})
    fits = pack_slack("job.cancel", {"job": "x" * (SLACK_VALUE_MAX - 10)})
    assert len(fits.value) == SLACK_VALUE_MAX
    assert len(fits.action_id) <= SLACK_ACTION_ID_MAX


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("approve_button", '{"job":"x"}'),  # another app's button
        ("link:3", None),  # our own link buttons are not actions
        ("ft2:job.cancel", '{"job":"x"}'),  # a payload version we do not speak
        ("ft1:job.cancel", "not json"),
        ("ft1:job.cancel", '["job"]'),
        ("ft1:job.cancel", '{"job": 3}'),
        ("ft1:job.cancel", '{"Bad Key": "x"}'),
        ("ft1:Job.Cancel", "{}"),
        ("ft1:job.cancel:x:y", "{}"),
        ("ft1:job.cancel:" + "x" * 40, "{}"),
        ("ft1:job.cancel", "{" + " " * SLACK_VALUE_MAX + "}"),
    ],
)
def test_foreign_or_malformed_slack_buttons_unpack_to_none(action_id: str, value: str | None) -> None:
    assert unpack_slack(action_id, value) is None


def test_slack_button_without_value_has_empty_payload() -> None:
    assert unpack_slack("ft1:help", None) == Packed("help", {})


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"action": "job.cancel", "payload": {"job": "x"}},
        {"ft": "ft2", "action": "job.cancel", "payload": {}},
        {"ft": "ft1", "action": 5, "payload": {}},
        {"ft": "ft1", "action": "job.cancel", "payload": ["x"]},
        {"ft": "ft1", "action": "job.cancel", "payload": {"job": None}},
    ],
)
def test_foreign_or_malformed_teams_data_unpacks_to_none(data: dict[str, object] | None) -> None:
    assert unpack_teams(data) is None


@given(actions, payloads)
def test_anything_that_packs_unpacks_to_itself(action: str, payload: dict[str, str]) -> None:
    try:
        slack = pack_slack(action, payload)
    except PayloadError:
        return
    assert unpack_slack(slack.action_id, slack.value) == Packed(action, payload)
    assert unpack_teams(pack_teams(action, payload)) == Packed(action, payload)


@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=300)))
def test_unpack_slack_never_raises(action_id: str, value: str | None) -> None:
    result = unpack_slack(action_id, value)
    assert result is None or action_id.startswith(f"{PREFIX}:")
