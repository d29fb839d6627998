"""ARM control-plane client for an Azure OpenAI account's deployments.

>>> arm = ArmClient(sub, rg, account, tokens=CredentialTokenProvider.default())
>>> deployment = await arm.deploy("my-model", job.fine_tuned_model)  # PUT, then wait for Succeeded

A PUT is idempotent and retried; a 409 is not retried (for deployments it means the model is already
deployed), but when a deployment of that name already carries the same model, the PUT counts as done.
Cross-tenant deploys (`source_account=`) attach `x-ms-authorization-auxiliary: Bearer <token>` obtained
from `auxiliary_tokens`, the source tenant's provider.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bot.azure.auth import ARM_SCOPE, AUXILIARY_HEADER, TokenProvider
from bot.azure.errors import AzureError, Conflict, NotFound, ServiceUnavailable
from bot.azure.models import DEVELOPER_SKU, AsyncOperation, Deployment, is_developer_sku
from bot.azure.paging import DEFAULT_MAX_PAGES, DEFAULT_MAX_SECONDS, Scan
from bot.azure.retry import RetryPolicy
from bot.azure.transport import AzureTransport, BearerAuth, TransportClient, json_body

ARM_ENDPOINT = "https://management.azure.com"
ARM_API_VERSION = "2024-10-01"
# The Developer deployment SKU (`DeveloperTier`) needs this ARM api-version or later (Azure docs, 2026).
DEVELOPER_API_VERSION = "2025-07-01-preview"
ASYNC_OPERATION_HEADER = "Azure-AsyncOperation"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeploymentOperation:
    """What a PUT answered: the deployment as returned and, for 201/202, where to poll."""

    deployment: Deployment
    operation_url: str | None
    status_code: int


class ArmClient(TransportClient):
    """Deployments of one `Microsoft.CognitiveServices/accounts` resource."""

    def __init__(
        self,
        subscription_id: str,
        resource_group: str,
        account_name: str,
        *,
        tokens: TokenProvider,
        auxiliary_tokens: TokenProvider | None = None,
        base_url: str = ARM_ENDPOINT,
        api_version: str = ARM_API_VERSION,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        poll_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_pages: int | None = DEFAULT_MAX_PAGES,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.max_pages = max_pages
        self.max_seconds = max_seconds
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.account_name = account_name
        self._auxiliary_tokens = auxiliary_tokens
        self._poll_sleep = poll_sleep
        self._transport = AzureTransport(
            base_url,
            auth=BearerAuth(tokens, ARM_SCOPE),
            api_version=api_version,
            http=http,
            retry=retry,
            surface="Azure Resource Manager",
        )

    def scan(self) -> Scan:
        """A fresh bound for one paged read (pages and seconds from the settings)."""
        return Scan(max_pages=self.max_pages, max_seconds=self.max_seconds)

    @property
    def account_id(self) -> str:
        """The account's ARM resource id (also what Monitor metrics are queried on)."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.account_name}"
        )

    def _deployment_path(self, name: str) -> str:
        return f"{self.account_id}/deployments/{quote(name, safe='')}"

    # ---- deployments ------------------------------------------------------------------------------

    async def put_deployment(
        self,
        name: str,
        model: str,
        *,
        model_version: str = "1",
        model_format: str = "OpenAI",
        sku: str = "standard",
        capacity: int = 1,
        source: str | None = None,
        source_account: str | None = None,
        auxiliary_tokens: TokenProvider | None = None,
    ) -> DeploymentOperation:
        """Create (or update) a deployment of a fine-tuned model or checkpoint id; does not wait.

        `auxiliary_tokens` (the source tenant's provider) overrides the client's for this call: a bot that
        deploys from several tenants holds one provider per source tenant."""
        model_spec: dict[str, Any] = {"format": model_format, "name": model, "version": model_version}
        if source:
            model_spec["source"] = source
        if source_account:
            model_spec["sourceAccount"] = source_account
        body = {"sku": {"name": sku, "capacity": capacity}, "properties": {"model": model_spec}}
        aux = auxiliary_tokens or self._auxiliary_tokens
        if source_account and aux is None:
            raise ValueError("a cross-tenant deploy needs auxiliary_tokens for the source tenant")

        async def aux_headers() -> dict[str, str]:
            assert aux is not None
            return {AUXILIARY_HEADER: f"Bearer {await aux.token(ARM_SCOPE)}"}

        headers = aux_headers if source_account else None
        # DeveloperTier exists only from a newer api-version on; every other SKU keeps the configured one.
        params = {"api-version": DEVELOPER_API_VERSION} if is_developer_sku(sku) else None

        def parse(response: httpx.Response) -> DeploymentOperation:
            return DeploymentOperation(
                deployment=Deployment.model_validate(json_body(response)),
                operation_url=response.headers.get(ASYNC_OPERATION_HEADER),
                status_code=response.status_code,
            )

        try:
            return await self._transport.call(
                "PUT",
                self._deployment_path(name),
                json=body,
                params=params,
                headers=headers,
                parse=parse,
                retry_conflict=False,
                description=f"deploy {name}",
            )
        except Conflict:
            # A repeated PUT whose first attempt went through, or a deployment already in place.
            existing = await self._get_or_none(name)
            if existing is not None and existing.model_name == model:
                return DeploymentOperation(deployment=existing, operation_url=None, status_code=200)
            raise

    async def deploy(
        self,
        name: str,
        model: str,
        *,
        poll_interval: float = 5.0,
        max_wait: float = 1800.0,
        **options: Any,
    ) -> Deployment:
        """PUT the deployment, then wait until provisioning settles (`Succeeded`, `Failed`, ...)."""
        operation = await self.put_deployment(name, model, **options)
        if operation.deployment.is_settled:
            return operation.deployment
        return await self.wait_for_deployment(
            name, operation_url=operation.operation_url, poll_interval=poll_interval, max_wait=max_wait
        )

    async def wait_for_deployment(
        self,
        name: str,
        *,
        operation_url: str | None = None,
        poll_interval: float = 5.0,
        max_wait: float = 1800.0,
    ) -> Deployment:
        """Poll `Azure-AsyncOperation` (when given) or the deployment itself until it settles; bounded."""
        deadline = time.monotonic() + max_wait
        while True:
            if operation_url is not None:
                operation = await self._operation(operation_url)
                if operation.is_settled:
                    return await self.get_deployment(name)
                state = operation.status
            else:
                deployment = await self.get_deployment(name)
                if deployment.is_settled:
                    return deployment
                state = deployment.provisioning_state or "unknown"
            if time.monotonic() + poll_interval > deadline:
                raise ServiceUnavailable(
                    f"deployment {name} still {state} after {max_wait:.0f} s", code="pollTimeout"
                )
            await self._poll_sleep(poll_interval)

    async def operation(self, url: str) -> AsyncOperation:
        """One look at an `Azure-AsyncOperation` URL (a poll step; `wait_for_deployment` loops on it)."""
        return await self._operation(url)

    async def find_deployment(self, name: str) -> Deployment | None:
        """The deployment called `name`, or None when there is none."""
        return await self._get_or_none(name)

    async def _operation(self, url: str) -> AsyncOperation:
        return await self._transport.call(
            "GET", url, parse=lambda r: AsyncOperation.model_validate(json_body(r))
        )

    async def get_deployment(self, name: str) -> Deployment:
        return await self._transport.call(
            "GET", self._deployment_path(name), parse=lambda r: Deployment.model_validate(json_body(r))
        )

    async def _get_or_none(self, name: str) -> Deployment | None:
        try:
            return await self.get_deployment(name)
        except NotFound:
            return None

    async def deployments(self, *, scan: Scan | None = None) -> AsyncGenerator[Deployment, None]:
        """The account's deployments, following `nextLink` within the scan's bounds (the client's when none
        is given); a bounded stop with more to read sets `scan.truncated`."""
        bound = scan if scan is not None else self.scan()
        link: str | None = f"{self.account_id}/deployments"
        seen: set[str] = set()
        while link is not None and link not in seen:
            if not bound.may_fetch():
                log.info("deployments of %s: stopped after %d pages", self.account_name, bound.pages)
                return
            seen.add(link)
            page = await self._transport.call("GET", link, parse=json_body)
            bound.page_read()
            for item in page.get("value") or []:
                bound.saw(None)
                yield Deployment.model_validate(item)
            next_link = page.get("nextLink")
            link = next_link if isinstance(next_link, str) and next_link else None

    async def list_deployments(self, *, scan: Scan | None = None) -> list[Deployment]:
        return [d async for d in self.deployments(scan=scan)]

    async def delete_deployment(
        self, name: str, *, wait: bool = False, poll_interval: float = 5.0, max_wait: float = 600.0
    ) -> bool:
        """Delete a deployment. Either way it is gone (or going) afterwards; the result tells whether there
        was one: ARM answers 204 (or 404) when there was nothing to delete, and then this returns False.
        With `wait`, return only once it has disappeared."""

        def parse(response: httpx.Response) -> tuple[int, str | None]:
            return response.status_code, response.headers.get(ASYNC_OPERATION_HEADER)

        try:
            status, operation_url = await self._transport.call(
                "DELETE", self._deployment_path(name), parse=parse, accept_on_retry=(404,)
            )
        except NotFound:
            return False
        if status in (204, 404):
            return False
        if wait and status == 202:
            await self._wait_gone(name, operation_url, poll_interval, max_wait)
        return True

    async def _wait_gone(
        self, name: str, operation_url: str | None, interval: float, max_wait: float
    ) -> None:
        deadline = time.monotonic() + max_wait
        while True:
            if operation_url is not None:
                if (await self._operation(operation_url)).is_settled:
                    return
            elif await self._get_or_none(name) is None:
                return
            if time.monotonic() + interval > deadline:
                raise ServiceUnavailable(f"deployment {name} still deleting after {max_wait:.0f} s")
            await self._poll_sleep(interval)


__all__ = [
    "ARM_API_VERSION",
    "ARM_ENDPOINT",
    "DEVELOPER_API_VERSION",
    "DEVELOPER_SKU",
    "ArmClient",
    "AzureError",
    "DeploymentOperation",
]
