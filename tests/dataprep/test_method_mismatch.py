"""DPO data checked as chat (and the reverse) is named once as a method mismatch, not as ten identical
per-line errors, and refused data shows no estimates (review U8)."""

from __future__ import annotations

import io
from pathlib import Path

from bot.dataprep import findings as f
from bot.dataprep.cli import main
from cards.validation_report import validation_report_card

from .helpers import chat, dpo, jsonl, line, run

MODEL = "gpt-4o-2024-08-06"


def test_dpo_data_without_method_dpo_is_named_once() -> None:
    report = run([line(dpo(f"p{i}")) for i in range(12)], model=MODEL, count_tokens=True)
    assert not report.ok and report.invalid == 12
    [finding] = report.errors  # the per-line findings are folded into the file-level one
    assert finding.line is None and finding.code == f.METHOD_MISMATCH
    assert "add `--method dpo`" in finding.message
    assert report.error_counts == {f.METHOD_MISMATCH: 1, f.WRONG_FORMAT: 12}


def test_chat_data_with_method_dpo_is_named_once() -> None:
    report = run([line(chat(f"q{i}")) for i in range(12)], model=MODEL, method="dpo")
    assert [e.code for e in report.errors] == [f.METHOD_MISMATCH]
    assert "leave out `--method dpo`" in report.errors[0].message


def test_a_few_stray_lines_of_the_other_method_are_reported_per_line() -> None:
    lines = [line(chat(f"q{i}")) for i in range(12)]
    lines.insert(4, line(dpo()))
    report = run(lines)
    assert [(e.line, e.code) for e in report.errors] == [(5, f.WRONG_FORMAT)]
    assert "DPO preference example" in report.errors[0].message


def test_card_leads_with_the_hint_and_shows_no_estimates() -> None:
    report = run([line(dpo(f"p{i}")) for i in range(12)], model=MODEL, count_tokens=True)
    card = validation_report_card(report, filename="prefs.jsonl")
    assert card.text.startswith("This looks like DPO preference data: add `--method dpo`.")
    labels = {fact.label for fact in card.facts}
    assert "Trained tokens (est.)" not in labels and "Training cost (est.)" not in labels
    [errors] = card.tables
    assert len(errors.rows) == 1 and errors.rows[0][0] == "whole file"


def test_cli_names_the_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "prefs.jsonl"
    path.write_bytes(jsonl([line(dpo(f"p{i}")) for i in range(12)]))
    out = io.StringIO()
    code = main([str(path), "--model", MODEL], stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert code == 1 and "This looks like DPO preference data: add `--method dpo`" in text
    assert "estimated trained tokens" not in text and "cost" not in text
