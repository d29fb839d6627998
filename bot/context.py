"""What every handler receives: settings, the store, the Azure clients and the outbound sender."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings

if TYPE_CHECKING:
    from bot.checks import CheckPool
    from bot.notifier import Notifier
    from bot.policy import Policy
    from bot.store import Store


FileFetcher = Callable[[str], Awaitable[tuple[str, AsyncIterator[bytes]]]]
"""`fetch(platform file id, link or URL) -> (file name, async byte chunks)`: registered by each adapter."""


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
