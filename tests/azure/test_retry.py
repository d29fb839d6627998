"""The retry rule, backoff and Retry-After handling, on an injected clock (no real sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from bot.azure.errors import AzureError, ServiceUnavailable, Throttled, TransportFailure, error_from_body
from bot.azure.retry import Decision, RetryPolicy, decide, parse_retry_after, run_with_retry

from .fakes import FakeTime

REQUEST = httpx.Request("POST", "https://x.openai.azure.com/openai/fine_tuning/jobs")


def _status(status: int, retry_after: float | None = None) -> AzureError:
    return error_from_body(status, b'{"error":{"code":"x","message":"m"}}', retry_after=retry_after)


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (httpx.ConnectError("refused", request=REQUEST), False, Decision.RETRY),
        (httpx.ConnectTimeout("slow", request=REQUEST), False, Decision.RETRY),
        (httpx.PoolTimeout("pool", request=REQUEST), False, Decision.RETRY),
        (httpx.ReadTimeout("slow", request=REQUEST), False, Decision.AMBIGUOUS),
        (httpx.RemoteProtocolError("dropped", request=REQUEST), False, Decision.AMBIGUOUS),
        (httpx.ReadTimeout("slow", request=REQUEST), True, Decision.RETRY),
        (_status(429), False, Decision.RETRY),
        (_status(429), True, Decision.RETRY),
        (_status(500), False, Decision.AMBIGUOUS),
        (_status(503), True, Decision.RETRY),
        (_status(408), False, Decision.AMBIGUOUS),
        (_status(408), True, Decision.RETRY),
        (_status(501), True, Decision.FAIL),
        (_status(409), True, Decision.RETRY),
        (_status(409), False, Decision.FAIL),
        (_status(400), True, Decision.FAIL),
        (_status(404), True, Decision.FAIL),
        (ValueError("not ours"), True, Decision.FAIL),
    ],
)
def test_decision_table(error: BaseException, idempotent: bool, expected: Decision) -> None:
    assert decide(error, idempotent=idempotent) is expected


def test_conflict_opt_out() -> None:
    assert decide(_status(409), idempotent=True, retry_conflict=False) is Decision.FAIL


def test_parse_retry_after_variants() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "junk", "Retry-After": "9"}) == 9.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now.timestamp()) == 30.0
    assert parse_retry_after({"Retry-After": date}, now=now.timestamp() + 60) == 0.0


def test_full_jitter_backoff_bounds() -> None:
    top = RetryPolicy(base_delay=1.0, max_delay=10.0, random=lambda: 0.999999)
    bottom = RetryPolicy(base_delay=1.0, max_delay=10.0, random=lambda: 0.0)
    assert [round(top.backoff(n), 3) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert bottom.backoff(5) == 0.0


async def test_retry_after_is_honoured_exactly() -> None:
    time = FakeTime()
    outcomes: list[BaseException | str] = [_status(429, retry_after=7.0), _status(503), "ok"]

    async def attempt(number: int) -> str:
        outcome = outcomes[number - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    assert await run_with_retry(attempt, time.policy(), idempotent=True) == "ok"
    # Retry-After as given; then full jitter on retry 2: random 0.5 * min(max, 0.5 * 2**1) = 0.5
    assert time.sleeps == [7.0, 0.5]


async def test_bounded_by_attempts() -> None:
    time = FakeTime()
    calls = 0

    async def attempt(number: int) -> str:
        nonlocal calls
        calls += 1
        raise _status(503)

    with pytest.raises(ServiceUnavailable):
        await run_with_retry(attempt, time.policy(max_attempts=4), idempotent=True)
    assert calls == 4
    assert len(time.sleeps) == 3


async def test_bounded_by_total_time() -> None:
    time = FakeTime()

    async def attempt(number: int) -> str:
        raise _status(429, retry_after=10.0)

    with pytest.raises(Throttled) as raised:
        await run_with_retry(attempt, time.policy(max_attempts=100, max_total_seconds=35.0), idempotent=True)
    assert time.sleeps == [10.0, 10.0, 10.0]
    assert raised.value.retry_after == 10.0


async def test_retry_after_longer_than_we_wait_is_reported_not_slept() -> None:
    time = FakeTime()

    async def attempt(number: int) -> str:
        raise _status(429, retry_after=3600.0)

    with pytest.raises(Throttled) as raised:
        await run_with_retry(attempt, time.policy(), idempotent=False)
    assert time.sleeps == []
    assert "Try again in about 1 hour" in raised.value.user_message()


async def test_ambiguous_post_without_recover_fails_at_once() -> None:
    time = FakeTime()
    calls = 0

    async def attempt(number: int) -> str:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=REQUEST)

    with pytest.raises(TransportFailure) as raised:
        await run_with_retry(attempt, time.policy(), idempotent=False)
    assert calls == 1
    assert raised.value.code == "ReadTimeout"


async def test_ambiguous_post_recovers_the_earlier_effect() -> None:
    time = FakeTime()
    calls = 0

    async def attempt(number: int) -> str:
        nonlocal calls
        calls += 1
        raise _status(500)

    async def recover() -> str | None:
        return "found-it"

    assert await run_with_retry(attempt, time.policy(), idempotent=False, recover=recover) == "found-it"
    assert calls == 1


async def test_ambiguous_post_retries_when_recover_finds_nothing() -> None:
    time = FakeTime()
    checks = 0

    async def attempt(number: int) -> str:
        if number == 1:
            raise _status(502)
        return "created"

    async def recover() -> str | None:
        nonlocal checks
        checks += 1
        return None

    assert await run_with_retry(attempt, time.policy(), idempotent=False, recover=recover) == "created"
    assert checks == 1


async def test_failed_recover_check_raises_the_original_error() -> None:
    time = FakeTime()
    calls = 0

    async def attempt(number: int) -> str:
        nonlocal calls
        calls += 1
        raise _status(504)

    async def recover() -> str | None:
        raise _status(503)

    with pytest.raises(ServiceUnavailable) as raised:
        await run_with_retry(attempt, time.policy(), idempotent=False, recover=recover)
    assert raised.value.status == 504
    assert calls == 1


async def test_connect_error_is_retried_even_for_a_post() -> None:
    time = FakeTime()

    async def attempt(number: int) -> str:
        if number < 3:
            raise httpx.ConnectError("refused", request=REQUEST)
        return "ok"

    assert await run_with_retry(attempt, time.policy(), idempotent=False) == "ok"
    assert len(time.sleeps) == 2
