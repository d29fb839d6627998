"""Azure Monitor metrics of an account: request counts per deployment (`ModelDeploymentName`)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulator.errors import ApiError
from emulator.httputil import state_of
from emulator.state import AccountState

METRICS = {
    "AzureOpenAIRequests": (
        "Azure OpenAI Requests",
        "Number of calls made to the Azure OpenAI API over a period.",
    ),
    "ModelRequests": ("Azure OpenAI Requests", "Number of calls made to the model API over a period."),
}
AGGREGATIONS = ("total", "count", "average", "maximum", "minimum")
DIMENSION = "modeldeploymentname"
MAX_POINTS = 50_000
# Real clients send fractional parts: azure-mgmt-monitor / isodate give `PT86400.0S`, `PT2H`.
_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"^P(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?$", re.IGNORECASE)
_FILTER_TERM = re.compile(r"ModelDeploymentName\s+eq\s+'([^']*)'", re.IGNORECASE)


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def parse_duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        raise _bad(f"'{text}' is not an ISO 8601 duration such as PT1H or P1D.")
    days, hours, minutes, seconds = (float(g or 0) for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def format_duration(seconds: float) -> str:
    s = int(seconds)
    if s % 86400 == 0:
        return f"P{s // 86400}D"
    if s % 3600 == 0:
        return f"PT{s // 3600}H"
    if s % 60 == 0:
        return f"PT{s // 60}M"
    return f"PT{s}S"


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _bad(f"'{text}' is not an ISO 8601 date-time.") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def parse_timespan(text: str | None, now: float) -> tuple[float, float]:
    """`start/end`, `start/duration`, `duration/end`, or a duration ending now; default: the last day."""
    if not text:
        return now - 86400, now
    if "/" in text:
        first, second = (part.strip() for part in text.split("/", 1))
        if first.upper().startswith("P"):
            end = _instant(second)
            start = end - parse_duration(first)
        elif second.upper().startswith("P"):
            start = _instant(first)
            end = start + parse_duration(second)
        else:
            start, end = _instant(first), _instant(second)
    else:
        start, end = now - parse_duration(text), now
    if end <= start:
        raise _bad("The timespan must end after it starts.")
    return start, end


def _series_names(filter_text: str | None, calls: list[tuple[float, str]]) -> list[str] | None:
    """None: one unsplit series; otherwise the deployment names to split by."""
    if not filter_text:
        return None
    terms = _FILTER_TERM.findall(filter_text)
    if not terms:
        raise _bad(f"Unsupported $filter '{filter_text}'; the dimension is ModelDeploymentName.")
    if "*" in terms:
        return sorted({name for _, name in calls})
    return sorted(set(terms))


def _top(names: list[str], calls: list[tuple[float, str]], params: dict[str, str]) -> list[str]:
    """Azure returns at most `top` series (default 10) when a `$filter` splits by a dimension, the largest
    first (`orderby`, default the aggregation descending): a query over many deployments must ask for more."""
    text = params.get("top", "10")
    try:
        top = int(text)
    except ValueError:
        raise _bad(f"'{text}' is not a valid value for top.") from None
    if top < 1:
        raise _bad("top must be a positive number.")
    counts: dict[str, int] = defaultdict(int)
    for _, dep in calls:
        counts[dep] += 1
    ascending = params.get("orderby", "").strip().lower().endswith(" asc")
    ranked = sorted(names, key=lambda n: (counts[n] if ascending else -counts[n], n))
    return sorted(ranked[:top])


def _point(ts: float, n: int, aggregations: list[str]) -> dict[str, Any]:
    point: dict[str, Any] = {"timeStamp": _stamp(ts)}
    for aggregation in aggregations:
        point[aggregation] = float(n) if aggregation in ("total", "count") else (1.0 if n else 0.0)
    return point


def _series(
    calls: list[float], start: float, end: float, step: float, aggregations: list[str]
) -> list[dict[str, Any]]:
    """Buckets of `step` from `start`; `calls` are the instants of one series' calls. One pass over the
    calls (not one per bucket), so a batched query over hundreds of deployments stays cheap."""
    n_buckets = max(1, math.ceil((end - start) / step))
    counts = [0] * n_buckets
    for at in calls:
        # The span's end is inclusive, so a call made "now" counts in a query ending now.
        index = min(int((at - start) // step), n_buckets - 1)
        if index >= 0:
            counts[index] += 1
    return [_point(start + i * step, n, aggregations) for i, n in enumerate(counts)]


def query(account: AccountState, params: dict[str, str], now: float) -> dict[str, Any]:
    names = [n.strip() for n in params.get("metricnames", "AzureOpenAIRequests").split(",") if n.strip()]
    for name in names:
        if name not in METRICS:
            raise _bad(
                f"Failed to find metric configuration for provider: Microsoft.CognitiveServices, resource Id: "
                f"{account.config.arm_id}, metric: {name}, Valid metrics: {', '.join(METRICS)}"
            )
    start, end = parse_timespan(params.get("timespan"), now)
    interval_text = params.get("interval", "PT1M")
    step = end - start if interval_text.upper() == "FULL" else parse_duration(interval_text)
    aggregations = [a.strip().lower() for a in params.get("aggregation", "Total").split(",") if a.strip()]
    unknown = [a for a in aggregations if a not in AGGREGATIONS]
    if unknown or not aggregations:
        raise _bad(f"Unsupported aggregation {unknown}; use one of Total, Count, Average, Maximum, Minimum.")
    in_span = [(at, dep) for at, dep in account.calls if start <= at <= end]
    split = _series_names(params.get("$filter"), in_span)
    if split is not None:
        split = _top(split, in_span, params)
    if ((end - start) / step) * max(1, len(split or [])) > MAX_POINTS:
        raise _bad("The query asks for too many data points; use a larger interval or a shorter timespan.")

    by_deployment: dict[str, list[float]] = defaultdict(list)
    for at, dep in in_span:
        by_deployment[dep].append(at)
    value = []
    for name in names:
        if split is None:
            every = [at for at, _ in in_span]
            timeseries = [{"metadatavalues": [], "data": _series(every, start, end, step, aggregations)}]
        else:
            timeseries = [
                {
                    "metadatavalues": [
                        {"name": {"value": DIMENSION, "localizedValue": DIMENSION}, "value": dep}
                    ],
                    "data": _series(by_deployment.get(dep, []), start, end, step, aggregations),
                }
                for dep in split
            ]
        localized, description = METRICS[name]
        value.append(
            {
                "id": f"{account.config.arm_id}/providers/Microsoft.Insights/metrics/{name}",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": name, "localizedValue": localized},
                "displayDescription": description,
                "unit": "Count",
                "timeseries": timeseries,
                "errorCode": "Success",
            }
        )
    return {
        "cost": 0,
        "timespan": f"{_stamp(start)}/{_stamp(end)}",
        "interval": format_duration(step),
        "value": value,
        "namespace": "microsoft.cognitiveservices/accounts",
        "resourceregion": account.config.location,
    }


async def get_metrics(request: web.Request) -> web.Response:
    state = state_of(request)
    state.count("metrics.query")
    m = request.match_info
    account = state.arm_account(m["subscription"], m["resource_group"], m["account"])
    state.count(f"metrics.query.{account.config.name}")  # per account: "one query per resource" is checkable
    return web.json_response(query(account, dict(request.query), state.now()))
