"""`quota [--resource R]`: a resource's jobs (running, queued, in total), fine-tuned deployments and files
(count and total size) against its limits (settings; Azure's quotas-limits.md of 2026-02-17 by default)."""

from __future__ import annotations

from bot import params as p
from bot import training_types
from bot.azure import errors as az
from bot.azure import ids
from bot.azure.models import StatusKind, normalise_status
from bot.context import Context
from bot.model import Command
from bot.router import Opt, Router
from cards.model import Card

router = Router("quota")

RESOURCE = Opt("resource", p.resource_name, metavar="NAME", help="which Azure resource (default: the first)")
# A job counts as running while it trains or changes state on the way (paused ones do not run).
RUNNING_KINDS = frozenset(
    {StatusKind.RUNNING, StatusKind.PAUSING, StatusKind.RESUMING, StatusKind.CANCELLING}
)
# Jobs read at most: a little above Azure's 100-job limit, so a full resource shows as full.
MAX_JOBS = 500


@router.command(
    "quota",
    summary="Jobs, fine-tuned deployments and files of a resource against its limits",
    example="quota --resource default",
    options=(RESOURCE,),
)
async def quota(ctx: Context, cmd: Command) -> Card:
    # the card's module on first use, not at start-up (issue 17)
    from cards.quota import QuotaLine, QuotaView, quota_card

    settings = ctx.settings
    resource = ctx.azure.resource(cmd.params["resource"]).name
    client = ctx.azure.data(resource)
    running = developer = queued = total = 0
    jobs_scan, files_scan = client.scan(), client.scan()
    async for job in client.jobs(limit=100, max_items=MAX_JOBS, scan=jobs_scan):
        total += 1
        kind = normalise_status(job.status).kind
        if kind in RUNNING_KINDS:
            # Developer training has a limit of its own (5 in 2026); the others share one (3).
            if training_types.parse(job.training_type) == training_types.DEVELOPER:
                developer += 1
            else:
                running += 1
        queued += kind is StatusKind.WAITING
    files = [f for f in await client.list_files(scan=files_scan) if (f.status or "").lower() != "deleted"]
    notes = [
        note
        for note in (
            jobs_scan.note("jobs", "The job counts are at least these."),
            files_scan.note("files", "The file counts are at least these."),
        )
        if note
    ]
    deployments: int | None
    try:
        arm = ctx.azure.arm(resource)
        arm_scan = arm.scan()
        deployments = sum(
            ids.counts_as_fine_tuned_deployment(d.model_name)
            for d in await arm.list_deployments(scan=arm_scan)
        )
        if arm_scan.truncated:
            notes.append(arm_scan.note("deployments", "The deployment count is at least this."))
    except az.AzureError:
        deployments = None
        notes.append(
            "The deployments could not be read from ARM: check the resource's subscription, group and name."
        )
    lines = [
        QuotaLine(
            "Running jobs",
            running,
            settings.quota_running_jobs,
            at_limit="A new job waits in the queue until one finishes (Developer training has its own limit).",
        ),
        QuotaLine(
            "Running Developer jobs",
            developer,
            settings.quota_running_developer_jobs,
            at_limit="A new Developer-training job waits in the queue until one of them finishes.",
        ),
        QuotaLine("Queued jobs", queued, settings.quota_queued_jobs, at_limit="Azure refuses new jobs."),
        QuotaLine(
            "Jobs in total",
            total,
            settings.quota_total_jobs,
            at_limit="Delete old jobs (`cleanup`) before starting more.",
        ),
        QuotaLine(
            "Fine-tuned deployments",
            deployments,
            settings.fine_tuned_deployment_quota,
            at_limit="Remove one (`undeploy`) before deploying another.",
        ),
        QuotaLine(
            "Files", len(files), settings.quota_files, at_limit="Delete old files before uploading more."
        ),
        QuotaLine(
            "Size of the files",
            sum(f.bytes or 0 for f in files),
            settings.quota_files_bytes,
            size=True,
            at_limit="Delete old files before uploading more.",
        ),
    ]
    return quota_card(QuotaView(resource=resource, lines=lines, notes=notes))
