"""results.csv files made by the emulator's own training model (the same code a job runs), and the
checkpoints the emulator would keep, for golden tests that need no server."""

from __future__ import annotations

from dataclasses import dataclass

from bot.azure.results_csv import ResultColumns, parse_results_columns
from bot.results_analysis import CheckpointInfo
from emulator import datasets
from emulator.datacheck import inspect
from emulator.jobs import KEPT_CHECKPOINTS
from emulator.training import TrainingRun, resolve_hyperparameters, results_csv, simulate

SEED = 105


@dataclass(frozen=True)
class EmulatedRun:
    name: str
    run: TrainingRun
    csv: bytes

    @property
    def columns(self) -> ResultColumns:
        return parse_results_columns(self.csv)

    def checkpoints(self) -> list[CheckpointInfo]:
        """The emulator's kept checkpoints (the last epochs), all deployable as after a successful job."""
        kept = self.run.epoch_end_steps()[-KEPT_CHECKPOINTS:]
        by_step = {m.step: m for m in self.run.steps}
        return [
            CheckpointInfo(
                f"ftchkpt-{self.name[:4]}{step:028d}",
                step,
                by_step[step].full_valid_loss,
                by_step[step].valid_loss,
                deployable=True,
            )
            for step in kept
        ]


def emulated(
    training: str, validation: str | None = None, *, epochs: int | None = None, dpo: bool = False
) -> EmulatedRun:
    train = inspect(datasets.path(training).read_bytes())
    valid = inspect(datasets.path(validation).read_bytes()) if validation else None
    requested: dict[str, object] = {} if epochs is None else {"n_epochs": epochs}
    hp = resolve_hyperparameters(requested, train.examples, dpo)
    run = simulate(
        seed=SEED,
        training_fingerprint=train.fingerprint,
        validation_fingerprint=valid.fingerprint if valid else None,
        n_examples=train.examples,
        hyperparameters=hp,
        dpo=dpo,
    )
    return EmulatedRun(training, run, results_csv(run))


def good_run() -> EmulatedRun:
    return emulated("good_training", "good_validation")


def overfit_run() -> EmulatedRun:
    return emulated("overfit_training", "good_validation", epochs=12)


def no_validation_run() -> EmulatedRun:
    return emulated("good_training")


def dpo_run() -> EmulatedRun:
    return emulated("dpo_training", epochs=3, dpo=True)
