"""Small in-process fakes for unit tests: a recording sleep on a fake clock, and a scripted Azure handler."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.azure.retry import RetryPolicy


@dataclass
class FakeTime:
    """A monotonic clock that only moves when `sleep` is awaited; records every requested sleep."""

    now: float = 1_000.0
    wall: float = 1_700_000_000.0
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.wall += seconds

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall

    def policy(self, **overrides: Any) -> RetryPolicy:
        options: dict[str, Any] = {
            "sleep": self.sleep,
            "clock": self.clock,
            "now": self.wall_clock,
            "random": lambda: 0.5,
        }
        options.update(overrides)
        return RetryPolicy(**options)


Handler = Callable[[httpx.Request], httpx.Response]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            **(headers or {}),
        },
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


class Script:
    """An httpx transport: queued faults first (per method+path prefix), then the real handler.

    Records every request that reached it, so tests can count create calls.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.faults: deque[tuple[str, str, Callable[[httpx.Request], httpx.Response]]] = deque()
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    def fail_next(
        self, method: str, path_part: str, respond: Callable[[httpx.Request], httpx.Response]
    ) -> None:
        self.faults.append((method, path_part, respond))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(request.read())
        for index, (method, path_part, respond) in enumerate(self.faults):
            if request.method == method and path_part in request.url.path:
                del self.faults[index]
                return respond(request)
        return self.handler(request)

    def count(self, method: str, path_suffix: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path.endswith(path_suffix))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


class FakeDataPlane:
    """A tiny stateful data plane: enough files/jobs/events/checkpoints logic for client unit tests."""

    def __init__(self, *, created_at: int = 1_700_000_000, page_size: int = 3) -> None:
        self.created_at = created_at
        self.page_size = page_size
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.checkpoints: dict[str, list[dict[str, Any]]] = {}
        self.counter = 0

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:032x}"

    def add_job(self, **fields: Any) -> dict[str, Any]:
        job = {
            "object": "fine_tuning.job",
            "id": self._id("ftjob"),
            "created_at": self.created_at,
            "status": "pending",
            "model": "gpt-4o-mini-2024-07-18",
            "training_file": "file-" + "a" * 32,
            **fields,
        }
        self.jobs[job["id"]] = job
        return job

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/openai/")
        parts = path.split("/")
        if parts[0] == "files":
            return self._files(request, parts[1:])
        if parts[:2] == ["fine_tuning", "jobs"]:
            return self._jobs(request, parts[2:])
        if parts[0] == "deployments" and parts[2:] == ["chat", "completions"]:
            return json_response(
                200,
                {
                    "id": "chatcmpl-1",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"hello from {parts[1]}"},
                            "finish_reason": "stop",
                        }
                    ],
                },
            )
        return error_response(404, "notFound", f"no route {path}")

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        after = request.url.params.get("after")
        limit = int(request.url.params.get("limit") or self.page_size)
        start = 0
        if after:
            ids = [i["id"] for i in items]
            start = ids.index(after) + 1 if after in ids else len(items)
        chunk = items[start : start + limit]
        return json_response(200, {"object": "list", "data": chunk, "has_more": start + limit < len(items)})

    def _files(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        if request.method == "POST" and not rest:
            body = request.read()
            filename = body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
            content = body.split(b"\r\n\r\n")[-1].rsplit(b"\r\n--", 1)[0]
            file: dict[str, Any] = {
                "object": "file",
                "id": self._id("file"),
                "created_at": self.created_at,
                "bytes": len(content),
                "filename": filename,
                "purpose": "fine-tune",
                "status": "pending",
                "_content": content,
            }
            self.files[file["id"]] = file
            return json_response(201, _public(file), {"Location": f"/openai/files/{file['id']}"})
        if request.method == "GET" and not rest:
            return json_response(200, {"object": "list", "data": [_public(f) for f in self.files.values()]})
        file_id = rest[0]
        if file_id not in self.files:
            return error_response(404, "notFound", f"File {file_id} not found.")
        if request.method == "DELETE":
            del self.files[file_id]
            return json_response(200, {"object": "file", "id": file_id, "deleted": True})
        if rest[1:] == ["content"]:
            return httpx.Response(200, content=self.files[file_id]["_content"])
        return json_response(200, _public(self.files[file_id]))

    def _jobs(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        if not rest:
            if request.method == "POST":
                job = self.add_job(**json.loads(request.read()))
                return json_response(201, job, {"Location": f"/openai/fine_tuning/jobs/{job['id']}"})
            newest_first = sorted(self.jobs.values(), key=lambda j: -j["created_at"])
            return self._page(request, newest_first)
        job_id = rest[0]
        found = self.jobs.get(job_id)
        if found is None:
            return error_response(404, "notFound", f"Job {job_id} not found.")
        job = found
        if rest[1:] == ["events"]:
            return self._page(request, self.events.get(job_id, []))
        if rest[1:] == ["checkpoints"]:
            return self._page(request, self.checkpoints.get(job_id, []))
        if rest[1:] in (["cancel"], ["pause"], ["resume"]):
            job["status"] = {"cancel": "cancelled", "pause": "paused", "resume": "running"}[rest[1]]
            return json_response(200, job)
        if request.method == "DELETE":
            del self.jobs[job_id]
            return httpx.Response(204)
        return json_response(200, job)


def _public(file: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in file.items() if not k.startswith("_")}
