"""Connector clients reused across turns, instead of botbuilder's two new msrest clients per activity.

botbuilder's `CloudAdapter` asks its authentication for a `ConnectorFactory` on every turn and builds a new
`ConnectorClient` (and a new `UserTokenClient`) from it: a new msrest configuration each time, whose
`ClientRetryPolicy.__init__` alone takes ~6 ms (two per activity: most of a turn's cost), a new `requests`
session (no kept-alive connection to the Bot Connector) and new `MicrosoftAppCredentials`, whose fresh MSAL app
has an empty token cache: with app credentials, every turn asked Azure AD for a token again, with a blocking
call inside the event loop.

`CachedConnectors` wraps the authentication the adapter is built with; the factories it hands out keep their
clients in a small LRU keyed by (app id, service URL, audience), and user token clients by app id. Each
cached client keeps its own credentials object, whose MSAL cache renews the token before it expires; before
each send the token is read on a worker thread (`TokenOffLoop`), so msrest's synchronous read finds it
cached and a fetch from Azure AD (first use, renewal) never blocks the event loop. A card that is plain JSON
is passed through msrest's serializer as it is (`pass_plain_json_through`) instead of rebuilt value by value.

The key has no tenant: the outbound credentials are the bot's own (its app id, and the tenant it is
configured with), whatever tenant the conversation is in, as in botbuilder; conversations served from the
same service URL share a client, as they would share a connection.

    cloud = CloudAdapter(CachedConnectors(ConfigurationBotFrameworkAuthentication(config)))
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from msrest.pipeline import AsyncHTTPPolicy
from msrest.pipeline.async_requests import AsyncRequestsCredentialsPolicy

__all__ = [
    "CachedConnectors",
    "CachingConnectorFactory",
    "ClientCache",
    "TokenOffLoop",
    "fetch_tokens_off_loop",
    "pass_plain_json_through",
    "plain_json",
]

log = logging.getLogger(__name__)

MAX_CLIENTS = 32  # Teams has a handful of service URLs (one per region); the chat page has one


class ClientCache:
    """Least recently used clients by key; an evicted client is left to finish what it is doing."""

    def __init__(self, size: int = MAX_CLIENTS) -> None:
        self.size = size
        self._clients: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self.built = 0  # clients constructed (a miss), for tests and benches

    def get(self, key: tuple[str, ...]) -> Any | None:
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
        return client

    def put(self, key: tuple[str, ...], client: Any) -> Any:
        """Keep `client` under `key` unless another was stored meanwhile (then that one is returned)."""
        existing = self._clients.get(key)
        if existing is not None:
            self._clients.move_to_end(key)
            return existing
        self.built += 1
        self._clients[key] = client
        while len(self._clients) > self.size:
            self._clients.popitem(last=False)
        return client

    def __len__(self) -> int:
        return len(self._clients)


def app_id_of(claims_identity: ClaimsIdentity | None) -> str:
    """The bot's app id the outbound credentials are for: botbuilder's rule (the audience claim from a
    channel, else the emulator's appid claim; empty when unauthenticated)."""
    if claims_identity is None:
        return ""
    app_id = claims_identity.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
    if app_id is None:
        app_id = claims_identity.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    return str(app_id or "")


class TokenOffLoop(AsyncHTTPPolicy):
    """Before msrest's credentials policy reads the token synchronously (inside the event loop), read it on a
    worker thread: MSAL answers from its cache, or fetches (and caches) a new token from Azure AD there."""

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self.credentials = credentials

    async def send(self, request: Any, **kwargs: Any) -> Any:
        try:
            await asyncio.to_thread(self.credentials.get_access_token)
        except Exception as exc:  # the credentials policy tries again and reports it where the send fails
            log.warning("Teams: could not get a token for the Bot Connector (%s)", type(exc).__name__)
        assert self.next is not None  # linked by `fetch_tokens_off_loop`
        return await self.next.send(request, **kwargs)


def fetch_tokens_off_loop(client: ConnectorClient) -> bool:
    """Put `TokenOffLoop` in front of the client's credentials policy (msrest's pipeline is a linked list of
    policies); False, and the client left as it is, when it has no credentials to fetch or another shape."""
    credentials: Any = getattr(client.config, "credentials", None)
    if credentials is None or not getattr(credentials, "microsoft_app_id", None):
        return False  # anonymous (local use): no token
    policies = getattr(client.config.pipeline, "_impl_policies", None)
    if not isinstance(policies, list):
        return False
    at = next((i for i, p in enumerate(policies) if isinstance(p, AsyncRequestsCredentialsPolicy)), None)
    if at is None:
        return False
    policy = TokenOffLoop(credentials)
    policy.next = policies[at]
    if at > 0:
        policies[at - 1].next = policy
    policies.insert(at, policy)
    return True


_JSON_SCALARS = (str, int, float, bool, type(None))


def plain_json(value: Any) -> bool:
    """Only dicts with string keys, lists, strings, numbers, booleans and None (what `json` makes)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if any(type(key) is not str for key in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind not in _JSON_SCALARS:
            return False
    return True


def pass_plain_json_through(client: ConnectorClient) -> None:
    """msrest serializes an untyped value (an Adaptive Card: an attachment's `content`) node by node, ~2 ms
    for a 1 KB card; one that is plain JSON already comes out as it went in, so it is passed through."""
    serializer = client._serialize
    generic = serializer.serialize_object

    def serialize_object(attr: Any, **kwargs: Any) -> Any:
        if type(attr) in (dict, list) and plain_json(attr):
            return attr
        return generic(attr, **kwargs)

    serializer.serialize_object = serialize_object


class CachingConnectorFactory(ConnectorFactory):
    """A turn's `ConnectorFactory` whose clients come from (and go to) the shared `ClientCache`."""

    def __init__(
        self, inner: ConnectorFactory, app_id: str, cache: ClientCache, default_audience: str
    ) -> None:
        self.inner = inner
        self.app_id = app_id
        self._cache = cache
        self._default_audience = default_audience  # what the inner factory uses for "no audience"

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (self.app_id, service_url or "", audience or self._default_audience)
        client = self._cache.get(key)
        if client is None:
            built = await self.inner.create(service_url, audience)
            fetch_tokens_off_loop(built)
            pass_plain_json_through(built)
            client = self._cache.put(key, built)
        return client


class CachedConnectors(BotFrameworkAuthentication):
    """A `BotFrameworkAuthentication` that authenticates like `inner` and shares outbound clients."""

    def __init__(self, inner: BotFrameworkAuthentication, *, size: int = MAX_CLIENTS) -> None:
        self.inner = inner
        self.connectors = ClientCache(size)
        self.token_clients = ClientCache(size)
        # A proactive turn asks for "no audience", an incoming one names it: both mean the channel's scope.
        self._default_audience = inner.get_originating_audience()

    def _caching(self, factory: ConnectorFactory | None, claims: ClaimsIdentity | None) -> Any:
        if factory is None or isinstance(factory, CachingConnectorFactory):
            return factory
        return CachingConnectorFactory(factory, app_id_of(claims), self.connectors, self._default_audience)

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self.inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._caching(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        result = await self.inner.authenticate_streaming_request(auth_header, channel_id_header)
        result.connector_factory = self._caching(result.connector_factory, result.claims_identity)
        return result

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._caching(self.inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        # Used only by sign-in prompts (ftbot has none), yet built on every turn: built once per app id.
        key = (app_id_of(claims_identity),)
        client = self.token_clients.get(key)
        if client is None:
            client = self.token_clients.put(key, await self.inner.create_user_token_client(claims_identity))
        return client

    def create_bot_framework_client(self) -> Any:
        return self.inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self.inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self.inner.authenticate_channel_request(auth_header)

    async def generate_caller_id(self, **kwargs: Any) -> str:
        return await self.inner.generate_caller_id(**kwargs)
