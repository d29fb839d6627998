"""Golden tests: results files made by the emulator's training model, and hand-written edge cases. The
analysis text is exact; every step counts (never the downsampled picture)."""

from __future__ import annotations

import math

import pytest

from bot.azure.results_csv import parse_results_columns
from bot.results_analysis import CheckpointInfo, analyse
from tests.charts.emulated import EmulatedRun, dpo_run, good_run, no_validation_run, overfit_run

GOLDEN = {
    "good": (
        good_run,
        (
            "Training loss: final 0.059 at step 96.",
            "Full validation loss: final 0.636 at step 96, best 0.636 at step 96.",
            "Checkpoint to deploy: `ftchkpt-good0000000000000000000000000096` (step 96, full validation loss "
            "0.636), the lowest of 3 deployable ones.",
            "No sign of overfitting: validation loss did not rise while training loss fell.",
        ),
    ),
    "overfit": (
        overfit_run,
        (
            "Training loss: final 0.059 at step 120.",
            "Full validation loss: final 3.268 at step 120, best 0.880 at step 20.",
            "Checkpoint to deploy: `ftchkpt-over0000000000000000000000000100` (step 100, full validation loss "
            "2.765), the lowest of 3 deployable ones.",
            "Overfitting: validation loss rose over the last 10 epochs (0.880 → 3.268) while training loss "
            "kept falling (0.357 → 0.053). Try fewer epochs (validation loss was lowest after epoch 2: "
            "`--epochs 2`) or a smaller learning-rate multiplier (`--lr-multiplier`).",
        ),
    ),
    "no validation": (
        no_validation_run,
        (
            "Training loss: final 0.042 at step 96.",
            "Checkpoint to deploy: no validation data to choose by; the final model is the usual choice.",
            "No validation data: cannot judge overfitting.",
        ),
    ),
    "dpo": (
        dpo_run,
        (
            "Training loss: final 0.077 at step 36.",
            "Checkpoint to deploy: no validation data to choose by; the final model is the usual choice.",
            "No validation data: cannot judge overfitting.",
        ),
    ),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_emulated_runs_read_exactly(name: str) -> None:
    make, expected = GOLDEN[name]
    run: EmulatedRun = make()
    analysis = analyse(run.columns, run.checkpoints(), n_epochs=run.run.hyperparameters.n_epochs)
    assert analysis.lines == expected
    assert analysis.epoch_ends == tuple(run.run.epoch_end_steps())


def test_overfit_run_is_the_only_one_flagged() -> None:
    verdicts = {}
    for name, (make, _) in GOLDEN.items():
        run = make()
        verdicts[name] = analyse(
            run.columns, run.checkpoints(), n_epochs=run.run.hyperparameters.n_epochs
        ).overfitting
    assert verdicts == {"good": False, "overfit": True, "no validation": None, "dpo": None}


def test_the_checkpoint_to_deploy_is_the_lowest_full_validation_loss_among_deployable_ones() -> None:
    text = "step,train_loss,valid_loss,full_valid_loss\n" + "".join(
        f"{s},{1 / s:.4f},{v},{f}\n"
        for s, v, f in [(1, 0.9, ""), (2, 0.5, 0.5), (3, 0.4, 0.3), (4, 0.45, 0.4)]
    )
    checkpoints = [
        CheckpointInfo("ftchkpt-a", 2, 0.5, deployable=False),
        CheckpointInfo("ftchkpt-b", 3, None, deployable=True),  # no metrics: the file's value at its step
        CheckpointInfo("ftchkpt-c", 4, 0.4, deployable=True),
    ]
    analysis = analyse(parse_results_columns(text), checkpoints)
    assert analysis.deploy is not None and analysis.deploy.id == "ftchkpt-b"
    assert analysis.lines[2] == (
        "Checkpoint to deploy: `ftchkpt-b` (step 3, full validation loss 0.300), the lowest of 2 deployable ones."
    )
    assert analysis.best == (3, 0.3)


def test_both_spellings_of_validation_accuracy_blank_cells_and_unknown_columns() -> None:
    documented = "step,train_loss,validation_mean_token_accuracy,extra\n1,0.5,0.7,x\n2,0.4,,y\n"
    seen = "step,train_loss,valid_mean_token_accuracy\n1,0.5,0.7\n2,0.4,\n"
    for text in (documented, seen):
        columns = parse_results_columns(text)
        accuracy = columns.values["valid_mean_token_accuracy"]
        assert accuracy[0] == 0.7 and math.isnan(accuracy[1])
        assert list(columns.steps) == [1, 2]


def test_a_truncated_last_line_is_left_out() -> None:
    text = "step,train_loss,valid_loss\n1,0.9,1.0\n2,0.8,0.9\n3,0.7"
    columns = parse_results_columns(text)
    assert columns.truncated and list(columns.steps) == [1, 2]
    lines = analyse(columns, ()).lines
    assert lines[0] == "Training loss: final 0.800 at step 2."
    assert lines[1] == "Validation loss: final 0.900 at step 2, best 0.900 at step 2."
    # A complete last line without a line end is kept.
    assert list(parse_results_columns("step,train_loss\n1,0.9\n2,0.8").steps) == [1, 2]


def test_a_training_only_file_cannot_judge_overfitting() -> None:
    analysis = analyse(parse_results_columns("step,train_loss\n1,0.9\n2,0.5\n"), (), n_epochs=2)
    assert analysis.lines == (
        "Training loss: final 0.500 at step 2.",
        "No deployable checkpoints.",
        "No validation data: cannot judge overfitting.",
    )
    assert analysis.epoch_ends == (1, 2)


def test_a_running_job_has_nothing_to_deploy_yet_and_one_epoch_is_too_early() -> None:
    text = "step,train_loss,valid_loss\n" + "".join(
        f"{s},{1 / s:.3f},{0.5 + s / 100:.3f}\n" for s in range(1, 6)
    )
    analysis = analyse(parse_results_columns(text), (), n_epochs=3, running=True)
    assert analysis.lines[1:] == (
        "Validation loss: final 0.550 at step 5, best 0.510 at step 1.",
        "No checkpoint is deployable yet: the job is still running.",
        "Only one epoch so far: too early to judge overfitting.",
    )


def test_noise_below_two_percent_is_not_overfitting() -> None:
    rows = [(10, 0.5, 0.600), (20, 0.4, 0.500), (30, 0.3, 0.505)]
    text = "step,train_loss,full_valid_loss\n" + "".join(f"{s},{t},{f}\n" for s, t, f in rows)
    assert analyse(parse_results_columns(text), ()).overfitting is False


def test_empty_and_junk_files() -> None:
    assert len(parse_results_columns("")) == 0
    assert len(parse_results_columns("step,train_loss\n")) == 0
    columns = parse_results_columns("\ufeffStep, Train_Loss \nx,1\n2,nan\n3,0.5\n")
    assert list(columns.steps) == [2, 3]
    assert math.isnan(columns.values["train_loss"][0])


def test_only_the_columns_asked_for_are_converted() -> None:
    text = "step,train_loss,train_mean_token_accuracy,valid_loss\n1,0.5,0.7,0.6\n"
    columns = parse_results_columns(text, only=("train_loss", "valid_loss"))
    assert set(columns.values) == {"train_loss", "valid_loss"} and list(columns.steps) == [1]


def test_without_full_validation_each_epoch_is_the_mean_of_its_validation_losses() -> None:
    # 4 epochs of 5 steps; validation falls, then rises over the last two epochs; training keeps falling.
    valid = [1.0] * 5 + [0.6] * 5 + [0.7] * 5 + [0.9] * 5
    text = "step,train_loss,valid_loss\n" + "".join(
        f"{s},{1 / s:.4f},{v}\n" for s, v in zip(range(1, 21), valid, strict=True)
    )
    analysis = analyse(parse_results_columns(text), (), n_epochs=4)
    assert analysis.epoch_ends == (5, 10, 15, 20)
    assert analysis.overfitting is True
    assert analysis.lines[-1].startswith(
        "Overfitting: validation loss rose over the last 2 epochs (0.600 → 0.900) while training loss kept "
        "falling (0.129 → 0.056). Try fewer epochs (validation loss was lowest after epoch 2: `--epochs 2`)"
    )
