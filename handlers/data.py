"""Training data from chat: where a `<src>` comes from, its pre-flight validation, and its upload.

A `<src>` is, in this order:
1. an Azure file id (`file-...`): used as is (it was validated when it was uploaded);
2. the name of a file attached to the message (Teams personal chat, Slack `@ftbot` mention), or, when the
   command names no source, the attachments in order (first training, second validation);
3. a Slack file id or link (`F0123ABCD`, `https://....slack.com/files/...`), fetched with the bot token;
4. an `https://` URL: downloaded to check it, then imported by Azure itself (`files/import`); on a shared
   bot only https to public addresses, redirects re-checked (see `download`). The v1 API has no
   `files/import`: on a v1 resource the checked copy is uploaded instead, as an attached file is;
5. local use only (embedded emulator or FTBOT_ALLOW_LOCAL_FILES): a sample dataset name or a path.

Everything that is not already in Azure is spooled to a temporary file (memory stays flat), validated in a
worker thread, and only uploaded when it passed: invalid data never leaves the bot.
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import ipaddress
import logging
import os
import re
import secrets
import socket
import tempfile
import threading
import weakref
import zlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from bot.azure import ids
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.errors import ServiceUnavailable
from bot.azure.models import FileObject
from bot.checks import CheckPool, default_pool
from bot.context import Context, FileStream
from bot.errors import FtbotError, UsageError
from bot.model import Attachment, Command
from cards.markup import code, literal
from handlers.progress import DownloadMeter, Progress
from handlers.spool import SPOOL_PREFIX

if TYPE_CHECKING:
    from bot.dataprep import ValidationReport

SLACK_FILE = re.compile(r"^<?(F[A-Z0-9]{6,}|https?://[^ ]*slack\.com/files[^ ]*)>?$")
URL = re.compile(r"^<?(https?://[^ |>]+)(\|[^>]*)?>?$")
log = logging.getLogger(__name__)
FILE_READY_WAIT = 600.0  # seconds to wait for Azure to process an uploaded file


class DataError(FtbotError):
    title = "I could not use that data"


@dataclass
class Spooled:
    """A source copied to a local temporary file, ready to validate and upload."""

    name: str
    path: Path
    size: int = 0
    import_url: str | None = None  # a URL source: Azure imports it itself after our check (not on v1)


@dataclass(frozen=True)
class CheckSlot:
    """Where and for whom a source is checked: the bot's check pool, the asking user, the invalid-line stop."""

    pool: CheckPool
    user: str
    max_invalid: int | None = None


@dataclass
class Source:
    """A resolved `<src>`: either an Azure file already there, or a spooled local copy."""

    label: str  # what the user typed (or the attachment name), for messages
    azure_file: str | None = None
    spooled: Spooled | None = None
    report: ValidationReport | None = None
    uploaded: bool = False  # this command put `azure_file` in Azure (so it may remove it again)
    check: CheckSlot | None = None  # set by the resolver; None: the default pool, no per-user limit


async def _spool(
    chunks: AsyncIterator[bytes], name: str, into: Path, meter: DownloadMeter | None = None
) -> Spooled:
    """Copy a download (any source: Slack, Teams, a URL) to a file under `into`, within DOWNLOAD_TIMEOUT
    seconds and READ_TIMEOUT seconds between chunks; every failure becomes a readable `DataError`. `meter`
    hears of every chunk (progress lines for the person waiting)."""
    path = into / f"{secrets.token_hex(4)}-{_safe_name(name)}"
    try:
        spooled = await _write_chunks(chunks, name, path, meter)
        if meter is not None:
            await meter.done()
        return spooled
    except BaseException:
        path.unlink(missing_ok=True)  # a partial copy is of no use; free the space now
        raise
    finally:
        # An abort (size limit, disk full) closes the download and its connection now, not at GC.
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()


async def _write_chunks(
    chunks: AsyncIterator[bytes], name: str, path: Path, meter: DownloadMeter | None
) -> Spooled:
    try:
        async with asyncio.timeout(DOWNLOAD_TIMEOUT):
            return await _copy_chunks(chunks, name, path, meter)
    except TimeoutError:
        raise DataError(
            f"Could not download {code(name)}: it did not finish within {_duration(DOWNLOAD_TIMEOUT)}.",
            hint="The server sending it is slow right now; try again later, or share a smaller file.",
        ) from None
    except OSError as exc:
        # Writing the copy failed (reading failures are turned into DataError in `_copy_chunks`).
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            log.error("spooling %s: the temporary folder %s is full", _safe_name(name), path.parent.parent)
            raise DataError(
                f"I could not store {code(name)} to check it: the bot's disk is full.",
                hint="Nothing was uploaded. Tell whoever runs the bot; try again once space is freed.",
            ) from None
        log.error("spooling %s failed: %s", _safe_name(name), exc.strerror or type(exc).__name__)
        raise DataError(
            f"I could not store {code(name)} to check it ({exc.strerror or 'write failed'}).",
            hint="Nothing was uploaded. Try again; if it keeps happening, tell whoever runs the bot.",
        ) from None


async def _copy_chunks(
    chunks: AsyncIterator[bytes], name: str, path: Path, meter: DownloadMeter | None = None
) -> Spooled:
    # The validator's module is imported with the first download, not at start-up (issue 17).
    from bot.dataprep import validator

    limit = validator.MAX_FILE_BYTES
    size = 0
    source = aiter(chunks)
    with open(path, "wb") as out:  # noqa: ASYNC230 - writes go through to_thread below
        while True:
            try:
                async with asyncio.timeout(READ_TIMEOUT):
                    chunk = await anext(source, None)
            except TimeoutError:
                raise DataError(
                    f"Could not download {code(name)}: nothing arrived for {_duration(READ_TIMEOUT)}.",
                    hint="The server sending it is slow or stuck; try again later.",
                ) from None
            except FtbotError:
                raise
            except Exception as exc:  # the far side failed mid-transfer (httpx, aiohttp, a reset connection)
                raise DataError(f"Could not download {code(name)}: {_reason(exc)}.") from None
            if chunk is None:
                break
            size += len(chunk)
            if size > limit:
                raise DataError(
                    f"{code(name)} is larger than {limit // 2**20} MB, the limit for one training file.",
                    hint="A job trains on one file: keep the examples that matter most, or shorten them (a URL has the same limit).",
                )
            await asyncio.to_thread(out.write, chunk)
            if meter is not None:
                await meter.add(len(chunk))
    return Spooled(name=name, path=path, size=size)


def _duration(seconds: float) -> str:
    """`5 minutes`, `30 seconds`, `1.5 seconds`: how long a limit is, for messages."""
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} second{'' if seconds == 1 else 's'}"


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(name))[:100]
    return cleaned or "data.jsonl"


MAX_REDIRECTS = 5
DOWNLOAD_TIMEOUT = 300.0  # seconds for a whole download, however the server trickles it
READ_TIMEOUT = 30.0  # seconds without any byte before giving up
MAX_CONCURRENT_DOWNLOADS = 4
# One limit per event loop (a semaphore binds to the loop it first waits on; tests run several loops).
_download_limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _download_limit() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    limit = _download_limits.get(loop)
    if limit is None:
        limit = _download_limits[loop] = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)
    return limit


def url_name(url: str) -> str:
    return _safe_name(url.rsplit("/", 1)[-1].split("?", 1)[0]) if "/" in url else "data.jsonl"


async def _check_target(url: httpx.URL, name: str, *, local: bool) -> None:
    """A shared bot only fetches https URLs whose host resolves to public addresses only: a chat user
    must not make the bot read its own network (cloud metadata, admin ports, localhost)."""
    if local:
        if url.scheme not in ("http", "https"):
            raise DataError(f"Could not download {code(name)}: only http(s) URLs can be read.")
        return
    if url.scheme != "https":
        raise DataError(f"Could not download {code(name)}: only https URLs are accepted.")
    # The host exactly as httpx will connect to it (IDNA 2008 ASCII form), not a re-encoding of our own.
    host = url.raw_host.decode("ascii")
    if not host:
        raise DataError(f"Could not download {code(name)}: the URL has no host.")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DataError(f"Could not download {code(name)}: its host name does not resolve.") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not _public(address):
            raise DataError(
                f"Could not download {code(name)}: its host is not a public internet address.",
                hint="Share the file in chat, or use a public https URL (e.g. a blob SAS URL).",
            )


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global, and so is any IPv4 address carried inside an IPv6 one (mapped, 6to4, NAT64), which
    would otherwise reach a private IPv4 network."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None and not inner.is_global:
            return False
    return True


async def _open(http: httpx.AsyncClient, url: str, name: str, *, local: bool) -> httpx.Response:
    """GET `url`, following at most MAX_REDIRECTS redirects by hand so each target is checked first."""
    target = httpx.URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        await _check_target(target, name, local=local)
        response = await http.send(http.build_request("GET", target), stream=True)
        if not response.has_redirect_location:
            if response.status_code >= 400:
                await response.aclose()
                raise DataError(
                    f"Could not download {code(name)}: the server answered HTTP {response.status_code}."
                )
            return response
        await response.aclose()
        target = target.join(response.headers["Location"])
    raise DataError(f"Could not download {code(name)}: more than {MAX_REDIRECTS} redirects.")


def _reason(exc: Exception) -> str:
    """A readable cause without addresses, ports or library internals."""
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "the server could not be reached"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "the server broke off the transfer"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "the URL is not valid"
    return "the transfer failed"


ACCEPT_ENCODING = "gzip, deflate"  # the encodings `_decoded_body` decodes with a bound
RAW_CHUNK = 64 * 1024  # compressed bytes read at a time
DECODED_CHUNK = 1024 * 1024  # most decompressed bytes produced at a time (a gzip bomb stays this small)


async def _decoded_body(response: httpx.Response, name: str) -> AsyncIterator[bytes]:
    """The body, decompressed here in bounded steps: httpx inflates each network chunk whole, and 64 KB of a
    gzip bomb became hundreds of MB in memory before the size limit could see it."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        async for raw in response.aiter_raw(RAW_CHUNK):
            yield raw
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise DataError(
            f"Could not download {code(name)}: the server sent it {code(encoding[:20])}-compressed, which I do not read.",
            hint="Serve the file uncompressed or gzip-compressed.",
        )
    inflater: Any = None
    async for raw in response.aiter_raw(RAW_CHUNK):
        if inflater is None:
            inflater = zlib.decompressobj(_wbits(encoding, raw))
        data = raw
        try:
            while True:
                out = inflater.decompress(data, DECODED_CHUNK)
                if out:
                    yield out
                data = inflater.unconsumed_tail
                if not data and len(out) < DECODED_CHUNK:
                    break
        except zlib.error:
            raise DataError(
                f"Could not download {code(name)}: its {encoding} compression is corrupt."
            ) from None
    if inflater is not None:
        tail = inflater.flush()
        if tail:
            yield tail


def _wbits(encoding: str, first: bytes) -> int:
    if encoding != "deflate":
        return 16 + zlib.MAX_WBITS  # gzip header
    # "deflate" is meant to be zlib-wrapped; some servers send raw deflate: the header tells them apart.
    zlib_wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
    return zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS


async def download(
    url: str, into: Path, *, local: bool, name: str | None = None, progress: Progress | None = None
) -> Spooled:
    """Download `url` into a spooled file under `into`, guarded for a shared bot (see `_check_target`):
    at most MAX_CONCURRENT_DOWNLOADS at once, the whole download within DOWNLOAD_TIMEOUT seconds.
    Local use (`local`): http and loopback are allowed (the embedded emulator, tests). `progress` says how big
    it is (the answer's Content-Length) and how far it got."""
    name = name or url_name(url)
    try:
        async with (
            _download_limit(),
            asyncio.timeout(DOWNLOAD_TIMEOUT),
            httpx.AsyncClient(
                timeout=httpx.Timeout(READ_TIMEOUT),
                follow_redirects=False,
                headers={"Accept-Encoding": ACCEPT_ENCODING},
            ) as http,
        ):
            response = await _open(http, url, name, local=local)
            try:
                meter = None
                if progress is not None:
                    meter = await progress.download(name, _plain_length(response))
                return await _spool(_decoded_body(response, name), name, into, meter)
            finally:
                await response.aclose()
    except TimeoutError:
        raise DataError(
            f"Could not download {code(name)}: it did not finish within {_duration(DOWNLOAD_TIMEOUT)}."
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        raise DataError(f"Could not download {code(name)}: {_reason(exc)}.") from None


def _plain_length(response: httpx.Response) -> int | None:
    """The body's size from Content-Length when it is sent as is (a compressed body's length is not the
    file's size)."""
    if response.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity"):
        return None
    try:
        length = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length > 0 else None


class SourceResolver:
    """Resolves the `<src>` arguments of one command; owns the temporary folder for the spooled copies."""

    def __init__(self, ctx: Context, cmd: Command, stack: AsyncExitStack) -> None:
        self.ctx = ctx
        self.cmd = cmd
        # The process id in the name tells `sweep_spool` whose folder it is (a live process's is left alone).
        prefix = f"{SPOOL_PREFIX}{os.getpid()}-"
        self.tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        self._unused = list(cmd.attachments)
        self.progress = Progress.of(cmd)
        self._check = CheckSlot(
            ctx.checks or default_pool(),
            f"{cmd.platform}:{cmd.user.id}",
            ctx.settings.validation_max_invalid,
        )

    def next_attachment(self) -> Attachment | None:
        return self._unused.pop(0) if self._unused else None

    async def resolve(self, text: str | None, role: str) -> Source | None:
        source = await self._resolve(text, role)
        if source is not None and source.spooled is not None:
            source.check = self._check
        return source

    async def _resolve(self, text: str | None, role: str) -> Source | None:
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
            spooled = await download(
                url.group(1), self.tmp, local=self.ctx.local_files, progress=self.progress
            )
            spooled.import_url = url.group(1)
            return Source(label=spooled.name, spooled=spooled)
        local = self._local(ref)
        if local is not None:
            return Source(label=ref, spooled=Spooled(name=local.name, path=local))
        raise UsageError(
            f"--{role}: {code(ref[:80])} is not an Azure file id, an attached file, a chat file link or an https URL."
            + self._samples_hint(ref),
            verb="start",
        )

    def _samples_hint(self, ref: str) -> str:
        """Local use: the sample datasets by name, the closest first (a typo in `good_training` is the usual
        miss, and chat has no other way to list them)."""
        samples = self.ctx.samples_dir
        if not self.ctx.local_files or samples is None or not samples.is_dir():
            return ""
        names = sorted(p.stem for p in samples.glob("*.jsonl"))
        if not names:
            return ""
        close = difflib.get_close_matches(ref, names, n=1, cutoff=0.6)
        guess = f" Did you mean {code(close[0])}?" if close else ""
        return f"{guess} Sample datasets here: {', '.join(code(n) for n in names)}."

    async def _from_attachment(self, attachment: Attachment) -> Source:
        fetcher_key = self.cmd.platform
        ref = attachment.platform_id or attachment.url
        if fetcher_key not in self.ctx.file_fetchers:
            if not attachment.url.startswith(("https://", "http://")):
                raise DataError(f"I cannot read the attached file {code(attachment.name)}.")
            spooled = await download(
                attachment.url,
                self.tmp,
                local=self.ctx.local_files,
                name=_safe_name(attachment.name),
                progress=self.progress,
            )
            return Source(label=attachment.name, spooled=spooled)
        return await self._fetch(fetcher_key, ref, attachment.name)

    async def _fetch(self, platform: str, ref: str, label: str) -> Source:
        fetcher = self.ctx.file_fetchers.get(platform)
        if fetcher is None:
            raise DataError(f"Files from {platform} cannot be read here: that platform is not configured.")
        name, chunks = await fetcher(ref, user=self.cmd.user, conversation=self.cmd.conversation)
        size = chunks.size if isinstance(chunks, FileStream) else None
        meter = await self.progress.download(name or label, size)
        return Source(label=name or label, spooled=await _spool(chunks, name or label, self.tmp, meter))

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
    """Run the pre-flight check of a spooled source on the bot's check pool (it is CPU-bound): `Busy` when
    the pool or the user's share of it is full."""
    from bot.dataprep.validator import validate_path  # on first use, not at start-up (issue 17)

    if source.spooled is None:
        return
    check = source.check or CheckSlot(default_pool(), "")
    # A worker thread cannot be cancelled: on cancellation (shutdown) the pool sets `cancel` so it stops at
    # its next block, or the process would wait for a 512 MB check to finish before it can exit.
    source.report = await check.pool.run(
        check.user,
        validate_path,
        source.spooled.path,
        model=model,
        method=method,
        epochs=epochs,
        max_invalid=check.max_invalid,
        cancel=threading.Event(),
    )


class StillProcessing(DataError):
    """Azure took the file but has not finished processing it: the file is kept for a later `start`."""

    title = "Azure is still processing the data"


async def upload_source(client: AzureOpenAIClient, source: Source, *, name: str) -> FileObject:
    """Upload (or import) a validated source under `name`, a name unique to this attempt (see
    `bot.store.intents.upload_prefix`): a lost reply is then recovered by that name only, never by adopting
    another upload of the same `train.jsonl`. `source.azure_file` is set as soon as Azure has it.

    A URL source on a v1 resource is uploaded from the checked copy: the v1 API has no `files/import` (it
    answers 404). The copy is on disk already (streamed, within the 512 MB limit, validated), and is streamed
    from there; it is then an upload like any other (no import-only checks in `wait_until_ready`)."""
    assert source.spooled is not None
    if source.spooled.import_url and client.v1:
        source.spooled.import_url = None
    if source.spooled.import_url:
        uploaded = await client.import_file(source.spooled.import_url, filename=name, unique_name=True)
    else:
        uploaded = await client.upload_file(source.spooled.path, filename=name, unique_name=True)
    source.azure_file, source.uploaded = uploaded.id, True
    return uploaded


async def wait_until_ready(client: AzureOpenAIClient, source: Source) -> FileObject:
    """Wait until Azure has processed an uploaded source (a job needs `processed` files).

    Raises `StillProcessing` after FILE_READY_WAIT seconds, `DataError` when Azure refused the file or
    an imported file is not the one that was checked (its size differs from the checked copy)."""
    assert source.azure_file is not None
    try:
        ready = await client.wait_for_file(source.azure_file, poll_interval=0.5, max_wait=FILE_READY_WAIT)
    except ServiceUnavailable as exc:
        if exc.code != "pollTimeout":
            raise
        if source.spooled is not None and source.spooled.import_url:
            # An import still processing cannot be compared with the copy that was checked: not kept.
            raise DataError(
                f"Azure is still importing {code(source.label)} after {FILE_READY_WAIT:g} s; I removed the "
                "import because its content could not be compared with the checked copy.",
                hint="Try again later, or share the file in chat instead of a URL.",
            ) from None
        raise StillProcessing(
            f"Azure is still processing {code(source.label)} after {FILE_READY_WAIT:g} s. "
            f"I kept the uploaded file {code(source.azure_file)}.",
            hint=f"Try again in a few minutes: {code(f'/ft start ... --training {source.azure_file}')}.",
        ) from None
    if ready.is_error:
        detail = ready.status_details or "no details given"
        raise DataError(
            f"Azure could not process {code(source.label)}: {literal(detail)}",
            hint="Fix the file and start again.",
        )
    spooled = source.spooled
    if spooled is not None and spooled.import_url and ready.bytes is not None and ready.bytes != spooled.size:
        # Azure fetched the URL itself: what it got is not what was checked here.
        raise DataError(
            f"{code(source.label)} changed between the check and the import: I checked {spooled.size:,} bytes, "
            f"Azure imported {ready.bytes:,}. The imported copy is removed.",
            hint="Make sure the file at that URL no longer changes, then start again.",
        )
    return ready
