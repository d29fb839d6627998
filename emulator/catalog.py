"""The fine-tuning model catalogue as of 2026, and the api-versions the service answers.

Sources: Microsoft's `fine-tune-supported-models.md` (2026-03-05: models, methods, training types, Standard
regions), the model retirement schedule (base retirements gpt-4o/gpt-4o-mini 2026-10-01, gpt-4.1 family
2026-10-14, o4-mini 2026-10-16; gpt-35-turbo, gpt-4-0613, babbage-002, davinci-002 retired for fine-tuning),
`quotas-limits.md` (2026-02-17) and the api-version lifecycle page. The bot keeps its own copy of the model
facts in `bot/dataprep/models.py`; a test keeps the two in agreement (this package imports nothing of ours).
"""

from __future__ import annotations

from dataclasses import dataclass

SUPERVISED, DPO, REINFORCEMENT = "supervised", "dpo", "reinforcement"

# Training types (`trainingType` on job create), canonical spelling -> the spellings the docs use.
STANDARD, DATA_ZONE, GLOBAL, DEVELOPER = "Standard", "DataZoneStandard", "GlobalStandard", "Developer"
TRAINING_TYPE_SPELLINGS = {
    "standard": STANDARD,
    "datazonestandard": DATA_ZONE,
    "datazone": DATA_ZONE,
    "globalstandard": GLOBAL,
    "global": GLOBAL,
    "developer": DEVELOPER,
    "developertier": DEVELOPER,
}

# Deployment SKUs a fine-tuned model may use, canonical spelling (ARM takes any case). Per model
# (`BaseModel.deployment_skus`): `fine-tuning-deploy.md` (2026-02-11, "Deployment Types") lists Developer
# deployments for o4-mini, gpt-4.1, gpt-4.1-mini and gpt-4.1-nano only, whatever the model's training types.
DEVELOPER_TIER = "DeveloperTier"
DEPLOYMENT_SKUS = (
    "Standard",
    "GlobalStandard",
    "DataZoneStandard",
    DEVELOPER_TIER,
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
)
ALL_DEPLOYMENTS = frozenset(DEPLOYMENT_SKUS)
NO_DEVELOPER_DEPLOYMENT = ALL_DEPLOYMENTS - {DEVELOPER_TIER}

ALL_TYPES = frozenset({STANDARD, DATA_ZONE, GLOBAL, DEVELOPER})
_STANDARD_REGIONS_41 = frozenset({"northcentralus", "swedencentral"})


@dataclass(frozen=True)
class BaseModel:
    name: str  # versioned name, e.g. gpt-4o-mini-2024-07-18
    family: str  # e.g. gpt-4o-mini (also accepted as an alias)
    methods: frozenset[str] = frozenset({SUPERVISED})
    training_types: frozenset[str] = ALL_TYPES
    deployment_skus: frozenset[str] = NO_DEVELOPER_DEPLOYMENT  # SKUs a model fine-tuned from this one may use
    standard_regions: frozenset[str] = _STANDARD_REGIONS_41
    vision: bool = False
    retires: str | None = None  # base-model retirement (ISO date): no new fine-tuning after it
    gated: bool = False  # access by invitation only (gpt-5 RFT)
    retired: bool = False  # refused for fine-tuning now
    chat: bool = True  # False: prompt/completion format (babbage-002, davinci-002)
    rai_checked: bool = True  # every model still offered gets the safety evaluation
    default_lr: float = 1.0  # learning_rate_multiplier chosen when none is given

    @property
    def dpo(self) -> bool:
        return DPO in self.methods

    @property
    def version(self) -> str:
        return self.name[len(self.family) + 1 :]

    def offers(self, training_type: str, location: str) -> bool:
        if training_type not in self.training_types:
            return False
        return training_type != STANDARD or location.lower() in self.standard_regions


_MODELS = [
    BaseModel("gpt-4o-mini-2024-07-18", "gpt-4o-mini", retires="2026-10-01"),
    BaseModel(
        "gpt-4o-2024-08-06",
        "gpt-4o",
        methods=frozenset({SUPERVISED, DPO}),
        standard_regions=frozenset({"eastus2", "northcentralus", "swedencentral"}),
        vision=True,
        retires="2026-10-01",
    ),
    # Real runs show gpt-4.1 choosing a learning-rate multiplier of 2.0 (transcripts 2025-09, 2026-05).
    BaseModel(
        "gpt-4.1-2025-04-14",
        "gpt-4.1",
        methods=frozenset({SUPERVISED, DPO}),
        deployment_skus=ALL_DEPLOYMENTS,
        vision=True,
        retires="2026-10-14",
        default_lr=2.0,
    ),
    BaseModel(
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-mini",
        methods=frozenset({SUPERVISED, DPO}),
        deployment_skus=ALL_DEPLOYMENTS,
        retires="2026-10-14",
        default_lr=2.0,
    ),
    BaseModel(
        "gpt-4.1-nano-2025-04-14",
        "gpt-4.1-nano",
        methods=frozenset({SUPERVISED, DPO}),
        deployment_skus=ALL_DEPLOYMENTS,
        retires="2026-10-14",
        default_lr=2.0,
    ),
    BaseModel(
        "o4-mini-2025-04-16",
        "o4-mini",
        methods=frozenset({REINFORCEMENT}),
        training_types=frozenset({STANDARD, DATA_ZONE, GLOBAL}),
        standard_regions=frozenset({"eastus2", "swedencentral"}),
        deployment_skus=ALL_DEPLOYMENTS,
        retires="2026-10-16",
    ),
    BaseModel("gpt-5-2025-08-07", "gpt-5", methods=frozenset({REINFORCEMENT}), gated=True),
    # Retired for fine-tuning: refused with the service's wording.
    BaseModel("gpt-35-turbo-0613", "gpt-35-turbo", retired=True, rai_checked=False),
    BaseModel("gpt-35-turbo-1106", "gpt-35-turbo", retired=True, rai_checked=False),
    BaseModel("gpt-35-turbo-0125", "gpt-35-turbo", retired=True, rai_checked=False),
    BaseModel("gpt-4-0613", "gpt-4", retired=True),
    BaseModel("babbage-002", "babbage-002", retired=True, chat=False, rai_checked=False),
    BaseModel("davinci-002", "davinci-002", retired=True, chat=False, rai_checked=False),
]
BASE_MODELS: dict[str, BaseModel] = {m.name: m for m in _MODELS}

# Family names without a version resolve to the only (or newest) fine-tunable version.
ALIASES = {
    "gpt-35-turbo": "gpt-35-turbo-0125",
    "gpt-4": "gpt-4-0613",
    **{m.family: m.name for m in _MODELS if not m.retired},
}

FT_MARKER = ".ft-"


def lookup(name: str) -> BaseModel | None:
    return BASE_MODELS.get(ALIASES.get(name, name))


def offered() -> list[BaseModel]:
    """Models that can be fine-tuned today (retired ones left out)."""
    return [m for m in _MODELS if not m.retired]


def root_of(model: str) -> str:
    """The base model under a (possibly repeatedly) fine-tuned model name or checkpoint name."""
    return model.split(FT_MARKER, 1)[0]


def training_type(value: object) -> str | None:
    """The canonical training type for any documented spelling; None for an unknown one."""
    if not isinstance(value, str):
        return None
    return TRAINING_TYPE_SPELLINGS.get(value.replace("_", "").replace("-", "").lower())


def deployment_sku(name: str) -> str | None:
    """The canonical SKU name (ARM compares case-insensitively: `standard` works); None for an unknown one."""
    return next((s for s in DEPLOYMENT_SKUS if s.lower() == name.lower()), None)


# -- api-versions ---------------------------------------------------------------------------------------------
# Data plane (authoring): GA and preview versions the service answers. `2023-12-01-preview` and the other
# 2023 previews were retired on 2024-07-01 (api-version lifecycle page, 2024 edition); GA versions stay.
DATA_PLANE_VERSIONS = (
    "2023-05-15",
    "2024-02-01",
    "2024-06-01",
    "2024-10-21",
    "2023-10-01-preview",
    "2024-05-01-preview",
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
)
RETIRED_DATA_PLANE_VERSIONS = (
    "2023-03-15-preview",
    "2023-07-01-preview",
    "2023-08-01-preview",
    "2023-09-01-preview",
    "2023-12-01-preview",
)
LATEST_DATA_PLANE_VERSION = "2025-04-01-preview"
# Features by the versions whose authoring spec has them: the 2025-04-01-preview delta adds pause/resume and
# `method` over stable 2024-10-21 (spec-excerpts/). Earlier previews are treated as not having them.
FEATURE_SINCE = {
    "pause": "2025-04-01-preview",
    "resume": "2025-04-01-preview",
    "method": "2025-04-01-preview",
}

ARM_VERSIONS = (
    "2023-05-01",
    "2023-10-01-preview",
    "2024-04-01-preview",
    "2024-06-01-preview",
    "2024-10-01",
    "2025-04-01-preview",
    "2025-06-01",
    "2025-07-01-preview",
    "2025-09-01",
)
DEVELOPER_TIER_ARM_SINCE = "2025-07-01-preview"  # `DeveloperTier` deployments (fine-tuning-deploy.md)
MONITOR_VERSIONS = ("2018-01-01", "2019-07-01", "2021-05-01", "2023-10-01", "2024-02-01")


def has_feature(version: str | None, feature: str) -> bool:
    """Whether an api-version offers a feature; `None` is the v1 API (every feature, no api-version)."""
    if version is None:
        return True
    since = FEATURE_SINCE.get(feature)
    if since is None:
        return True
    return version.endswith("-preview") and version[:10] >= since[:10]


def arm_at_least(version: str, since: str) -> bool:
    """ARM versions by date (a GA version counts from its own date)."""
    return version[:10] >= since[:10]
