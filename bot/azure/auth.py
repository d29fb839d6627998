"""Credentials for Azure calls: a `TokenProvider` protocol, a cached azure-identity provider, a static one.

Tokens are cached per scope until `refresh_margin` (5 min) before they expire; a lock per scope makes sure
that many concurrent calls trigger one refresh, not one each. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.azure.errors import Unauthorized

if TYPE_CHECKING:  # azure-core is imported only where a credential is used (not with an API key)
    from azure.core.credentials_async import AsyncTokenCredential

DATA_PLANE_SCOPE = "https://cognitiveservices.azure.com/.default"
# The v1 API (GA 2025-08) names this scope for Entra tokens; older samples still use the one above.
V1_DATA_PLANE_SCOPE = "https://ai.azure.com/.default"
ARM_SCOPE = "https://management.azure.com/.default"
AUXILIARY_HEADER = "x-ms-authorization-auxiliary"

REFRESH_MARGIN_SECONDS = 300.0


@runtime_checkable
class TokenProvider(Protocol):
    """Anything that can hand out a bearer token for a scope."""

    async def token(self, scope: str) -> str: ...


class StaticTokenProvider:
    """The same token for every scope: for tests and the emulator, which accepts any bearer token."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("a static token must not be empty")
        self._token = token

    async def token(self, scope: str) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticTokenProvider(***)"


@dataclass(frozen=True, slots=True)
class _Cached:
    value: str
    expires_on: float


class CredentialTokenProvider:
    """Tokens from an azure-identity async credential, cached until `refresh_margin` before expiry.

    >>> provider = CredentialTokenProvider.default()  # DefaultAzureCredential
    >>> # token = await provider.token(DATA_PLANE_SCOPE)
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
        owns_credential: bool = True,
    ) -> None:
        self._credential = credential
        self._refresh_margin = refresh_margin
        self._clock = clock  # wall clock: azure-identity expresses expiry as epoch seconds
        self._owns_credential = owns_credential
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def default(cls, **kwargs: Any) -> CredentialTokenProvider:
        """`DefaultAzureCredential` (environment, workload/managed identity, Azure CLI, ...)."""
        from azure.identity.aio import DefaultAzureCredential

        return cls(DefaultAzureCredential(**kwargs))

    @classmethod
    def client_secret(cls, tenant_id: str, client_id: str, client_secret: str) -> CredentialTokenProvider:
        """A service principal with a client secret (e.g. the source tenant for cross-tenant deploys)."""
        from azure.identity.aio import ClientSecretCredential

        return cls(ClientSecretCredential(tenant_id, client_id, client_secret))

    def _fresh(self, scope: str) -> str | None:
        cached = self._cache.get(scope)
        if cached is not None and self._clock() < cached.expires_on - self._refresh_margin:
            return cached.value
        return None

    async def token(self, scope: str) -> str:
        fresh = self._fresh(scope)
        if fresh is not None:
            return fresh
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            fresh = self._fresh(scope)  # someone else may have refreshed while we waited
            if fresh is not None:
                return fresh
            from azure.core.exceptions import AzureError as AzureCoreError

            try:
                access = await self._credential.get_token(scope)
            except AzureCoreError as error:
                # azure-identity messages name the credential chain, never the secret itself.
                raise Unauthorized(
                    f"could not obtain a token for {scope}: {type(error).__name__}",
                    code="tokenUnavailable",
                ) from error
            self._cache[scope] = _Cached(access.token, float(access.expires_on))
            return access.token

    def invalidate(self, scope: str | None = None) -> None:
        """Forget cached tokens (all, or one scope), e.g. after Azure rejected one."""
        if scope is None:
            self._cache.clear()
        else:
            self._cache.pop(scope, None)

    async def aclose(self) -> None:
        if self._owns_credential:
            await self._credential.close()

    def __repr__(self) -> str:
        return f"CredentialTokenProvider({type(self._credential).__name__})"
