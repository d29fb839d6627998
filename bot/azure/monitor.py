"""Azure Monitor metrics: requests per deployment per day, the signal behind Azure's idle-deletion rule.

>>> metrics = MetricsClient(tokens=provider)
>>> usage = await metrics.deployment_daily_totals(arm.account_id, start=..., end=...)
>>> usage["my-model"].total, usage["my-model"].last_used
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx

from bot.azure.arm import ARM_ENDPOINT
from bot.azure.auth import ARM_SCOPE, TokenProvider
from bot.azure.errors import AzureError
from bot.azure.retry import RetryPolicy
from bot.azure.transport import AzureTransport, BearerAuth, TransportClient, json_body

METRICS_API_VERSION = "2023-10-01"
DEFAULT_METRIC = "AzureOpenAIRequests"
DEPLOYMENT_DIMENSION = "ModelDeploymentName"
# Series per query: Azure's default is 10 when a filter splits by a dimension.
DEFAULT_TOP = 1000


@dataclass(frozen=True)
class DeploymentUsage:
    """One deployment's daily request totals (days without data are absent, i.e. zero)."""

    deployment: str
    daily: dict[date, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.daily.values())

    @property
    def last_used(self) -> date | None:
        """The latest day with a non-zero total."""
        used = [day for day, total in self.daily.items() if total > 0]
        return max(used) if used else None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(timestamp: str) -> date | None:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(UTC).date()
    except ValueError:
        return None


def parse_daily_totals(
    body: Mapping[str, Any], *, dimension: str = DEPLOYMENT_DIMENSION
) -> dict[str, DeploymentUsage]:
    """Per-deployment daily totals from a metrics response; raises when Azure reports a metric error."""
    usage: dict[str, dict[date, float]] = {}
    for metric in body.get("value") or []:
        error_code = metric.get("errorCode")
        if error_code and error_code != "Success":
            raise AzureError(
                str(metric.get("errorMessage") or error_code), code=str(error_code), surface="metrics"
            )
        for series in metric.get("timeseries") or []:
            name = _dimension_value(series, dimension)
            if name is None:
                continue
            days = usage.setdefault(name, {})
            for point in series.get("data") or []:
                day = _day(str(point.get("timeStamp", "")))
                total = point.get("total")
                if day is None:
                    continue
                value = float(total) if isinstance(total, int | float) else 0.0
                days[day] = days.get(day, 0.0) + value
    return {name: DeploymentUsage(name, daily) for name, daily in usage.items()}


def _dimension_value(series: Mapping[str, Any], dimension: str) -> str | None:
    for entry in series.get("metadatavalues") or []:
        label = entry.get("name")
        key = label.get("value") if isinstance(label, dict) else label
        if isinstance(key, str) and key.lower() == dimension.lower():
            value = entry.get("value")
            return value if isinstance(value, str) else None
    return None


class MetricsClient(TransportClient):
    """Azure Monitor metrics over ARM (same host and token scope as `ArmClient`)."""

    def __init__(
        self,
        *,
        tokens: TokenProvider,
        base_url: str = ARM_ENDPOINT,
        api_version: str = METRICS_API_VERSION,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._transport = AzureTransport(
            base_url,
            auth=BearerAuth(tokens, ARM_SCOPE),
            api_version=api_version,
            http=http,
            retry=retry,
            surface="Azure Monitor",
        )

    async def deployment_daily_totals(
        self,
        resource_id: str,
        *,
        start: datetime,
        end: datetime,
        metric: str = DEFAULT_METRIC,
        top: int = DEFAULT_TOP,
    ) -> dict[str, DeploymentUsage]:
        """Daily `Total` of `metric` per `ModelDeploymentName` between `start` and `end` (UTC). Azure returns
        only `top` series (10 unless asked), so ask for at least as many as the resource has deployments."""
        params = {
            "metricnames": metric,
            "timespan": f"{_iso(start)}/{_iso(end)}",
            "interval": "P1D",
            "aggregation": "Total",
            "$filter": f"{DEPLOYMENT_DIMENSION} eq '*'",
            "top": str(max(1, top)),
        }
        path = f"{resource_id.rstrip('/')}/providers/Microsoft.Insights/metrics"
        body = await self._transport.call("GET", path, params=params, parse=json_body)
        return parse_daily_totals(body)
