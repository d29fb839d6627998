"""The HTTP core every Azure client shares: auth headers, api-version, retries, typed errors, redaction.

One `AzureTransport` per surface (data plane, ARM, metrics). It owns its httpx client only when it created
it. Absolute URLs handed back by Azure (`nextLink`, `Azure-AsyncOperation`) are followed only on the same
host as the base URL, so a token is never sent anywhere else.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
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


POOL_SHARDS = 8
POOL_SHARD_CONNECTIONS = 16


class SpreadTransport(httpx.AsyncBaseTransport):
    """Several small connection pools instead of one large one, each request to the least busy.

    httpcore's pool does work quadratic in its connections on every request it queues or finishes; with a
    hundred connections (a burst of commands waiting on Azure) that was most of the bot's CPU (bench/ack.py).
    Pools of 16 keep that small, and every connection they open is kept for reuse (httpx keeps 20 of 100
    by default, so a burst opened and closed a connection, a TLS handshake on Azure, for most calls).
    """

    def __init__(
        self,
        shards: int = POOL_SHARDS,
        per_shard: int = POOL_SHARD_CONNECTIONS,
        *,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        # One context for all pools: loading the CA bundle takes ~30 ms each time (`_tls_for`: none for http).
        tls = httpx.create_ssl_context() if verify is True else verify
        self._pools = [httpx.AsyncHTTPTransport(verify=tls, limits=limits) for _ in range(shards)]
        self._busy = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        shard = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[shard] += 1
        try:
            return await self._pools[shard].handle_async_request(request)
        finally:
            self._busy[shard] -= 1  # until the answer's headers: its body is read right after

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


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
            timeout=DEFAULT_TIMEOUT, transport=SpreadTransport(verify=_tls_for(self.base_url))
        )
        # Azure's clock minus ours, from the `Date` of its last answer: card times are computed on Azure's
        # clock, so a skewed host (or the emulator's simulated clock) never shows a job created in the future.
        self.server_offset = timedelta(0)
        self._host = urlsplit(self.base_url).netloc.lower()

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
        # Merge, never replace: links from Azure (`nextLink`, operation URLs) carry their own query.
        url = httpx.URL(self.url(path_or_url))
        query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        if self.api_version and "api-version" not in url.params:
            query.setdefault("api-version", self.api_version)
        if query:
            url = url.copy_merge_params(query)
        request_headers = {"Accept": "application/json"}
        request_headers.update(await self._auth.headers())
        if headers is not None:
            request_headers.update(await headers())
        if body is not None:
            content, body_headers = await body()
            request_headers.update(body_headers)
            return self._http.build_request(method, url, content=content, headers=request_headers)
        return self._http.build_request(method, url, json=json, headers=request_headers)

    def _observe_date(self, response: httpx.Response) -> None:
        sent = response.headers.get("Date")
        if not sent:
            return
        try:
            server = parsedate_to_datetime(sent)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
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
