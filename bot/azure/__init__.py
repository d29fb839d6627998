"""The bot's Azure clients: data plane (`AzureOpenAIClient`), ARM deployments (`ArmClient`), Monitor
metrics (`MetricsClient`), with shared auth, retries and typed errors. See each module's docstring."""

from bot.azure.arm import ArmClient, DeploymentOperation
from bot.azure.auth import (
    ARM_SCOPE,
    DATA_PLANE_SCOPE,
    CredentialTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.errors import AzureError, RaiFailure, rai_failure
from bot.azure.monitor import DeploymentUsage, MetricsClient
from bot.azure.retry import RetryPolicy

__all__ = [
    "ARM_SCOPE",
    "DATA_PLANE_SCOPE",
    "ArmClient",
    "AzureError",
    "AzureOpenAIClient",
    "CredentialTokenProvider",
    "DeploymentOperation",
    "DeploymentUsage",
    "MetricsClient",
    "RaiFailure",
    "RetryPolicy",
    "StaticTokenProvider",
    "TokenProvider",
    "rai_failure",
]
