"""WireTransport (httpx over aiohttp's client) against small local servers: what goes on the wire, and each
failure raised as the httpx error the retry policy sorts (connection failures as never sent)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from bot.azure.retry import Decision, decide
from bot.azure.transport import WireTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _head(reader: asyncio.StreamReader) -> list[bytes]:
    lines = []
    while (line := await reader.readline()) not in (b"\r\n", b""):
        lines.append(line.rstrip(b"\r\n"))
    return lines


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=WireTransport(verify=False), timeout=httpx.Timeout(2.0, connect=1.0, read=0.3)
    ) as client:
        yield client


async def test_a_request_goes_out_as_httpx_built_it_and_the_answer_comes_back(serve, http) -> None:
    seen: list[list[bytes]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        length = next(int(h.split(b":")[1]) for h in head if h.lower().startswith(b"content-length"))
        seen.append([*head, await reader.readexactly(length)])
        writer.write(
            b'HTTP/1.1 201 Created\r\nContent-Length: 11\r\nSet-Cookie: affinity=1\r\n\r\n{"id": "x"}'
        )
        await writer.drain()
        writer.close()

    base = await serve(answer)
    response = await http.post(f"{base}/openai/jobs", params={"api-version": "v", "q": "a/b"}, json={"k": 1})
    assert (response.status_code, response.json(), response.reason_phrase) == (201, {"id": "x"}, "Created")
    assert http.cookies["affinity"] == "1"  # httpx keeps the cookies, as with its own transport
    head = seen[0]
    assert head[0] == b"POST /openai/jobs?api-version=v&q=a%2Fb HTTP/1.1"
    assert b"Content-Type: application/json" in head and head[-1] == b'{"k":1}'


async def test_a_refused_connection_is_never_sent(http) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError) as raised:
        await http.post(f"http://127.0.0.1:{port}/x", json={})
    assert decide(raised.value, idempotent=False) == Decision.RETRY


async def test_no_answer_in_time_is_a_read_timeout(serve, http) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        try:
            await asyncio.sleep(5)
        finally:
            writer.close()

    base = await serve(silent)
    with pytest.raises(httpx.ReadTimeout) as raised:
        await http.post(f"{base}/x", json={})
    assert decide(raised.value, idempotent=False) == Decision.AMBIGUOUS


async def test_a_body_cut_short_is_a_read_error(serve, http) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        await writer.drain()
        writer.close()

    base = await serve(cut)
    with pytest.raises(httpx.ReadError):
        await http.get(f"{base}/x")


async def test_a_streamed_upload_goes_through_httpx_own_transport(serve, http) -> None:
    bodies: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        assert b"Transfer-Encoding: chunked" in head
        body = b""
        while (size := int((await reader.readline()).strip(), 16)) > 0:
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
        bodies.append(body)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"line 1\n"
        yield b"line 2\n"

    base = await serve(answer)
    response = await http.post(f"{base}/upload", content=chunks())
    assert response.status_code == 200 and bodies == [b"line 1\nline 2\n"]
