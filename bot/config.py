"""Typed settings, read once at start: environment variables (prefix `FTBOT_`, plus the platforms' own
conventional names) and an optional TOML file for what does not fit in variables (several Azure resources,
roles). Secrets come only from the environment: a TOML file that holds one is refused.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, quote_plus, urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from bot import training_types
from bot.errors import ConfigError

DEFAULT_DATA_API_VERSION = "2025-04-01-preview"
DEFAULT_ARM_API_VERSION = "2024-10-01"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback_host(host: str) -> bool:
    """A name or address that only this machine reaches (`localhost`, 127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_ids(value: Any) -> Any:
    """`T1,T2` (or spaces, or a JSON list) from an environment variable; a TOML list as it is."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            pass  # reported by the list validation below
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split() if part]
    return value


IdList = Annotated[list[str], NoDecode, BeforeValidator(_split_ids)]
"""Ids in an environment variable as `A,B,C` rather than JSON."""

SECRET_KEYS = frozenset({"api_key", "password", "secret", "token", "client_secret", "signing_secret"})


class Roles(BaseModel):
    """Who may do what (see bot/policy.py): Slack user ids (`U...`), Slack user group ids (`S...`) and Teams
    AAD object ids. Fail closed: an empty list grants the role to nobody."""

    model_config = ConfigDict(extra="forbid")

    operators: list[str] = Field(
        default_factory=list, description="Users who may manage any job and deployment."
    )
    approvers: list[str] = Field(default_factory=list, description="Users allowed to approve deployments.")
    starters: list[str] | None = Field(
        default=None,
        description="If set, only these users (and operators) may start jobs or ask for deployments.",
    )
    required_approvals: int = Field(
        default=1, ge=1, le=5, description="Distinct approvals a deployment needs."
    )
    admins: list[str] = Field(
        default_factory=list, description="Deprecated alias kept for old files: operators."
    )


def _training_type_word(value: str | None) -> str | None:
    """A configured training type in any documented spelling, as the bot's word; empty is none."""
    if value is None or not value.strip():
        return None
    found = training_types.parse(value)
    if found is None:
        raise ValueError(f"must be one of {training_types.USAGE}")
    return found


class AzureResource(BaseModel):
    """One Azure OpenAI resource the bot can use, addressed in chat as `--resource NAME`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short name used in chat (`--resource NAME`).")
    endpoint: str = Field(description="Data-plane endpoint, e.g. https://my-aoai.openai.azure.com")
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding this resource's API key."
    )
    subscription_id: str = ""
    resource_group: str = ""
    account_name: str = ""
    region: str = ""
    tenant_id: str = Field(default="", description="Entra tenant of the resource (cross-tenant deploys).")
    client_id_env: str | None = Field(
        default=None,
        description="Cross-tenant deploys from this resource: environment variable holding the client id of a "
        "service principal in this resource's tenant (for the x-ms-authorization-auxiliary token).",
    )
    client_secret_env: str | None = Field(
        default=None,
        description="Cross-tenant deploys from this resource: environment variable holding that service "
        "principal's client secret.",
    )
    api_version: str = Field(
        default=DEFAULT_DATA_API_VERSION, description="This resource's data-plane api-version, or `v1`."
    )
    roles: Roles | None = Field(
        default=None, description="Roles for this resource only (else the global [roles])."
    )
    default_training_type: str | None = Field(
        default=None,
        description="Training type of a `start` on this resource without --training-type "
        f"({training_types.USAGE}; else FTBOT_DEFAULT_TRAINING_TYPE).",
    )

    @field_validator("default_training_type")
    @classmethod
    def _training_type(cls, value: str | None) -> str | None:
        return _training_type_word(value)

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.account_name}"
        )

    def api_key(self) -> SecretStr | None:
        value = os.environ.get(self.api_key_env) if self.api_key_env else None
        return SecretStr(value) if value else None

    def tenant_credential(self) -> tuple[str, SecretStr] | None:
        """(client id, secret) of a service principal in this resource's tenant, when both are set."""
        client = os.environ.get(self.client_id_env) if self.client_id_env else None
        secret = os.environ.get(self.client_secret_env) if self.client_secret_env else None
        return (client, SecretStr(secret)) if client and secret else None

    def tenant_credential_secret(self) -> SecretStr | None:
        credential = self.tenant_credential()
        return credential[1] if credential else None


class Settings(BaseSettings):
    """Every setting of the bot. Field docstrings are the README's settings table."""

    # populate_by_name: overrides in code use field names (microsoft_app_id=...), the environment the aliases.
    model_config = SettingsConfigDict(
        env_prefix="FTBOT_", extra="ignore", case_sensitive=False, populate_by_name=True
    )

    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(default=3978, ge=0, le=65535, description="Port of the HTTP server (0: any free port).")
    public_url: str = Field(
        default="",
        description="Public base URL of the bot (manifests, chart image links). Default: http://HOST:PORT.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./ftbot.db",
        description="SQLAlchemy URL: SQLite (default, file under the working directory) or "
        "postgresql+asyncpg://... for several replicas.",
    )
    config_file: Path | None = Field(
        default=None,
        description="Optional TOML file for several Azure resources and roles. Default: ./ftbot.toml if present.",
    )
    log_format: Literal["plain", "json"] = Field(default="plain", description="`plain` or `json` log lines.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")

    azure_openai_endpoint: str | None = Field(
        default=None, description="Azure OpenAI data-plane endpoint. Absent: the embedded emulator is used."
    )
    azure_openai_api_key: SecretStr | None = Field(
        default=None, description="API key for the data plane. Absent: Entra ID through azure-identity."
    )
    azure_static_token: SecretStr | None = Field(
        default=None,
        description="A fixed bearer token for ARM instead of Entra ID: only for a standalone emulator "
        "(tests, demos); never set it against Azure.",
    )
    azure_api_version: str = Field(
        default=DEFAULT_DATA_API_VERSION,
        description="Data-plane api-version (a dated one, or `v1`: `{endpoint}/openai/v1/...` with no "
        "api-version, Entra tokens for https://ai.azure.com/.default).",
    )
    arm_endpoint: str = Field(
        default="https://management.azure.com", description="ARM control-plane endpoint."
    )
    arm_api_version: str = Field(
        default=DEFAULT_ARM_API_VERSION, description="ARM api-version for deployments."
    )
    subscription_id: str = Field(default="", description="Subscription of the default Azure OpenAI resource.")
    resource_group: str = Field(default="", description="Resource group of the default resource.")
    account_name: str = Field(default="", description="Account (resource) name of the default resource.")
    tenant_id: str = Field(default="", description="Entra tenant of the default resource.")
    region: str = Field(
        default="", description="Azure region of the default resource (shown on approval cards)."
    )
    allow_local_files: bool = Field(
        default=False,
        description="Let chat commands use paths on the bot's machine and sample datasets as training data "
        "(always on with the embedded emulator; never turn on for a shared bot).",
    )
    reconcile_interval: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between checks of unfinished starts (reconciled with Azure's job list) and of "
        "Azure files still to delete; the first check runs at start-up.",
    )
    start_settle: float = Field(
        default=120.0,
        ge=0,
        description="Seconds after a job create went unanswered before a start that Azure has no job for is "
        "declared not started (its uploads are then deleted and the user told).",
    )
    chart_ttl_days: float = Field(
        default=7.0,
        gt=0,
        description="How long chart pictures stay at their unguessable URL under FTBOT_PUBLIC_URL (Teams "
        "fetches them from there); after that the link answers 404.",
    )
    emulator_speed: float = Field(
        default=16.0,
        gt=0,
        description="Embedded emulator: simulated seconds per real second (16: a demo job takes about a minute).",
    )
    db_timeout: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="Seconds a database statement, connection or pool checkout may take; past it the command "
        "is answered with an error instead of waiting on a hung database.",
    )
    max_inflight: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="Commands and clicks one chat adapter works on at once; past it a new one is answered "
        '"ftbot is busy, try again in a few seconds" at once instead of being queued.',
    )
    validation_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Threads that check training data (CPU-bound; more than the machine's cores does not help).",
    )
    validation_queue: int = Field(
        default=4,
        ge=0,
        le=1000,
        description='Checks that may wait for a free thread; past it a new one is answered "busy, try again".',
    )
    validations_per_user: int = Field(
        default=2, ge=1, le=100, description="Checks one chat user may have running or waiting at once."
    )
    validation_max_invalid: int = Field(
        default=1000,
        ge=1,
        description="A check stops after this many invalid examples (the report says where it stopped).",
    )

    azure_list_pages: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Pages of an Azure list one command or check reads at most (jobs come 50 a page: "
        "`list --all --status X` searches the newest 1,000); past it the answer says what it did not read.",
    )
    azure_list_seconds: float = Field(
        default=20.0,
        gt=0,
        description="Seconds one read of an Azure list may take across its pages; past it the answer says "
        "what it did not read.",
    )

    watch_interval: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between polls of watched jobs (statuses, events) and alert deliveries.",
    )

    slack_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "FTBOT_SLACK_BOT_TOKEN"),
        description="Slack bot token (`xoxb-...`). Absent: the Slack endpoint is off.",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "FTBOT_SLACK_SIGNING_SECRET"),
        description="Slack signing secret used to verify requests.",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Slack Web API base URL (a local stand-in in tests).",
    )
    microsoft_app_id: str = Field(
        default="",
        validation_alias=AliasChoices("MicrosoftAppId", "FTBOT_MICROSOFT_APP_ID"),
        description="Teams bot app id. Absent: no JWT validation (local use only; logged as a warning).",
    )
    microsoft_app_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MicrosoftAppPassword", "FTBOT_MICROSOFT_APP_PASSWORD"),
        description="Teams bot app password (client secret).",
    )
    microsoft_app_tenant_id: str = Field(
        default="",
        validation_alias=AliasChoices("MicrosoftAppTenantId", "FTBOT_MICROSOFT_APP_TENANT_ID"),
        description="Tenant of a single-tenant bot.",
    )
    microsoft_app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = Field(
        default="MultiTenant",
        validation_alias=AliasChoices("MicrosoftAppType", "FTBOT_MICROSOFT_APP_TYPE"),
        description="Bot identity type.",
    )
    slack_allowed_workspaces: IdList = Field(
        default_factory=list,
        description="Slack workspace (`T...`) or Enterprise Grid (`E...`) ids whose requests are served, "
        "comma-separated. Empty: only the bot token's own workspace (from `auth.test`). Others get 403.",
    )
    teams_allowed_tenants: IdList = Field(
        default_factory=list,
        description="Entra tenant ids whose Teams requests are served, comma-separated. Empty: the bot's own "
        "MicrosoftAppTenantId; a multi-tenant bot lists its tenants here. Neither set: every request is refused.",
    )
    teams_no_auth: bool = Field(
        default=False,
        description="Serve /api/messages WITHOUT Bot Framework authentication, for the Bot Framework Emulator "
        "on this machine only (loopback address, Host/Origin checked). Implied by the embedded default; refused "
        "together with Slack, MicrosoftAppId or an Azure endpoint off this machine.",
    )
    teams_openid_metadata_url: str = Field(
        default="",
        description="Where Bot Framework's token signing keys are read (a local stand-in in tests). "
        "Empty: Bot Framework's own OpenID metadata.",
    )

    approval_ttl: float = Field(
        default=24 * 3600,
        gt=0,
        description="Seconds a deployment approval request stays open before it expires (default 24 h).",
    )
    deploy_poll_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between looks at deployments being provisioned and approval requests due to expire.",
    )
    idle_sweep_interval: float = Field(
        default=6 * 3600,
        gt=0,
        description="Seconds between idle-deployment sweeps (inventory, last use, warnings; default 6 h).",
    )
    idle_warn_days: str = Field(
        default="3,1",
        description="Days before Azure's 15-day idle deletion at which to warn, comma-separated (default 3,1).",
    )
    alert_channel: str | None = Field(
        default=None,
        description="Where idle warnings go for deployments the bot did not make: `slack:C0123ABCD` or a Teams "
        "conversation key (`teams:<conversation id>`).",
    )

    # Per-resource limits the `quota` verb measures against (Azure quotas-limits.md, 2026-02-17).
    quota_running_jobs: int = Field(
        default=3, ge=1, description="Training jobs running at once per resource."
    )
    quota_running_developer_jobs: int = Field(
        default=5, ge=1, description="Developer-training jobs running at once per resource."
    )
    quota_queued_jobs: int = Field(default=20, ge=0, description="Training jobs queued per resource.")
    quota_total_jobs: int = Field(default=100, ge=1, description="Training jobs in total per resource.")
    quota_files: int = Field(default=100, ge=1, description="Files per resource.")
    quota_files_bytes: int = Field(
        default=1024**3, ge=1, description="Total size of a resource's files, in bytes (1 GB)."
    )
    fine_tuned_deployment_quota: int = Field(
        default=10,
        ge=1,
        description="Fine-tuned deployments Azure allows per resource (10 in 2026), checked before asking.",
    )
    default_training_type: str | None = Field(
        default=None,
        description="Training type of a `start` without --training-type "
        f"({training_types.USAGE}), for resources without their own `default_training_type`. Absent, or "
        "not offered by the model: the cheapest type the model offers that is not pre-emptible (Global where offered).",
    )
    directline_secret: SecretStr | None = Field(
        default=None,
        description="Secret of the local chat page and its Direct Line endpoint. Needed (as the page's password, "
        "or `Authorization: Bearer`) when FTBOT_HOST is not a loopback address; absent there, both stay off.",
    )
    webchat_dir: Path | None = Field(
        default=None,
        description="Folder holding Web Chat's `webchat.js` for the local chat page. Default: `webchat/dist` "
        "of the source tree, filled by `make install`.",
    )

    resources: list[AzureResource] = Field(
        default_factory=list, description="Extra Azure resources (TOML only)."
    )
    roles: Roles = Field(default_factory=Roles, description="Roles (TOML only).")

    @field_validator("public_url", "slack_api_url", "arm_endpoint", "teams_openid_metadata_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("azure_openai_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else None

    @field_validator("default_training_type")
    @classmethod
    def _training_type(cls, value: str | None) -> str | None:
        return _training_type_word(value)

    @field_validator("idle_warn_days")
    @classmethod
    def _warn_days(cls, value: str) -> str:
        try:
            days = [float(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ValueError("must be numbers of days separated by commas, e.g. 3,1") from None
        if not days or any(d <= 0 or d >= 15 for d in days):
            raise ValueError("each lead time must be more than 0 and less than 15 days")
        return value

    @property
    def idle_warn_leads(self) -> list[float]:
        """The idle warning lead times in days, largest first."""
        return sorted({float(part) for part in self.idle_warn_days.split(",") if part.strip()}, reverse=True)

    def secret_values(self) -> list[str]:
        """Every secret this process knows, for the log redaction filter."""
        found = [
            secret.get_secret_value()
            for secret in (
                self.azure_openai_api_key,
                self.azure_static_token,
                self.slack_bot_token,
                self.slack_signing_secret,
                self.microsoft_app_password,
                self.directline_secret,
                *(r.api_key() for r in self.resources),
                *(r.tenant_credential_secret() for r in self.resources),
            )
            if secret is not None
        ]
        found += database_password_forms(self.database_url)
        found += [os.environ[name] for name in ("AZURE_CLIENT_SECRET",) if os.environ.get(name)]
        return found

    @property
    def uses_emulator(self) -> bool:
        return self.azure_openai_endpoint is None

    def azure_is_local(self) -> bool:
        """Every Azure endpoint in use is on this machine (the embedded emulator, or one on loopback)."""
        endpoints = [r.endpoint for r in self.resources]
        if not self.uses_emulator:
            endpoints += [self.azure_openai_endpoint or "", self.arm_endpoint]
        return all(is_loopback_host(urlsplit(e).hostname or "") for e in endpoints)

    def chat_platform_configured(self) -> bool:
        return bool(self.slack_bot_token or self.microsoft_app_id)

    def teams_unauthenticated(self) -> bool:
        """Teams is served without authentication: opted in (FTBOT_TEAMS_NO_AUTH=1), or the embedded default
        (no chat platform configured and Azure only on this machine)."""
        if self.microsoft_app_id:
            return False
        return self.teams_no_auth or (not self.chat_platform_configured() and self.azure_is_local())

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def database_password_forms(url: str) -> list[str]:
    """The database password as it appears anywhere: decoded, and percent-encoded as it is in the URL."""
    if "://" not in url:
        return []
    try:
        password = make_url(url).password
    except Exception:  # a malformed URL: redact what sits between `user:` and the last `@`
        head = url.split("://", 1)[1].rpartition("@")[0]
        return [head.partition(":")[2]] if ":" in head else []
    if not password:
        return []
    forms = {str(password), quote(str(password), safe=""), quote_plus(str(password), safe="")}
    head = url.split("://", 1)[1].rpartition("@")[0]  # the raw text, whatever its encoding
    if ":" in head:
        forms.add(head.partition(":")[2])
    return sorted(f for f in forms if f)


def _toml_values(path: Path) -> dict[str, Any]:
    import tomllib  # only with a config file: its import compiles regexes (~10 ms of every start otherwise)

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"FTBOT_CONFIG_FILE: cannot read {path}: {exc.strerror}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"FTBOT_CONFIG_FILE: {path} is not valid TOML: {exc}"]) from exc
    leaks = sorted(_secret_paths(data))
    if leaks:
        raise ConfigError(
            [
                f"{path}: `{p}` looks like a secret; secrets come only from environment variables"
                for p in leaks
            ]
        )
    return data


def _secret_paths(node: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if str(key).lower() in SECRET_KEYS or str(key).lower().endswith(
                ("_password", "_secret", "_token")
            ):
                found.append(path)
            found += _secret_paths(value, path)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _secret_paths(item, f"{prefix}[{i}]")
    return found


def _env_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if field in ("resources", "roles"):
        return "config file: " + ".".join(str(p) for p in loc)
    return f"FTBOT_{field.upper()}"


def _describe(error: Any) -> str:
    name = _env_name(tuple(error.get("loc", ())))
    value = error.get("input")
    shown = (
        f" (got {value!r})" if isinstance(value, str | int | float) and name not in _secret_names() else ""
    )
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{name}: {message}{shown}"


def _secret_names() -> set[str]:
    return {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "MicrosoftAppPassword", "FTBOT_AZURE_OPENAI_API_KEY"}


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (+ TOML); raise ConfigError with one readable line per problem."""
    toml: dict[str, Any] = {}
    path_text = overrides.get("config_file") or os.environ.get("FTBOT_CONFIG_FILE")
    path = Path(path_text) if path_text else Path("ftbot.toml")
    if path_text or path.exists():
        toml = _toml_values(path)
    try:
        settings = Settings(**{**toml, **overrides})
    except ValidationError as exc:
        raise ConfigError([_describe(e) for e in exc.errors()]) from None
    problems = _cross_checks(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _cross_checks(s: Settings) -> list[str]:
    problems: list[str] = []
    if bool(s.slack_bot_token) != bool(s.slack_signing_secret):
        problems.append("SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET: set both to enable Slack, or neither")
    if s.microsoft_app_password and not s.microsoft_app_id:
        problems.append("MicrosoftAppId: required when MicrosoftAppPassword is set")
    if s.microsoft_app_type == "SingleTenant" and s.microsoft_app_id and not s.microsoft_app_tenant_id:
        problems.append("MicrosoftAppTenantId: required for a SingleTenant bot")
    if s.teams_no_auth:
        if s.microsoft_app_id:
            problems.append(
                "FTBOT_TEAMS_NO_AUTH: not with MicrosoftAppId (that bot authenticates its requests)"
            )
        if s.slack_bot_token:
            problems.append("FTBOT_TEAMS_NO_AUTH: not together with Slack; it is for local use only")
        if not s.azure_is_local():
            problems.append(
                "FTBOT_TEAMS_NO_AUTH: not with an Azure endpoint off this machine; it is for local use only"
            )
    names = [r.name for r in s.resources]
    if len(set(names)) != len(names):
        problems.append("config file: resources: each resource needs a unique name")
    if not s.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        problems.append(
            "FTBOT_DATABASE_URL: must be a sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB URL"
        )
    return problems
