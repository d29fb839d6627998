"""Downloads of URL sources and attachment fallbacks (review S3): a shared bot fetches https from public
addresses only, re-checks every redirect, bounds the whole download and the number at once, and reports
network failures as readable data errors; local use keeps http and loopback."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

import handlers.data as data
from bot.app import RunningBot
from bot.model import Attachment
from emulator import datasets
from handlers.data import DataError, download
from tests.handlers.test_jobs_flow import card_text, command, run
from tests.support import serve

MODEL = "gpt-4o-mini-2024-07-18"
GOOD = datasets.path("good_training").read_bytes()


def redirecting(hops: int) -> web.Application:
    """`/r/N` redirects to `/r/N-1` ... `/r/0`, which serves the good training data."""

    async def handler(request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(body=GOOD)
        raise web.HTTPFound(f"/r/{n - 1}")

    app = web.Application()
    app.router.add_get("/r/{n}", handler)
    return app


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """Resolve names from `answers` (no network in tests); anything else does not resolve."""

    async def getaddrinfo(host: str, port: Any, **_: Any) -> list[tuple[Any, ...]]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answers[host]]

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


# -- a shared bot -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/train.jsonl", "only https URLs are accepted"),
        ("ftp://example.com/train.jsonl", "only https URLs are accepted"),
        ("https://127.0.0.1/train.jsonl", "not a public internet address"),
        ("https://169.254.169.254/latest/meta-data", "not a public internet address"),
        ("https://[::1]/train.jsonl", "not a public internet address"),
        ("https://10.1.2.3:8443/train.jsonl", "not a public internet address"),
        ("https://intranet.example/train.jsonl", "not a public internet address"),
        ("https://mixed.example/train.jsonl", "not a public internet address"),
        ("https://nowhere.example/train.jsonl", "does not resolve"),
    ],
)
async def test_shared_bot_refuses_what_is_not_https_to_a_public_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, reason: str
) -> None:
    # every resolved address must be public: one private answer among public ones is enough to refuse
    fake_dns(
        monkeypatch,
        {
            "intranet.example": ["192.168.0.10"],
            "mixed.example": ["93.184.215.14", "10.0.0.7"],
            "127.0.0.1": ["127.0.0.1"],
            "169.254.169.254": ["169.254.169.254"],
            "::1": ["::1"],
            "10.1.2.3": ["10.1.2.3"],
        },
    )
    with pytest.raises(DataError) as refused:
        await download(url, tmp_path, local=False)
    assert reason in refused.value.message and refused.value.message.startswith("Could not download")


async def test_a_public_address_passes_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"files.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]})
    await data._check_target(httpx.URL("https://files.example/t.jsonl"), "t.jsonl", local=False)


async def test_start_on_a_shared_bot_refuses_a_loopback_url_before_any_request(
    running_bot: RunningBot, emulator: Any
) -> None:
    running_bot.ctx.local_files = False
    hits = 0

    async def counted(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.Response(body=GOOD)

    app = web.Application()
    app.router.add_get("/t.jsonl", counted)
    async with serve(app) as url:
        [plain] = await run(running_bot, f"start {MODEL} --training {url}/t.jsonl")
        https = url.replace("http://", "https://")
        [loopback] = await run(running_bot, f"start {MODEL} --training {https}/t.jsonl")
    assert "only https URLs are accepted" in card_text(plain)
    assert "not a public internet address" in card_text(loopback)
    assert hits == 0 and emulator.state.counters["files.upload"] == 0


async def test_attachment_fallback_download_is_guarded_too(running_bot: RunningBot, emulator: Any) -> None:
    """Teams attachments (no fetcher registered) are downloaded by URL with the same checks."""
    running_bot.ctx.local_files = False
    cmd = replace(
        command(f"start {MODEL}"),
        attachments=(Attachment(name="train.jsonl", url="https://127.0.0.1:9/train.jsonl"),),
    )
    [reply] = await running_bot.dispatcher.on_command(cmd)
    assert "Could not download `train.jsonl`: its host is not a public internet address" in card_text(reply)


# -- redirects, failures, limits (local use, so the test servers on 127.0.0.1 can be reached) ------------


async def test_redirects_are_followed_by_hand_and_each_target_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real_check = data._check_target

    async def spy(url: httpx.URL, name: str, *, local: bool) -> None:
        checked.append(url.path)
        await real_check(url, name, local=local)

    monkeypatch.setattr(data, "_check_target", spy)
    async with serve(redirecting(3)) as url:
        spooled = await download(f"{url}/r/3", tmp_path, local=True)
    assert spooled.path.read_bytes() == GOOD and spooled.size == len(GOOD)
    assert checked == ["/r/3", "/r/2", "/r/1", "/r/0"]


async def test_more_than_five_redirects_are_refused(tmp_path: Path) -> None:
    async with serve(redirecting(6)) as url:
        with pytest.raises(DataError, match="more than 5 redirects"):
            await download(f"{url}/r/6", tmp_path, local=True)
        assert (await download(f"{url}/r/5", tmp_path, local=True)).size == len(GOOD)


async def test_a_redirect_to_a_private_address_is_refused_on_a_shared_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first hop passes the check; the redirect's target is checked again and refused."""
    targets: list[str] = []

    async def public_first(url: httpx.URL, name: str, *, local: bool) -> None:
        targets.append(str(url))
        if len(targets) > 1:
            await real_check(url, name, local=False)

    real_check = data._check_target
    monkeypatch.setattr(data, "_check_target", public_first)
    fake_dns(monkeypatch, {"127.0.0.1": ["127.0.0.1"]})

    async def to_metadata(request: web.Request) -> web.Response:
        raise web.HTTPFound("https://127.0.0.1/latest/meta-data")

    app = web.Application()
    app.router.add_get("/t.jsonl", to_metadata)
    async with serve(app) as url:
        with pytest.raises(DataError, match="not a public internet address"):
            await download(f"{url}/t.jsonl", tmp_path, local=False)
    assert targets[-1] == "https://127.0.0.1/latest/meta-data"


async def test_connection_refused_is_a_readable_data_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataError) as failed:
        await download(f"http://127.0.0.1:{port}/t.jsonl", tmp_path, local=True)
    assert failed.value.message == "Could not download `t.jsonl`: the server could not be reached."
    assert str(port) not in failed.value.message


async def test_http_error_status_is_reported(tmp_path: Path) -> None:
    async with serve(web.Application()) as url:
        with pytest.raises(DataError, match="the server answered HTTP 404"):
            await download(f"{url}/missing.jsonl", tmp_path, local=True)


async def test_the_whole_download_has_a_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that trickles forever is cut off by the whole-download deadline, not the per-read one."""
    # The deadline covers the connection too, and client and server share this event loop: at 0.2 s a loaded
    # box ran out of it before the server had accepted; the late-accepted socket was never closed by the
    # server's shutdown and leaked into the next test as an unclosed-socket error. 1 s leaves the accept time.
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 1.0)
    trickling = asyncio.Event()

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        trickling.set()
        while True:
            await response.write(b"{")
            await asyncio.sleep(0.01)

    app = web.Application()
    app.router.add_get("/slow.jsonl", trickle)
    async with serve(app) as url:
        with pytest.raises(DataError, match=r"did not finish within 1 second\b"):
            await download(f"{url}/slow.jsonl", tmp_path, local=True)
        # The server took the request (so its shutdown closes the connection), and it was a trickle that the
        # deadline cut off, not a connection that never got going.
        async with asyncio.timeout(10):
            await trickling.wait()


async def test_downloads_at_once_are_limited(tmp_path: Path) -> None:
    in_flight = 0
    most = 0
    arrived = asyncio.Condition()
    release = asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        async with arrived:
            in_flight += 1
            most = max(most, in_flight)
            arrived.notify_all()
        await release.wait()
        in_flight -= 1
        return web.Response(body=GOOD)

    app = web.Application()
    app.router.add_get("/{name}", held)
    async with serve(app) as url:
        tasks = [
            asyncio.create_task(download(f"{url}/t{i}.jsonl", tmp_path, local=True))
            for i in range(data.MAX_CONCURRENT_DOWNLOADS + 2)
        ]
        async with arrived:
            await arrived.wait_for(lambda: in_flight == data.MAX_CONCURRENT_DOWNLOADS)
        assert data._download_limit().locked()  # the others wait for a slot, not for the server
        release.set()
        done = await asyncio.gather(*tasks)
    assert most == data.MAX_CONCURRENT_DOWNLOADS and all(s.size == len(GOOD) for s in done)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("2606:4700::1111", True),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 to 169.254.169.254
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("64:ff9b::5db8:d822", True),  # NAT64 to a public address
    ],
)
def test_addresses_carried_inside_ipv6_are_checked_too(address: str, public: bool) -> None:
    import ipaddress

    from handlers.data import _public

    assert _public(ipaddress.ip_address(address)) is public


async def test_the_checked_host_is_the_one_httpx_connects_to() -> None:
    import httpx

    from handlers.data import DataError, _check_target

    # `straße` is `strasse` in IDNA 2003 but `xn--strae-oqa` in IDNA 2008 (what httpx uses).
    url = httpx.URL("https://straße.invalid/x.jsonl")
    assert url.raw_host == b"xn--strae-oqa.invalid"
    with pytest.raises(DataError, match="does not resolve"):
        await _check_target(url, "x.jsonl", local=False)
