"""All emulator state, per account, and the tick that brings it up to the simulated now."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.clock import SimClock
from emulator.config import AccountConfig, EmulatorConfig
from emulator.errors import ApiError
from emulator.faults import FaultBoard
from emulator.ids import new_id

# The jobs, files and deployments modules (training curves, dataset checks) are imported when the first job, file
# or deployment is made or ticked, not when the emulator starts (the bot's embedded default, issue 17).
if TYPE_CHECKING:
    from emulator.deployments import Deployment, Operation
    from emulator.files import StoredFile
    from emulator.jobs import Job

DAY = 86400.0


@dataclass
class AccountState:
    config: AccountConfig
    files: dict[str, StoredFile] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)  # insertion order = creation order
    deployments: dict[str, Deployment] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    calls: list[tuple[float, str]] = field(default_factory=list)  # (time, deployment) per inference call
    idle_deleted: list[tuple[str, float]] = field(default_factory=list)

    def store_result(self, filename: str, content: bytes, at: float) -> str:
        from emulator.files import new_file

        stored = new_file(
            new_id("file"),
            filename,
            "fine-tune-results",
            content,
            now=at,
            processing_seconds=0,
            min_examples=0,
        )
        self.files[stored.id] = stored
        return stored.id

    def advance(self, now: float, config: EmulatorConfig) -> None:
        self._advance_jobs(now, config)
        self._advance_deployments(now, config)

    def _advance_jobs(self, now: float, config: EmulatorConfig) -> None:
        if not self.jobs:
            return
        from emulator.jobs import ACTIVE

        timings = config.timings
        while True:
            for job in self.jobs.values():
                if job.status in ACTIVE:
                    job.advance(now, timings, self.store_result)
            started = False
            for waiting in [j for j in self.jobs.values() if j.status == "pending"]:
                limit = config.max_running_developer_jobs if waiting.developer else config.max_running_jobs
                start = self._free_slot_at(waiting, limit)
                if start is not None and start <= now:
                    waiting.start(start, timings)
                    started = True
                    break  # play the new job up to now before deciding about the next one
            if not started:
                return

    def _free_slot_at(self, waiting: Job, limit: int) -> float | None:
        """The first instant from `waiting.ready_at` at which fewer than `limit` jobs of its kind (Developer
        or not) held a training slot; None while they are all still busy. Exact, so a queued job starts at
        the simulated instant a slot frees, however late anyone looks."""
        held = [
            (j.started_at, j.finished_at)
            for j in self.jobs.values()
            if j is not waiting and j.started_at is not None and j.developer == waiting.developer
        ]
        candidates = sorted(
            {waiting.ready_at} | {end for _, end in held if end is not None and end > waiting.ready_at}
        )
        for t in candidates:
            busy = sum(1 for start, end in held if start <= t and (end is None or end > t))
            if busy < limit:
                return t
        return None

    def _advance_deployments(self, now: float, config: EmulatorConfig) -> None:
        idle_seconds = config.idle_days * DAY
        for name, deployment in list(self.deployments.items()):
            if deployment.gone_at is not None:
                if now >= deployment.gone_at:
                    del self.deployments[name]
            elif deployment.developer:
                # Developer deployments are deleted 24 h after creation whatever their use.
                deadline = deployment.created_at + config.developer_deployment_hours * 3600
                if now >= deadline:
                    del self.deployments[name]
                    self.idle_deleted.append((name, deadline))
            elif deployment.custom_model is not None:
                deadline = deployment.idle_deadline(idle_seconds)
                if now >= deadline:
                    del self.deployments[name]
                    self.idle_deleted.append((name, deadline))

    def find_custom_model(self, name: str) -> tuple[str, Job] | None:
        """(canonical model name, job) of a deployable fine-tuned model or kept checkpoint called `name`."""
        for job in self.jobs.values():
            if job.status == "paused":
                # A paused job's checkpoint is deployable once its safety evaluation is done.
                for checkpoint in job.checkpoints:
                    if checkpoint.paused_evaluated and name in (checkpoint.id, checkpoint.model):
                        return checkpoint.model, job
                continue
            if job.status != "succeeded" or job.fine_tuned_model is None:
                continue
            if name == job.fine_tuned_model:
                return name, job
            for checkpoint in job.checkpoints:
                if name in (checkpoint.id, checkpoint.model):
                    return checkpoint.model, job  # the final checkpoint's model is the fine-tuned model
        return None

    def undeployable_reason(self, name: str) -> str | None:
        """Why a name that belongs to one of our jobs cannot be deployed (None: not ours)."""
        for job in self.jobs.values():
            names = (
                {job.planned_model_name}
                | {c.id for c in job.checkpoints}
                | {c.model for c in job.checkpoints}
            )
            if name in names:
                why = f"its fine-tuning job {job.id} is {job.status}"
                if job.error:
                    why += f": {job.error['message']}"
                return why
        return None

    def summary(self, now: float) -> dict[str, object]:
        return {
            "name": self.config.name,
            "tenant_id": self.config.tenant_id,
            "subscription_id": self.config.subscription_id,
            "resource_group": self.config.resource_group,
            "files": {f.id: f.status(now) for f in self.files.values()},
            "jobs": {j.id: j.status for j in self.jobs.values()},
            "deployments": {d.name: d.state(now) for d in self.deployments.values()},
            "inference_calls": len(self.calls),
            "idle_deleted": [name for name, _ in self.idle_deleted],
        }


class EmulatorState:
    """The whole emulated world. Handlers call `tick()` first, so every answer reflects the simulated now."""

    def __init__(self, config: EmulatorConfig, clock: SimClock | None = None) -> None:
        self.config = config
        self.clock = clock or config.make_clock()
        self.faults = FaultBoard(config.fault_seed)
        self.counters: Counter[str] = Counter()
        self.accounts: dict[str, AccountState] = {}
        self.reset()

    def reset(self) -> None:
        """Forget all files, jobs, deployments, counters and faults (the clock keeps running)."""
        self.accounts = {a.name: AccountState(a) for a in self.config.accounts()}
        self.counters.clear()
        self.faults.clear()

    @property
    def default_account(self) -> AccountState:
        return self.accounts[self.config.default_account.name]

    def now(self) -> float:
        return self.clock.now()

    def tick(self) -> float:
        now = self.clock.now()
        for account in self.accounts.values():
            account.advance(now, self.config)
        return now

    def advance(self, seconds: float) -> float:
        self.clock.advance(seconds)
        return self.tick()

    def count(self, key: str) -> None:
        self.counters[key] += 1

    def account(self, name: str | None) -> AccountState:
        if name is None:
            return self.default_account
        try:
            return self.accounts[name]
        except KeyError:
            raise ApiError(404, "404", "Resource not found") from None

    def arm_account(self, subscription: str, resource_group: str, name: str) -> AccountState:
        for account in self.accounts.values():
            c = account.config
            if (
                c.subscription_id.lower() == subscription.lower()
                and c.resource_group.lower() == resource_group.lower()
                and c.name.lower() == name.lower()
            ):
                return account
        raise ApiError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.CognitiveServices/accounts/{name}' under resource group "
            f"'{resource_group}' was not found.",
        )

    def account_by_arm_id(self, arm_id: str) -> AccountState | None:
        wanted = arm_id.rstrip("/").lower()
        return next((a for a in self.accounts.values() if a.config.arm_id.lower() == wanted), None)

    def summary(self) -> dict[str, object]:
        now = self.tick()
        return {
            "now": now,
            "speed": self.clock.speed,
            "counters": dict(self.counters),
            "faults": self.faults.as_json(),
            "accounts": {name: a.summary(now) for name, a in self.accounts.items()},
        }
