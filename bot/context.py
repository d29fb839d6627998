"""What every handler receives: settings, the store, the Azure clients and the outbound sender."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.config import Settings

if TYPE_CHECKING:
    from bot.notifier import Notifier
    from bot.store import Store


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    store: Store
    # Azure clients by resource name (bot.azure.registry.AzureClients); typed loosely to keep start-up light.
    azure: Any
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = utcnow
    extras: dict[str, Any] = field(default_factory=dict)
