"""Fine-tuning jobs: a precomputed timeline played back lazily against the simulated clock.

When a job starts, everything it will do is known (validation outcome, RAI outcome, every step's metrics),
so it is laid out as milestones at offsets of *running* time. `advance(now)` plays the milestones whose
offset has been reached, stamping each event with the simulated instant it happened, however late the
state is looked at. Pausing stops running time; cancelling drops the rest of the timeline.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator import rai
from emulator.config import Timings
from emulator.datacheck import DatasetReport
from emulator.files import StoredFile
from emulator.ids import new_id
from emulator.training import (
    Hyperparameters,
    TrainingRun,
    billed_tokens,
    metrics_steps,
    resolve_hyperparameters,
    results_csv,
    simulate,
    step_message,
)

ACTIVE = frozenset({"running", "pausing", "paused", "resuming"})  # these hold the account's training slot
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
KEPT_CHECKPOINTS = 3

_sequence = itertools.count()  # orders events created in the same simulated second

ResultSink = Callable[[str, bytes, float], str]
"""(filename, content, simulated time) -> id of the stored results file."""


@dataclass
class Event:
    id: str
    created_at: float
    level: str
    message: str
    type: str
    data: dict[str, Any] | None
    seq: int = field(default_factory=lambda: next(_sequence))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object": "fine_tuning.job.event",
            "id": self.id,
            "created_at": int(self.created_at),
            "level": self.level,
            "message": self.message,
            "type": self.type,
        }
        if self.data is not None:
            out["data"] = self.data
        return out


@dataclass
class Checkpoint:
    id: str
    created_at: float
    step: int
    metrics: dict[str, float | int]
    model: str  # `<fine-tuned model>:ckpt-step-N`; the final one is the fine-tuned model's own name
    job_id: str
    paused_evaluated: bool = False  # made when a paused job passed its safety evaluation: deployable now

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.checkpoint",
            "id": self.id,
            "created_at": int(self.created_at),
            "fine_tuned_model_checkpoint": self.model,
            "step_number": self.step,
            "metrics": self.metrics,
            "fine_tuning_job_id": self.job_id,
        }


@dataclass(frozen=True)
class Milestone:
    offset: float  # running seconds after the job started
    kind: str  # message | step | fail | succeed
    message: str = ""
    level: str = "info"
    step: int = 0  # for kind == "step"
    error: dict[str, Any] | None = None


@dataclass
class Job:
    id: str
    hex: str
    created_at: float
    ready_at: float
    model: str  # as requested
    root_model: str  # base model under any earlier fine-tune
    rai_checked: bool
    training: StoredFile
    validation: StoredFile | None
    seed: int
    suffix: str | None
    requested: dict[str, Any]  # hyperparameters as asked for (defaults are chosen when training starts)
    echo: dict[str, Any]  # what a pending job shows: -1 for what is still to be chosen
    method: dict[str, Any]
    integrations: list[dict[str, Any]] | None
    default_lr: float = 1.0
    training_type: str | None = None  # `trainingType` as the client sent it (echoed)
    developer: bool = False  # Developer training: its own running-job limit
    estimate: float | None = None  # estimated_finish (kept after the job ends, as Azure does)
    hyperparameters: Hyperparameters | None = None  # resolved when training starts
    status: str = "pending"
    events: list[Event] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    fine_tuned_model: str | None = None
    result_files: list[str] = field(default_factory=list)
    trained_tokens: int | None = None
    finished_at: float | None = None
    error: dict[str, Any] | None = None
    # playback state
    started_at: float | None = None
    run: TrainingRun | None = None
    timeline: list[Milestone] = field(default_factory=list)
    next_milestone: int = 0
    segment_start: float = 0.0  # simulated time the current running stretch began
    segment_progress: float = 0.0  # running seconds already done when it began
    transition_at: float | None = None  # end of pausing / resuming
    pause_checkpoint_at: float | None = None  # when a paused job's safety evaluation finishes
    metric_steps: frozenset[int] = frozenset()

    @property
    def planned_model_name(self) -> str:
        name = f"{self.root_model}.ft-{self.hex}"
        return f"{name}-{self.suffix}" if self.suffix else name

    @property
    def is_dpo(self) -> bool:
        return self.method.get("type") == "dpo"

    # -- events -------------------------------------------------------------------------------------------
    def log(self, at: float, message: str, level: str = "info") -> None:
        self.events.append(Event(new_id("ftevent"), at, level, message, "message", None))

    # -- lifecycle ----------------------------------------------------------------------------------------
    def examples(self) -> int:
        report = self.training.report
        return max(1, report.examples) if report is not None else 1

    def resolve(self) -> Hyperparameters:
        return resolve_hyperparameters(
            self.requested, self.examples(), dpo=self.is_dpo, default_lr=self.default_lr
        )

    def planned_seconds(self, t: Timings) -> float:
        """Running seconds from "Job started." to the end, as planned for the current data."""
        hp = self.hyperparameters or self.resolve()
        steps = math.ceil(self.examples() / hp.batch_size) * hp.n_epochs
        return t.setup + steps * t.step + t.evaluation

    def start(self, at: float, timings: Timings) -> None:
        self.started_at = at
        self.status = "running"
        self.segment_start = at
        self.segment_progress = 0.0
        self.hyperparameters = self.resolve()  # pending showed -1; now the service has chosen
        if self.is_dpo:
            self.method = {"type": "dpo", "dpo": {"hyperparameters": self.hyperparameters.as_json()}}
        self.timeline = self._build_timeline(timings)
        self.next_milestone = 0
        if self.timeline:
            self.estimate = at + self.timeline[-1].offset

    def running_progress(self, now: float) -> float:
        return self.segment_progress + max(0.0, now - self.segment_start)

    def steps_done(self, now: float, t: Timings) -> int:
        """Training steps completed by `now` (0 before training starts)."""
        if self.run is None or self.started_at is None:
            return 0
        progress = self.running_progress(now) if self.status == "running" else self.segment_progress
        return max(0, min(self.run.total_steps, int((progress - t.setup) // t.step)))

    def advance(self, now: float, timings: Timings, store_result: ResultSink) -> None:
        while True:
            if self.status == "running":
                progress = self.running_progress(now)
                while self.next_milestone < len(self.timeline):
                    milestone = self.timeline[self.next_milestone]
                    if milestone.offset > progress:
                        return
                    self.next_milestone += 1
                    at = self.segment_start + (milestone.offset - self.segment_progress)
                    self._apply(milestone, at, store_result)
                    if self.status in TERMINAL:
                        return
                return
            if self.status == "pausing" and self.transition_at is not None and now >= self.transition_at:
                self.status = "paused"
                self.log(self.transition_at, "Job paused.")
                self.pause_checkpoint_at = self.transition_at + timings.pause_evaluation
                self.transition_at = None
                continue
            if (
                self.status == "paused"
                and self.pause_checkpoint_at is not None
                and now >= self.pause_checkpoint_at
            ):
                self._pause_checkpoint(self.pause_checkpoint_at, timings)
                self.pause_checkpoint_at = None
                continue
            if self.status == "resuming" and self.transition_at is not None and now >= self.transition_at:
                self.status = "running"
                self.segment_start = self.transition_at
                self.transition_at = None
                self.log(self.segment_start, "Job resumed.")
                if self.timeline:
                    self.estimate = self.segment_start + self.timeline[-1].offset - self.segment_progress
                continue
            return

    def pause(self, now: float, timings: Timings) -> None:
        self.segment_progress = self.running_progress(now)
        self.status = "pausing"
        self.transition_at = now + timings.pausing
        self.log(now, "Pausing job.")

    def _pause_checkpoint(self, at: float, t: Timings) -> None:
        """A paused job that passed its safety evaluation gets a deployable checkpoint at its last step."""
        step = self.steps_done(at, t)
        if self.run is None or step < 1 or any(c.step == step for c in self.checkpoints):
            for c in self.checkpoints:
                if c.step == step:
                    c.paused_evaluated = True
            return
        measured = {k: v for k, v in self.run.steps[step - 1].as_json().items() if v is not None}
        self.checkpoints.append(
            Checkpoint(
                id=new_id("ftchkpt"),
                created_at=at,
                step=step,
                metrics={k: float(v) for k, v in measured.items()},
                model=f"{self.planned_model_name}:ckpt-step-{step}",
                job_id=self.id,
                paused_evaluated=True,
            )
        )
        del self.checkpoints[:-KEPT_CHECKPOINTS]

    def resume(self, now: float, timings: Timings) -> None:
        self.pause_checkpoint_at = None
        self.status = "resuming"
        self.transition_at = now + timings.resuming
        self.log(now, "Resuming job.")

    def cancel(self, now: float) -> None:
        self.status = "cancelled"
        self.finished_at = now
        self.transition_at = None
        self.log(now, "Job cancelled.")

    def fail(self, at: float, error: dict[str, Any]) -> None:
        self.status = "failed"
        self.finished_at = at
        self.error = error
        self.log(at, error["message"], "error")

    # -- timeline -----------------------------------------------------------------------------------------
    def _file_problem(self) -> dict[str, Any] | None:
        for param, stored in (("training_file", self.training), ("validation_file", self.validation)):
            if stored is None:
                continue
            report = stored.report
            detail = stored.failure or (report.detail if report is not None and not report.ok else None)
            if report is None and detail is None:
                detail = f"purpose '{stored.purpose}' is not 'fine-tune'"
            if detail is not None:
                label = "Training" if param == "training_file" else "Validation"
                return {
                    "code": "jsonlValidationFailed",
                    "message": f"{label} file {stored.id} failed validation: {detail}",
                    "param": param,
                }
        return None

    def _build_timeline(self, t: Timings) -> list[Milestone]:
        line = [Milestone(0.0, "message", "Job started.")]
        line.append(Milestone(1.0, "message", f"Validating training file: {self.training.id}."))
        if self.validation is not None:
            line.append(Milestone(1.0, "message", f"Validating validation file: {self.validation.id}."))
        problem = self._file_problem()
        if problem is not None:
            return [*line, Milestone(10.0, "fail", error=problem)]
        train = self.training.report
        assert train is not None  # guaranteed by _file_problem
        line.append(Milestone(10.0, "message", "Files validated."))
        if self.rai_checked:
            if train.harms:
                error = {"code": "contentFilter", "message": rai.data_failure_message(train.harms)}
                return [*line, Milestone(20.0, "fail", error=error)]
            line.append(Milestone(20.0, "message", "Training data passed the safety checks."))
        self.run = simulate(
            seed=self.seed,
            training_fingerprint=train.fingerprint,
            validation_fingerprint=self.validation.report.fingerprint
            if self.validation is not None and self.validation.report is not None
            else None,
            n_examples=train.examples,
            hyperparameters=self.hyperparameters or self.resolve(),
            dpo=self.is_dpo,
        )
        self.metric_steps = frozenset(metrics_steps(self.run.total_steps))
        line.append(Milestone(t.setup, "message", "Training started."))
        for m in self.run.steps:
            # Every step is played (checkpoints come at epoch ends); metrics events only every 10 steps.
            line.append(Milestone(t.setup + m.step * t.step, "step", step=m.step))
        trained_at = t.setup + self.run.total_steps * t.step
        done_at = trained_at + t.evaluation
        # The safety evaluation runs after training; Azure writes nothing between the last step and
        # `Job succeeded.`, then `Model Evaluation Passed.`, the results file and the billed tokens.
        if self.rai_checked and train.eval_harms:
            error = {"code": "contentFilter", "message": rai.evaluation_failure_message(train.eval_harms)}
            return [*line, Milestone(done_at, "fail", error=error)]
        line.append(Milestone(trained_at + t.evaluation / 2, "message", "Job succeeded."))
        if self.rai_checked:
            line.append(Milestone(done_at - 1, "message", "Model Evaluation Passed."))
        return [*line, Milestone(done_at, "succeed")]

    def _apply(self, milestone: Milestone, at: float, store_result: ResultSink) -> None:
        if milestone.kind == "message":
            self.log(at, milestone.message, milestone.level)
        elif milestone.kind == "step":
            self._record_step(milestone.step, at)
        elif milestone.kind == "fail":
            assert milestone.error is not None
            if self.run is not None:
                self.trained_tokens = self._trained_tokens(self.training.report)
            self.fail(at, milestone.error)
        elif milestone.kind == "succeed":
            assert self.run is not None
            self.trained_tokens = self._trained_tokens(self.training.report)
            results = store_result("results.csv", results_csv(self.run), at)
            self.result_files = [results]
            self.log(at, f"Completed results file: {results}")
            self.log(at, f"Training tokens billed: {billed_tokens(self.trained_tokens)}")
            self.fine_tuned_model = self.planned_model_name
            self.status = "succeeded"
            self.finished_at = at

    def _trained_tokens(self, report: DatasetReport | None) -> int:
        tokens = report.tokens if report is not None else 0
        return tokens * (self.hyperparameters.n_epochs if self.hyperparameters else 1)

    def _record_step(self, step: int, at: float) -> None:
        assert self.run is not None
        metrics = self.run.steps[step - 1]
        measured = {k: v for k, v in metrics.as_json().items() if v is not None}
        if step in self.metric_steps:
            self.events.append(
                Event(new_id("ftevent"), at, "info", step_message(metrics), "metrics", measured)
            )
        if step % self.run.steps_per_epoch == 0:
            final = step == self.run.total_steps
            checkpoint = Checkpoint(
                id=new_id("ftchkpt"),
                created_at=at,
                step=step,
                # Azure sends every checkpoint metric as a float (`"step": 100.0`).
                metrics={k: float(v) for k, v in measured.items()},
                # The last checkpoint is the fine-tuned model itself (real runs 2025-05, 2025-09).
                model=self.planned_model_name if final else f"{self.planned_model_name}:ckpt-step-{step}",
                job_id=self.id,
            )
            self.checkpoints.append(checkpoint)
            del self.checkpoints[:-KEPT_CHECKPOINTS]

    # -- view ---------------------------------------------------------------------------------------------
    def as_json(self, *, v1: bool = False) -> dict[str, Any]:
        """Explicit nulls where Azure sends them (`result_files` while pending, `fine_tuned_model`, `error`);
        `estimated_finish` stays after the job ends; `suffix` and `trainingType` only when given. On the v1 API
        (OpenAI's `FineTuningJob` schema) the suffix is `user_provided_suffix`, null when none was given."""
        body: dict[str, Any] = {
            "object": "fine_tuning.job",
            "id": self.id,
            "created_at": int(self.created_at),
            "finished_at": None if self.finished_at is None else int(self.finished_at),
            "estimated_finish": None if self.estimate is None else int(self.estimate),
            "model": self.model,
            "fine_tuned_model": self.fine_tuned_model,
            "status": self.status,
            "training_file": self.training.id,
            "validation_file": self.validation.id if self.validation is not None else None,
            "result_files": list(self.result_files) if self.result_files else None,
            "trained_tokens": self.trained_tokens,
            "seed": self.seed,
            "hyperparameters": self.hyperparameters.as_json() if self.hyperparameters else dict(self.echo),
            "method": self.method,
            "integrations": self.integrations,
            "error": self.error,
        }
        if v1:
            body["user_provided_suffix"] = self.suffix
        elif self.suffix is not None:
            body["suffix"] = self.suffix
        if self.training_type is not None:
            body["trainingType"] = self.training_type
        return body
