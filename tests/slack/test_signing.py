"""Bolt verifies every request: a bad or missing signature or a stale timestamp gets 401 and does nothing."""

from __future__ import annotations

import time

import pytest

from tests.slack import payloads
from tests.slack.conftest import SlackHarness
from tests.slack.signing import form_body, signed_headers


def _slash() -> tuple[str, str]:
    return form_body(payloads.slash_command("status ftjob-abc"))


async def _assert_nothing_happened(harness: SlackHarness) -> None:
    await harness.adapter.drain()
    assert harness.handled.commands == []
    assert harness.slack.messages() == []


async def test_a_signed_request_is_accepted(harness: SlackHarness) -> None:
    resp = await harness.send(*_slash())
    assert resp.status == 200
    await harness.slack.wait_for("chat.postMessage")


async def test_wrong_signature_is_refused(harness: SlackHarness) -> None:
    body, content_type = _slash()
    resp = await harness.send(body, content_type, secret="not-the-signing-secret")
    assert resp.status == 401
    await _assert_nothing_happened(harness)


async def test_body_changed_after_signing_is_refused(harness: SlackHarness) -> None:
    body, content_type = _slash()
    headers = signed_headers(body, content_type)
    resp = await harness.send(body.replace("ftjob-abc", "ftjob-xyz"), content_type, headers=headers)
    assert resp.status == 401
    await _assert_nothing_happened(harness)


@pytest.mark.parametrize("missing", ["X-Slack-Signature", "X-Slack-Request-Timestamp"])
async def test_missing_header_is_refused(harness: SlackHarness, missing: str) -> None:
    body, content_type = _slash()
    headers = signed_headers(body, content_type)
    del headers[missing]
    resp = await harness.send(body, content_type, headers=headers)
    assert resp.status == 401
    await _assert_nothing_happened(harness)


async def test_timestamp_older_than_five_minutes_is_refused(harness: SlackHarness) -> None:
    body, content_type = _slash()
    # Correctly signed, but replayed six minutes later.
    resp = await harness.send(body, content_type, timestamp=int(time.time()) - 6 * 60)
    assert resp.status == 401
    await _assert_nothing_happened(harness)


async def test_signed_event_with_bad_signature_dispatches_nothing(harness: SlackHarness) -> None:
    from tests.slack.signing import json_body

    body, content_type = json_body(payloads.event(payloads.app_mention("<@UBOT00001> status ftjob-abc")))
    auth_tests_at_start = len(harness.slack.called("auth.test"))  # the one the adapter makes at start-up
    resp = await harness.send(body, content_type, secret="wrong")
    assert resp.status == 401
    await _assert_nothing_happened(harness)
    assert len(harness.slack.called("auth.test")) == auth_tests_at_start


async def test_the_token_is_checked_once_at_start_not_per_request(harness: SlackHarness) -> None:
    # Bolt caches auth.test after the first call; the adapter makes that call at start so a burst of first
    # requests does not each wait on it.
    import asyncio

    assert len(harness.slack.called("auth.test")) == 1
    body, content_type = _slash()
    responses = await asyncio.gather(*(harness.send(body, content_type) for _ in range(5)))
    assert [r.status for r in responses] == [200] * 5
    assert len(harness.slack.called("auth.test")) == 1
