"""`chart <job>`: the job's loss curves as native charts plus a picture, and what they say.

A finished job's results file is downloaded and parsed by column name; a job still running is drawn from its
metrics events, titled "so far". Parsing, the analysis (every step) and the downsampling for the picture run
in a worker thread; the picture itself is drawn by the adapters (also in a worker thread) from the card's
native charts, so the watcher's success alert gets it the same way through `chart_replies`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from bot import params as p
from bot.azure.models import Checkpoint, FineTuningJob, JobStatus
from bot.azure.results_csv import ResultColumns, parse_results_columns
from bot.context import Context
from bot.errors import UsageError
from bot.model import Action, Command, Reply
from bot.router import Arg, Opt, Router
from cards.alerts import AlertExtras
from cards.charts import PNG_POINTS, downsample_arrays
from cards.jobs import CHART

# The analysis and the chart card are imported when a chart is drawn, not at start-up (issue 17).
if TYPE_CHECKING:
    from bot.results_analysis import CheckpointInfo
    from cards.loss_chart import LossChartView, Metric

router = Router("chart")

RESOURCE = Opt("resource", p.resource_name, metavar="NAME", help="which Azure resource (default: the first)")
METRIC = Opt(
    "metric",
    p.one_of("loss", "accuracy", "both"),
    default="loss",
    metavar="METRIC",
    help="loss (default), accuracy, or both",
)
_SERIES_COLUMNS = (
    "train_loss",
    "valid_loss",
    "full_valid_loss",
    "train_mean_token_accuracy",
    "valid_mean_token_accuracy",
    "full_valid_mean_token_accuracy",
)
_EVENT_COLUMNS = {name: name for name in _SERIES_COLUMNS} | {
    "validation_mean_token_accuracy": "valid_mean_token_accuracy"
}
_RUNNING = {JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.PAUSING, JobStatus.RESUMING}
# Events read at most to draw a running job (metrics come every step or every 10 steps).
MAX_EVENTS = 20_000


def _deployable_ids(job: FineTuningJob, checkpoints: list[Checkpoint]) -> set[str]:
    """After a successful job the last three epochs are deployable (what Azure keeps); none before."""
    if not job.succeeded:
        return set()
    return {c.id for c in sorted(checkpoints, key=lambda c: c.step_number or 0)[-3:]}


async def _events_columns(client: Any, job_id: str) -> ResultColumns:
    """A running job's metrics events as results columns (the results file comes only at the end)."""
    import numpy as np

    by_step: dict[int, dict[str, float]] = {}
    seen = 0
    async for event in client.events(job_id, limit=100):
        seen += 1
        if seen > MAX_EVENTS:
            break
        step = event.metric("step") if event.is_metrics else None
        if step is None:
            continue
        row = by_step.setdefault(int(step), {})
        for name, column in _EVENT_COLUMNS.items():
            value = event.metric(name)
            if value is not None:
                row.setdefault(column, value)
    steps = sorted(by_step)
    values = {
        column: np.array([by_step[s].get(column, np.nan) for s in steps], dtype=np.float64)
        for column in _SERIES_COLUMNS
    }
    return ResultColumns(np.array(steps, dtype=np.int64), values)


def _view(
    job: FineTuningJob,
    columns: ResultColumns,
    checkpoints: list[Checkpoint],
    metric: Metric,
    resource: str | None,
    total_steps: int | None,
) -> LossChartView:
    from bot.results_analysis import CheckpointInfo

    deployable = _deployable_ids(job, checkpoints)
    infos = [
        CheckpointInfo(
            c.id,
            c.step_number or int(c.metrics.step or 0),
            c.metrics.full_valid_loss,
            c.metrics.valid_loss,
            c.id in deployable,
        )
        for c in checkpoints
    ]
    n_epochs = job.hyperparameters.n_epochs if job.hyperparameters is not None else None
    return build_view(
        job.id,
        job.status,
        columns,
        infos,
        metric=metric,
        running=job.status_kind in _RUNNING,
        n_epochs=n_epochs if isinstance(n_epochs, int) and n_epochs > 0 else None,
        total_steps=total_steps,
        resource=resource,
    )


def build_view(
    job_id: str,
    status: str,
    columns: ResultColumns,
    checkpoints: Sequence[CheckpointInfo],
    *,
    metric: Metric = "loss",
    running: bool = False,
    n_epochs: int | None = None,
    total_steps: int | None = None,
    resource: str | None = None,
    points: int | None = PNG_POINTS,
) -> LossChartView:
    """Analyse every step, then cut the series down to `points` for the picture (None: every point, the
    benchmark's baseline). CPU work: run it in a thread."""
    from bot.results_analysis import analyse, checkpoint_loss
    from cards.loss_chart import CheckpointRow, LossChartView

    analysis = analyse(columns, checkpoints, n_epochs=n_epochs, running=running)
    series = {}
    for name in _SERIES_COLUMNS:
        values = columns.get(name)
        if values is not None:
            series[name] = downsample_arrays(columns.steps, values, points)
    rows = []
    for info in checkpoints:
        value = checkpoint_loss(info, columns)
        value = value if value is not None else info.valid_loss
        rows.append(CheckpointRow(info.id, info.step, value, info.deployable))
    return LossChartView(
        job_id=job_id,
        status=status,
        lines=analysis.lines,
        series=series,
        metric=metric,
        running=running,
        last_step=analysis.last_step,
        total_steps=total_steps,
        epoch_ends=analysis.epoch_ends,
        checkpoints=tuple(rows),
        best=analysis.best,
        deploy_id=analysis.deploy.id if analysis.deploy else None,
        resource=resource,
    )


async def chart_view(
    ctx: Context, job_id: str, resource: str | None, metric: Metric = "loss"
) -> LossChartView:
    client = ctx.azure.data(resource)
    job = await client.get_job(job_id)
    checkpoints = [c async for c in client.checkpoints(job.id, limit=10)]
    total_steps: int | None = None
    if job.result_files:
        content = await client.file_content(job.result_files[0])
        from cards.loss_chart import LOSS_COLUMNS

        wanted = LOSS_COLUMNS if metric == "loss" else None  # the analysis reads losses only
        columns = await asyncio.to_thread(parse_results_columns, content, wanted)
    elif job.status_kind in _RUNNING or job.status_kind in (JobStatus.FAILED, JobStatus.CANCELLED):
        columns = await _events_columns(client, job.id)
        total_steps = await _total_steps(client, job.id)
    else:
        columns = ResultColumns(steps=_empty(), values={})
    return await asyncio.to_thread(_view, job, columns, checkpoints, metric, resource, total_steps)


def _empty() -> Any:
    import numpy as np

    return np.zeros(0, dtype=np.int64)


async def _total_steps(client: Any, job_id: str) -> int | None:
    async for event in client.events(job_id, limit=20):
        total = event.metric("total_steps") if event.is_metrics else None
        if total is not None:
            return int(total)
    return None


async def chart_card_for(
    ctx: Context, job_id: str, resource: str | None = None, metric: Metric = "loss"
) -> Any:
    from cards.loss_chart import loss_chart_card

    return loss_chart_card(await chart_view(ctx, job_id, resource, metric))


async def chart_replies(
    ctx: Context, job_id: str, resource: str | None = None, metric: Metric = "loss"
) -> list[Reply]:
    """The chart card for a job, for the watcher's success alert (post it in the alert's thread); the
    adapters attach the picture (Slack: uploaded into the thread; Teams: an image in the card)."""
    return [Reply(await chart_card_for(ctx, job_id, resource, metric), in_thread=True)]


async def chart_alert_extras(ctx: Context, job: FineTuningJob, resource: str | None) -> AlertExtras:
    """The success alert's follow-up (handlers/watcher.py `register_success_extras`): the loss chart and its
    verdict, posted in the alert's thread."""
    return AlertExtras(follow_ups=(await chart_card_for(ctx, job.id, resource, "loss"),))


@router.command(
    "chart",
    summary="A job's loss chart and what it says (overfitting, the checkpoint to deploy)",
    example="chart ftjob-0123456789abcdef0123456789abcdef --metric both",
    args=(Arg("job", p.job_id),),
    options=(METRIC, RESOURCE),
)
async def chart(ctx: Context, cmd: Command) -> Reply:
    prm = cmd.params
    return Reply(await chart_card_for(ctx, prm["job"], prm["resource"], prm["metric"]))


@router.action(CHART)
async def chart_button(ctx: Context, action: Action) -> Reply:
    try:
        job_id = p.job_id(action.payload.get("job", ""))
    except ValueError as exc:
        raise UsageError("This button carries no valid job id.") from exc
    resource = action.payload.get("resource") or None
    metric = action.payload.get("metric", "loss")
    if metric not in ("loss", "accuracy", "both"):
        raise UsageError("This button carries no valid chart kind.")
    return Reply(await chart_card_for(ctx, job_id, resource, cast("Metric", metric)), in_thread=True)
