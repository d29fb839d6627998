"""What `start` tells beside the job itself: which training type it uses and why, the cost at that type's
price, a base model that retires soon, and a job that will queue behind running ones.

Kept apart from `handlers.start` (which is about getting exactly one job or none); everything here is worked
out from the catalogue, the settings, the price table and one bounded look at the resource's jobs, and a
failure here never fails a start.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import TYPE_CHECKING

from bot import training_types as tt
from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.models import normalise_status
from bot.config import Settings
from bot.context import Context
from bot.dataprep.models import all_models, model_info
from bot.errors import UsageError
from cards.markup import code
from handlers.quota import RUNNING_KINDS

if TYPE_CHECKING:
    from bot.dataprep.prices import CostEstimate

log = logging.getLogger(__name__)

RETIRING_SOON_DAYS = 30  # `start` on a base model retiring within this many days says so
QUEUE_CHECK_WITHIN = 5.0  # seconds for the one look at the resource's jobs; past it, no queue warning
QUEUE_CHECK_JOBS = 100  # one page: Azure keeps at most 100 jobs per resource


def choose_training_type(ctx: Context, model: str, asked: str | None, resource: str | None) -> tt.Choice:
    """The training type of this start (`bot.training_types.choose` with this resource's and the bot's
    defaults); a type the model does not offer is refused here, before anything is uploaded."""
    try:
        return tt.choose(
            model,
            asked,
            resource_default=ctx.azure.resource(resource).default_training_type,
            settings_default=ctx.settings.default_training_type,
        )
    except tt.NotOffered as exc:
        works = ", ".join(code(t) for t in exc.types)
        # The usage card shows the message (not a hint): what to do goes in it.
        raise UsageError(
            f"{code(model)} does not train with {code(f'--training-type {exc.asked}')}. Types that work for it: {works}. "
            f"Start again with `--training-type {exc.types[-1]}` (the cheapest of them), or leave the option "
            "out for the default.",
            verb="start",
        ) from None


def training_type_note(choice: tt.Choice) -> str:
    """What the card adds to the type's name: why this one, and Developer's pre-emption. E.g. "the cheapest
    this model offers; pre-emptible: it may pause and resume by itself, and is not billed while paused"."""
    why = {
        "asked": "",
        "resource": "this resource's default",
        "settings": "the bot's default",
        "cheapest": "the cheapest this model offers without pre-emption; `--training-type developer` costs less",
    }[choice.origin]
    details = [d for d in (why, choice.note) if d]
    if choice.name == tt.DEVELOPER:
        details.append(tt.DEVELOPER_NOTE)
    return "; ".join(details)


def cost_estimate(model: str, tokens: int, method: str, training_type: str) -> CostEstimate | None:
    """The estimate at the price of the training type (the shipped, illustrative table)."""
    # the price table's module on first use, not at start-up (issue 17)
    from bot.dataprep.prices import shipped_prices

    return shipped_prices().estimate(model, tokens, "dpo" if method == "dpo" else "sft", training_type)


def cost_words(cost: CostEstimate, training_type: str) -> str:
    """`for Developer training (illustrative prices, 2026-02-11)`; says when Standard's price stood in."""
    label = tt.LABELS.get(training_type, training_type)
    if cost.training_type is None and training_type != tt.STANDARD:
        return f"at the Standard price (no {label} price for {code(cost.price_key)}; illustrative prices)"
    dated = f", {cost.as_of}" if cost.as_of else ""
    return f"for {label} training (illustrative prices{dated})"


def retirement_warning(model: str, today: date) -> str:
    """A warning line when `model`'s base takes no new fine-tuning within 30 days of `today` (Azure's day)
    or already does not; "" otherwise."""
    info = model_info(model)
    if info is None or info.retires is None:
        return ""
    retires = date.fromisoformat(info.retires)
    left = (retires - today).days
    if left > RETIRING_SOON_DAYS:
        return ""
    if info.successor:
        todo = f"start the next one on {code(info.successor)}"
    else:
        todo = "pick a newer base model for the next one (`models` lists them with their retirement dates)"
        if not _open_to_all(today, info.methods, exclude=info.key):
            # Late 2026: every base model the catalogue knows is past its announced date (gpt-5 by invitation).
            todo = (
                "no other base model in ftbot's catalogue takes new fine-tuning from everyone now either; check "
                "Microsoft's model retirement page for a newer one before the next job"
            )
    base = code(info.key)
    if left < 0:
        return (
            f"⚠ {base} was retired for new fine-tuning on {retires.isoformat()}: Azure may refuse or stop "
            f"new work on it (customers who already fine-tuned it keep training until 2027-04 at the "
            f"earliest). What to do: {todo}."
        )
    days = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
    return (
        f"⚠ {base} takes no new fine-tuning after {retires.isoformat()} ({days}): this job can still "
        f"train, but {todo}."
    )


def _open_to_all(today: date, methods: frozenset[str], *, exclude: str) -> bool:
    """Whether another catalogued base model with one of these methods takes new fine-tuning from anyone today."""
    return any(
        m.key != exclude
        and not (m.retired or m.gated)
        and (m.retires is None or date.fromisoformat(m.retires) >= today)
        and bool(m.methods & methods)
        for m in all_models()
    )


def running_limit(settings: Settings, training_type: str) -> int:
    """Jobs of this kind Azure runs at once per resource (Developer training has its own, higher limit)."""
    if training_type == tt.DEVELOPER:
        return settings.quota_running_developer_jobs
    return settings.quota_running_jobs


async def queue_warning(client: AzureOpenAIClient, settings: Settings, training_type: str) -> str:
    """A warning line when the resource already runs as many jobs of this kind (Developer or not) as it
    may at once, so the new one will wait; "" when it does not, or when the jobs cannot be read within
    QUEUE_CHECK_WITHIN (one list call: never a reason to fail or hold up a start)."""
    developer = training_type == tt.DEVELOPER
    try:
        async with asyncio.timeout(QUEUE_CHECK_WITHIN):
            page = await client.list_jobs(limit=QUEUE_CHECK_JOBS)
    except Exception as exc:  # TimeoutError included: no warning, no failure
        log.info("start: the queue check found nothing to go by (%s)", type(exc).__name__)
        return ""
    running = sum(
        1
        for job in page.data
        if normalise_status(job.status).kind in RUNNING_KINDS
        and (tt.parse(job.training_type) == tt.DEVELOPER) == developer
    )
    limit = running_limit(settings, training_type)
    if running < limit:
        return ""
    kind = "Developer-training jobs" if developer else "jobs"
    return (
        f"⚠ {running} of {limit} {kind} running on this resource; this one will queue and start after one "
        "of them finishes."
    )
