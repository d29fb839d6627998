"""The Azure clients of every configured resource, created on first use and closed together.

The default resource comes from the FTBOT_AZURE_* variables (or the embedded emulator); more come from the
TOML file's `[[resources]]`. Chat commands pick one with `--resource NAME`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import AzureResource, Settings
from bot.errors import NotFound

if TYPE_CHECKING:
    from bot.azure.arm import ArmClient
    from bot.azure.auth import TokenProvider
    from bot.azure.dataplane import AzureOpenAIClient
    from bot.azure.monitor import MetricsClient

DEFAULT = "default"
EMULATOR_KEY = "emulator-local-key"  # the emulator accepts any key; never a real secret


class AzureClients:
    def __init__(self, settings: Settings, *, emulator: bool = False) -> None:
        self.settings = settings
        self.emulator = emulator
        self.resources: dict[str, AzureResource] = {}
        if settings.azure_openai_endpoint:
            self.resources[DEFAULT] = AzureResource(
                name=DEFAULT,
                endpoint=settings.azure_openai_endpoint,
                subscription_id=settings.subscription_id,
                resource_group=settings.resource_group,
                account_name=settings.account_name,
                tenant_id=settings.tenant_id,
                region=settings.region,
                api_version=settings.azure_api_version,
            )
        for extra in settings.resources:
            self.resources[extra.name] = extra
        self._data: dict[str, AzureOpenAIClient] = {}
        self._arm: dict[str, ArmClient] = {}
        self._metrics: MetricsClient | None = None
        self._tokens: TokenProvider | None = None
        self._aux: dict[str, TokenProvider] = {}

    def names(self) -> list[str]:
        return list(self.resources)

    def resource(self, name: str | None = None) -> AzureResource:
        key = name or (DEFAULT if DEFAULT in self.resources else next(iter(self.resources), DEFAULT))
        try:
            return self.resources[key]
        except KeyError:
            known = ", ".join(f"`{n}`" for n in self.resources) or "none"
            raise NotFound(
                f"There is no Azure resource named `{key}`.", hint=f"Configured: {known}."
            ) from None

    def _api_key(self, resource: AzureResource) -> str | None:
        if self.emulator:
            return EMULATOR_KEY
        if resource.name == DEFAULT and self.settings.azure_openai_api_key:
            return self.settings.azure_openai_api_key.get_secret_value()
        key = resource.api_key()
        return key.get_secret_value() if key else None

    def tokens(self) -> TokenProvider:
        """Entra ID tokens (DefaultAzureCredential), shared by every resource and cached until near expiry.
        The emulator takes any bearer token, so no credential is looked up there."""
        if self._tokens is None:
            from bot.azure.auth import CredentialTokenProvider, StaticTokenProvider

            static = self.settings.azure_static_token
            if self.emulator or static is not None:
                self._tokens = StaticTokenProvider(static.get_secret_value() if static else EMULATOR_KEY)
            else:
                self._tokens = CredentialTokenProvider.default()
        return self._tokens

    def arm(self, name: str | None = None) -> ArmClient:
        """The ARM client of a resource's account (deployments)."""
        resource = self.resource(name)
        client = self._arm.get(resource.name)
        if client is None:
            from bot.azure.arm import ArmClient

            client = ArmClient(
                resource.subscription_id,
                resource.resource_group,
                resource.account_name,
                tokens=self.tokens(),
                base_url=self.settings.arm_endpoint,
                api_version=self.settings.arm_api_version,
                max_pages=self.settings.azure_list_pages,
                max_seconds=self.settings.azure_list_seconds,
            )
            self._arm[resource.name] = client
        return client

    def auxiliary_tokens(self, name: str) -> TokenProvider | None:
        """Tokens of resource `name`'s own tenant, for the `x-ms-authorization-auxiliary` header of a
        cross-tenant deploy from it; None when no credential for that tenant is configured."""
        resource = self.resource(name)
        credential = resource.tenant_credential()
        if credential is None or not resource.tenant_id:
            return None
        cached = self._aux.get(resource.name)
        if cached is None:
            from bot.azure.auth import CredentialTokenProvider, StaticTokenProvider

            if self.emulator or self.settings.azure_static_token is not None:
                # The emulator checks that the header is there, not what it says.
                cached = StaticTokenProvider(f"{EMULATOR_KEY}-{resource.tenant_id}")
            else:
                client_id, secret = credential
                cached = CredentialTokenProvider.client_secret(
                    resource.tenant_id, client_id, secret.get_secret_value()
                )
            self._aux[resource.name] = cached
        return cached

    def metrics(self) -> MetricsClient:
        """Azure Monitor metrics (deployment usage), shared by every resource."""
        if self._metrics is None:
            from bot.azure.monitor import MetricsClient

            self._metrics = MetricsClient(tokens=self.tokens(), base_url=self.settings.arm_endpoint)
        return self._metrics

    def data(self, name: str | None = None) -> AzureOpenAIClient:
        """The data-plane client of a resource (files, jobs, events, checkpoints, completions)."""
        resource = self.resource(name)
        client = self._data.get(resource.name)
        if client is None:
            from bot.azure.dataplane import AzureOpenAIClient

            key = self._api_key(resource)
            client = AzureOpenAIClient(
                resource.endpoint,
                api_key=key,
                tokens=None if key else self.tokens(),
                api_version=resource.api_version,
                max_pages=self.settings.azure_list_pages,
                max_seconds=self.settings.azure_list_seconds,
            )
            self._data[resource.name] = client
        return client

    def now(self, name: str | None = None) -> datetime:
        """Now on Azure's clock for a resource (its data plane's last `Date`); ours until it has answered."""
        client = self._data.get(self.resource(name).name) if self.resources else None
        return client.now() if client is not None else datetime.now(UTC)

    async def close(self) -> None:
        for data in self._data.values():
            await data.aclose()
        for arm in self._arm.values():
            await arm.aclose()
        if self._metrics is not None:
            await self._metrics.aclose()
        self._data.clear()
        self._arm.clear()
        self._metrics = None
        for provider in [self._tokens, *self._aux.values()]:
            closer = getattr(provider, "aclose", None)
            if closer is not None:
                await closer()
        self._aux.clear()
