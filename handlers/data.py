"""Training data from chat: where a `<src>` comes from, its pre-flight validation, and its upload.

A `<src>` is, in this order:
1. an Azure file id (`file-...`): used as is (it was validated when it was uploaded);
2. the name of a file attached to the message (Teams personal chat, Slack `@ftbot` mention), or, when the
   command names no source, the attachments in order (first training, second validation);
3. a Slack file id or link (`F0123ABCD`, `https://....slack.com/files/...`), fetched with the bot token;
4. an `https://` URL: downloaded to check it, then imported by Azure itself (`files/import`);
5. local use only (embedded emulator or FTBOT_ALLOW_LOCAL_FILES): a sample dataset name or a path.

Everything that is not already in Azure is spooled to a temporary file (memory stays flat), validated in a
worker thread, and only uploaded when it passed: invalid data never leaves the bot.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from bot.azure import ids
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.models import FileObject
from bot.context import Context
from bot.dataprep import MAX_FILE_BYTES, ValidationReport, validate_path
from bot.errors import FtbotError, UsageError
from bot.model import Attachment, Command

SLACK_FILE = re.compile(r"^<?(F[A-Z0-9]{6,}|https?://[^ ]*slack\.com/files[^ ]*)>?$")
URL = re.compile(r"^<?(https?://[^ |>]+)(\|[^>]*)?>?$")
FILE_READY_WAIT = 600.0  # seconds to wait for Azure to process an uploaded file


class DataError(FtbotError):
    title = "I could not use that data"


@dataclass
class Spooled:
    """A source copied to a local temporary file, ready to validate and upload."""

    name: str
    path: Path
    import_url: str | None = None  # a URL source: Azure imports it itself after our check


@dataclass
class Source:
    """A resolved `<src>`: either an Azure file already there, or a spooled local copy."""

    label: str  # what the user typed (or the attachment name), for messages
    azure_file: str | None = None
    spooled: Spooled | None = None
    report: ValidationReport | None = None


async def _spool(chunks: AsyncIterator[bytes], name: str, into: Path) -> Spooled:
    path = into / f"{secrets.token_hex(4)}-{_safe_name(name)}"
    size = 0
    with open(path, "wb") as out:  # noqa: ASYNC230 - writes go through to_thread below
        async for chunk in chunks:
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise DataError(
                    f"`{name}` is larger than {MAX_FILE_BYTES // 2**20} MB, the limit for one training file.",
                    hint="Split the data, or import it from Azure Blob storage with a URL.",
                )
            await asyncio.to_thread(out.write, chunk)
    return Spooled(name=name, path=path)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(name))[:100]
    return cleaned or "data.jsonl"


async def _download(url: str) -> tuple[str, AsyncIterator[bytes]]:
    name = url.rsplit("/", 1)[-1].split("?", 1)[0] or "data.jsonl"

    async def chunks() -> AsyncIterator[bytes]:
        timeout = httpx.Timeout(30.0)
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http,
            http.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise DataError(f"Downloading `{name}` failed with HTTP {response.status_code}.")
            async for chunk in response.aiter_bytes(256 * 1024):
                yield chunk

    return name, chunks()


class SourceResolver:
    """Resolves the `<src>` arguments of one command; owns the temporary folder for the spooled copies."""

    def __init__(self, ctx: Context, cmd: Command, stack: AsyncExitStack) -> None:
        self.ctx = ctx
        self.cmd = cmd
        self.tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ftbot-data-")))
        self._unused = list(cmd.attachments)

    def next_attachment(self) -> Attachment | None:
        return self._unused.pop(0) if self._unused else None

    async def resolve(self, text: str | None, role: str) -> Source | None:
        if text is None:
            attachment = self.next_attachment()
            return await self._from_attachment(attachment) if attachment else None
        ref = text.strip()
        if ids.is_file_id(ref):
            return Source(label=ref, azure_file=ref)
        named = next((a for a in self._unused if a.name == ref), None)
        if named is not None:
            self._unused.remove(named)
            return await self._from_attachment(named)
        if SLACK_FILE.match(ref):
            return await self._fetch("slack", ref, ref)
        url = URL.match(ref)
        if url:
            name, chunks = await _download(url.group(1))
            spooled = await _spool(chunks, name, self.tmp)
            spooled.import_url = url.group(1)
            return Source(label=name, spooled=spooled)
        local = self._local(ref)
        if local is not None:
            return Source(label=ref, spooled=Spooled(name=local.name, path=local))
        raise UsageError(
            f"--{role}: `{ref[:80]}` is not an Azure file id, an attached file, a Slack file or an https URL.",
            verb="start",
        )

    async def _from_attachment(self, attachment: Attachment) -> Source:
        fetcher_key = self.cmd.platform
        ref = attachment.platform_id or attachment.url
        if fetcher_key not in self.ctx.file_fetchers:
            if not attachment.url.startswith(("https://", "http://")):
                raise DataError(f"I cannot read the attached file `{attachment.name}`.")
            _, chunks = await _download(attachment.url)
            return Source(label=attachment.name, spooled=await _spool(chunks, attachment.name, self.tmp))
        return await self._fetch(fetcher_key, ref, attachment.name)

    async def _fetch(self, platform: str, ref: str, label: str) -> Source:
        fetcher = self.ctx.file_fetchers.get(platform)
        if fetcher is None:
            raise DataError(f"Files from {platform} cannot be read here: that platform is not configured.")
        name, chunks = await fetcher(ref)
        return Source(label=name or label, spooled=await _spool(chunks, name or label, self.tmp))

    def _local(self, ref: str) -> Path | None:
        if not self.ctx.local_files:
            return None
        samples = self.ctx.samples_dir
        if samples is not None:
            for candidate in (samples / ref, samples / f"{ref}.jsonl"):
                if candidate.is_file():
                    return candidate
        path = Path(ref).expanduser()
        return path if path.is_file() else None


async def validate_source(
    source: Source, *, model: str | None, method: Literal["sft", "dpo"], epochs: int | None
) -> None:
    """Run the pre-flight check of a spooled source in a worker thread (it is CPU-bound)."""
    if source.spooled is None:
        return
    source.report = await asyncio.to_thread(
        validate_path, source.spooled.path, model=model, method=method, epochs=epochs
    )


async def upload_source(client: AzureOpenAIClient, source: Source) -> FileObject:
    """Upload (or import) a validated source and wait until Azure has processed it."""
    assert source.spooled is not None
    if source.spooled.import_url:
        uploaded = await client.import_file(source.spooled.import_url, filename=source.spooled.name)
    else:
        uploaded = await client.upload_file(source.spooled.path, filename=source.spooled.name)
    ready = await client.wait_for_file(uploaded.id, poll_interval=0.5, max_wait=FILE_READY_WAIT)
    if ready.is_error:
        detail = getattr(ready, "status_details", None) or "no details given"
        raise DataError(
            f"Azure could not process `{source.label}`: {detail}", hint="Fix the file and start again."
        )
    source.azure_file = ready.id
    return ready
