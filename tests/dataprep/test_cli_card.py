"""`ftbot validate` exit codes and output; the report card."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.dataprep import findings as f
from bot.dataprep.cli import main
from cards.model import Tone
from cards.validation_report import validation_report_card

from .helpers import chat, jsonl, line, run, with_bad_line


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.jsonl"
    path.write_bytes(jsonl([line(chat(f"q{i}")) for i in range(12)]))
    return path


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl(with_bad_line('{"messages": [{"role": "user", "content": "x"}]}', at=7)))
    return path


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_valid_file_exits_0(good_file: Path) -> None:
    code, out, _ = call([str(good_file), "--no-tokens"])
    assert code == 0 and "VALID" in out


def test_invalid_file_exits_1_with_line_numbers(bad_file: Path) -> None:
    code, out, _ = call([str(bad_file), "--model", "gpt-4o-mini-2024-07-18", "--no-tokens"])
    assert code == 1
    assert f"line 7: {f.EXAMPLE_MISSING_ASSISTANT_MESSAGE}" in out


def test_json_output(bad_file: Path) -> None:
    code, out, _ = call([str(bad_file), "--json", "--epochs", "2", "--model", "gpt-4o-mini-2024-07-18"])
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert data["errors"][0]["line"] == 7
    assert data["epochs"] == 2 and data["estimated_trained_tokens"] == data["token_stats"]["total"] * 2
    assert data["estimated_cost"]["currency"] == "USD"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--method", "ppo", "x.jsonl"],
        ["x.jsonl", "--epochs", "0"],
        ["x.jsonl", "--epochs", "two"],
        ["--bogus"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = call(argv)
    assert code == 2 and "usage: ftbot validate" in capsys.readouterr().err


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    code, _, err = call([str(tmp_path / "nope.jsonl")])
    assert code == 2 and "cannot read" in err
    code, _, err = call([str(tmp_path)])
    assert code == 2


def test_bad_price_file_exits_2(good_file: Path, tmp_path: Path) -> None:
    prices = tmp_path / "p.toml"
    prices.write_text("nope [", encoding="utf-8")
    assert call([str(good_file), "--prices", str(prices)])[0] == 2


def test_python_dash_m(bad_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.dataprep", str(bad_file), "--no-tokens"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 1 and "line 7" in done.stdout


def test_card_for_invalid_data() -> None:
    report = run(with_bad_line('{"messages": 5}', at=3), model="gpt-4o-mini-2024-07-18", count_tokens=True)
    card = validation_report_card(report, filename="train.jsonl")
    assert card.tone is Tone.ERROR and "failed" in card.title and "train.jsonl" in card.title
    errors = card.tables[0]
    assert errors.rows[0][0] == "3" and f.MISSING_MESSAGES_LIST in errors.rows[0][1]
    labels = {fact.label for fact in card.facts}
    assert {"Examples", "Valid", "Invalid", "Errors"} <= labels
    # estimates of data that would be refused are hidden
    assert not {"Trained tokens (est.)", "Training cost (est.)"} & labels and not card.footer
    assert card.badge == "1 error" and card.summary
    assert "**1** of 13 examples is invalid (1 problem)." in card.text


def test_card_for_valid_data_lists_warnings_and_caps_rows() -> None:
    report = run([line(chat(system=None))] * 12)
    card = validation_report_card(report)
    assert card.tone is Tone.SUCCESS and card.badge == "12 examples" and card.title == "Data check passed"
    [warnings] = card.tables
    assert len(warnings.rows) == 5 and warnings.more.startswith("7 more")


def test_json_error_reason_reads_naturally(tmp_path: Path) -> None:
    from bot.dataprep import validate_path

    path = tmp_path / "x.jsonl"
    path.write_text('{"messages": "unterminated\n', encoding="utf-8")
    report = validate_path(path, count_tokens=False)
    [error] = [e for e in report.errors if e.code == "invalid_json"]
    assert "starting at column" in error.message and "at at" not in error.message


def test_card_wording_for_a_file_level_problem_and_a_role() -> None:
    report = run([line(chat())] * 6, model="gpt-4o-mini-2024-07-18")
    card = validation_report_card(report, filename="good_training", role="training")
    assert card.title == "Data check failed: `good_training` (training data)"
    assert card.badge == "1 error"
    assert card.text.startswith("6 examples; at least 10 are needed.")
    assert "Every one of the 6 examples is valid on its own." in card.text
    [errors] = card.tables
    assert errors.rows[0][0] == "whole file"


def test_card_for_valid_data_with_a_role_says_valid_once() -> None:
    report = run([line(chat(f"q{i}")) for i in range(12)], model="gpt-4o-mini-2024-07-18", count_tokens=True)
    card = validation_report_card(report, filename="t.jsonl", role="training")
    assert card.title == "Data check passed: `t.jsonl` (training data)" and card.badge == "12 examples"
    assert "Trained tokens (est.)" in {f.label for f in card.facts}
    quiet = validation_report_card(report, filename="v.jsonl", role="validation", estimates=False)
    assert not {"Trained tokens (est.)", "Training cost (est.)"} & {f.label for f in quiet.facts}


def test_text_report_pluralises_and_hides_estimates_of_refused_data(bad_file: Path) -> None:
    code, out, _ = call([str(bad_file), "--model", "gpt-4o-mini-2024-07-18"])
    assert code == 1 and "INVALID (1 error)" in out and "checked as chat data" in out
    assert "estimated" not in out


def test_a_running_check_stops_when_cancelled(tmp_path: Path) -> None:
    import threading

    from bot.dataprep import validate_path
    from bot.dataprep.validator import ValidationCancelled

    path = tmp_path / "x.jsonl"
    path.write_text('{"messages": []}\n' * 10, encoding="utf-8")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ValidationCancelled):
        validate_path(path, count_tokens=False, cancel=cancel)
