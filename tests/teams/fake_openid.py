"""A stand-in for Bot Framework's token issuer: its OpenID metadata and signing keys on 127.0.0.1, and tokens
signed with its key, so tests can send Teams requests that pass the real botbuilder JWT validation.

    async with FakeOpenId() as issuer:
        settings = load_settings(MicrosoftAppId=APP_ID, teams_openid_metadata_url=issuer.metadata_url, ...)
        token = issuer.token(APP_ID, service_url)

`hold()` makes the metadata endpoint hang until `release()` (an unreachable or slow identity service);
`fetches` counts metadata requests.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.support import serve

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
KID = "test-signing-key-1"


class FakeOpenId:
    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.url = ""
        self.fetches = 0
        self._released = asyncio.Event()
        self._released.set()
        self._changed = asyncio.Condition()
        self._serving: Any = None

    async def __aenter__(self) -> FakeOpenId:
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        self._serving = serve(app)
        self.url = await self._serving.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._released.set()
        await self._serving.__aexit__(*exc)

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def token(self, audience: str, service_url: str, *, kid: str = KID, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": BOT_FRAMEWORK_ISSUER,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 10,
            "exp": now + 600,
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": kid})

    async def wait_fetches(self, count: int) -> None:
        """Until the metadata was asked for `count` times in all (the timeout only guards against a hang)."""
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: self.fetches >= count)

    async def _metadata(self, request: web.Request) -> web.Response:
        self.fetches += 1
        async with self._changed:
            self._changed.notify_all()
        await self._released.wait()
        return web.json_response(
            {"issuer": BOT_FRAMEWORK_ISSUER, "jwks_uri": f"{self.url}/v1/.well-known/keys"}
        )

    async def _keys(self, request: web.Request) -> web.Response:
        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": KID, "use": "sig", "endorsements": ["msteams"]})
        return web.json_response({"keys": [jwk]})
