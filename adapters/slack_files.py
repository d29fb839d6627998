"""Fetch a file shared in Slack: `files.info` for its name and private URL, then a streamed, authorised GET.

Handlers get here without importing Slack: the adapter registers `SlackFiles.fetch` as the `"slack"` entry of
`ctx.file_fetchers` (a `bot.context.FileFetcher`), so a handler holding an `Attachment` (its `platform_id` is the Slack file id) or a
file id / link typed as an argument does:

    name, chunks = await ctx.file_fetchers["slack"](ref, user=cmd.user, conversation=cmd.conversation)
    async for chunk in chunks: ...

The bot can read files of every channel it is in; a file is read for someone only when `files.info` says it
is shared in the conversation the command came from, or that person uploaded it (otherwise one could name
the file of a private channel they are not in). The bot token is only sent to a file URL whose scheme, host
and port are those of the configured Web API (a local stand-in), or, with Slack's own API, https on port 443
of a Slack host (`files.slack.com`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import FileStream
from bot.errors import FtbotError
from bot.model import Conversation, User

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024

_FILE_ID = re.compile(r"F[A-Z0-9]{6,}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A file id as a path segment (`/files/U1/F123/name`) or after the team in `files-pri/T1-F123/...`.
_FILE_ID_IN_PATH = re.compile(r"(?:^|/|-)(F[A-Z0-9]{6,})(?=/|$)")


class SlackFileError(FtbotError):
    """A Slack file could not be found or read; the message says what to do."""

    title = "I could not read that Slack file"


def parse_file_ref(text: str) -> str:
    """The Slack file id in a bare id (`F0123ABCD`), a permalink or a private URL (Slack may wrap it in `<...|label>`).

    >>> parse_file_ref("<https://acme.slack.com/files/U1/F0123ABCD/train.jsonl|train.jsonl>")
    'F0123ABCD'
    """
    ref = text.strip()
    if ref.startswith("<") and ref.endswith(">"):
        ref = ref[1:-1].split("|", 1)[0]
    if _FILE_ID.fullmatch(ref):
        return ref
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https") and parts.netloc:
        match = _FILE_ID_IN_PATH.search(parts.path)
        if match:
            return match.group(1)
    raise SlackFileError(
        f"`{text[:80]}` is not a Slack file id or link.",
        hint="Use the file's id (F...) or its link (`Copy link` on the file), or attach it to an `@ftbot` message.",
    )


class SlackFiles:
    """Resolves Slack file ids and links with the bot token; see the module docstring."""

    def __init__(
        self,
        client: AsyncWebClient,
        token: str,
        api_url: str,
        session: Callable[[], aiohttp.ClientSession | None] = lambda: None,
    ) -> None:
        self._client = client
        self._token = token
        api = urlsplit(api_url)
        self._api_origin = _origin(api_url)
        host = (api.hostname or "").lower()
        # With Slack's own API, files come from another Slack host (files.slack.com), over https on 443.
        self._api_is_slack = api.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))
        self._session = session

    async def fetch(
        self, file_id_or_link: str, *, user: User, conversation: Conversation
    ) -> tuple[str, AsyncIterator[bytes]]:
        """The file's name and its content as a stream of chunks (the download starts on first iteration;
        its `size` is what `files.info` says), when `user`, asking in `conversation`, may have it (see the
        module docstring)."""
        file_id = parse_file_ref(file_id_or_link)
        try:
            info = await self._client.files_info(file=file_id)
        except SlackApiError as exc:
            code = str(exc.response.get("error", "error"))
            log.warning("slack files.info for %s failed: %s", file_id, code)
            raise SlackFileError(
                f"Slack would not give me file `{file_id}` ({code}).",
                hint="Share the file in a channel I am in, and check the app has the `files:read` scope.",
            ) from None
        file = info.get("file") or {}
        if not _visible_to(file, user, conversation):
            log.warning(
                "slack file %s refused for %s in %s: not shared there and not theirs",
                file_id,
                user.id,
                conversation.id,
            )
            raise SlackFileError(
                f"File `{file_id}` is not shared in this conversation, and you did not upload it.",
                hint="Share the file in this conversation (or attach it to your message), then try again.",
            )
        url = str(file.get("url_private_download") or file.get("url_private") or "")
        if not url:
            raise SlackFileError(
                f"Slack file `{file_id}` has no downloadable content (an external or deleted file?)."
            )
        refusal = self._token_refusal(url)
        if refusal is not None:
            log.warning("slack file %s: not downloading from %s (%s)", file_id, urlsplit(url).netloc, refusal)
            raise SlackFileError(f"Slack file `{file_id}` {refusal}; I will not send credentials there.")
        size = file.get("size")
        known = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None
        return str(file.get("name") or file_id), FileStream(self._download(file_id, url), known)

    def _token_refusal(self, url: str) -> str | None:
        """Why the bot token must not go to `url` (None: it may): scheme, host and port must all match."""
        scheme, host, port = _origin(url)
        if (scheme, host, port) == self._api_origin:
            return None
        slack_host = host == "slack.com" or host.endswith(".slack.com")
        if slack_host and self._api_is_slack:
            if scheme != "https":
                return "is not served over https"
            return None if port == 443 else "points to another port than Slack's"
        if host != self._api_origin[1]:
            return "points outside Slack"
        if scheme != self._api_origin[0]:
            return "is not served over https" if scheme != "https" else "uses another scheme than Slack's API"
        return "points to another port than Slack's"

    async def _download(self, file_id: str, url: str) -> AsyncIterator[bytes]:
        shared = self._session()
        session = shared if shared is not None and not shared.closed else aiohttp.ClientSession()
        try:
            headers = {"Authorization": f"Bearer {self._token}"}
            async with session.get(url, headers=headers) as resp:
                # Without a valid token or the files:read scope Slack answers with its HTML sign-in page.
                if resp.status != 200 or resp.content_type == "text/html":
                    log.warning(
                        "slack file %s download failed: HTTP %s %s", file_id, resp.status, resp.content_type
                    )
                    raise SlackFileError(
                        f"Slack refused the download of file `{file_id}` (HTTP {resp.status}).",
                        hint="Check the app has the `files:read` scope and is in the channel the file was shared in.",
                    )
                async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                    yield chunk
        finally:
            if session is not shared:
                await session.close()


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in; an unreadable port matches nothing."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return (parts.scheme, "", -1)
    return (
        parts.scheme.lower(),
        (parts.hostname or "").lower(),
        port or _DEFAULT_PORTS.get(parts.scheme.lower()),
    )


def _visible_to(file: dict[str, object] | object, user: User, conversation: Conversation) -> bool:
    """`files.info` says the file is shared in `conversation` (`channels`, `groups`, `ims`, `shares`), or
    `user` uploaded it (`user`)."""
    if not isinstance(file, dict):
        return False
    if user.id and file.get("user") == user.id:
        return True
    where: set[str] = set()
    for key in ("channels", "groups", "ims"):
        value = file.get(key)
        if isinstance(value, list):
            where.update(str(v) for v in value)
    shares = file.get("shares")
    if isinstance(shares, dict):
        for kind in shares.values():  # {"public": {C...: [...]}, "private": {G...: [...]}}
            if isinstance(kind, dict):
                where.update(str(k) for k in kind)
    return conversation.id in where
