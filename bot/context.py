"""What every handler receives: settings, the store, the Azure clients and the outbound sender."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.config import Settings
from bot.model import Conversation, User

if TYPE_CHECKING:
    from bot.checks import CheckPool
    from bot.notifier import Notifier
    from bot.policy import Policy
    from bot.store import Store


class FileFetcher(Protocol):
    """`fetch(platform file id, link or URL, user=..., conversation=...) -> (file name, async byte chunks)`:
    registered by each adapter (the chunks may be a `FileStream`, which knows the size). Who asks and where let
    the adapter refuse a file they may not read."""

    def __call__(
        self, ref: str, /, *, user: User, conversation: Conversation
    ) -> Awaitable[tuple[str, AsyncIterator[bytes]]]: ...


class FileStream:
    """The content of a file being fetched, as async byte chunks, with its size when the platform said it
    (Slack's `files.info`), so a handler can say how big a download is before it starts."""

    def __init__(self, chunks: AsyncIterator[bytes], size: int | None = None) -> None:
        self._chunks = chunks
        self.size = size

    def __aiter__(self) -> FileStream:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._chunks)

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    store: Store
    # Azure clients by resource name (bot.azure.registry.AzureClients); typed loosely to keep start-up light.
    azure: Any
    notifier: Notifier | None = None
    # Who may do what (bot/policy.py); None only in unit tests that build a bare context.
    policy: Policy | None = None
    clock: Callable[[], datetime] = utcnow
    # Files shared in chat, by platform ("slack": file id or link; "teams": download URL).
    file_fetchers: dict[str, FileFetcher] = field(default_factory=dict)
    # Local use only: paths on this machine and the sample datasets may be used as training data.
    local_files: bool = False
    samples_dir: Path | None = None
    # Where training-data checks run (bounded threads, global and per-user limits); None: a default pool.
    checks: CheckPool | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def azure_now(self, resource: str | None = None) -> datetime:
        """Now on Azure's clock (the `Date` of its last answer): what cards compare Azure's times with, so a
        skewed host or the emulator's simulated clock never shows a job created in the future."""
        now = getattr(self.azure, "now", None)
        return now(resource) if callable(now) else self.clock()
