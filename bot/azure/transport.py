"""The HTTP core every Azure client shares: auth headers, api-version, retries, typed errors, redaction.

One `AzureTransport` per surface (data plane, ARM, metrics). It owns its httpx client only when it created
it. Absolute URLs handed back by Azure (`nextLink`, `Azure-AsyncOperation`) are followed only on the same
host as the base URL, so a token is never sent anywhere else.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import urlsplit

import httpx

from bot.azure.auth import TokenProvider
from bot.azure.errors import AzureError, BadRequest, error_from_body
from bot.azure.retry import IDEMPOTENT_METHODS, RetryPolicy, parse_retry_after, run_with_retry

log = logging.getLogger("ftbot.azure")

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
SENSITIVE_HEADERS = frozenset(
    {
        "api-key",
        "authorization",
        "x-ms-authorization-auxiliary",
        "ocp-apim-subscription-key",
        "cookie",
        "set-cookie",
    }
)
REDACTED = "***"

CLOCK_SKEW_IGNORED = timedelta(seconds=2)


def redact_headers(headers: Mapping[str, str] | httpx.Headers) -> dict[str, str]:
    """A copy of `headers` safe to log: credentials replaced by `***`."""
    return {k: (REDACTED if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


URLS_KEPT = 256  # parsed request URLs kept per transport (`AzureTransport._url_of`)
POOL_CONNECTIONS = 128  # connections open at once (all kept for reuse); more requests wait for one
STREAM_CHUNK = 64 * 1024


class WireTransport(httpx.AsyncBaseTransport):
    """httpx's requests sent by aiohttp's client: its HTTP parser is C (llhttp), its pool a queue per host.

    httpcore + h11 + anyio were about two thirds of the CPU of an Azure call (~1 ms of a ~1.5 ms GET on a kept
    connection, bench/teams.py's `status`), and httpcore's pool does work quadratic in its connections on every
    request it queues or finishes (a burst of commands waiting on Azure, bench/ack.py). httpx stays the API
    (URLs, headers, cookies, decoding, redirects, errors: aiohttp's are raised as the httpx errors the retry
    policy sorts, connection failures as "never sent"); aiohttp only moves bytes. Request bodies that stream
    (uploads) still go through httpx's own transport: it bounds each write by the write timeout, aiohttp has
    none.
    """

    def __init__(self, *, verify: ssl.SSLContext | bool = True, connections: int = POOL_CONNECTIONS) -> None:
        # One context for the life of the transport: loading the CA bundle takes ~30 ms each time.
        self._tls = httpx.create_ssl_context() if verify is True else verify
        self._connections = connections
        self._session: Any = None  # aiohttp.ClientSession, made in the loop that first sends
        self._streaming: httpx.AsyncHTTPTransport | None = None
        self._timeouts: dict[tuple[float | None, ...], Any] = {}

    def _session_here(self) -> Any:
        import aiohttp

        session = self._session
        if session is None or session.closed or session._loop is not asyncio.get_running_loop():
            connector = aiohttp.TCPConnector(limit=self._connections, limit_per_host=0, ssl=self._tls)
            session = self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
                auto_decompress=False,  # httpx decodes by Content-Encoding
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return session

    def _timeout(self, request: httpx.Request) -> Any:
        import aiohttp

        given = request.extensions.get("timeout") or {}
        connect, read, pool = given.get("connect"), given.get("read"), given.get("pool")
        key = (connect, read, pool)
        timeout = self._timeouts.get(key)
        if timeout is None:
            # aiohttp's `connect` covers the wait for a free connection too (httpx's pool timeout).
            waits = None if connect is None or pool is None else connect + pool
            timeout = aiohttp.ClientTimeout(total=None, connect=waits, sock_connect=connect, sock_read=read)
            self._timeouts = {**self._timeouts, key: timeout} if len(self._timeouts) < 16 else {key: timeout}
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.ByteStream):
            if self._streaming is None:
                limits = httpx.Limits(max_connections=16, max_keepalive_connections=4)
                self._streaming = httpx.AsyncHTTPTransport(verify=self._tls, limits=limits)
            return await self._streaming.handle_async_request(request)
        import aiohttp
        from yarl import URL

        try:
            response = await self._session_here().request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=_as_sent(request.headers),
                data=request.content or None,
                allow_redirects=False,
                timeout=self._timeout(request),
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out waiting for the answer", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_WireBody(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._streaming is not None:
            await self._streaming.aclose()


def _as_sent(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The request's headers with their names as written (httpx's `multi_items` gives them lower-cased)."""
    encoding = headers.encoding
    return [(name.decode(encoding), value.decode(encoding)) for name, value in headers.raw]


class _WireBody(httpx.AsyncByteStream):
    """An aiohttp response's body as httpx reads it; closing it gives the connection back to the pool."""

    def __init__(self, response: Any, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_chunked(STREAM_CHUNK):
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading", request=self._request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class Auth(Protocol):
    """Produces the credential headers for one request."""

    async def headers(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    key: str

    async def headers(self) -> dict[str, str]:
        return {"api-key": self.key}

    def __repr__(self) -> str:
        return "ApiKeyAuth(***)"


@dataclass(frozen=True, slots=True)
class BearerAuth:
    tokens: TokenProvider
    scope: str

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.tokens.token(self.scope)}"}

    def rejected(self) -> None:
        """Azure answered 401: drop the cached token (if the provider caches) so the next call fetches anew."""
        invalidate = getattr(self.tokens, "invalidate", None)
        if callable(invalidate):
            invalidate(self.scope)


RequestBody = tuple[bytes | AsyncIterable[bytes], dict[str, str]]


def _tls_for(base_url: str) -> ssl.SSLContext | bool:
    """TLS settings for a surface: the default (system CA bundle) for https. A plain-http base (the emulator,
    a local stand-in) never uses TLS (links to other hosts are refused), so its bundle is not loaded (~0.2 s
    of start-up); the context given instead trusts no CA at all, so any TLS connection would fail closed."""
    if base_url.lower().startswith("http://"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


class AzureTransport:
    """Sends requests to one Azure surface with retries; returns parsed results or raises `AzureError`."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth,
        api_version: str | None,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        surface: str = "Azure",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.retry = retry or RetryPolicy()
        self.surface = surface
        self._auth = auth
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT, transport=WireTransport(verify=_tls_for(self.base_url))
        )
        # Azure's clock minus ours, from the `Date` of its last answer: card times are computed on Azure's
        # clock, so a skewed host (or the emulator's simulated clock) never shows a job created in the future.
        self.server_offset = timedelta(0)
        self._host = urlsplit(self.base_url).netloc.lower()
        self._urls: dict[tuple[str, tuple[tuple[str, Any], ...]], httpx.URL] = {}

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            if urlsplit(path_or_url).netloc.lower() != self._host:
                raise BadRequest(
                    f"refusing to follow a link to another host ({urlsplit(path_or_url).netloc})",
                    code="foreignLink",
                    surface=self.surface,
                )
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    async def _build(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        body: Callable[[], Awaitable[RequestBody]] | None,
        headers: Callable[[], Awaitable[dict[str, str]]] | None,
    ) -> httpx.Request:
        target = self.url(path_or_url)
        query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        if "?" in target:
            # Merge, never replace: links from Azure (`nextLink`, operation URLs) carry their own query.
            url = httpx.URL(target)
            if self.api_version and "api-version" not in url.params:
                query.setdefault("api-version", self.api_version)
            if query:
                url = url.copy_merge_params(query)
        else:
            # A path of ours: its query made in the same parse (copy_merge_params parses the URL again).
            if self.api_version:
                query.setdefault("api-version", self.api_version)
            url = self._url_of(target, query)
        request_headers = {"Accept": "application/json"}
        request_headers.update(await self._auth.headers())
        if headers is not None:
            request_headers.update(await headers())
        if body is not None:
            content, body_headers = await body()
            request_headers.update(body_headers)
            return self._http.build_request(method, url, content=content, headers=request_headers)
        return self._http.build_request(method, url, json=json, headers=request_headers)

    def _url_of(self, target: str, query: dict[str, Any]) -> httpx.URL:
        """`httpx.URL(target, params=query)`, kept for the next call with the same path and query: httpx parses
        and checks a URL character by character (~0.2M instructions, a tenth of a call to Azure), and a
        `status`, a Refresh or a watcher asks for the same few URLs again and again (URLs are immutable). A
        page's cursor (`after=`) names a URL that is asked for once: parsed, not kept."""
        if "after" in query:
            return httpx.URL(target, params=query)
        try:
            key = (target, tuple(query.items()))
            url = self._urls.get(key)
        except TypeError:  # an unhashable parameter value (a list): parsed every time
            return httpx.URL(target, params=query or None)
        if url is None:
            url = httpx.URL(target, params=query or None)
            if len(self._urls) >= URLS_KEPT:
                self._urls.clear()
            self._urls[key] = url
        return url

    def _observe_date(self, response: httpx.Response) -> None:
        sent = response.headers.get("Date")
        if not sent:
            return
        server = _date_of(sent)
        if server is None:
            return
        offset = server - datetime.now(UTC)
        # Date has one-second resolution and includes the trip: only a real skew is worth correcting.
        self.server_offset = offset if abs(offset) > CLOCK_SKEW_IGNORED else timedelta(0)

    def _error(self, response: httpx.Response, body: bytes) -> AzureError:
        retry_after = parse_retry_after(response.headers, now=self.retry.now())
        return error_from_body(
            response.status_code, body, response.headers, retry_after=retry_after, surface=self.surface
        )

    def _log(self, request: httpx.Request, response: httpx.Response | None, started: float) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        status = response.status_code if response is not None else "no response"
        log.debug(
            "%s %s -> %s in %.0f ms headers=%s",
            request.method,
            request.url.copy_with(query=None),
            status,
            (time.monotonic() - started) * 1000,
            redact_headers(request.headers),
        )

    async def call(
        self,
        method: str,
        path_or_url: str,
        *,
        parse: Callable[[httpx.Response], T],
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        body: Callable[[], Awaitable[RequestBody]] | None = None,
        headers: Callable[[], Awaitable[dict[str, str]]] | None = None,
        idempotent: bool | None = None,
        retry_conflict: bool = True,
        recover: Callable[[], Awaitable[T | None]] | None = None,
        accept_on_retry: Collection[int] = (),
        description: str | None = None,
    ) -> T:
        """One logical call: build, send, retry per `RetryPolicy`, then `parse` the successful response.

        `body` builds a fresh request body per attempt (for replayable uploads); `accept_on_retry` lists
        statuses that mean success when seen on a repeated attempt (404 on a repeated DELETE).
        """
        method = method.upper()
        is_idempotent = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        what = description or f"{method} {path_or_url.split('?')[0]}"

        async def attempt(number: int) -> T:
            request = await self._build(
                method, path_or_url, params=params, json=json, body=body, headers=headers
            )
            started = time.monotonic()
            try:
                response = await self._http.send(request)
            except httpx.TransportError:
                self._log(request, None, started)
                raise
            self._log(request, response, started)
            self._observe_date(response)
            if response.is_success or (number > 1 and response.status_code in accept_on_retry):
                return parse(response)
            if response.status_code == 401 and isinstance(self._auth, BearerAuth):
                self._auth.rejected()
            raise self._error(response, response.content)

        return await run_with_retry(
            attempt,
            self.retry,
            idempotent=is_idempotent,
            retry_conflict=retry_conflict,
            recover=recover,
            description=what,
            surface=self.surface,
        )

    async def open_stream(
        self, path_or_url: str, *, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """GET with a streamed body, retried until the status line; the caller must `aclose()` it."""

        async def attempt(number: int) -> httpx.Response:
            request = await self._build("GET", path_or_url, params=params, json=None, body=None, headers=None)
            started = time.monotonic()
            response = await self._http.send(request, stream=True)
            self._log(request, response, started)
            if response.is_success:
                return response
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            raise self._error(response, content)

        return await run_with_retry(
            attempt, self.retry, idempotent=True, description=f"GET {path_or_url}", surface=self.surface
        )


def json_body(response: httpx.Response) -> Any:
    """The response's JSON; an `AzureError` when Azure answered 2xx with something that is not JSON."""
    try:
        return response.json()
    except ValueError as error:
        raise AzureError(
            f"Azure answered HTTP {response.status_code} with a body that is not JSON",
            code="invalidResponse",
            status=response.status_code,
        ) from error


@lru_cache(maxsize=8)
def _date_of(sent: str) -> datetime | None:
    """A `Date` header as an aware datetime (None: unreadable, or without a zone), kept: the answers of one
    second share it, and email's parser is ~40K instructions a call."""
    try:
        server = parsedate_to_datetime(sent)
    except (TypeError, ValueError):
        return None
    return server if server.tzinfo is not None else None


class TransportClient:
    """Base of the three Azure clients: they own one transport, close it, and work as `async with`."""

    _transport: AzureTransport

    async def aclose(self) -> None:
        await self._transport.aclose()

    def now(self) -> datetime:
        """Now on this service's clock (ours corrected by the `Date` of its last answer)."""
        return datetime.now(UTC) + self._transport.server_offset

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
