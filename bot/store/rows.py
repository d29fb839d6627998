"""The rows the store hands out (and the requests it takes), apart from the families' queries: they are made
when the first row is read, after start-up (issue 17: a dataclass costs ~4M instructions to create on Python 3.11,
and start-up only needs the queries). Import them from `bot.store`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from bot.model import Conversation, Platform, User


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    platform: str
    actor: str
    actor_name: str | None
    action: str
    subject: str
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredConversation:
    key: str
    platform: Platform
    conversation_id: str
    kind: str
    team: str | None
    reference: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredJob:
    job_id: str
    resource: str
    home_conversation: str | None
    requested_by: str | None
    requested_by_name: str | None
    model: str | None
    status: str | None
    events_cursor: str | None
    watch: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    dedupe_key: str
    conversation_key: str
    payload: Mapping[str, Any]
    attempts: int
    status: str = "pending"  # "sending": an earlier attempt may have reached the platform
    send_started: datetime | None = None  # when that attempt began (for a bounded look-back)
    created_at: datetime | None = None  # when it was queued: as of then its card was true


@dataclass(frozen=True, slots=True)
class Subscription:
    conversation_key: str
    resource: str
    statuses: frozenset[str]
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WatchedJob:
    """A claimed job with the watcher's saved state."""

    job: StoredJob
    state: Mapping[str, Any]
    next_poll_at: datetime | None


@dataclass(frozen=True, slots=True)
class Queued:
    """One notification to put in the outbox (dedupe key, conversation, payload)."""

    key: str
    conversation_key: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class IdleRow:
    """One fine-tuned deployment as the last sweep saw it (times on Azure's clock)."""

    resource: str
    deployment: str
    model: str
    sku: str
    created_at: datetime
    deletes_at: datetime
    last_used_at: datetime | None = None
    kept_alive_at: datetime | None = None
    snoozed_until: datetime | None = None
    conversation_key: str | None = None
    gone_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IntentFile:
    """A file a start uses: `ours` when this start uploaded it (and so may delete it)."""

    role: str  # "training" | "validation"
    label: str  # what the user named (e.g. train.jsonl), for messages
    file_id: str
    filename: str = ""
    ours: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "label": self.label,
            "file_id": self.file_id,
            "filename": self.filename,
            "ours": self.ours,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IntentFile:
        return cls(
            str(data.get("role", "")),
            str(data.get("label", "")),
            str(data.get("file_id", "")),
            str(data.get("filename") or ""),
            bool(data.get("ours")),
        )


@dataclass(frozen=True, slots=True)
class StoredIntent:
    id: str
    resource: str
    state: str
    model: str
    request: Mapping[str, Any]
    files: tuple[IntentFile, ...]
    training_file: str | None
    job_id: str | None
    outcome: str | None
    platform: str
    conversation: Conversation
    user: User
    notice: str | None
    notice_attempts: int
    sent_at: datetime | None
    created_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None

    @property
    def ours(self) -> list[IntentFile]:
        """The files this start uploaded (the only ones it may ever delete)."""
        return [f for f in self.files if f.ours]

    @property
    def upload_prefix(self) -> str:
        from bot.store.intents import upload_prefix

        return upload_prefix(self.id)


@dataclass(frozen=True, slots=True)
class PendingDeletion:
    resource: str
    file_id: str
    intent_id: str | None
    attempts: int
    next_at: datetime
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Approval:
    id: str
    state: str
    resource: str
    model: str
    job_id: str | None
    checkpoint_step: int | None
    deployment: str
    sku: str
    capacity: int
    source: str | None
    source_tenant: str | None
    cross_tenant: bool
    detail: Mapping[str, Any]
    platform: str
    conversation_key: str
    requested_by: str
    requested_by_name: str | None
    required_approvals: int
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decided_by_name: str | None
    reason: str | None
    deploy_state: str | None
    operation_url: str | None
    endpoint: str | None
    error: str | None

    @property
    def requester(self) -> str:
        return self.requested_by_name or self.requested_by

    @property
    def decider(self) -> str:
        return self.decided_by_name or self.decided_by or "?"


@dataclass(frozen=True, slots=True)
class NewApproval:
    """What a request asks for; the store adds the id, state and times."""

    resource: str
    model: str
    deployment: str
    sku: str
    capacity: int
    platform: str
    conversation_key: str
    requester: User
    required_approvals: int
    ttl: timedelta
    job_id: str | None = None
    checkpoint_step: int | None = None
    source: str | None = None
    source_tenant: str | None = None
    cross_tenant: bool = False
    detail: Mapping[str, Any] | None = None
