"""Azure OpenAI data-plane client: files, fine-tuning jobs, events, checkpoints, chat completions.

>>> async with AzureOpenAIClient("https://res.openai.azure.com", api_key=key) as client:
...     upload = await client.upload_file("train.jsonl")
...     job = await client.create_job("gpt-4o-mini-2024-07-18", upload.id, seed=105)
...     async for event in client.events(job.id):
...         print(event.message)

One client per Azure resource. Every call retries per `RetryPolicy` (see `bot.azure.retry` for which calls
may be repeated and how a non-idempotent call checks for its own effect before it is repeated).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from bot import training_types
from bot.azure.auth import DATA_PLANE_SCOPE, V1_DATA_PLANE_SCOPE, TokenProvider
from bot.azure.errors import AzureError, ServiceUnavailable
from bot.azure.ids import same_model
from bot.azure.models import (
    ChatCompletion,
    Checkpoint,
    FileDeleted,
    FileObject,
    FineTuningJob,
    JobEvent,
    Page,
    ServiceModel,
    StatusKind,
    normalise_status,
    page_of,
)
from bot.azure.paging import DEFAULT_MAX_PAGES, DEFAULT_MAX_SECONDS, Scan
from bot.azure.retry import RetryPolicy
from bot.azure.transport import ApiKeyAuth, Auth, AzureTransport, BearerAuth, TransportClient, json_body
from bot.azure.upload import FileSource, prepared_upload

DEFAULT_API_VERSION = "2025-04-01-preview"
# What Azure assumes when `trainingType` is left out (Standard), sent explicitly by callers that choose none.
DEFAULT_TRAINING_TYPE = training_types.STANDARD
# `api_version = "v1"`: the v1 API, `{endpoint}/openai/v1/...` with no api-version query.
V1 = "v1"
# How far back (seconds, by the service's `created_at`) a retried create looks for its own earlier attempt.
RECENT_WINDOW_SECONDS = 300.0

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

# What a job's status is after the action took effect (v1 answers `canceling` before `cancelled`).
_PAUSE_TARGETS = frozenset({StatusKind.PAUSING, StatusKind.PAUSED})
_RESUME_TARGETS = frozenset({StatusKind.RESUMING, StatusKind.RUNNING})
_CANCEL_TARGETS = frozenset({StatusKind.CANCELLING, StatusKind.CANCELLED})


def is_v1(api_version: str | None) -> bool:
    """True for the v1 API setting (`v1`, any case)."""
    return (api_version or "").strip().lower() == V1


def _path_id(value: str) -> str:
    return quote(value, safe="")


def _model_parser(cls: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        return cls.model_validate(json_body(response))

    return parse


class AzureOpenAIClient(TransportClient):
    """Async client for one Azure OpenAI resource's data plane (`{endpoint}/openai/...`)."""

    def __init__(
        self,
        endpoint: str,
        *,
        api_key: str | None = None,
        tokens: TokenProvider | None = None,
        api_version: str = DEFAULT_API_VERSION,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        poll_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        recent_window: float = RECENT_WINDOW_SECONDS,
        max_pages: int | None = DEFAULT_MAX_PAGES,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
    ) -> None:
        if not api_key and tokens is None:
            raise ValueError("AzureOpenAIClient needs an api_key or a TokenProvider")
        self.v1 = is_v1(api_version)
        scope = V1_DATA_PLANE_SCOPE if self.v1 else DATA_PLANE_SCOPE
        auth: Auth = ApiKeyAuth(api_key) if api_key else BearerAuth(_require(tokens), scope)
        base = endpoint.rstrip("/")
        if base.endswith("/openai/v1"):
            base = base[: -len("/v1")]
        if not base.endswith("/openai"):
            base += "/openai"
        if self.v1:
            base += "/v1"
        self.endpoint = endpoint
        self._transport = AzureTransport(
            base,
            auth=auth,
            api_version=None if self.v1 else api_version,
            http=http,
            retry=retry,
            surface="Azure OpenAI",
        )
        self._poll_sleep = poll_sleep
        self._recent_window = recent_window
        self.max_pages = max_pages
        self.max_seconds = max_seconds

    def scan(self) -> Scan:
        """A fresh bound for one paged read (pages and seconds from the settings); pass it to a list and
        read afterwards what it did not reach."""
        return Scan(max_pages=self.max_pages, max_seconds=self.max_seconds)

    @property
    def retry(self) -> RetryPolicy:
        return self._transport.retry

    def _recent(self, created_at: int | None, since: float) -> bool:
        return created_at is not None and created_at >= since - self._recent_window

    # ---- files ------------------------------------------------------------------------------------

    async def upload_file(
        self,
        source: FileSource,
        *,
        filename: str | None = None,
        purpose: str = "fine-tune",
        unique_name: bool = False,
    ) -> FileObject:
        """Upload from bytes, a path or an async byte stream (multipart `purpose` + `file`).

        `unique_name`: the filename is unique to this attempt (e.g. `ftbot-<intent>-training.jsonl`), so a
        lost reply is recovered by finding the file with exactly that name. Without it a lost reply is an
        error, never a guess: chat files are all called `train.jsonl`, and adopting the newest file of
        that name and size once trained one user's job on another user's data."""
        async with prepared_upload(source, filename=filename, fields={"purpose": purpose}) as upload:
            size = upload.size()

            async def recover() -> FileObject | None:
                return await self._find_named_file(upload.filename, purpose, size=size)

            return await self._transport.call(
                "POST",
                "files",
                body=upload.body,
                parse=_model_parser(FileObject),
                idempotent=False,
                recover=recover if unique_name else None,
                description=f"upload {upload.filename}",
            )

    async def import_file(
        self, content_url: str, *, filename: str, purpose: str = "fine-tune", unique_name: bool = False
    ) -> FileObject:
        """Import a file from a URL (e.g. a blob SAS URL); the URL is never logged. `unique_name` as for
        `upload_file`."""

        async def recover() -> FileObject | None:
            return await self._find_named_file(filename, purpose, size=None)

        return await self._transport.call(
            "POST",
            "files/import",
            json={"purpose": purpose, "filename": filename, "content_url": content_url},
            parse=_model_parser(FileObject),
            idempotent=False,
            recover=recover if unique_name else None,
            description=f"import {filename}",
        )

    async def _find_named_file(self, filename: str, purpose: str, *, size: int | None) -> FileObject | None:
        """The file this attempt created under its unique name (the oldest, should a second one exist)."""
        matches = [
            f
            for f in await self.list_files(purpose=purpose)
            if f.filename == filename
            and (size is None or f.bytes is None or f.bytes == size)
            and f.status != "deleted"
        ]
        return min(matches, key=lambda f: (f.created_at or 0, f.id), default=None)

    async def files_named(self, prefix: str, *, purpose: str | None = None) -> list[FileObject]:
        """Files whose name starts with `prefix` (what a crashed attempt may have left under its names)."""
        return [
            f
            for f in await self.list_files(purpose=purpose)
            if (f.filename or "").startswith(prefix) and f.status != "deleted"
        ]

    async def list_files(self, *, purpose: str | None = None, scan: Scan | None = None) -> list[FileObject]:
        """Every file within the scan's bounds (paging with `after` when the service says `has_more`)."""
        return [
            f
            async for f in self._paged(
                "files", FileObject, {"purpose": purpose}, after=None, limit=None, scan=scan
            )
        ]

    async def get_file(self, file_id: str) -> FileObject:
        return await self._transport.call(
            "GET", f"files/{_path_id(file_id)}", parse=_model_parser(FileObject)
        )

    async def delete_file(self, file_id: str) -> FileDeleted:
        """Delete a file; a 404 on a repeated attempt means the first attempt already deleted it."""

        def parse(response: httpx.Response) -> FileDeleted:
            if response.status_code == 404 or not response.content:
                return FileDeleted(id=file_id, deleted=True)
            return FileDeleted.model_validate(json_body(response))

        return await self._transport.call(
            "DELETE", f"files/{_path_id(file_id)}", parse=parse, accept_on_retry=(404,)
        )

    async def file_content(self, file_id: str) -> bytes:
        """The whole content of a file (results.csv, a training file) in memory."""
        return await self._transport.call(
            "GET", f"files/{_path_id(file_id)}/content", parse=lambda response: response.content
        )

    async def file_content_stream(
        self, file_id: str, *, chunk_size: int = 64 * 1024
    ) -> AsyncGenerator[bytes, None]:
        """The content as chunks; wrap in `contextlib.aclosing` when you may stop early."""
        response = await self._transport.open_stream(f"files/{_path_id(file_id)}/content")
        try:
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk
        finally:
            await response.aclose()

    async def wait_for_file(
        self, file_id: str, *, poll_interval: float = 2.0, max_wait: float = 600.0
    ) -> FileObject:
        """Poll a file until it is processed, failed or deleted (Azure needs `processed` before a job)."""
        return await self._poll(
            lambda: self.get_file(file_id), lambda f: f.is_settled, poll_interval, max_wait
        )

    # ---- jobs -------------------------------------------------------------------------------------

    async def create_job(
        self,
        model: str,
        training_file: str,
        *,
        validation_file: str | None = None,
        seed: int | None = None,
        suffix: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        method: Mapping[str, Any] | None = None,
        integrations: Sequence[Mapping[str, Any]] | None = None,
        training_type: str = DEFAULT_TRAINING_TYPE,
        extra: Mapping[str, Any] | None = None,
    ) -> FineTuningJob:
        """Create a fine-tuning job. Never duplicated by a retry: see `bot.azure.retry`.

        `trainingType` is always sent (`training_type` in any documented spelling, sent in Azure's:
        `GlobalStandard`, `Developer`, ...): left out, some resources answer with the misleading "base model
        does not support fine-tuning". `start` passes the type it chose (`bot.training_types.choose`); the
        default is what Azure assumes when the field is absent."""
        body: dict[str, Any] = {
            "model": model,
            "training_file": training_file,
            "trainingType": training_types.wire(training_type),
        }
        optional = {
            "validation_file": validation_file,
            "seed": seed,
            "suffix": suffix,
            "hyperparameters": dict(hyperparameters) if hyperparameters else None,
            "method": dict(method) if method else None,
            "integrations": [dict(i) for i in integrations] if integrations else None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        body.update(extra or {})
        started = self.retry.now()

        async def recover() -> FineTuningJob | None:
            return await self._find_recent_job(body, started)

        return await self._transport.call(
            "POST",
            "fine_tuning/jobs",
            json=body,
            parse=_model_parser(FineTuningJob),
            idempotent=False,
            recover=recover,
            description=f"create job on {model}",
        )

    async def _find_recent_job(self, request: Mapping[str, Any], since: float) -> FineTuningJob | None:
        """A job created in the last few minutes from the same request (model, files, suffix, seed); the model
        as `same_model` compares it (Azure may answer `gpt-4.1` with the version it resolved)."""
        async for job in self.jobs(limit=50):
            if not self._recent(job.created_at, since):
                return None  # newest first: everything further is older
            if (
                same_model(request["model"], job.model)
                and job.training_file == request["training_file"]
                and job.validation_file == request.get("validation_file")
                and job.suffix == request.get("suffix")
                and (request.get("seed") is None or job.seed == request.get("seed"))
            ):
                return job
        return None

    async def list_jobs(self, *, after: str | None = None, limit: int = 20) -> Page[FineTuningJob]:
        """One page of jobs, newest first."""
        return await self._transport.call(
            "GET",
            "fine_tuning/jobs",
            params={"after": after, "limit": limit},
            parse=_model_parser(page_of(FineTuningJob)),
        )

    async def jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        model: str | None = None,
        suffix: str | None = None,
        created_after: float | None = None,
        limit: int = 20,
        max_items: int | None = None,
        scan: Scan | None = None,
    ) -> AsyncGenerator[FineTuningJob, None]:
        """Jobs, newest first, fetched `limit` per page and filtered here (the service has no filters);
        stops at the first job older than `created_after` (unix seconds), after `max_items`, or at the
        scan's bounds (then `scan.truncated`)."""
        # Compared as the bot's words: `cancelled` finds Azure's `canceled`, `not running` its `notRunning`.
        wanted = {normalise_status(s).word for s in ({status} if isinstance(status, str) else status or ())}
        count = 0
        pages = self._paged("fine_tuning/jobs", FineTuningJob, {}, after=None, limit=limit, scan=scan)
        async for job in pages:
            if created_after is not None and job.created_at is not None and job.created_at < created_after:
                return
            if wanted and normalise_status(job.status).word not in wanted:
                continue
            if (model is not None and not same_model(model, job.model)) or (
                suffix is not None and job.suffix != suffix
            ):
                continue
            yield job
            count += 1
            if max_items is not None and count >= max_items:
                return

    async def get_job(self, job_id: str) -> FineTuningJob:
        return await self._transport.call(
            "GET", f"fine_tuning/jobs/{_path_id(job_id)}", parse=_model_parser(FineTuningJob)
        )

    async def cancel_job(self, job_id: str) -> FineTuningJob:
        return await self._job_action(job_id, "cancel", _CANCEL_TARGETS)

    async def pause_job(self, job_id: str) -> FineTuningJob:
        return await self._job_action(job_id, "pause", _PAUSE_TARGETS)

    async def resume_job(self, job_id: str) -> FineTuningJob:
        return await self._job_action(job_id, "resume", _RESUME_TARGETS)

    async def _job_action(self, job_id: str, action: str, targets: frozenset[StatusKind]) -> FineTuningJob:
        async def recover() -> FineTuningJob | None:
            job = await self.get_job(job_id)
            return job if normalise_status(job.status).kind in targets else None

        return await self._transport.call(
            "POST",
            f"fine_tuning/jobs/{_path_id(job_id)}/{action}",
            parse=_model_parser(FineTuningJob),
            idempotent=False,
            recover=recover,
            description=f"{action} {job_id}",
        )

    async def delete_job(self, job_id: str) -> None:
        """Delete a job (Azure answers 204); a 404 on a repeated attempt counts as done."""
        await self._transport.call(
            "DELETE", f"fine_tuning/jobs/{_path_id(job_id)}", parse=lambda _: None, accept_on_retry=(404,)
        )

    async def wait_for_job(
        self, job_id: str, *, poll_interval: float = 10.0, max_wait: float = 24 * 3600.0
    ) -> FineTuningJob:
        """Poll until the job is succeeded, failed or cancelled."""
        return await self._poll(
            lambda: self.get_job(job_id), lambda j: j.is_terminal, poll_interval, max_wait
        )

    def events(
        self, job_id: str, *, after: str | None = None, limit: int = 100, scan: Scan | None = None
    ) -> AsyncGenerator[JobEvent, None]:
        """A job's events in the service's order (newest first), paging with `after`, within the scan."""
        return self._paged(
            f"fine_tuning/jobs/{_path_id(job_id)}/events", JobEvent, {}, after=after, limit=limit, scan=scan
        )

    async def list_events(self, job_id: str, *, after: str | None = None, limit: int = 20) -> Page[JobEvent]:
        """One page of a job's events, newest first (`after`: older than that event)."""
        return await self._transport.call(
            "GET",
            f"fine_tuning/jobs/{_path_id(job_id)}/events",
            params={"after": after, "limit": limit},
            parse=_model_parser(page_of(JobEvent)),
        )

    async def new_events(self, job_id: str, since_id: str | None, *, limit: int = 100) -> list[JobEvent]:
        """Events newer than `since_id` (all when None), oldest first: what a watcher posts next."""
        newer: list[JobEvent] = []
        async for event in self.events(job_id, limit=limit):
            if event.id == since_id:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def checkpoints(
        self, job_id: str, *, after: str | None = None, limit: int = 10, scan: Scan | None = None
    ) -> AsyncGenerator[Checkpoint, None]:
        """A job's checkpoints, paging with `after`, within the scan."""
        return self._paged(
            f"fine_tuning/jobs/{_path_id(job_id)}/checkpoints",
            Checkpoint,
            {},
            after=after,
            limit=limit,
            scan=scan,
        )

    # ---- inference --------------------------------------------------------------------------------

    async def chat_completion(
        self, deployment: str, messages: Sequence[Mapping[str, Any]], **params: Any
    ) -> ChatCompletion:
        """A chat completion on a deployment. Retried like a read: a repeat at worst bills one more call."""
        body: dict[str, Any] = {"messages": [dict(m) for m in messages], **params}
        # v1 names the deployment in the body (`model`); the dated APIs in the path.
        path = "chat/completions" if self.v1 else f"deployments/{_path_id(deployment)}/chat/completions"
        if self.v1:
            body["model"] = deployment
        return await self._transport.call(
            "POST",
            path,
            json=body,
            parse=_model_parser(ChatCompletion),
            idempotent=True,
            description=f"chat on {deployment}",
        )

    # ---- models -----------------------------------------------------------------------------------

    async def list_models(self) -> list[ServiceModel]:
        """`GET models`: the base models the resource offers (capabilities, lifecycle, deprecation dates)
        and its fine-tuned models. Not every resource answers it; callers fall back to the catalogue."""
        page = await self._transport.call(
            "GET", "models", parse=_model_parser(page_of(ServiceModel)), description="list models"
        )
        return list(page.data)

    # ---- shared -----------------------------------------------------------------------------------

    async def _paged(
        self,
        path: str,
        item: type[M],
        params: Mapping[str, Any],
        *,
        after: str | None,
        limit: int | None,
        scan: Scan | None = None,
    ) -> AsyncGenerator[M, None]:
        """Items page by page, within the scan's bounds (the client's when none is given: nothing pages
        without a bound). A bounded stop with more to read sets `scan.truncated` and is logged."""
        page_model = page_of(item)
        bound = scan if scan is not None else self.scan()
        cursor = after
        while True:
            if not bound.may_fetch():
                log.info(
                    "%s: stopped after %d pages (%d items) with more to read", path, bound.pages, bound.items
                )
                return
            page = await self._transport.call(
                "GET",
                path,
                params={**params, "after": cursor, "limit": limit},
                parse=_model_parser(page_model),
            )
            bound.page_read()
            for entry in page.data:
                bound.saw(getattr(entry, "created_at", None))
                yield entry
            if not page.has_more or not page.data:
                return
            last = getattr(page.data[-1], "id", None)
            if not isinstance(last, str) or last == cursor:
                return  # a service that repeats itself must not loop us forever
            cursor = last

    async def _poll(
        self,
        fetch: Callable[[], Awaitable[M]],
        done: Callable[[M], bool],
        interval: float,
        max_wait: float,
    ) -> M:
        deadline = time.monotonic() + max_wait
        while True:
            current = await fetch()
            if done(current):
                return current
            if time.monotonic() + interval > deadline:
                status = getattr(current, "status", "?")
                raise ServiceUnavailable(
                    f"still not finished after {max_wait:.0f} s (last status {status})",
                    code="pollTimeout",
                )
            await self._poll_sleep(interval)


def _require(tokens: TokenProvider | None) -> TokenProvider:
    if tokens is None:
        raise ValueError("a TokenProvider is required when no api_key is given")
    return tokens


__all__ = ["DEFAULT_API_VERSION", "AzureError", "AzureOpenAIClient"]
