"""AzureOpenAIClient against an in-process fake (httpx.MockTransport): retries, recovery, paging, auth."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.azure.auth import StaticTokenProvider
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.errors import NotFound, ServiceUnavailable, Throttled, TransportFailure, Unauthorized
from bot.azure.transport import URLS_KEPT, ApiKeyAuth, AzureTransport, redact_headers

from .fakes import FakeDataPlane, FakeTime, Script, error_response

ENDPOINT = "https://res.openai.azure.com"
TRAIN = "file-" + "a" * 32


def _client(script: Script, time: FakeTime, **options: object) -> AzureOpenAIClient:
    return AzureOpenAIClient(
        ENDPOINT,
        api_key="k" * 32,
        http=script.client(),
        retry=time.policy(),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def fake() -> FakeDataPlane:
    return FakeDataPlane(created_at=1_700_000_000)


@pytest.fixture
def time() -> FakeTime:
    return FakeTime(wall=1_700_000_030.0)


def _drop(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("server disconnected", request=request)


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def test_create_job_after_ambiguous_500_finds_the_created_job(
    fake: FakeDataPlane, time: FakeTime
) -> None:
    script = Script(fake)

    def create_then_fail(request: httpx.Request) -> httpx.Response:
        fake(request)  # the job is created, but the answer is lost behind a 500
        return error_response(500, "internalFailure", "gateway")

    script.fail_next("POST", "/fine_tuning/jobs", create_then_fail)
    async with _client(script, time) as client:
        job = await client.create_job("gpt-4o-mini-2024-07-18", TRAIN, seed=105, suffix="v1")
    assert script.count("POST", "/fine_tuning/jobs") == 1
    assert len(fake.jobs) == 1 and job.id in fake.jobs
    assert job.seed == 105


async def test_create_job_after_dropped_connection_without_effect_is_retried_once(
    fake: FakeDataPlane, time: FakeTime
) -> None:
    script = Script(fake)
    script.fail_next("POST", "/fine_tuning/jobs", _drop)
    async with _client(script, time) as client:
        job = await client.create_job("gpt-4o-mini-2024-07-18", TRAIN, seed=105)
    assert script.count("POST", "/fine_tuning/jobs") == 2
    assert list(fake.jobs) == [job.id]


async def test_create_job_recovery_ignores_other_and_old_jobs(fake: FakeDataPlane, time: FakeTime) -> None:
    fake.add_job(model="gpt-4o-mini-2024-07-18", training_file=TRAIN, seed=7)  # other seed
    fake.add_job(model="gpt-4o-mini-2024-07-18", training_file=TRAIN, seed=105, created_at=1_600_000_000)
    script = Script(fake)
    script.fail_next("POST", "/fine_tuning/jobs", lambda r: error_response(503, "serviceUnavailable", "busy"))
    async with _client(script, time) as client:
        job = await client.create_job("gpt-4o-mini-2024-07-18", TRAIN, seed=105)
    assert script.count("POST", "/fine_tuning/jobs") == 2
    assert len(fake.jobs) == 3 and job.created_at == 1_700_000_000


async def test_create_job_429_is_retried_after_retry_after(fake: FakeDataPlane, time: FakeTime) -> None:
    script = Script(fake)
    script.fail_next(
        "POST",
        "/fine_tuning/jobs",
        lambda r: error_response(429, "tooManyRequests", "slow", {"Retry-After": "4"}),
    )
    async with _client(script, time) as client:
        await client.create_job("gpt-4o-mini-2024-07-18", TRAIN)
    assert time.sleeps == [4.0]
    assert len(fake.jobs) == 1


async def test_job_actions_and_recovery_by_target_state(fake: FakeDataPlane, time: FakeTime) -> None:
    job = fake.add_job(status="running")
    script = Script(fake)

    def pause_then_fail(request: httpx.Request) -> httpx.Response:
        fake(request)
        return error_response(502, "bad", "gateway")

    script.fail_next("POST", "/pause", pause_then_fail)
    async with _client(script, time) as client:
        paused = await client.pause_job(job["id"])
        assert paused.status == "paused"
        assert script.count("POST", "/pause") == 1
        assert (await client.resume_job(job["id"])).status == "running"
        assert (await client.cancel_job(job["id"])).status == "cancelled"
        await client.delete_job(job["id"])
        with pytest.raises(NotFound):
            await client.get_job(job["id"])


async def test_delete_is_done_when_a_repeat_finds_it_gone(fake: FakeDataPlane, time: FakeTime) -> None:
    job = fake.add_job()
    script = Script(fake)

    def delete_then_fail(request: httpx.Request) -> httpx.Response:
        fake(request)
        return error_response(503, "serviceUnavailable", "busy")

    script.fail_next("DELETE", job["id"], delete_then_fail)
    async with _client(script, time) as client:
        await client.delete_job(job["id"])
        with pytest.raises(NotFound):  # a first-attempt 404 is still an error
            await client.delete_job(job["id"])
    assert script.count("DELETE", job["id"]) == 3


def _spooled(folder: Path) -> list[Path]:
    return list(folder.glob("ftbot-upload-*"))


async def test_upload_from_bytes_path_and_stream_with_a_retry(
    fake: FakeDataPlane, time: FakeTime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_dir))
    data = b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n' * 50
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    script = Script(fake)
    script.fail_next("POST", "/files", _refuse)  # never reached the server: safe to send again
    async with _client(script, time) as client:
        uploaded = [
            await client.upload_file(data, filename="bytes.jsonl"),
            await client.upload_file(path),
            await client.upload_file(stream(), filename="stream.jsonl"),
        ]
        assert [f.filename for f in uploaded] == ["bytes.jsonl", "train.jsonl", "stream.jsonl"]
        for file in uploaded:
            assert file.bytes == len(data)
            assert await client.file_content(file.id) == data
    assert script.count("POST", "/files") == 4
    assert _spooled(spool_dir) == []  # the stream's spool file is removed


async def test_upload_recovery_finds_the_stored_file(fake: FakeDataPlane, time: FakeTime) -> None:
    script = Script(fake)

    def store_then_timeout(request: httpx.Request) -> httpx.Response:
        fake(request)
        raise httpx.ReadTimeout("no answer", request=request)

    script.fail_next("POST", "/files", store_then_timeout)
    async with _client(script, time) as client:
        file = await client.upload_file(b"x" * 64, filename="ftbot-1a2b-training.jsonl", unique_name=True)
    assert script.count("POST", "/files") == 1
    assert list(fake.files) == [file.id]


async def test_upload_recovery_never_adopts_a_file_of_the_same_name_and_size(
    fake: FakeDataPlane, time: FakeTime
) -> None:
    """Issue 8: chat files are all `train.jsonl`; another user's upload of the same size must not be taken
    for ours when our reply is lost (the old recovery adopted the newest such file)."""
    script = Script(fake)
    async with _client(script, time) as client:
        theirs = await client.upload_file(b"y" * 64, filename="train.jsonl")
        script.fail_next("POST", "/files", lambda r: (fake(r), _drop(r))[1])
        with pytest.raises(TransportFailure):  # no unique name: no guess, a clear error
            await client.upload_file(b"x" * 64, filename="train.jsonl")
        # With a unique name the lost reply is recovered, and only our own file is taken.
        script.fail_next("POST", "/files", lambda r: (fake(r), _drop(r))[1])
        ours = await client.upload_file(b"x" * 64, filename="ftbot-c0ffee-training.jsonl", unique_name=True)
        assert await client.file_content(ours.id) == b"x" * 64
    assert ours.id != theirs.id and ours.filename == "ftbot-c0ffee-training.jsonl"


async def test_upload_with_a_unique_name_not_found_after_a_drop_is_sent_again(
    fake: FakeDataPlane, time: FakeTime
) -> None:
    script = Script(fake)
    async with _client(script, time) as client:
        await client.upload_file(b"y" * 64, filename="train.jsonl")  # same size, another name
        script.fail_next("POST", "/files", _drop)  # dropped before Azure stored anything
        ours = await client.upload_file(b"x" * 64, filename="ftbot-beef-training.jsonl", unique_name=True)
    assert script.count("POST", "/files") == 3
    assert ours.filename == "ftbot-beef-training.jsonl" and len(fake.files) == 2


async def test_upload_needs_a_filename_for_bytes(fake: FakeDataPlane, time: FakeTime) -> None:
    async with _client(Script(fake), time) as client:
        with pytest.raises(ValueError, match="filename"):
            await client.upload_file(b"data")


async def test_import_is_not_repeated_blindly(fake: FakeDataPlane, time: FakeTime) -> None:
    script = Script(fake)
    script.fail_next("POST", "/files/import", lambda r: error_response(500, "internalFailure", "x"))
    script.fail_next("GET", "/files", lambda r: error_response(500, "internalFailure", "x"))
    script.fail_next("GET", "/files", lambda r: error_response(400, "bad", "listing refused"))
    async with _client(script, time) as client:
        with pytest.raises(ServiceUnavailable):  # the check could not run: the original error, no repeat
            await client.import_file("https://blob/x.jsonl?sig=SECRET", filename="x.jsonl")
    assert script.count("POST", "/files/import") == 1


async def test_events_page_with_after_until_has_more_is_false(fake: FakeDataPlane, time: FakeTime) -> None:
    job = fake.add_job()
    fake.events[job["id"]] = [
        {
            "object": "fine_tuning.job.event",
            "id": f"ftevent-{n:032x}",
            "created_at": 100 - n,
            "level": "info",
            "message": f"event {n}",
            "type": "message",
        }
        for n in range(25)
    ]
    script = Script(fake)
    async with _client(script, time) as client:
        events = [e async for e in client.events(job["id"], limit=10)]
        assert [e.message for e in events] == [f"event {n}" for n in range(25)]
        afters = [r.url.params.get("after") for r in script.requests if r.url.path.endswith("/events")]
        assert afters == [None, f"ftevent-{9:032x}", f"ftevent-{19:032x}"]
        newer = await client.new_events(job["id"], f"ftevent-{3:032x}", limit=2)
        assert [e.message for e in newer] == ["event 2", "event 1", "event 0"]
        assert len(await client.new_events(job["id"], None)) == 25


async def test_checkpoints_and_jobs_paging_with_filters(fake: FakeDataPlane, time: FakeTime) -> None:
    for n in range(7):
        fake.add_job(created_at=1_700_000_000 + n, status="succeeded" if n % 2 else "running", suffix=f"s{n}")
    job = next(iter(fake.jobs))
    fake.checkpoints[job] = [
        {
            "id": f"ftckpt_{n:020d}",
            "created_at": n,
            "fine_tuned_model_checkpoint": f"m:ckpt-step-{n}",
            "step_number": n,
            "metrics": {"step": n},
            "fine_tuning_job_id": job,
            "object": "fine_tuning.job.checkpoint",
        }
        for n in range(5)
    ]
    async with _client(Script(fake), time) as client:
        assert [c.step_number async for c in client.checkpoints(job, limit=2)] == [0, 1, 2, 3, 4]
        all_jobs = [j.suffix async for j in client.jobs(limit=3)]
        assert all_jobs == [f"s{n}" for n in reversed(range(7))]
        running = [j.suffix async for j in client.jobs(status="running", limit=2)]
        assert running == ["s6", "s4", "s2", "s0"]
        recent = [j.suffix async for j in client.jobs(created_after=1_700_000_004)]
        assert recent == ["s6", "s5", "s4"]
        assert [j.suffix async for j in client.jobs(max_items=2)] == ["s6", "s5"]
        page = await client.list_jobs(limit=2)
        assert page.has_more and len(page.data) == 2


async def test_paging_stops_on_a_service_that_repeats_itself(time: FakeTime) -> None:
    def stuck(request: httpx.Request) -> httpx.Response:
        item = {"id": "ftevent-1", "message": "same", "created_at": 1}
        return httpx.Response(200, json={"object": "list", "data": [item], "has_more": True})

    script = Script(stuck)
    async with _client(script, time) as client:
        assert len([e async for e in client.events("ftjob-x")]) == 2
    assert len(script.requests) == 2


async def test_content_stream_and_early_close(fake: FakeDataPlane, time: FakeTime) -> None:
    script = Script(fake)
    script.fail_next("GET", "/content", lambda r: error_response(503, "serviceUnavailable", "x"))
    async with _client(script, time) as client:
        file = await client.upload_file(b"0123456789" * 1000, filename="big.csv")
        chunks = [c async for c in client.file_content_stream(file.id, chunk_size=1024)]
        assert b"".join(chunks) == b"0123456789" * 1000
        async with contextlib.aclosing(client.file_content_stream(file.id, chunk_size=10)) as stream:
            async for chunk in stream:
                assert chunk == b"0123456789"
                break
        with pytest.raises(NotFound):
            async for _ in client.file_content_stream("file-" + "f" * 32):
                pass


async def test_files_list_get_delete(fake: FakeDataPlane, time: FakeTime) -> None:
    async with _client(Script(fake), time) as client:
        file = await client.upload_file(b"abc", filename="a.jsonl")
        assert [f.id for f in await client.list_files()] == [file.id]
        assert (await client.get_file(file.id)).filename == "a.jsonl"
        assert (await client.delete_file(file.id)).deleted
        assert await client.list_files() == []


async def test_chat_completion_retries_like_a_read(fake: FakeDataPlane, time: FakeTime) -> None:
    script = Script(fake)
    script.fail_next("POST", "/chat/completions", lambda r: error_response(500, "internalFailure", "x"))
    async with _client(script, time) as client:
        reply = await client.chat_completion("my-dep", [{"role": "user", "content": "hi"}], max_tokens=5)
    assert reply.text == "hello from my-dep"
    assert json.loads(script.bodies[-1]) == {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


async def test_gives_up_with_typed_errors(time: FakeTime) -> None:
    always_429 = Script(lambda r: error_response(429, "tooManyRequests", "slow", {"retry-after-ms": "250"}))
    async with _client(always_429, time) as client:
        with pytest.raises(Throttled):
            await client.get_job("ftjob-x")
    assert time.sleeps == [0.25] * 5
    refused = Script(_refuse)
    async with _client(refused, FakeTime()) as client:
        with pytest.raises(TransportFailure) as raised:
            await client.get_job("ftjob-x")
    assert "Could not reach Azure" in raised.value.user_message()


async def test_auth_headers_api_version_and_redacted_logs(
    fake: FakeDataPlane, time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    key_script, token_script = Script(fake), Script(fake)
    caplog.set_level(logging.DEBUG, logger="ftbot.azure")
    async with _client(key_script, time) as client:
        await client.list_files()
    tokens = StaticTokenProvider("secret-token-value")
    async with AzureOpenAIClient(
        ENDPOINT + "/openai/", tokens=tokens, api_version="2024-10-21", http=token_script.client()
    ) as client:
        await client.list_files()
    key_request, token_request = key_script.requests[0], token_script.requests[0]
    assert key_request.headers["api-key"] == "k" * 32
    assert "authorization" not in key_request.headers
    assert key_request.url.params["api-version"] == "2025-04-01-preview"
    assert token_request.headers["authorization"] == "Bearer secret-token-value"
    assert token_request.url.path == "/openai/files"
    assert token_request.url.params["api-version"] == "2024-10-21"
    assert "GET" in caplog.text
    assert "k" * 32 not in caplog.text and "secret-token-value" not in caplog.text


def test_needs_a_credential() -> None:
    with pytest.raises(ValueError):
        AzureOpenAIClient(ENDPOINT)


async def test_wait_for_job_polls_until_terminal(fake: FakeDataPlane, time: FakeTime) -> None:
    job = fake.add_job(status="running")
    polls = 0

    async def poll_sleep(seconds: float) -> None:
        nonlocal polls
        polls += 1
        if polls == 3:
            fake.jobs[job["id"]]["status"] = "succeeded"

    async with _client(Script(fake), time, poll_sleep=poll_sleep) as client:
        done = await client.wait_for_job(job["id"], poll_interval=1.0)
        assert done.succeeded and polls == 3
        fake.jobs[job["id"]]["status"] = "running"
        with pytest.raises(ServiceUnavailable, match="still not finished"):
            await client.wait_for_job(job["id"], poll_interval=10.0, max_wait=5.0)


async def test_a_401_drops_the_cached_token(fake: FakeDataPlane, time: FakeTime) -> None:
    class CountingTokens:
        def __init__(self) -> None:
            self.invalidated: list[str] = []

        async def token(self, scope: str) -> str:
            return f"token-{len(self.invalidated)}"

        def invalidate(self, scope: str) -> None:
            self.invalidated.append(scope)

    tokens = CountingTokens()
    script = Script(fake)
    script.fail_next("GET", "/files", lambda r: error_response(401, "unauthorized", "expired token"))
    async with AzureOpenAIClient(
        ENDPOINT, tokens=tokens, http=script.client(), retry=time.policy()
    ) as client:
        with pytest.raises(Unauthorized):
            await client.list_files()
        assert await client.list_files() == []
    assert tokens.invalidated == ["https://cognitiveservices.azure.com/.default"]
    assert [r.headers["authorization"] for r in script.requests] == ["Bearer token-0", "Bearer token-1"]


def test_redact_headers() -> None:
    headers = {
        "api-key": "k",
        "Authorization": "Bearer t",
        "x-ms-authorization-auxiliary": "Bearer a",
        "Accept": "x",
    }
    assert redact_headers(headers) == {
        "api-key": "***",
        "Authorization": "***",
        "x-ms-authorization-auxiliary": "***",
        "Accept": "x",
    }


async def test_a_request_url_is_parsed_once_per_path_and_query(fake: FakeDataPlane, time: FakeTime) -> None:
    job = fake.add_job()
    script = Script(fake)
    async with _client(script, time) as client:
        await client.get_job(job["id"])
        await client.get_job(job["id"])
        assert [e async for e in client.events(job["id"], limit=10)] == []
        kept = dict(client._transport._urls)
    assert len(kept) == 2  # the job's URL once, its events page's once
    assert [str(r.url) for r in script.requests] == [
        f"{ENDPOINT}/openai/fine_tuning/jobs/{job['id']}?api-version=2025-04-01-preview",
        f"{ENDPOINT}/openai/fine_tuning/jobs/{job['id']}?api-version=2025-04-01-preview",
        f"{ENDPOINT}/openai/fine_tuning/jobs/{job['id']}/events?limit=10&api-version=2025-04-01-preview",
    ]


def test_kept_urls_are_bounded_and_lists_in_the_query_still_work() -> None:
    transport = AzureTransport(ENDPOINT + "/openai", auth=ApiKeyAuth("k"), api_version=None)
    for n in range(URLS_KEPT + 1):
        transport._url_of(f"{ENDPOINT}/openai/files/{n}", {})
    assert len(transport._urls) == 1
    url = transport._url_of(f"{ENDPOINT}/openai/files", {"purpose": ["a", "b"]})
    assert url.params.get_list("purpose") == ["a", "b"]


def test_a_page_cursor_url_is_not_kept() -> None:
    transport = AzureTransport(ENDPOINT + "/openai", auth=ApiKeyAuth("k"), api_version=None)
    url = transport._url_of(f"{ENDPOINT}/openai/fine_tuning/jobs", {"limit": 100, "after": "ftjob-1"})
    assert url.params["after"] == "ftjob-1"
    assert transport._urls == {}
