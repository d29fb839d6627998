"""Data plane: fine-tuning jobs (create, list, get, cancel, pause, resume, delete, events, checkpoints)."""

from __future__ import annotations

import random
import re
from typing import Any

from aiohttp import web

from emulator import catalog
from emulator.catalog import BaseModel
from emulator.errors import ApiError, invalid, not_found, wrong_state
from emulator.files import StoredFile
from emulator.httputil import account_of, api_version, cursor_page, is_v1, json_body, list_body, state_of
from emulator.ids import new_hex
from emulator.jobs import ACTIVE, TERMINAL, Job
from emulator.state import AccountState
from emulator.training import check_hyperparameters, echo_hyperparameters

SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
MAX_SEED = 2**31 - 1


def _resolve_model(account: AccountState, model: object, gated_ok: bool) -> tuple[str, BaseModel]:
    """-> (root base model name, its capabilities); the model may be an earlier fine-tuned model."""
    if not isinstance(model, str) or not model:
        raise invalid("'model' is required.", param="model")
    base = catalog.lookup(model)
    if base is None:
        found = account.find_custom_model(model)
        # A fine-tuned model (not a checkpoint) can be trained further (continuous fine-tuning).
        if found is not None and found[0] == model and found[1].status == "succeeded":
            base = catalog.lookup(found[1].root_model)
    if base is None or base.retired:
        # Retired models (gpt-35-turbo, gpt-4-0613, babbage-002, davinci-002) get the same answer as unknown ones.
        raise invalid("The specified base model does not support fine-tuning.", param="model")
    if base.gated and not gated_ok:
        raise invalid(
            f"Fine-tuning '{base.name}' is available by invitation only; this resource is not enrolled.",
            param="model",
        )
    return base.name, base


def _file(account: AccountState, file_id: object, param: str) -> StoredFile:
    if not isinstance(file_id, str) or not file_id:
        raise invalid(f"'{param}' must be a file id.", param=param)
    stored = account.files.get(file_id)
    if stored is None:
        raise invalid(f"File '{file_id}' given as {param} was not found.", param=param)
    return stored


GRADERS = ("string_check", "text_similarity", "score_model", "label_model", "python", "multi")


def _method(body: dict[str, Any], base: BaseModel) -> tuple[str, dict[str, Any]]:
    """-> (method type, hyperparameters requested for it, merged with the top-level ones)."""
    default = "reinforcement" if base.methods == {catalog.REINFORCEMENT} else "supervised"
    method = body.get("method") or {"type": default}
    kinds = (catalog.SUPERVISED, catalog.DPO, catalog.REINFORCEMENT)
    if not isinstance(method, dict) or method.get("type") not in kinds:
        raise invalid("'method.type' must be 'supervised', 'dpo' or 'reinforcement'.", param="method")
    kind = str(method["type"])
    if kind not in base.methods:
        raise invalid(f"Model '{base.name}' does not support the '{kind}' method.", param="method")
    config = method.get(kind) or {}
    if not isinstance(config, dict):
        raise invalid(f"'method.{kind}' must be an object.", param="method")
    if kind == catalog.REINFORCEMENT:
        grader = config.get("grader")
        if not isinstance(grader, dict) or grader.get("type") not in GRADERS:
            raise invalid(
                f"Reinforcement fine-tuning needs 'method.reinforcement.grader' of type {', '.join(GRADERS)}.",
                param="method",
            )
        if body.get("validation_file") is None:
            raise invalid("Reinforcement fine-tuning needs a validation file.", param="validation_file")
    top = body.get("hyperparameters") or {}
    nested = config.get("hyperparameters") or {}
    if not isinstance(top, dict) or not isinstance(nested, dict):
        raise invalid("'hyperparameters' must be an object.", param="hyperparameters")
    return kind, {**top, **nested}


def _training_type(body: dict[str, Any], base: BaseModel, location: str) -> tuple[str | None, str]:
    """-> (the value as sent, to echo; the canonical type). Omitted: Standard where the region has it."""
    sent = body.get("trainingType", body.get("training_type"))
    if sent is None:
        return None, catalog.STANDARD if base.offers(catalog.STANDARD, location) else catalog.GLOBAL
    kind = catalog.training_type(sent)
    if kind is None:
        raise invalid(
            f"'trainingType' must be one of Standard, GlobalStandard, DataZoneStandard or Developer; got {sent!r}.",
            param="trainingType",
        )
    if not base.offers(kind, location):
        raise invalid(
            f"The specified base model '{base.name}' does not support fine-tuning with training type "
            f"'{kind}' in region '{location}'.",
            param="trainingType",
        )
    return str(sent), kind


def _expected_kind(method: str, base: BaseModel) -> str:
    if method == "dpo":
        return "dpo"
    return "chat" if base.chat else "completion"  # RFT data is chat-shaped here (simplified)


def _check_quota(account: AccountState, max_queued: int, max_total: int) -> None:
    queued = sum(1 for j in account.jobs.values() if j.status == "pending")
    if queued >= max_queued:
        raise ApiError(
            400, "quotaExceeded", f"The maximum of {max_queued} queued fine-tuning jobs has been reached."
        )
    if len(account.jobs) >= max_total:
        raise ApiError(
            400,
            "quotaExceeded",
            f"The maximum of {max_total} fine-tuning jobs per resource has been reached; delete old jobs.",
        )


async def create_job(request: web.Request) -> web.Response:
    state = state_of(request)
    state.count("jobs.create")
    account = account_of(request)
    body = await json_body(request)
    version = api_version(request)
    if body.get("method") is not None and not catalog.has_feature(version, "method"):
        raise invalid(
            f"'method' is not supported in api-version {version}; use {catalog.LATEST_DATA_PLANE_VERSION} "
            "or the v1 API.",
            param="method",
        )
    root, base = _resolve_model(account, body.get("model"), state.config.gated_models)
    training = _file(account, body.get("training_file"), "training_file")
    validation = None
    if body.get("validation_file") is not None:
        validation = _file(account, body.get("validation_file"), "validation_file")
    method, requested = _method(body, base)
    sent_type, kind = _training_type(body, base, account.config.location)
    expected = _expected_kind(method, base)
    for param, stored in (("training_file", training), ("validation_file", validation)):
        if stored is None or stored.report is None or not stored.report.ok:
            continue  # a file in error is accepted here and fails the job when it starts
        if stored.report.kind != expected:
            raise invalid(
                f"File '{stored.id}' holds {stored.report.kind} examples, but {method} fine-tuning of "
                f"'{base.name}' needs {expected} examples.",
                param=param,
            )
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not SUFFIX.match(suffix)):
        raise invalid("'suffix' must be 1-40 characters of a-z, A-Z, 0-9, '-' and '_'.", param="suffix")
    seed = body.get("seed")
    if seed is None:
        seed = random.randint(0, MAX_SEED)
    elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise invalid(f"'seed' must be an integer between 0 and {MAX_SEED}.", param="seed")
    try:
        check_hyperparameters(requested)
        echo = echo_hyperparameters(requested, dpo=method == "dpo", default_lr=base.default_lr)
    except ValueError as exc:
        raise invalid(str(exc), param="hyperparameters") from None
    integrations = body.get("integrations")
    if integrations is not None and not isinstance(integrations, list):
        raise invalid("'integrations' must be a list.", param="integrations")
    _check_quota(account, state.config.max_queued_jobs, state.config.max_total_jobs)

    now = state.now()
    hex_id = new_hex()
    method_json: dict[str, Any] = {"type": method}
    if method == "dpo":
        method_json["dpo"] = {"hyperparameters": echo}
    elif method == catalog.REINFORCEMENT:
        method_json[method] = body["method"][method]
    job = Job(
        id=f"ftjob-{hex_id}",
        hex=hex_id,
        created_at=now,
        ready_at=now + state.config.timings.queue,
        model=str(body["model"]),
        root_model=root,
        rai_checked=base.rai_checked,
        training=training,
        validation=validation,
        seed=seed,
        suffix=suffix,
        requested=requested,
        echo=echo,
        method=method_json,
        integrations=integrations,
        default_lr=base.default_lr,
        training_type=sent_type,
        developer=kind == catalog.DEVELOPER,
    )
    # A pending job already carries an estimate (gpt-4.1 transcript, 2025-09), refined when it starts.
    job.estimate = job.ready_at + job.planned_seconds(state.config.timings)
    job.log(now, "Job enqueued. Waiting for jobs ahead to complete.")
    account.jobs[job.id] = job
    state.count("jobs.created")
    state.tick()
    location = request.url.with_path(f"{request.path.rstrip('/')}/{job.id}")
    return web.json_response(_view(request, job), status=201, headers={"Location": str(location)})


def _view(request: web.Request, job: Job) -> dict[str, Any]:
    """A job as the request's surface shows it (the v1 API names the suffix `user_provided_suffix`)."""
    return job.as_json(v1=is_v1(request))


def _job(request: web.Request) -> Job:
    job_id = request.match_info["job_id"]
    job = account_of(request).jobs.get(job_id)
    if job is None:
        raise not_found("Fine-tuning job", job_id)
    return job


async def list_jobs(request: web.Request) -> web.Response:
    state_of(request).count("jobs.list")  # one per page
    jobs = list(reversed(account_of(request).jobs.values()))  # newest first
    page, more = cursor_page(jobs, request, key=lambda j: j.id, default_limit=20)
    return web.json_response(list_body([_view(request, j) for j in page], more))


async def get_job(request: web.Request) -> web.Response:
    return web.json_response(_view(request, _job(request)))


async def delete_job(request: web.Request) -> web.Response:
    job = _job(request)
    if job.status in ACTIVE:
        raise wrong_state(f"Job '{job.id}' is {job.status}; cancel it before deleting it.")
    state_of(request).count("jobs.delete")
    del account_of(request).jobs[job.id]
    return web.Response(status=204)


async def cancel_job(request: web.Request) -> web.Response:
    job = _job(request)
    if job.status in TERMINAL:
        raise wrong_state(f"Job '{job.id}' is already {job.status} and cannot be cancelled.")
    now = state_of(request).now()
    state_of(request).count("jobs.cancel")
    job.cancel(now)
    # A cancelled job's `finished_at` frees its training slot at that instant (see AccountState).
    state_of(request).tick()
    return web.json_response(_view(request, job))


async def pause_job(request: web.Request) -> web.Response:
    return _pause_or_resume(request, "pause", required="running")


async def resume_job(request: web.Request) -> web.Response:
    return _pause_or_resume(request, "resume", required="paused")


def _pause_or_resume(request: web.Request, verb: str, *, required: str) -> web.Response:
    if not catalog.has_feature(api_version(request), verb):
        raise ApiError(404, "404", "Resource not found")  # the route does not exist in older api-versions
    job = _job(request)
    if job.status != required:
        raise wrong_state(f"Only a {required} job can be {verb}d; job '{job.id}' is {job.status}.")
    state = state_of(request)
    if verb == "pause" and job.steps_done(state.now(), state.config.timings) < 1:
        # fine-tuning-rest.md: only a running job that has trained at least one step can be paused.
        raise wrong_state(
            f"Job '{job.id}' has not trained a step yet; it can be paused once training has begun."
        )
    state.count(f"jobs.{verb}")
    step = job.pause if verb == "pause" else job.resume
    step(state.now(), state.config.timings)
    return web.json_response(_view(request, job))


async def list_events(request: web.Request) -> web.Response:
    state_of(request).count("events.list")  # one per page
    events = sorted(_job(request).events, key=lambda e: (e.created_at, e.seq), reverse=True)
    page, more = cursor_page(events, request, key=lambda e: e.id, default_limit=20)
    return web.json_response(list_body([e.as_json() for e in page], more))


async def list_checkpoints(request: web.Request) -> web.Response:
    state_of(request).count("checkpoints.list")  # one per page
    checkpoints = sorted(_job(request).checkpoints, key=lambda c: c.step, reverse=True)  # newest first
    page, more = cursor_page(checkpoints, request, key=lambda c: c.id, default_limit=10)
    return web.json_response(list_body([c.as_json() for c in page], more))
