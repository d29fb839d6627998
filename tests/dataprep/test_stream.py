"""Bytes-level behaviour: encodings, blank lines, line endings, chunk boundaries, huge lines, file size."""

from __future__ import annotations

import io

import pytest

from bot.dataprep import StreamValidator, validate_chunks, validate_path, validate_stream
from bot.dataprep import findings as f
from bot.dataprep import validator as validator_module

from .helpers import chat, codes_at, jsonl, line, run, with_bad_line

GOOD = [line(chat(f"q{i}", "a")) for i in range(12)]


def feed_in_pieces(data: bytes, size: int, **options: object) -> tuple[int, int, set[tuple[int | None, str]]]:
    v = StreamValidator(count_tokens=False, **options)  # type: ignore[arg-type]
    for i in range(0, len(data), size):
        v.feed(data[i : i + size])
    r = v.finish()
    return r.valid, r.invalid, codes_at(r)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "utf8-bom"])
def test_utf8_with_or_without_bom(bom: bytes) -> None:
    report = run(bom + jsonl(GOOD))
    assert report.ok and report.valid == 12
    assert report.bytes == len(bom) + len(jsonl(GOOD))


def test_bom_then_bad_first_line_keeps_line_one() -> None:
    report = run(b"\xef\xbb\xbf" + jsonl(["{}", *GOOD]))
    assert codes_at(report) == {(1, f.MISSING_MESSAGES_LIST)}


def test_utf16_is_refused_with_one_file_error() -> None:
    report = run(jsonl(GOOD).decode().encode("utf-16"))
    assert not report.ok
    assert [(e.line, e.code) for e in report.errors] == [(None, f.UNSUPPORTED_ENCODING)]


def test_invalid_utf8_is_a_line_numbered_error() -> None:
    bad = b'{"messages": [{"role": "user", "content": "caf' + b"\xe9" + b'"}]}'
    data = jsonl(GOOD[:3]) + bad + b"\n" + jsonl(GOOD)
    report = run(data)
    [error] = report.errors
    assert error.line == 4 and error.code == f.INVALID_UTF8
    assert "0xe9" in error.message
    assert report.valid == 15 and report.invalid == 1


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("trailing", [True, False], ids=["trailing-newline", "no-trailing-newline"])
def test_line_endings(newline: str, trailing: bool) -> None:
    lines = with_bad_line("{}", at=12)
    report = run(jsonl(lines, newline=newline, trailing=trailing))
    assert codes_at(report) == {(12, f.MISSING_MESSAGES_LIST)}
    assert report.valid == 12 and report.lines == 13


def test_blank_lines_are_ignored_and_reported_once() -> None:
    lines = [*GOOD[:5], "", "   ", "\t", *GOOD[5:]]
    report = run(jsonl(lines) + b"\n")
    assert report.ok and report.valid == 12
    assert report.blank_lines == 4
    [warning] = [w for w in report.warnings if w.code == f.BLANK_LINES]
    assert warning.line == 6
    assert report.warning_counts[f.BLANK_LINES] == 4


def test_line_with_leading_spaces_is_still_an_example() -> None:
    report = run(jsonl(["  " + GOOD[0], *GOOD[1:]]))
    assert report.ok and report.valid == 12


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
def test_any_chunking_gives_the_same_report(size: int) -> None:
    lines = with_bad_line('{"messages": 1}', at=3)
    data = b"\xef\xbb\xbf" + jsonl([*lines, "", "[]"], trailing=False)
    expected = feed_in_pieces(data, len(data))
    assert feed_in_pieces(data, size) == expected
    assert expected[2] == {(3, f.MISSING_MESSAGES_LIST), (15, f.DATA_TYPE)}


def test_stream_without_readinto_is_read_in_blocks() -> None:
    class Reader:
        def __init__(self, data: bytes) -> None:
            self._io = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._io.read(min(n, 5))

    report = validate_stream(Reader(jsonl(GOOD)), count_tokens=False)  # type: ignore[arg-type]
    assert report.ok and report.valid == 12


@pytest.mark.parametrize("chunk", [10, 1 << 20])
def test_line_over_the_limit_is_reported_and_skipped(chunk: int) -> None:
    huge = line(chat("x" * 5000))
    data = jsonl(with_bad_line(huge, at=6))
    valid, invalid, codes = feed_in_pieces(data, chunk, max_line_bytes=1000)
    assert codes == {(6, f.LINE_TOO_LONG)}
    assert (valid, invalid) == (12, 1)


def test_huge_valid_line_under_the_limit_passes() -> None:
    big = line(chat("word " * 400_000))  # a 2 MB line across several 1 MiB blocks
    report = run(with_bad_line(big, at=2))
    assert report.ok and report.valid == 13


def test_file_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = jsonl(GOOD)
    monkeypatch.setattr(validator_module, "MAX_FILE_BYTES", len(data))
    report = run(data)
    assert (None, f.FILE_TOO_LARGE) in codes_at(report)
    monkeypatch.setattr(validator_module, "MAX_FILE_BYTES", len(data) + 1)
    assert run(data).ok


def test_empty_input() -> None:
    report = run(b"")
    assert report.examples == 0 and codes_at(report) == {(None, f.TOO_FEW_EXAMPLES)}


def test_validate_path(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "train.jsonl"
    path.write_bytes(jsonl(with_bad_line("[1]", at=2)))
    report = validate_path(path, count_tokens=False)
    assert codes_at(report) == {(2, f.DATA_TYPE)}
    with pytest.raises(OSError):
        validate_path(path.with_name("missing.jsonl"))


async def test_validate_chunks_from_an_async_source() -> None:
    data = jsonl(with_bad_line('{"messages": []}', at=9))

    async def chunks() -> object:
        for i in range(0, len(data), 33):
            yield data[i : i + 33]

    report = await validate_chunks(chunks(), count_tokens=False)  # type: ignore[arg-type]
    assert codes_at(report) == {(9, f.MISSING_MESSAGES_LIST)}


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        StreamValidator(method="ppo")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        StreamValidator(epochs=0)


def test_validate_stream_points_async_sources_to_validate_chunks() -> None:
    async def chunks() -> object:
        yield b""

    with pytest.raises(TypeError, match="validate_chunks"):
        validate_stream(chunks())  # type: ignore[arg-type]
