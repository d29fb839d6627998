"""Token caching until 5 minutes before expiry, one refresh under concurrency, per-scope caches."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from bot.azure.auth import (
    ARM_SCOPE,
    DATA_PLANE_SCOPE,
    CredentialTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)
from bot.azure.errors import Unauthorized


class FakeCredential:
    """An async credential that counts calls, hands out numbered tokens and can be held at a gate."""

    def __init__(self, clock: list[float], lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.fail = False
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes[0])
        self.entered.set()
        await self.gate.wait()
        if self.fail:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")
        return AccessToken(f"token-{len(self.calls)}", int(self.clock[0] + self.lifetime))

    async def close(self) -> None:
        self.closed = True


def _provider(credential: FakeCredential, clock: list[float]) -> CredentialTokenProvider:
    return CredentialTokenProvider(credential, clock=lambda: clock[0])  # type: ignore[arg-type]


async def test_cached_until_five_minutes_before_expiry() -> None:
    clock = [1_000_000.0]
    credential = FakeCredential(clock)
    provider = _provider(credential, clock)
    assert await provider.token(DATA_PLANE_SCOPE) == "token-1"
    clock[0] += 3600 - 301
    assert await provider.token(DATA_PLANE_SCOPE) == "token-1"
    clock[0] += 2  # now inside the 5-minute margin
    assert await provider.token(DATA_PLANE_SCOPE) == "token-2"
    assert credential.calls == [DATA_PLANE_SCOPE, DATA_PLANE_SCOPE]


async def test_scopes_are_cached_separately() -> None:
    clock = [0.0]
    credential = FakeCredential(clock)
    provider = _provider(credential, clock)
    data = await provider.token(DATA_PLANE_SCOPE)
    arm = await provider.token(ARM_SCOPE)
    assert data != arm
    assert await provider.token(ARM_SCOPE) == arm
    assert credential.calls == [DATA_PLANE_SCOPE, ARM_SCOPE]


async def test_concurrent_callers_share_one_refresh() -> None:
    clock = [0.0]
    credential = FakeCredential(clock)
    credential.gate.clear()
    provider = _provider(credential, clock)
    waiters = [asyncio.create_task(provider.token(DATA_PLANE_SCOPE)) for _ in range(20)]
    await credential.entered.wait()  # the first caller reached the credential; the rest queue on the lock
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(credential.calls) == 1
    credential.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"token-1"}
    assert len(credential.calls) == 1


async def test_expired_token_refreshes_once_under_concurrency() -> None:
    clock = [0.0]
    credential = FakeCredential(clock)
    provider = _provider(credential, clock)
    await provider.token(DATA_PLANE_SCOPE)
    clock[0] += 3600
    results = await asyncio.gather(*(provider.token(DATA_PLANE_SCOPE) for _ in range(10)))
    assert set(results) == {"token-2"}
    assert len(credential.calls) == 2


async def test_credential_failure_is_unauthorized_without_details() -> None:
    clock = [0.0]
    credential = FakeCredential(clock)
    credential.fail = True
    provider = _provider(credential, clock)
    with pytest.raises(Unauthorized) as raised:
        await provider.token(DATA_PLANE_SCOPE)
    assert "ClientAuthenticationError" in raised.value.user_message()
    credential.fail = False
    assert await provider.token(DATA_PLANE_SCOPE) == "token-2"  # a failure is not cached


async def test_invalidate_and_close() -> None:
    clock = [0.0]
    credential = FakeCredential(clock)
    provider = _provider(credential, clock)
    await provider.token(DATA_PLANE_SCOPE)
    provider.invalidate(DATA_PLANE_SCOPE)
    assert await provider.token(DATA_PLANE_SCOPE) == "token-2"
    await provider.aclose()
    assert credential.closed


async def test_static_provider_and_protocol() -> None:
    static = StaticTokenProvider("emulator")
    assert await static.token(ARM_SCOPE) == "emulator"
    assert "emulator" not in repr(static)
    assert isinstance(static, TokenProvider)
    with pytest.raises(ValueError):
        StaticTokenProvider("")


async def test_real_azure_identity_credentials_build_without_network() -> None:
    provider = CredentialTokenProvider.client_secret("tenant", "client", "secret")
    assert "ClientSecretCredential" in repr(provider)
    assert "secret" not in repr(provider).replace("ClientSecretCredential", "")
    await provider.aclose()
