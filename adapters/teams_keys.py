"""Bot Framework's token signing keys, fetched and refreshed in the background, never on a request.

botframework-connector validates a token whose issuer claims to be Bot Framework by asking its
`_OpenIdMetadata` for the signing key; that class fetches the OpenID metadata and the keys with blocking
`requests` calls inside the event loop (when its keys are a day old, and again for any unknown key id once an
hour). One anonymous request with a forged token froze every Slack acknowledgement for 19.5 s that way.

`JwtTokenExtractor` takes its metadata objects from a class-level cache keyed by URL, so the narrowest fix is
to put our own object there for each URL the bot's authentication uses: `SigningKeys.get` never does I/O. It
answers from keys a `KeyRefresher` task fetched with aiohttp under a timeout, at start and on a schedule; while
no keys are loaded, or for a key id it does not know, the token is refused (401, Bot Framework retries) and an
early refresh is asked for (at most once per `EARLY_REFRESH_MIN`).

    refresher = KeyRefresher(install_signing_keys(source=""))
    await refresher.start()   # in the adapter's start-up
    ...
    await refresher.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import aiohttp
from botframework.connector.auth.authentication_constants import AuthenticationConstants
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor, _OpenIdConfig, _OpenIdMetadata
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

# The metadata documents the public cloud's token validation asks for (channel tokens; emulator and skill
# tokens). The bot does not configure government or enterprise channels.
METADATA_URLS = (
    AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL,
    AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL,
)
FETCH_TIMEOUT = 10.0  # seconds for one metadata + keys fetch
REFRESH_EVERY = 6 * 3600.0  # Bot Framework rotates keys with weeks of overlap; the SDK refreshes daily
RETRY_AFTER = 30.0  # after a failed fetch
EARLY_REFRESH_MIN = 300.0  # an unknown key id asks for a refresh at most this often


class KeysUnavailable(PermissionError):
    """No usable signing key (none loaded yet, or not this key id): the token is refused."""


class SigningKeys(_OpenIdMetadata):
    """What `JwtTokenExtractor` asks for a key; answers from memory only (see the module docstring)."""

    def __init__(self, url: str, source: str) -> None:
        super().__init__(url)
        self.source = source or url  # where the keys are really read (a local stand-in in tests)
        self.on_miss: Callable[[], None] = lambda: None

    async def get(self, key_id: str) -> _OpenIdConfig:
        if not self.keys:
            self.on_miss()
            raise KeysUnavailable("Bot Framework signing keys are not loaded yet")
        for key in self.keys:
            if isinstance(key, dict) and key.get("kid") == key_id:
                return _OpenIdConfig(RSAAlgorithm.from_jwk(json.dumps(key)), key.get("endorsements", []))
        self.on_miss()
        raise KeysUnavailable("the token is signed with a key Bot Framework does not publish")

    async def _refresh(self) -> None:  # the SDK's blocking fetch: never used
        raise KeysUnavailable("signing keys are refreshed in the background only")

    async def fetch(self, session: aiohttp.ClientSession, within: float = FETCH_TIMEOUT) -> int:
        """Read the metadata document, then its `jwks_uri`; keep the keys. The number of keys."""
        async with asyncio.timeout(within):
            async with session.get(self.source) as resp:
                resp.raise_for_status()
                metadata = await resp.json(content_type=None)
            jwks_uri = str(metadata["jwks_uri"])
            async with session.get(jwks_uri) as resp:
                resp.raise_for_status()
                document = await resp.json(content_type=None)
        keys = [k for k in document["keys"] if isinstance(k, dict) and k.get("kid")]
        if not keys:
            raise ValueError("the key document lists no keys")
        self.keys = keys
        self.last_updated = datetime.now()
        return len(keys)


def install_signing_keys(source: str = "") -> list[SigningKeys]:
    """Put a `SigningKeys` in botbuilder's metadata cache for each URL it validates tokens with (reusing one
    already there for the same source). `source` replaces every URL as the place keys are read from."""
    installed: list[SigningKeys] = []
    for url in METADATA_URLS:
        current = JwtTokenExtractor.metadataCache.get(url)
        if not (isinstance(current, SigningKeys) and current.source == (source or url)):
            current = SigningKeys(url, source)
            JwtTokenExtractor.metadataCache[url] = current
        installed.append(current)
    return installed


class KeyRefresher:
    """Keeps `SigningKeys` fresh: fetch at start, then every `REFRESH_EVERY` (every `RETRY_AFTER` while a fetch
    fails, earlier when a token names an unknown key)."""

    def __init__(self, keys: Sequence[SigningKeys], *, refresh_every: float = REFRESH_EVERY) -> None:
        self.keys = list(keys)
        self.refresh_every = refresh_every
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._last_early = 0.0
        self.loaded = asyncio.Event()

    def ready(self) -> bool:
        return all(k.keys for k in self.keys)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self.loaded = asyncio.Event()
        self._session = aiohttp.ClientSession()
        for keys in self.keys:
            keys.on_miss = self._early
        self._task = asyncio.create_task(self._run(), name="bot framework signing keys")

    def _early(self) -> None:
        now = time.monotonic()
        if self._wake is not None and now - self._last_early >= EARLY_REFRESH_MIN:
            self._last_early = now
            self._wake.set()

    async def refresh_once(self) -> bool:
        """Fetch every key set once; True when all succeeded. Failures are logged, keys in use are kept."""
        assert self._session is not None
        ok = True
        for keys in self.keys:
            try:
                count = await keys.fetch(self._session)
                log.info("Teams: %d Bot Framework signing keys loaded from %s", count, keys.source)
            except Exception as exc:
                ok = False
                log.warning("Teams: could not load signing keys from %s (%s)", keys.source, _why(exc))
        if self.ready():
            self.loaded.set()
        return ok

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            ok = await self.refresh_once()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_every if ok else RETRY_AFTER):
                    await self._wake.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for keys in self.keys:
            keys.on_miss = lambda: None
        if self._session is not None:
            await self._session.close()
            self._session = None


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {FETCH_TIMEOUT:g} s"
    text: Any = str(exc)
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
