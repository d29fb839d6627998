"""The emulator's aiohttp application: routes for the four surfaces, auth, faults, and the in-process runner.

emulator = await start(speed=0)          # frozen clock: the test moves it
client = AzureOpenAI(azure_endpoint=emulator.url, api_key="any", api_version="2025-04-01-preview")
...
emulator.state.advance(3600)
await emulator.close()
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate

from aiohttp import web

from emulator.config import EmulatorConfig
from emulator.errors import ApiError
from emulator.faults import FaultSpec, Surface
from emulator.httputil import STATE, is_v1
from emulator.state import EmulatorState

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Handlers:
    """The route handlers of one `emulator.api_*` module, imported on the first request that module serves: the
    bot's embedded emulator starts without them (the jobs' training curves, the dataset checks; issue 17)."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Handler:
        found: Handler | None = None

        async def handle(request: web.Request) -> web.StreamResponse:
            nonlocal found
            if found is None:
                found = getattr(importlib.import_module(self._module), name)
            return await found(request)

        handle.__name__ = handle.__qualname__ = name
        return handle


api_admin = _Handlers("emulator.api_admin")
api_arm = _Handlers("emulator.api_arm")
api_files = _Handlers("emulator.api_files")
api_inference = _Handlers("emulator.api_inference")
api_jobs = _Handlers("emulator.api_jobs")
api_models = _Handlers("emulator.api_models")
api_monitor = _Handlers("emulator.api_monitor")

MAX_UPLOAD_BYTES = 600 * 1024 * 1024
_DATAPLANE = re.compile(r"^(/accounts/[^/]+)?/openai/")
ACCOUNT_ARM = (
    "/subscriptions/{subscription}/resourceGroups/{resource_group}"
    "/providers/Microsoft.CognitiveServices/accounts/{account}"
)


def surface_of(path: str) -> Surface | None:
    if _DATAPLANE.match(path):
        return "dataplane"
    if path.startswith("/subscriptions/"):
        return "metrics" if "/providers/microsoft.insights/metrics" in path.lower() else "arm"
    return None


def _check_auth(request: web.Request, surface: Surface, api_key: str | None) -> None:
    bearer = request.headers.get("Authorization", "")
    has_bearer = bearer.lower().startswith("bearer ") and bool(bearer[7:].strip())
    if surface == "dataplane":
        key = request.headers.get("api-key", "")
        key_ok = bool(key) and (api_key is None or key == api_key)
        if not (key_ok or has_bearer):
            raise ApiError(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                "valid key for an active subscription and use a correct regional API endpoint for your resource.",
            )
        if is_v1(request):
            return  # the v1 API takes no api-version
        version = request.query.get("api-version")
        if version is None:
            raise ApiError(404, "404", "Resource not found")
        from emulator import catalog

        if version not in catalog.DATA_PLANE_VERSIONS:
            # Unknown and retired versions (2023-12-01-preview and the other 2023 previews, retired
            # 2024-07-01 per the api-version lifecycle page) get the same answer from the service.
            raise ApiError(400, "BadRequest", "API version not supported")
        return
    if not has_bearer:
        raise ApiError(
            401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        )
    version = request.query.get("api-version")
    if version is None:
        raise ApiError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    from emulator import catalog

    known = catalog.MONITOR_VERSIONS if surface == "metrics" else catalog.ARM_VERSIONS
    if version not in known:
        kind = "metrics" if surface == "metrics" else "accounts"
        raise ApiError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location 'global' and API version '{version}' for "
            f"type '{kind}'. The supported api-versions are '{', '.join(known)}'.",
        )


def _throttled(surface: Surface, spec: FaultSpec) -> ApiError:
    seconds = spec.retry_after
    headers = {"Retry-After": str(math.ceil(seconds))}
    if surface == "dataplane":
        headers["retry-after-ms"] = str(int(seconds * 1000))
        return ApiError(
            429,
            "429",
            "Requests to the Azure OpenAI API have exceeded call rate limit of your current pricing tier. "
            f"Please retry after {math.ceil(seconds)} seconds.",
            headers=headers,
        )
    return ApiError(429, "TooManyRequests", "The request is being throttled.", headers=headers)


def _server_error(surface: Surface, spec: FaultSpec) -> ApiError:
    code = "serviceUnavailable" if spec.error_status == 503 else "internalFailure"
    if surface != "dataplane":
        code = code[0].upper() + code[1:]
    return ApiError(
        spec.error_status, code, "The service is temporarily unable to process the request (emulated)."
    )


def _drop(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)  # never reaches the client: the connection is already closed


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPNotFound:
        return ApiError(404, "404", "Resource not found").response()
    except web.HTTPMethodNotAllowed:
        return ApiError(405, "405", f"Method {request.method} is not allowed on {request.path}.").response()
    except web.HTTPException:
        raise
    except Exception:
        log.exception("emulator bug while serving %s %s", request.method, request.path)
        return ApiError(500, "internalFailure", "The emulator failed on this request.").response()


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, api-version, faults, then bring the simulation up to now before the handler looks at it."""
    state = request.app[STATE]
    surface = surface_of(request.path)
    outcome = "ok"
    spec: FaultSpec | None = None
    if surface is not None:
        _check_auth(request, surface, state.config.api_key)
        outcome, spec = state.faults.draw(surface, f"{request.method} {request.path}")
        if spec is not None and spec.latency_ms > 0:
            await asyncio.sleep(spec.latency_ms / 1000)
        if spec is not None:
            if outcome == "throttle":
                raise _throttled(surface, spec)
            if outcome == "error":
                raise _server_error(surface, spec)
            if outcome == "drop":
                return _drop(request)
    state.tick()
    response = await handler(request)
    if spec is not None and spec.latency_after_ms > 0:
        await asyncio.sleep(spec.latency_after_ms / 1000)  # done, but the client has not heard yet
    if outcome == "drop_after":
        return _drop(request)
    return response


@web.middleware
async def date_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`Date` on the simulated clock, as Azure's answers carry its own: clients that compute with Azure's
    clock (the bot does, for card times) stay consistent with the job timestamps the emulator hands out."""
    response = await handler(request)
    response.headers["Date"] = formatdate(request.app[STATE].now(), usegmt=True)
    return response


async def _not_on_v1(request: web.Request) -> web.StreamResponse:
    """A dated api-version route the v1 API does not have: the answer of any unknown route."""
    raise ApiError(404, "404", "Resource not found")


def _add_dataplane(router: web.UrlDispatcher, prefix: str) -> None:
    # `/openai/...?api-version=` and the v1 API `/openai/v1/...` (no api-version) serve the same routes, but
    # for two the v1 API does not have (azure-v1-v1-generated.yaml): `POST files/import` and
    # `DELETE fine_tuning/jobs/{id}`. There they are registered to answer 404 as an unknown route does (left
    # out, aiohttp would answer 405: the same paths take other methods).
    for base, v1 in ((f"{prefix}/openai", False), (f"{prefix}/openai/v1", True)):
        router.add_post(f"{base}/files", api_files.upload)
        router.add_get(f"{base}/files", api_files.list_files)
        router.add_post(f"{base}/files/import", _not_on_v1 if v1 else api_files.import_file)
        router.add_get(f"{base}/files/{{file_id}}", api_files.get_file)
        router.add_delete(f"{base}/files/{{file_id}}", api_files.delete_file)
        router.add_get(f"{base}/files/{{file_id}}/content", api_files.file_content)
        jobs = f"{base}/fine_tuning/jobs"
        router.add_post(jobs, api_jobs.create_job)
        router.add_get(jobs, api_jobs.list_jobs)
        router.add_get(f"{jobs}/{{job_id}}", api_jobs.get_job)
        router.add_delete(f"{jobs}/{{job_id}}", _not_on_v1 if v1 else api_jobs.delete_job)
        router.add_post(f"{jobs}/{{job_id}}/cancel", api_jobs.cancel_job)
        router.add_post(f"{jobs}/{{job_id}}/pause", api_jobs.pause_job)
        router.add_post(f"{jobs}/{{job_id}}/resume", api_jobs.resume_job)
        router.add_get(f"{jobs}/{{job_id}}/events", api_jobs.list_events)
        router.add_get(f"{jobs}/{{job_id}}/checkpoints", api_jobs.list_checkpoints)
        router.add_get(f"{base}/models", api_models.list_models)
        router.add_get(f"{base}/models/{{model_id}}", api_models.get_model)
    base = f"{prefix}/openai"
    router.add_post(f"{base}/deployments/{{deployment}}/chat/completions", api_inference.chat_completions)
    router.add_post(f"{base}/deployments/{{deployment}}/completions", api_inference.completions)
    # v1: the deployment is named by `model` in the body.
    router.add_post(f"{base}/v1/chat/completions", api_inference.chat_completions)
    router.add_post(f"{base}/v1/completions", api_inference.completions)


def _add_arm(router: web.UrlDispatcher) -> None:
    router.add_get(ACCOUNT_ARM, api_arm.get_account)
    deployments = f"{ACCOUNT_ARM}/deployments"
    router.add_get(deployments, api_arm.list_deployments)
    router.add_put(f"{deployments}/{{deployment}}", api_arm.put_deployment)
    router.add_get(f"{deployments}/{{deployment}}", api_arm.get_deployment)
    router.add_delete(f"{deployments}/{{deployment}}", api_arm.delete_deployment)
    router.add_get(
        "/subscriptions/{subscription}/providers/Microsoft.CognitiveServices/locations/{location}"
        "/operationResults/{operation}",
        api_arm.get_operation,
    )
    router.add_get(f"{ACCOUNT_ARM}/providers/Microsoft.Insights/metrics", api_monitor.get_metrics)


def _add_admin(router: web.UrlDispatcher) -> None:
    router.add_get("/_emulator/state", api_admin.get_state)
    router.add_get("/_emulator/clock", api_admin.get_clock)
    router.add_post("/_emulator/clock/advance", api_admin.advance_clock)
    router.add_put("/_emulator/clock/speed", api_admin.set_speed)
    router.add_put("/_emulator/faults/{surface}", api_admin.set_faults)
    router.add_delete("/_emulator/faults", api_admin.clear_faults)
    router.add_delete("/_emulator/faults/{surface}", api_admin.clear_faults)
    router.add_post("/_emulator/reset", api_admin.reset)


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    config = config or EmulatorConfig()
    app = web.Application(
        middlewares=[date_middleware, errors_middleware, gateway_middleware], client_max_size=MAX_UPLOAD_BYTES
    )
    app[STATE] = EmulatorState(config)
    _add_dataplane(app.router, "")
    _add_dataplane(app.router, "/accounts/{account}")
    _add_arm(app.router)
    _add_admin(app.router)
    return app


@dataclass
class RunningEmulator:
    """An emulator serving in this process (tests, the bot's embedded default)."""

    url: str  # data plane of the default account: `{url}/openai/...`
    runner: web.AppRunner
    state: EmulatorState

    @property
    def arm_url(self) -> str:
        """ARM and Monitor share the port: `{arm_url}/subscriptions/...`."""
        return self.url

    @property
    def subscription_id(self) -> str:
        return self.state.config.default_account.subscription_id

    @property
    def resource_group(self) -> str:
        return self.state.config.default_account.resource_group

    @property
    def account_name(self) -> str:
        return self.state.config.default_account.name

    @property
    def tenant_id(self) -> str:
        return self.state.config.default_account.tenant_id

    @property
    def account_id(self) -> str:
        """ARM id of the default account (prefix of deployment and metrics paths)."""
        return self.state.config.default_account.arm_id

    def account_url(self, name: str) -> str:
        """Data-plane endpoint of any configured account (the default one works here too)."""
        self.state.account(name)  # raises for an unknown account
        return f"{self.url}/accounts/{name}"

    def advance(self, seconds: float) -> float:
        """Move simulated time forward and play everything due; returns the new simulated now."""
        return self.state.advance(seconds)

    async def close(self) -> None:
        await self.runner.cleanup()


async def start(
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float | None = None,
    config: EmulatorConfig | None = None,
) -> RunningEmulator:
    """Serve the emulator on host:port (0 = an ephemeral port); `speed` overrides `config.speed`."""
    config = config or EmulatorConfig()
    if speed is not None:
        config = dataclasses.replace(config, speed=speed)
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    return RunningEmulator(f"http://{shown_host}:{bound_port}", runner, app[STATE])
