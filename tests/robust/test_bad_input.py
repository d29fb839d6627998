"""Hostile training data: JSON nested ~1,000 levels deep, and files of nothing but invalid lines. Reported per
line (in chat and by `ftbot validate`), never a crash; a check stops after N invalid lines and says so."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from bot.dataprep import findings as f
from bot.dataprep.cli import main as validate_cli
from bot.dataprep.validator import StreamValidator, validate_path
from emulator import datasets
from tests.robust.conftest import StartBot, answer, slash
from tests.slack.fake_slack_api import FakeSlackApi

GOOD = datasets.path("good_training").read_bytes()
DEEP_ARRAYS = b'{"messages": ' + b"[" * 1000 + b"]" * 1000 + b"}"  # the 3.5 KB-class line from the issue
# Deep inside an unknown top-level key of an otherwise good example: the fast path's decoder meets it first.
DEEP_EXTRA = GOOD.splitlines()[0][:-1] + b', "x": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b"}"


def _file(tmp_path: Path, deep: bytes) -> Path:
    lines = GOOD.splitlines()
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"\n".join([*lines[:3], deep, *lines[3:]]) + b"\n")
    return path


@pytest.mark.parametrize("deep", [DEEP_ARRAYS, DEEP_EXTRA], ids=["arrays", "unknown-key"])
@pytest.mark.parametrize("method", ["sft", "dpo"])
@pytest.mark.parametrize("count_tokens", [False, True], ids=["fast", "tokens"])
def test_a_line_nested_too_deeply_is_reported_on_its_line(
    tmp_path: Path, deep: bytes, method: Any, count_tokens: bool
) -> None:
    assert len(deep) < 8000
    report = validate_path(_file(tmp_path, deep), method=method, count_tokens=count_tokens)
    nested = [e for e in report.errors if e.code == f.NESTED_TOO_DEEPLY]
    assert [e.line for e in nested] == [4]
    assert "nested too deeply" in nested[0].message
    if method == "sft":  # the other lines are still checked, and pass
        assert report.invalid == 1 and report.valid == len(GOOD.splitlines())


def test_a_nested_line_split_across_blocks_is_reported_too() -> None:
    validator = StreamValidator(count_tokens=False)
    data = GOOD + DEEP_ARRAYS + b"\n" + GOOD
    for start in range(0, len(data), 997):  # the deep line arrives in pieces (the held-line path)
        validator.feed(data[start : start + 997])
    report = validator.finish()
    assert [e.code for e in report.errors] == [f.NESTED_TOO_DEEPLY]


def test_ftbot_validate_reports_nested_too_deeply(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = validate_cli([str(_file(tmp_path, DEEP_ARRAYS)), "--no-tokens"], stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    assert "line 4" in out.getvalue() and "nested too deeply" in out.getvalue()


def test_a_check_stops_after_n_invalid_lines_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(GOOD + b"not json\n" * 50_000)
    report = validate_path(path, count_tokens=False, max_invalid=100)
    assert report.invalid == 100
    stopped = [e for e in report.errors if e.code == f.STOPPED_EARLY]
    first_bad = len(GOOD.splitlines()) + 1
    assert stopped and f"stopped checking at line {first_bad + 99:,}" in stopped[0].message
    assert report.lines == first_bad + 99  # nothing after the stop was read
    out = io.StringIO()
    assert validate_cli([str(path), "--no-tokens", "--max-invalid", "100"], stdout=out) == 1
    assert "the rest of the file was not checked" in out.getvalue()


async def test_chat_reports_the_nested_line(
    slack_bot: StartBot, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    lines = GOOD.splitlines()
    slack_api.share_file(
        "F0DEEP0001", "deep.jsonl", b"\n".join([*lines[:3], DEEP_ARRAYS, *lines[3:]]) + b"\n"
    )
    async with slack_bot() as bot:
        await slash(bot, "validate F0DEEP0001")
        said = await answer(slack_api, bot)
    assert "nested too deeply" in said and "nested_too_deeply" in said
    assert "something went wrong" not in said


async def test_chat_stops_after_the_configured_invalid_lines(
    slack_bot: StartBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    slack_api.share_file("F0JUNK0001", "junk.jsonl", b"{oops\n" * 5000)
    async with slack_bot(validation_max_invalid=25) as bot:
        await slash(bot, "start gpt-4o-mini-2024-07-18 --training F0JUNK0001")
        said = await answer(slack_api, bot)
    assert "stopped checking at line 25" in said and "not checked" in said
    assert emulator.state.counters["files.upload"] == 0
