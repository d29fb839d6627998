"""The Slack `Sender` for proactive alerts (through the Notifier), and the rate-limit retry."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from adapters.slack_sender import FIND_PAGE, FIND_PAGES, RateLimitRetry, SlackDeliveryError
from bot.model import MessageRef
from bot.store.base import utcnow
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


async def test_an_outbox_send_carries_its_key_and_can_be_found_again(harness: SlackHarness) -> None:
    """What a restarted bot does with a row left `sending`: look in the channel (or the thread) for the
    message with that key in its metadata, from when that send began, before posting again."""
    since = utcnow()
    key = "alert:ftjob-abc:succeeded:slack:C0CHAN0001"
    ref = await harness.notifier.send("slack", REFERENCE, Card(title="Job done"), key=key)
    (post,) = harness.slack.called("chat.postMessage")
    assert post.args["metadata"] == {"event_type": "ftbot_outbox", "event_payload": {"key": key}}
    await harness.notifier.send("slack", REFERENCE, Card(title="Someone else's"), key="alert:other")
    for n in range(5):
        await harness.notifier.send(
            "slack", REFERENCE, Card(title=f"Line {n}"), thread=ref.message_id, key=f"ev:{n}"
        )

    found = await harness.notifier.find_sent("slack", REFERENCE, key, thread=None, since=since)
    assert found == ref
    (history,) = harness.slack.called("conversations.history")
    assert history.args["include_all_metadata"] in (True, "1", "true")
    in_thread = await harness.notifier.find_sent(
        "slack", REFERENCE, "ev:3", thread=ref.message_id, since=since
    )
    assert in_thread is not None and harness.slack.calls[-1].method == "conversations.replies"
    assert in_thread.message_id == harness.slack.posted()[5].result["ts"]
    # Not there (the crash came before the post reached Slack): post it.
    assert (
        await harness.notifier.find_sent("slack", REFERENCE, "ev:9", thread=ref.message_id, since=since)
        is None
    )
    # Messages from before the window are not looked at.
    later = datetime.fromtimestamp(time.time() + 3600, UTC)
    assert await harness.notifier.find_sent("slack", REFERENCE, key, thread=None, since=later) is None


async def test_finding_a_sent_message_pages_back_a_bounded_number_of_messages(harness: SlackHarness) -> None:
    since = utcnow()
    await harness.notifier.send("slack", REFERENCE, Card(title="First"), key="first")
    for n in range(FIND_PAGE * FIND_PAGES + 5):
        harness.slack._post_message({"channel": payloads.CHANNEL, "text": f"chatter {n}"})
    assert await harness.notifier.find_sent("slack", REFERENCE, "first", thread=None, since=since) is None
    assert len(harness.slack.called("conversations.history")) == FIND_PAGES


async def test_when_slack_will_not_show_the_history_the_row_is_posted_again(harness: SlackHarness) -> None:
    """No `channels:history` scope (or not a member): cannot tell, so post again (at most one repeat);
    throttled: try later, as for a post."""
    harness.slack.fail_next("conversations.history", "missing_scope")
    assert await harness.notifier.find_sent("slack", REFERENCE, "k", thread=None, since=utcnow()) is None
    for _ in range(3):
        harness.slack.rate_limit_next("conversations.replies", retry_after=0)
    with pytest.raises(SlackDeliveryError) as info:
        await harness.notifier.find_sent("slack", REFERENCE, "k", thread="1.2", since=utcnow())
    assert info.value.retryable and info.value.error == "ratelimited"


def test_only_senders_that_can_read_back_are_asked(harness: SlackHarness) -> None:
    assert harness.notifier.can_find_sent("slack") and not harness.notifier.can_find_sent("teams")
