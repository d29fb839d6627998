"""Data plane: files (upload, import from a URL, list, get, delete, content)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from emulator.errors import invalid, not_found
from emulator.files import PURPOSES, StoredFile, new_file
from emulator.httputil import account_of, cursor_page, json_body, list_body, state_of
from emulator.ids import new_id

MAX_IMPORT_BYTES = 512 * 1024 * 1024
IMPORT_TIMEOUT = aiohttp.ClientTimeout(total=60)


def _check_purpose(purpose: object) -> str:
    if not isinstance(purpose, str) or purpose not in PURPOSES:
        raise invalid(f"'purpose' must be one of {sorted(PURPOSES)}.", param="purpose")
    return purpose


def _created(request: web.Request, stored: StoredFile, now: float) -> web.Response:
    location = request.url.with_path(f"{request.path.rsplit('/files', 1)[0]}/files/{stored.id}")
    return web.json_response(stored.as_json(now), status=201, headers={"Location": str(location)})


def _store(
    request: web.Request, filename: str, purpose: str, content: bytes, failure: str | None
) -> StoredFile:
    state = state_of(request)
    stored = new_file(
        new_id("file"),
        filename,
        purpose,
        content,
        now=state.now(),
        processing_seconds=state.config.timings.file_processing,
        min_examples=state.config.min_examples,
        failure=failure,
    )
    account_of(request).files[stored.id] = stored
    return stored


async def upload(request: web.Request) -> web.Response:
    if not request.content_type.startswith("multipart/"):
        raise invalid("Files are uploaded as multipart/form-data with 'purpose' and 'file'.")
    form = await request.post()
    purpose = _check_purpose(form.get("purpose"))
    field = form.get("file")
    if not isinstance(field, web.FileField):
        raise invalid("The 'file' part is missing or is not a file.", param="file")
    content = field.file.read()
    filename = field.filename or "upload.jsonl"
    state_of(request).count("files.upload")
    stored = _store(request, filename, purpose, content, None)
    return _created(request, stored, state_of(request).now())


async def _fetch(url: str) -> tuple[bytes, str | None]:
    """-> (content, failure) ; a failure becomes the file's status_details, as an async import would."""
    try:
        async with (
            aiohttp.ClientSession(timeout=IMPORT_TIMEOUT) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                return b"", f"Import from {url} failed: HTTP {response.status}."
            content = await response.content.read(MAX_IMPORT_BYTES + 1)
            if len(content) > MAX_IMPORT_BYTES:
                return b"", f"Import from {url} failed: the file is larger than 512 MB."
            return content, None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return b"", f"Import from {url} failed: {type(exc).__name__}: {exc}"


async def import_file(request: web.Request) -> web.Response:
    body = await json_body(request)
    purpose = _check_purpose(body.get("purpose"))
    filename, url = body.get("filename"), body.get("content_url")
    if not isinstance(filename, str) or not filename:
        raise invalid("'filename' is required.", param="filename")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise invalid("'content_url' must be an http(s) URL.", param="content_url")
    state_of(request).count("files.import")
    content, failure = await _fetch(url)
    stored = _store(request, filename, purpose, content, failure)
    return _created(request, stored, state_of(request).now())


def _get(request: web.Request) -> StoredFile:
    file_id = request.match_info["file_id"]
    stored = account_of(request).files.get(file_id)
    if stored is None:
        raise not_found("File", file_id)
    return stored


async def list_files(request: web.Request) -> web.Response:
    state_of(request).count("files.list")  # one per page
    now = state_of(request).now()
    purpose = request.query.get("purpose")
    files = [f for f in account_of(request).files.values() if purpose is None or f.purpose == purpose]
    files.sort(key=lambda f: f.created_at, reverse=True)
    if "limit" in request.query or "after" in request.query:
        page, more = cursor_page(files, request, key=lambda f: f.id, default_limit=10000)
        return web.json_response(list_body([f.as_json(now) for f in page], more))
    return web.json_response(list_body([f.as_json(now) for f in files], False))


async def get_file(request: web.Request) -> web.Response:
    return web.json_response(_get(request).as_json(state_of(request).now()))


async def delete_file(request: web.Request) -> web.Response:
    stored = _get(request)
    del account_of(request).files[stored.id]
    return web.json_response({"object": "file", "id": stored.id, "deleted": True})


async def file_content(request: web.Request) -> web.Response:
    stored = _get(request)
    return web.Response(
        body=stored.content,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{stored.filename}"'},
    )
