"""ARM deployments of an account: provisioning on the clock, async operations, the idle rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator.config import AccountConfig, Timings

DEPLOYMENT_TYPE = "Microsoft.CognitiveServices/accounts/deployments"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Deployment:
    name: str
    sku: dict[str, Any]
    model: dict[str, Any]
    custom_model: str | None  # canonical name when the model is a fine-tuned model or a checkpoint
    created_at: float
    creating_at: float  # Accepted -> Creating
    ready_at: float  # Creating -> Succeeded
    last_call_at: float | None = None
    developer: bool = False  # DeveloperTier: deleted 24 h after creation whatever its use
    deleting_since: float | None = None
    gone_at: float | None = None

    def state(self, now: float) -> str:
        if self.deleting_since is not None:
            return "Deleting"
        if now < self.creating_at:
            return "Accepted"
        if now < self.ready_at:
            return "Creating"
        return "Succeeded"

    def idle_deadline(self, idle_seconds: float) -> float:
        """Azure's rule: deployed more than 15 days ago and no calls for 15 days -> deleted."""
        return max(self.created_at, self.last_call_at or self.created_at) + idle_seconds

    def as_json(self, account: AccountConfig, now: float) -> dict[str, Any]:
        return {
            "id": f"{account.arm_id}/deployments/{self.name}",
            "name": self.name,
            "type": DEPLOYMENT_TYPE,
            "sku": self.sku,
            "properties": {"model": self.model, "provisioningState": self.state(now)},
            "systemData": {"createdAt": iso(self.created_at), "lastModifiedAt": iso(self.created_at)},
        }


@dataclass
class Operation:
    """What an `Azure-AsyncOperation` URL reports on."""

    id: str
    kind: str  # create | delete
    deployment: str
    start: float
    end: float

    def as_json(self, url_path: str, now: float) -> dict[str, Any]:
        done = now >= self.end
        out: dict[str, Any] = {
            "id": url_path,
            "name": self.id,
            "status": "Succeeded" if done else "InProgress",
            "startTime": iso(self.start),
        }
        if done:
            out["endTime"] = iso(self.end)
        return out


def new_deployment(
    name: str, sku: dict[str, Any], model: dict[str, Any], custom: str | None, now: float, t: Timings
) -> Deployment:
    creating = now + t.deploy_accepted
    return Deployment(name, sku, model, custom, now, creating, creating + t.deploy_creating)
