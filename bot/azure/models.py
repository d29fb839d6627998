"""Typed views of Azure payloads (pydantic v2), tolerant by design.

Every model keeps unknown fields (`extra="allow"`), statuses stay plain strings (Azure adds values between
api-versions; OpenAI's platform has others), and the enums below are helpers, never validators (a job's
known status is kept in one spelling: `canceled` reads `cancelled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, Generic, Self, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.azure.ids import (
    is_checkpoint_id,
    is_file_id,
    is_fine_tuned_model,
    is_job_id,
    is_model_name,
    is_suffix,
)
from bot.azure.results_csv import ResultRow, parse_results_csv

__all__ = [
    "DEPLOYMENT_SKUS",
    "DEVELOPER_SKU",
    "AsyncOperation",
    "AzureModel",
    "ChatChoice",
    "ChatCompletion",
    "ChatMessage",
    "Checkpoint",
    "CheckpointMetrics",
    "Deployment",
    "DeploymentModel",
    "DeploymentProperties",
    "DeploymentState",
    "FileDeleted",
    "FileObject",
    "FileStatus",
    "FineTuningJob",
    "Hyperparameters",
    "JobError",
    "JobEvent",
    "JobStatus",
    "NormalStatus",
    "Page",
    "ResultRow",
    "ServiceModel",
    "Sku",
    "StatusKind",
    "canonical_sku",
    "is_checkpoint_id",
    "is_developer_sku",
    "is_file_id",
    "is_fine_tuned_model",
    "is_job_id",
    "is_model_name",
    "is_suffix",
    "is_terminal",
    "normalise_status",
    "page_of",
    "parse_results_csv",
]


class AzureModel(BaseModel):
    """Base: keep unknown fields, accept field names and aliases alike."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


T = TypeVar("T", bound=BaseModel)


class Page(AzureModel, Generic[T]):
    """`{object:"list", data:[...], has_more}`; the next page is `after=<id of the last item>`."""

    object: str = "list"
    data: list[T] = Field(default_factory=list)
    has_more: bool = False

    @field_validator("has_more", mode="before")
    @classmethod
    def _null_is_false(cls, value: Any) -> Any:
        return False if value is None else value


@cache
def page_of(item: type[T]) -> type[Page[T]]:
    """`Page[item]`, made once and kept. pydantic holds parametrised models only weakly: a `Page[item]` written
    per call was a new class (its validator built anew) whenever the collector had taken the last one."""
    return Page[item]  # type: ignore[valid-type]


# ---- status helpers ---------------------------------------------------------------------------------


class TolerantEnum(StrEnum):
    """A status enum whose `parse` answers None for a value Azure added later (which must not crash)."""

    @classmethod
    def parse(cls, value: str | None) -> Self | None:
        """The member for a value, compared without case (ARM says `Succeeded`, the data plane `succeeded`)."""
        if value is None:
            return None
        folded = value.lower()
        return next((member for member in cls if member.value.lower() == folded), None)


class JobStatus(TolerantEnum):
    """Known job statuses (Azure 2025-04-01-preview plus OpenAI's `validating_files`/`queued`)."""

    CREATED = "created"
    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    PENDING = "pending"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    RESUMING = "resuming"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def parse(cls, value: str | None) -> JobStatus | None:
        """As `TolerantEnum.parse`, with Azure's other spelling `canceled` read as `cancelled`."""
        if value is not None and value.strip().lower() == "canceled":
            value = "cancelled"
        return super().parse(value)


_TERMINAL_JOB = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
_ACTIVE_JOB = frozenset({JobStatus.RUNNING, JobStatus.PAUSING, JobStatus.RESUMING})


class StatusKind(StrEnum):
    """What a job status means to the bot, whatever Azure called it."""

    WAITING = "waiting"  # accepted, not training yet (created, pending, notRunning, queued, validating_files)
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    RESUMING = "resuming"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a value Azure added later: shown as it came, never a crash


@dataclass(frozen=True, slots=True)
class NormalStatus:
    """A job status normalised across the dated and v1 APIs: `kind` to decide with, `word` to show."""

    raw: str | None
    kind: StatusKind
    word: str

    @property
    def terminal(self) -> bool:
        return self.kind in (StatusKind.SUCCEEDED, StatusKind.FAILED, StatusKind.CANCELLED)


# Folded (lower-case, no `_`/`-`/space) spelling -> (kind, the word the bot shows). The dated APIs say
# `pending`/`cancelled`; the v1 API and OpenAI say `queued`/`validating_files`; Azure also sends
# `notRunning`, `canceling` and `canceled`.
_STATUS_WORDS: dict[str, tuple[StatusKind, str]] = {
    "created": (StatusKind.WAITING, "created"),
    "pending": (StatusKind.WAITING, "pending"),
    "notrunning": (StatusKind.WAITING, "not running"),
    "queued": (StatusKind.WAITING, "queued"),
    "validatingfiles": (StatusKind.WAITING, "validating_files"),
    "running": (StatusKind.RUNNING, "running"),
    "pausing": (StatusKind.PAUSING, "pausing"),
    "paused": (StatusKind.PAUSED, "paused"),
    "resuming": (StatusKind.RESUMING, "resuming"),
    "canceling": (StatusKind.CANCELLING, "cancelling"),
    "cancelling": (StatusKind.CANCELLING, "cancelling"),
    "cancelled": (StatusKind.CANCELLED, "cancelled"),
    "canceled": (StatusKind.CANCELLED, "cancelled"),
    "succeeded": (StatusKind.SUCCEEDED, "succeeded"),
    "failed": (StatusKind.FAILED, "failed"),
}


def normalise_status(value: str | None) -> NormalStatus:
    """Azure's job status in the bot's terms. Case and `_`/`-`/space are ignored (`notRunning`,
    `not_running`, `Canceled`); an unknown value keeps its own spelling with kind UNKNOWN."""
    raw = value.strip() if isinstance(value, str) else None
    if not raw:
        return NormalStatus(value, StatusKind.UNKNOWN, "unknown")
    folded = raw.lower().replace("_", "").replace("-", "").replace(" ", "")
    known = _STATUS_WORDS.get(folded)
    if known is None:
        return NormalStatus(value, StatusKind.UNKNOWN, raw)
    return NormalStatus(value, known[0], known[1])


def is_terminal(status: str | None) -> bool:
    """True for succeeded/failed/cancelled (also spelled `canceled`); unknown statuses are not terminal."""
    return normalise_status(status).terminal


class FileStatus(TolerantEnum):
    UPLOADED = "uploaded"
    PENDING = "pending"
    RUNNING = "running"
    PROCESSED = "processed"
    ERROR = "error"
    DELETING = "deleting"
    DELETED = "deleted"


class DeploymentState(TolerantEnum):
    """ARM `provisioningState` values for deployments."""

    ACCEPTED = "Accepted"
    CREATING = "Creating"
    DELETING = "Deleting"
    MOVING = "Moving"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"
    DISABLED = "Disabled"


_SETTLED_DEPLOYMENT = frozenset(
    {DeploymentState.SUCCEEDED, DeploymentState.FAILED, DeploymentState.CANCELED, DeploymentState.DISABLED}
)


# ---- files ------------------------------------------------------------------------------------------


class FileObject(AzureModel):
    id: str
    object: str = "file"
    created_at: int | None = None
    bytes: int | None = None
    filename: str | None = None
    purpose: str | None = None
    status: str | None = None
    status_details: str | None = None
    expires_at: int | None = None

    @property
    def status_kind(self) -> FileStatus | None:
        return FileStatus.parse(self.status)

    @property
    def is_processed(self) -> bool:
        return self.status_kind is FileStatus.PROCESSED

    @property
    def is_error(self) -> bool:
        return self.status_kind is FileStatus.ERROR

    @property
    def is_settled(self) -> bool:
        """No further change expected: processed, error or deleted (files with no status count as settled)."""
        return self.status is None or self.status_kind in {
            FileStatus.PROCESSED,
            FileStatus.ERROR,
            FileStatus.DELETED,
        }


class FileDeleted(AzureModel):
    id: str
    object: str = "file"
    deleted: bool = True


# ---- jobs -------------------------------------------------------------------------------------------


class JobError(AzureModel):
    code: str | None = None
    message: str | None = None
    param: str | None = None


class Hyperparameters(AzureModel):
    """Values may be ints/floats, `-1` (Azure: chosen from the data) or `"auto"` (OpenAI)."""

    n_epochs: int | float | str | None = None
    batch_size: int | float | str | None = None
    learning_rate_multiplier: float | int | str | None = None
    beta: float | int | str | None = None


class FineTuningJob(AzureModel):
    id: str
    object: str = "fine_tuning.job"
    created_at: int | None = None
    finished_at: int | None = None
    estimated_finish: int | None = None
    model: str | None = None
    fine_tuned_model: str | None = None
    status: str = "unknown"
    training_file: str | None = None
    validation_file: str | None = None
    result_files: list[str] = Field(default_factory=list)
    trained_tokens: int | None = None
    seed: int | None = None
    # The dated api-versions say `suffix`; the v1 API (OpenAI's schema) says `user_provided_suffix`.
    suffix: str | None = Field(default=None, validation_alias=AliasChoices("suffix", "user_provided_suffix"))
    hyperparameters: Hyperparameters | None = None
    method: dict[str, Any] | None = None
    integrations: list[dict[str, Any]] | None = None
    error: JobError | None = None
    # `trainingType` as Azure echoes it (any of the docs' spellings; absent when the service leaves it out).
    # A number (litellm sends `trainingType=1`) is kept as its digits: shown as sent, a type the bot does not know.
    training_type: str | None = Field(
        default=None, validation_alias=AliasChoices("trainingType", "training_type")
    )

    @model_validator(mode="before")
    @classmethod
    def _suffix_with_a_value(cls, data: Any) -> Any:
        # Both names in one answer: the one with a value wins (the alias would take `suffix` even when null).
        if (
            isinstance(data, dict)
            and data.get("suffix") is None
            and data.get("user_provided_suffix") is not None
        ):
            return {k: v for k, v in data.items() if k != "suffix"}
        return data

    @field_validator("result_files", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("status", mode="before")
    @classmethod
    def _one_spelling(cls, value: Any) -> Any:
        """A known status in one spelling (`canceled` and `Cancelled` -> `cancelled`), so a comparison with the
        API's words holds whichever Azure sent; other values (`notRunning`, `canceling`, new ones) as sent."""
        if value is None:
            return "unknown"
        known = JobStatus.parse(value) if isinstance(value, str) else None
        return known.value if known is not None else value

    @field_validator("training_type", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return None  # any other shape: not worth failing the whole job over a display-only field

    @field_validator("error", mode="before")
    @classmethod
    def _empty_error_is_none(cls, value: Any) -> Any:
        # OpenAI-compatible payloads send `error: {}` (or all-null fields) on healthy jobs.
        if isinstance(value, dict) and not value.get("code") and not value.get("message"):
            return None
        return value

    @property
    def status_kind(self) -> JobStatus | None:
        return JobStatus.parse(self.status)

    @property
    def is_terminal(self) -> bool:
        return is_terminal(self.status)

    @property
    def is_active(self) -> bool:
        return self.status_kind in _ACTIVE_JOB

    @property
    def succeeded(self) -> bool:
        return self.status_kind is JobStatus.SUCCEEDED

    @property
    def method_type(self) -> str:
        """`supervised` unless the job says otherwise."""
        if self.method and isinstance(self.method.get("type"), str):
            return str(self.method["type"])
        return "supervised"


class JobEvent(AzureModel):
    id: str
    object: str = "fine_tuning.job.event"
    created_at: int | None = None
    level: str = "info"
    message: str = ""
    type: str = "message"
    data: dict[str, Any] | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _non_dict_data(cls, value: Any) -> Any:
        return value if isinstance(value, dict) or value is None else {"value": value}

    @property
    def is_metrics(self) -> bool:
        return self.type == "metrics"

    def metric(self, name: str) -> float | None:
        """A numeric value from a metrics event's `data` (step, train_loss, valid_loss, ...)."""
        if not self.data:
            return None
        value = self.data.get(name)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class CheckpointMetrics(AzureModel):
    step: float | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = Field(
        default=None,
        validation_alias=AliasChoices("valid_mean_token_accuracy", "validation_mean_token_accuracy"),
    )
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "full_valid_mean_token_accuracy", "full_validation_mean_token_accuracy"
        ),
    )


class Checkpoint(AzureModel):
    """One epoch's checkpoint; `id` is `ftckpt_...` or `ftchkpt-<32 hex>` (both seen)."""

    id: str
    object: str = "fine_tuning.job.checkpoint"
    created_at: int | None = None
    fine_tuned_model_checkpoint: str | None = None
    step_number: int | None = None
    metrics: CheckpointMetrics = Field(default_factory=CheckpointMetrics)
    fine_tuning_job_id: str | None = None

    @field_validator("metrics", mode="before")
    @classmethod
    def _null_metrics(cls, value: Any) -> Any:
        return {} if value is None else value


# ---- chat -------------------------------------------------------------------------------------------


class ChatMessage(AzureModel):
    role: str = "assistant"
    content: str | None = None


class ChatChoice(AzureModel):
    index: int = 0
    message: ChatMessage = Field(default_factory=ChatMessage)
    finish_reason: str | None = None


class ChatCompletion(AzureModel):
    id: str | None = None
    object: str = "chat.completion"
    created: int | None = None
    model: str | None = None
    choices: list[ChatChoice] = Field(default_factory=list)
    usage: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The first choice's content, or an empty string."""
        if not self.choices:
            return ""
        return self.choices[0].message.content or ""


# ---- ARM deployments --------------------------------------------------------------------------------


# ARM deployment SKU names in their canonical spelling. ARM compares them case-insensitively and may echo the
# case a client sent: Microsoft's REST samples send `standard`, and `developertier` works as well as
# `DeveloperTier`. A SKU is normalised once, where ARM's answer becomes a `Sku`, so the rest of the bot
# compares canonical names; `canonical_sku` / `is_developer_sku` serve values from elsewhere (stored rows).
DEVELOPER_SKU = "DeveloperTier"
DEPLOYMENT_SKUS: tuple[str, ...] = (
    "Standard",
    "GlobalStandard",
    "DataZoneStandard",
    DEVELOPER_SKU,
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
    "GlobalBatch",
    "DataZoneBatch",
)
_SKU_SPELLINGS = {s.lower(): s for s in DEPLOYMENT_SKUS}


def canonical_sku(name: str) -> str:
    """`developertier` -> `DeveloperTier`, `standard` -> `Standard`; a SKU we do not know is kept as sent."""
    return _SKU_SPELLINGS.get(name.strip().lower(), name)


def is_developer_sku(name: str | None) -> bool:
    """Whether an ARM SKU name is the Developer deployment type (`DeveloperTier`), in any case."""
    return name is not None and canonical_sku(name) == DEVELOPER_SKU


class Sku(AzureModel):
    name: str = "Standard"
    capacity: int | None = None

    @field_validator("name")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical_sku(value)


class DeploymentModel(AzureModel):
    format: str = "OpenAI"
    name: str
    version: str | None = None
    source: str | None = None  # cross-region / cross-subscription: source account ARM id
    sourceAccount: str | None = None  # cross-tenant: source account ARM id


class DeploymentProperties(AzureModel):
    model: DeploymentModel | None = None
    provisioningState: str | None = None


class Deployment(AzureModel):
    id: str | None = None
    name: str
    type: str | None = None
    sku: Sku | None = None
    properties: DeploymentProperties = Field(default_factory=DeploymentProperties)
    systemData: dict[str, Any] | None = None  # wire names are camelCase on ARM

    @property
    def provisioning_state(self) -> str | None:
        return self.properties.provisioningState

    @property
    def state(self) -> DeploymentState | None:
        return DeploymentState.parse(self.provisioning_state)

    @property
    def is_settled(self) -> bool:
        """Provisioning finished one way or the other (unknown states are treated as still moving)."""
        return self.state in _SETTLED_DEPLOYMENT

    @property
    def succeeded(self) -> bool:
        return self.state is DeploymentState.SUCCEEDED

    @property
    def model_name(self) -> str | None:
        return self.properties.model.name if self.properties.model else None


class AsyncOperation(AzureModel):
    """The body of an `Azure-AsyncOperation` status URL."""

    id: str | None = None
    name: str | None = None
    status: str = "InProgress"
    error: JobError | None = None

    @property
    def is_settled(self) -> bool:
        return self.status.lower() in {"succeeded", "failed", "canceled", "cancelled"}

    @property
    def succeeded(self) -> bool:
        return self.status.lower() == "succeeded"


# ---- models (`GET /openai/models`) ----------------------------------------------------------------


class ServiceModel(AzureModel):
    """One entry of `GET /openai/models`: a base model (capabilities, lifecycle, deprecation dates as Unix
    seconds) or a fine-tuned one (`model` names its base, `fine_tune` its job)."""

    id: str
    object: str = "model"
    status: str | None = None
    created_at: int | None = None
    model: str | None = None
    fine_tune: str | None = None
    capabilities: dict[str, Any] = Field(default_factory=dict)
    lifecycle_status: str | None = None
    deprecation: dict[str, Any] = Field(default_factory=dict)

    @field_validator("capabilities", "deprecation", mode="before")
    @classmethod
    def _null_dict(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def fine_tuned(self) -> bool:
        return bool(self.model) or bool(self.fine_tune)

    @property
    def fine_tunable(self) -> bool:
        return bool(self.capabilities.get("fine_tune"))

    def deprecation_at(self, what: str) -> int | None:
        """Unix seconds after which the model no longer serves `what` (`fine_tune` or `inference`)."""
        value = self.deprecation.get(what)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
