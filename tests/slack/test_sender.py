"""The Slack `Sender` for proactive alerts (through the Notifier), and the rate-limit retry."""

from __future__ import annotations

import logging

import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from adapters.slack_sender import RateLimitRetry, SlackDeliveryError
from bot.model import MessageRef
from cards.model import Card
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, SlackHarness, job_card

REFERENCE = {"channel": payloads.CHANNEL, "team": "T0TEAM001"}


async def test_notifier_sends_and_updates_through_slack(harness: SlackHarness) -> None:
    ref = await harness.notifier.send("slack", REFERENCE, job_card("ftjob-abc"))
    (post,) = harness.slack.called("chat.postMessage")
    assert ref == MessageRef("slack", payloads.CHANNEL, ref.message_id) and ref.message_id
    assert post.args["channel"] == payloads.CHANNEL
    assert await harness.store.find_message("job:ftjob-abc", f"slack:{payloads.CHANNEL}") == ref

    await harness.notifier.update("slack", REFERENCE, ref, job_card("ftjob-abc", status="succeeded"))
    (update,) = harness.slack.called("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (payloads.CHANNEL, ref.message_id)


async def test_send_in_a_thread(harness: SlackHarness) -> None:
    await harness.notifier.send("slack", REFERENCE, Card(title="Epoch 2 done"), thread="1700000000.000001")
    (post,) = harness.slack.called("chat.postMessage")
    assert post.args["thread_ts"] == "1700000000.000001"


async def test_refusal_is_a_typed_error_without_the_token(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness.slack.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackDeliveryError) as info:
        await harness.notifier.send("slack", REFERENCE, Card(title="Job done"))
    assert info.value.error == "channel_not_found"
    assert BOT_TOKEN not in str(info.value) and BOT_TOKEN not in caplog.text
    harness.slack.fail_next("chat.update", "message_not_found")
    with pytest.raises(SlackDeliveryError, match="message_not_found"):
        await harness.notifier.update(
            "slack", REFERENCE, MessageRef("slack", payloads.CHANNEL, "1.2"), Card(title="x")
        )


async def test_rate_limited_send_waits_and_succeeds(harness: SlackHarness) -> None:
    harness.slack.rate_limit_next("chat.postMessage", retry_after=0)
    ref = await harness.notifier.send("slack", REFERENCE, Card(title="Job done"))
    assert ref.message_id
    assert len(harness.slack.called("chat.postMessage")) == 2


def _rate_limited(retry_after: str | None) -> HttpResponse:
    headers: dict[str, str | list[str]] = {"Retry-After": [retry_after]} if retry_after is not None else {}
    return HttpResponse(status_code=429, headers=headers)


@pytest.mark.parametrize(("header", "waited"), [("3", 3.0), ("600", 30.0), (None, 1.0), ("soon", 1.0)])
async def test_retry_waits_retry_after_capped(header: str | None, waited: float) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    handler = RateLimitRetry(max_retry_count=2, max_wait=30.0, sleep=sleep)
    state = RetryState()
    request = HttpRequest(method="POST", url="http://127.0.0.1/api/chat.postMessage", headers={})
    response = _rate_limited(header)
    assert await handler.can_retry_async(state=state, request=request, response=response)
    await handler.prepare_for_next_attempt_async(state=state, request=request, response=response)
    assert sleeps == [waited]
    assert state.current_attempt == 1 and state.next_attempt_requested
    await handler.prepare_for_next_attempt_async(state=state, request=request, response=response)
    assert not await handler.can_retry_async(state=state, request=request, response=response)
