"""Id shapes the chat layer checks before any call, and the results.csv parser's tolerance."""

from __future__ import annotations

import pytest

from bot.azure.models import (
    is_checkpoint_id,
    is_file_id,
    is_fine_tuned_model,
    is_job_id,
    is_model_name,
    is_suffix,
    parse_results_csv,
)

HEX = "5fd1918ee65d4cd38a5dcf6835066ed7"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (f"ftjob-{HEX}", True),
        (f"ft-{HEX}", True),
        ("ftjob-123", False),
        (f"ftjob-{HEX}x", False),
        (f"FTJOB-{HEX}", False),
        (f"ftjob-{HEX}; DROP", False),
        ("", False),
        (None, False),
        (42, False),
    ],
)
def test_job_ids(value: object, ok: bool) -> None:
    assert is_job_id(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (f"file-{HEX}", True),
        ("file-181a1cbdcdcf4677ada87f63a0928099", True),
        ("file-abc123XYZ456def789", True),
        ("file-short", False),
        ("file-../etc/passwd", False),
        (f"ftjob-{HEX}", False),
    ],
)
def test_file_ids(value: str, ok: bool) -> None:
    assert is_file_id(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ftckpt_qtZ5Gyk4BLq1SfLFWp3RtO3P", True),
        (f"ftchkpt-{HEX}", True),
        ("ftckpt-qtZ5Gyk4BLq1", False),
        ("ftchkpt_" + HEX, False),
        ("ftchkpt-xyz", False),
    ],
)
def test_checkpoint_ids_both_variants(value: str, ok: bool) -> None:
    assert is_checkpoint_id(value) is ok


@pytest.mark.parametrize(
    ("value", "ok", "fine_tuned"),
    [
        ("gpt-35-turbo-0613", True, False),
        ("gpt-4o-mini-2024-07-18", True, False),
        ("babbage-002", True, False),
        ("gpt-3.5-turbo", False, False),
        (f"gpt-35-turbo-0613.ft-{HEX}", True, True),
        (f"gpt-4o-mini-2024-07-18.ft-{HEX}-my_suffix-2", True, True),
        (f"gpt-35-turbo-0613.ft-{HEX}.ft-{HEX}", True, True),
        ("gpt-35-turbo-0613.ft-123", False, False),
        ("gpt 4o", False, False),
        ("-gpt", False, False),
        (f"gpt-4o.ft-{HEX}-" + "s" * 41, False, False),
    ],
)
def test_model_names(value: str, ok: bool, fine_tuned: bool) -> None:
    assert is_model_name(value) is ok
    assert is_fine_tuned_model(value) is fine_tuned


@pytest.mark.parametrize(
    ("value", "ok"),
    [("v1", True), ("a-b_C9", True), ("s" * 40, True), ("s" * 41, False), ("has space", False), ("", False)],
)
def test_suffix(value: str, ok: bool) -> None:
    assert is_suffix(value) is ok


DOCUMENTED = """step,train_loss,train_mean_token_accuracy,valid_loss,validation_mean_token_accuracy,full_valid_loss,full_valid_mean_token_accuracy
1,1.52,0.61,1.61,0.58,,
2,1.20,0.66,1.35,0.62,1.40,0.60
"""
SEEN = """\ufeffstep,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,full_valid_mean_token_accuracy,extra_col
1,1.5,0.6,,,,,x
2,nan,0.7,1.3,0.62,1.4,0.60,y
,0.1,0.1,,,,,z

3,0.9,0.8,1.2,0.65,,,
"""


def test_documented_columns() -> None:
    rows = parse_results_csv(DOCUMENTED)
    assert [r.step for r in rows] == [1, 2]
    assert rows[0].valid_mean_token_accuracy == 0.58
    assert rows[0].validation_mean_token_accuracy == 0.58
    assert rows[0].full_valid_loss is None
    assert rows[1].full_valid_mean_token_accuracy == 0.60


def test_seen_variant_with_bom_blanks_unknown_columns() -> None:
    rows = parse_results_csv(SEEN.encode("utf-8"))
    assert [r.step for r in rows] == [1, 2, 3]
    assert rows[0].valid_loss is None and rows[0].extra == {"extra_col": "x"}
    assert rows[1].train_loss is None  # nan is treated as blank
    assert rows[1].valid_mean_token_accuracy == 0.62


def test_fewer_columns_in_any_order() -> None:
    rows = parse_results_csv("train_loss,step\n0.7,10\n")
    assert rows[0].step == 10 and rows[0].train_loss == 0.7 and rows[0].valid_loss is None


def test_empty_input() -> None:
    assert parse_results_csv("") == []
    assert parse_results_csv("step,train_loss\n") == []


def test_dotted_versions_are_model_names_but_openai_spelling_is_not() -> None:
    from bot.azure.ids import is_model_name

    assert is_model_name("gpt-4.1-mini")
    assert is_model_name("gpt-4.1-2025-04-14")
    assert not is_model_name("gpt-3.5-turbo")
    assert not is_model_name("gpt-4..1")


@pytest.mark.parametrize(
    ("asked", "answered", "same"),
    [
        ("gpt-4.1", "gpt-4.1-2025-04-14", True),  # Azure may answer the version it resolved
        ("gpt-4.1-2025-04-14", "gpt-4.1", True),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", True),
        ("GPT-4o-mini", "gpt-4o-mini", True),
        ("gpt-35-turbo", "gpt-35-turbo-0613", True),
        ("gpt-4.1", "gpt-4.1-mini-2025-04-14", False),  # another family
        ("gpt-4.1", "gpt-4.1-mini", False),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-08-06", False),  # another version
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", True),
        # A fine-tuned model or checkpoint (continuous fine-tuning) is itself only.
        (f"gpt-4o-mini-2024-07-18.ft-{HEX}", f"gpt-4o-mini-2024-07-18.ft-{HEX}", True),
        (f"gpt-4o-mini-2024-07-18.ft-{HEX}", "gpt-4o-mini-2024-07-18", False),
        ("gpt-4o-mini-2024-07-18", f"gpt-4o-mini-2024-07-18.ft-{HEX}", False),
        (f"gpt-4o-mini-2024-07-18.ft-{HEX}-tag", f"gpt-4o-mini-2024-07-18.ft-{HEX}-tag-2024-07-18", False),
        ("ft:gpt-4o-mini-2024-07-18:org::abc", "gpt-4o-mini-2024-07-18", False),
        (f"ftchkpt-{HEX}", f"ftchkpt-{HEX}-2024-07-18", False),
        (None, "gpt-4.1", False),
        (None, None, True),
    ],
)
def test_same_model_compares_a_family_name_with_its_versions(
    asked: str | None, answered: str | None, same: bool
) -> None:
    from bot.azure.ids import same_model

    assert same_model(asked, answered) is same
    assert same_model(answered, asked) is same
