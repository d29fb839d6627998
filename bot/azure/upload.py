"""Replayable multipart bodies for file uploads, streamed from bytes, a path or an async byte stream.

The body is generated per attempt, so a retried upload sends the whole file again. An async byte stream can
be read only once, so it is first spooled to a temporary file (the file is removed afterwards).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

CHUNK_SIZE = 256 * 1024

FileSource = bytes | str | os.PathLike[str] | AsyncIterable[bytes]


def _quote(value: str) -> str:
    # HTML5 form encoding for the filename parameter: escape quote and line breaks.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    """A form with text fields and one file part, whose content comes from memory or a file on disk."""

    fields: dict[str, str]
    filename: str
    data: bytes | None = None
    path: Path | None = None
    file_field: str = "file"
    content_type: str = "application/octet-stream"

    def _parts(self, boundary: str) -> tuple[bytes, bytes]:
        head = b""
        for name, value in self.fields.items():
            head += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
                + value.encode()
                + b"\r\n"
            )
        head += (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{_quote(self.file_field)}"; filename="{_quote(self.filename)}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        return head, tail

    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    async def body(self) -> tuple[AsyncIterable[bytes], dict[str, str]]:
        """A fresh body stream and its headers (content type with boundary, exact length)."""
        boundary = f"ftbot-{secrets.token_hex(16)}"
        head, tail = self._parts(boundary)
        length = len(head) + self.size() + len(tail)
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
        }
        return self._stream(head, tail), headers

    async def _stream(self, head: bytes, tail: bytes) -> AsyncIterator[bytes]:
        yield head
        if self.data is not None:
            for start in range(0, len(self.data), CHUNK_SIZE):
                yield self.data[start : start + CHUNK_SIZE]
        else:
            assert self.path is not None
            async with await anyio.open_file(self.path, "rb") as handle:
                while chunk := await handle.read(CHUNK_SIZE):
                    yield chunk
        yield tail


@asynccontextmanager
async def prepared_upload(
    source: FileSource, *, filename: str | None, fields: dict[str, str]
) -> AsyncIterator[MultipartUpload]:
    """A `MultipartUpload` for any source; spools async streams to a temporary file for the call's life."""
    if isinstance(source, bytes):
        yield MultipartUpload(fields=fields, filename=_require(filename), data=source)
        return
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        yield MultipartUpload(fields=fields, filename=filename or path.name, path=path)
        return
    descriptor, name = tempfile.mkstemp(prefix="ftbot-upload-", suffix=".part")
    os.close(descriptor)
    spool = Path(name)
    try:
        async with await anyio.open_file(spool, "wb") as handle:
            async for chunk in source:
                await handle.write(chunk)
        yield MultipartUpload(fields=fields, filename=_require(filename), path=spool)
    finally:
        await anyio.Path(spool).unlink(missing_ok=True)


def _require(filename: str | None) -> str:
    if not filename:
        raise ValueError("a filename is needed when uploading bytes or a stream")
    return filename
