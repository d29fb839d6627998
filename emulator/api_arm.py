"""ARM control plane: deployments of an account (PUT, GET, DELETE, LIST) and their async operations."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from emulator import catalog
from emulator.deployments import Deployment, Operation, new_deployment
from emulator.errors import ApiError
from emulator.httputil import json_body, state_of
from emulator.ids import new_hex
from emulator.state import AccountState, EmulatorState

DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


def _account(request: web.Request) -> AccountState:
    m = request.match_info
    return state_of(request).arm_account(m["subscription"], m["resource_group"], m["account"])


def _bad(message: str, code: str = "InvalidResourceProperties") -> ApiError:
    return ApiError(400, code, message)


def _operation_url(request: web.Request, account: AccountState, op: Operation) -> str:
    c = account.config
    path = (
        f"/subscriptions/{c.subscription_id}/providers/Microsoft.CognitiveServices/locations/{c.location}"
        f"/operationResults/{op.id}"
    )
    return str(request.url.with_path(path).with_query({"api-version": request.query["api-version"]}))


def _origin(
    request: web.Request, state: EmulatorState, account: AccountState, model: dict[str, Any]
) -> AccountState:
    """The account the model lives in: this one, `source` (same tenant) or `sourceAccount` (any tenant)."""
    source_account, source = model.get("sourceAccount"), model.get("source")
    ref = source_account or source
    if ref is None:
        return account
    if not isinstance(ref, str):
        raise _bad("properties.model.source/sourceAccount must be an account resource id.")
    origin = state.account_by_arm_id(ref)
    if origin is None:
        raise _bad(f"The source account '{ref}' was not found.")
    if origin.config.tenant_id == account.config.tenant_id:
        return origin
    if source_account is None:
        raise ApiError(
            403,
            "LinkedAuthorizationFailed",
            f"The source account '{ref}' is in tenant {origin.config.tenant_id}, not "
            f"{account.config.tenant_id}: use properties.model.sourceAccount with an "
            "x-ms-authorization-auxiliary token for the source tenant.",
        )
    if not request.headers.get("x-ms-authorization-auxiliary", "").strip():
        raise ApiError(
            401,
            "LinkedAuthorizationFailed",
            f"The source account '{ref}' is in another tenant ({origin.config.tenant_id}); the request needs an "
            "'x-ms-authorization-auxiliary: Bearer <token for that tenant>' header.",
        )
    return origin


# Real ARM asks the client to come back after this many seconds; sent on 201/202 and on operations still in
# progress, so a default SDK poller (30 s without it) polls at once.
RETRY_AFTER = "1"


def _check_sku(
    sku: dict[str, Any],
    model: str,
    base: catalog.BaseModel | None,
    fine_tuned: bool,
    location: str,
    version: str,
) -> None:
    """The SKU must be one the model can be deployed with; anything else is Azure's InvalidResourceProperties."""
    canonical = catalog.deployment_sku(sku["name"])  # any case, as ARM: `developertier` is DeveloperTier
    # DeveloperTier is for models fine-tuned from a base whose row offers it (o4-mini and the gpt-4.1 family).
    developer_ok = fine_tuned and (base is None or catalog.DEVELOPER_TIER in base.deployment_skus)
    if canonical == catalog.DEVELOPER_TIER and not catalog.arm_at_least(
        version, catalog.DEVELOPER_TIER_ARM_SINCE
    ):
        canonical = None  # fine-tuning-deploy.md: DeveloperTier needs ARM api-version 2025-07-01-preview+
    if canonical is None or (canonical == catalog.DEVELOPER_TIER and not developer_ok):
        shown = f"{base.family} {base.version}" if base is not None else model
        raise _bad(
            f"The specified SKU '{sku['name']}' for model '{shown}' is not supported in this region '{location}'."
        )


def _parse(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    sku = body.get("sku")
    if not isinstance(sku, dict) or not isinstance(sku.get("name"), str):
        raise _bad("'sku.name' is required (e.g. 'Standard' or 'GlobalStandard').")
    capacity = sku.get("capacity", 1)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise _bad("'sku.capacity' must be a positive integer.")
    props = body.get("properties")
    model = props.get("model") if isinstance(props, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not model["name"]:
        raise _bad("'properties.model.name' is required.")
    if model.get("format", "OpenAI") != "OpenAI":
        raise _bad("'properties.model.format' must be 'OpenAI'.")
    return {**sku, "capacity": capacity}, {"format": "OpenAI", "version": "1", **model}


async def put_deployment(request: web.Request) -> web.Response:
    state = state_of(request)
    state.count("deployments.put")
    account = _account(request)
    name = request.match_info["deployment"]
    if not DEPLOYMENT_NAME.match(name):
        raise _bad(f"'{name}' is not a valid deployment name (2-64 of letters, digits, '.', '_', '-').")
    sku, model = _parse(await json_body(request))
    now = state.now()
    existing = account.deployments.get(name)
    if existing is not None and existing.deleting_since is not None:
        raise ApiError(409, "Conflict", f"Deployment '{name}' is being deleted.")
    origin = _origin(request, state, account, model)
    custom: str | None = None
    found = origin.find_custom_model(model["name"])
    if found is not None:
        custom = f"{origin.config.name}/{found[0]}"
    elif catalog.lookup(model["name"]) is None:
        why = origin.undeployable_reason(model["name"])
        detail = f" It cannot be deployed: {why}." if why else " The model was not found."
        raise _bad(
            f"Creating a deployment with the model '{model['name']}' is not supported.{detail}",
            code="DeploymentModelNotSupported",
        )
    root = catalog.lookup(catalog.root_of(found[0] if found is not None else model["name"]))
    _check_sku(
        sku, model["name"], root, custom is not None, account.config.location, request.query["api-version"]
    )
    developer = catalog.deployment_sku(sku["name"]) == catalog.DEVELOPER_TIER
    if custom is not None:
        others = [d for d in account.deployments.values() if d.name != name and d.deleting_since is None]
        twin = next((d for d in others if d.custom_model == custom), None)
        if twin is not None:
            raise ApiError(
                409,
                "Conflict",
                f"The model '{model['name']}' is already deployed as '{twin.name}'; a fine-tuned model can have "
                "only one deployment.",
            )
        quota = state.config.fine_tuned_deployment_quota
        if sum(1 for d in others if d.custom_model is not None) >= quota:
            raise ApiError(
                400,
                "InsufficientQuota",
                f"This resource already has the maximum of {quota} fine-tuned model deployments "
                "(quotas-limits.md: 10 per resource).",
            )
    if existing is not None:
        existing.sku, existing.model, existing.custom_model = sku, model, custom
        existing.developer = developer
        return web.json_response(existing.as_json(account.config, now), status=200)
    deployment = new_deployment(name, sku, model, custom, now, state.config.timings)
    deployment.developer = developer
    account.deployments[name] = deployment
    op = Operation(new_hex(), "create", name, now, deployment.ready_at)
    account.operations[op.id] = op
    headers = {"Azure-AsyncOperation": _operation_url(request, account, op), "Retry-After": RETRY_AFTER}
    return web.json_response(deployment.as_json(account.config, now), status=201, headers=headers)


def _deployment(account: AccountState, name: str) -> Deployment:
    deployment = account.deployments.get(name)
    if deployment is None:
        raise ApiError(404, "DeploymentNotFound", f"The deployment '{name}' was not found.")
    return deployment


async def get_deployment(request: web.Request) -> web.Response:
    account = _account(request)
    deployment = _deployment(account, request.match_info["deployment"])
    return web.json_response(deployment.as_json(account.config, state_of(request).now()))


async def delete_deployment(request: web.Request) -> web.Response:
    state = state_of(request)
    state.count("deployments.delete")
    account = _account(request)
    deployment = account.deployments.get(request.match_info["deployment"])
    if deployment is None:
        return web.Response(status=204)
    now = state.now()
    if deployment.deleting_since is None:
        deployment.deleting_since = now
        deployment.gone_at = now + state.config.timings.deploy_deleting
    assert deployment.gone_at is not None
    op = Operation(new_hex(), "delete", deployment.name, now, deployment.gone_at)
    account.operations[op.id] = op
    url = _operation_url(request, account, op)
    return web.Response(
        status=202, headers={"Azure-AsyncOperation": url, "Location": url, "Retry-After": RETRY_AFTER}
    )


async def list_deployments(request: web.Request) -> web.Response:
    state = state_of(request)
    state.count("deployments.list")  # one per page
    account = _account(request)
    now = state.now()
    items = sorted(account.deployments.values(), key=lambda d: d.name)
    try:
        skip = int(request.query.get("$skipToken", "0"))
    except ValueError:
        raise _bad("Invalid $skipToken.", code="InvalidParameter") from None
    size = state.config.arm_page_size
    body: dict[str, Any] = {"value": [d.as_json(account.config, now) for d in items[skip : skip + size]]}
    if skip + size < len(items):
        query = {"api-version": request.query["api-version"], "$skipToken": str(skip + size)}
        body["nextLink"] = str(request.url.with_query(query))
    return web.json_response(body)


async def get_operation(request: web.Request) -> web.Response:
    state = state_of(request)
    op_id = request.match_info["operation"]
    subscription = request.match_info["subscription"].lower()
    for account in state.accounts.values():
        op = account.operations.get(op_id)
        if op is not None and account.config.subscription_id.lower() == subscription:
            body = op.as_json(request.path, state.now())
            headers = {"Retry-After": RETRY_AFTER} if body["status"] == "InProgress" else {}
            return web.json_response(body, headers=headers)
    raise ApiError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")


async def get_account(request: web.Request) -> web.Response:
    """`GET .../accounts/{name}`: the resource with `properties.endpoint` (the data-plane base URL)."""
    account = _account(request)
    c = account.config
    origin = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
    state = state_of(request)
    endpoint = f"{origin}/" if c.name == state.config.default_account.name else f"{origin}/accounts/{c.name}/"
    body = {
        "id": c.arm_id,
        "name": c.name,
        "type": "Microsoft.CognitiveServices/accounts",
        "location": c.location,
        "kind": "OpenAI",
        "sku": {"name": "S0"},
        "properties": {
            "endpoint": endpoint,
            "endpoints": {"OpenAI Language Model Instance API": endpoint},
            "provisioningState": "Succeeded",
            "customSubDomainName": c.name,
            "publicNetworkAccess": "Enabled",
        },
    }
    return web.json_response(body)
