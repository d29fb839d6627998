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
    # 7.5 s per step: the good demo set (24 examples -> 4 default epochs -> 96 steps) trains in 720 s, so the
    # whole job (~16.5 simulated minutes) still takes about a minute at speed 16.
    step: float = 7.5
    evaluation: float = 120.0  # post-training safety evaluation and results upload
    pause_evaluation: float = 60.0  # paused job -> safety-evaluated, deployable checkpoint
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
    # Quotas per resource (quotas-limits.md, 2026-02-17).
    max_running_jobs: int = 3
    """Training jobs running at once (Standard, Data Zone, Global training)."""
    max_running_developer_jobs: int = 5
    """Developer-training jobs running at once."""
    max_queued_jobs: int = 20
    max_total_jobs: int = 100
    fine_tuned_deployment_quota: int = 10
    developer_deployment_hours: float = 24.0
    """Developer (`DeveloperTier`) deployments are deleted this long after creation, whatever their use."""
    gated_models: bool = False
    """Allow models whose fine-tuning is by invitation only (gpt-5 RFT); refused otherwise, as for most users."""
    min_examples: int = 10
    idle_days: float = 15.0
    arm_page_size: int = 20
    fault_seed: int = 0
    """Seed of the random draws that decide which requests a fault hits (reproducible fault runs)."""

    def accounts(self) -> list[AccountConfig]:
        return [self.default_account, *self.extra_accounts]

    def make_clock(self) -> SimClock:
        return self.clock if self.clock is not None else SimClock(self.speed, self.start_time)
