"""Emulator settings: accounts (each with its tenant), quotas and simulated durations."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.clock import SimClock

DEFAULT_SPEED = 16.0
"""Simulated seconds per real second: the good demo job (~16.5 simulated minutes) then takes about a minute."""


@dataclass(frozen=True)
class AccountConfig:
    """One Azure OpenAI resource (a `Microsoft.CognitiveServices/accounts` ARM resource)."""

    name: str = "emulated-aoai"
    subscription_id: str = "00000000-0000-0000-0000-000000000001"
    resource_group: str = "ftbot-rg"
    tenant_id: str = "00000000-0000-0000-0000-0000000000aa"
    location: str = "swedencentral"

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.name}"
        )


@dataclass(frozen=True)
class Timings:
    """Simulated durations in seconds (not real seconds: divide by the clock speed)."""

    file_processing: float = 5.0
    queue: float = 30.0  # created -> eligible to start (validating files)
    setup: float = 120.0  # "Job started." -> first training step
    step: float = 10.0
    evaluation: float = 120.0  # post-training safety evaluation and results upload
    pausing: float = 20.0
    resuming: float = 20.0
    deploy_accepted: float = 10.0  # Accepted -> Creating
    deploy_creating: float = 230.0  # Creating -> Succeeded
    deploy_deleting: float = 30.0


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told at start. All fields have working defaults."""

    default_account: AccountConfig = field(default_factory=AccountConfig)
    extra_accounts: list[AccountConfig] = field(default_factory=list)
    speed: float = DEFAULT_SPEED
    start_time: float | None = None
    """Simulated unix time at start; default: the real time now."""
    clock: SimClock | None = None
    """Inject a clock (tests); when set, `speed` and `start_time` are ignored."""
    api_key: str | None = None
    """When set, the data-plane `api-key` header must equal it; otherwise any non-empty key is accepted."""
    timings: Timings = field(default_factory=Timings)
    max_running_jobs: int = 1
    max_queued_jobs: int = 20
    max_total_jobs: int = 100
    fine_tuned_deployment_quota: int = 5
    min_examples: int = 10
    idle_days: float = 15.0
    arm_page_size: int = 20
    fault_seed: int = 0
    """Seed of the random draws that decide which requests a fault hits (reproducible fault runs)."""

    def accounts(self) -> list[AccountConfig]:
        return [self.default_account, *self.extra_accounts]

    def make_clock(self) -> SimClock:
        return self.clock if self.clock is not None else SimClock(self.speed, self.start_time)
