"""Bolt verifies every request: a bad or missing signature or a stale timestamp gets 401 and does nothing."""

from __future__ import annotations

import io
import time
from typing import cast

import pytest
from aiohttp import StreamReader
from aiohttp.test_utils import make_mocked_request

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


class _UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the body was read ({name}) before the signature headers were checked")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "NOW"},
        {"X-Slack-Signature": "v0=abc"},
        {"X-Slack-Signature": "v0=abc", "X-Slack-Request-Timestamp": "yesterday"},
        {"X-Slack-Signature": "v0=abc", "X-Slack-Request-Timestamp": "STALE"},
        {"X-Slack-Signature": "sha1=abc", "X-Slack-Request-Timestamp": "NOW"},
    ],
    ids=["none", "no-signature", "no-timestamp", "bad-timestamp", "stale", "not-v0"],
)
async def test_unsigned_request_is_refused_before_its_body_is_read(
    harness: SlackHarness, headers: dict[str, str]
) -> None:
    now = int(time.time())
    values = {"NOW": str(now), "STALE": str(now - 6 * 60)}
    sent = {k: values.get(v, v) for k, v in headers.items()}
    sent["Content-Type"] = "application/x-www-form-urlencoded"
    request = make_mocked_request(
        "POST", "/slack/events", headers=sent, payload=cast(StreamReader, _UnreadableBody())
    )

    resp = await harness.adapter.handle(request)

    assert resp.status == 401
    await _assert_nothing_happened(harness)


async def test_large_unsigned_body_gets_401_not_413(harness: SlackHarness) -> None:
    # The test app keeps aiohttp's 1 MiB body limit: reading this body would answer 413.
    body = io.BytesIO(b"payload=" + b"x" * (2 * 1024 * 1024))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    resp = await harness.http.post("/slack/events", data=body, headers=headers)
    assert resp.status == 401
    await _assert_nothing_happened(harness)


async def test_slacks_unsigned_ssl_check_gets_200_and_does_nothing(harness: SlackHarness) -> None:
    # Slack verifies a slash command URL's certificate with this POST, without signature headers.
    body = "ssl_check=1&token=verification-token-not-secret"
    form = "application/x-www-form-urlencoded"
    resp = await harness.send(body, form, headers={"Content-Type": form})
    assert resp.status == 200
    await _assert_nothing_happened(harness)


async def test_an_unsigned_form_that_is_not_an_ssl_check_is_still_refused(harness: SlackHarness) -> None:
    body, content_type = _slash()
    resp = await harness.send(body, content_type, headers={"Content-Type": content_type})
    assert resp.status == 401
    await _assert_nothing_happened(harness)
