"""The no-token hot path: text-only types first, the full types for what they refuse, and the switch to
the full types when the data is mostly content parts. Reports must not depend on which path ran."""

from __future__ import annotations

from typing import Any

import pytest

from bot.dataprep import StreamValidator, ValidationReport, utf8
from bot.dataprep import findings as f
from tests.dataprep.helpers import chat, image_part, jsonl, line, run, vision_chat

CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


def tool_chat(i: int) -> dict[str, Any]:
    """A valid example whose assistant reply has tool calls and no content (the text-only types take it)."""
    return {
        "messages": [
            {"role": "system", "content": "Use tools."},
            {"role": "user", "content": f"look up {i}"},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "content": "found", "tool_call_id": "c1"},
            {"role": "assistant", "content": f"result {i}"},
        ]
    }


def feed(data: bytes, block: int, **options: Any) -> tuple[StreamValidator, ValidationReport]:
    v = StreamValidator(count_tokens=False, **options)
    for i in range(0, len(data), block):
        v.feed(data[i : i + block])
    return v, v.finish()


def summary(report: ValidationReport) -> tuple[Any, ...]:
    return report.valid, report.invalid, report.errors, report.warnings, report.warning_counts


@pytest.fixture(params=["native", "decoding"] if utf8.NATIVE else ["decoding"])
def utf8_check(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each UTF-8 check the validator may run with: the built one, and CPython's decoder without it."""
    if request.param == "decoding":
        monkeypatch.setattr(utf8, "first_invalid", utf8.first_invalid_decoding)
    return str(request.param)


@pytest.mark.usefixtures("utf8_check")
def test_invalid_utf8_in_a_text_only_example_is_still_an_error() -> None:
    # The content is otherwise fine: only decoding it as a str (not skipping it) catches the bad byte.
    bad = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "caf\xe9"}]}'
    data = jsonl([line(chat(f"q{i}")) for i in range(11)]) + bad + b"\n"
    report = run(data)
    assert [(e.line, e.code) for e in report.errors] == [(12, f.INVALID_UTF8)]
    assert report.valid == 11


@pytest.mark.usefixtures("utf8_check")
def test_invalid_utf8_anywhere_in_a_block_is_found_on_its_line() -> None:
    # Without tokens contents stay raw and the UTF-8 is checked a block at a time (the decoder: a piece of
    # one at a time): a bad byte at a line's start, end or middle, in lines on either side of a piece's end,
    # and a character split by no piece (multi-byte characters right at the cut).
    good = [line(chat(f"q{i} \u00e9\u6771\U0001f600" * 40)).encode() for i in range(200)]
    bad = {
        3: b'{"messages": [{"role": "user", "content": "\xff"}, {"role": "assistant", "content": "a"}]}',
        50: line(chat("x" * 100)).encode().replace(b'"x', b'"\xc3x', 1),
        51: line(chat("y")).encode().replace(b"}]}", b'}], "k\xe9": 1}'),
        120: line(chat("z")).encode() + b"\xe2\x82",
    }
    lines = [bad.get(i, raw) for i, raw in enumerate(good)]
    data = b"\n".join(lines) + b"\n"
    for block in (len(data), 65_536, 4096, 777):
        _, report = feed(data, block)
        assert summary(report) == summary(run(data, count_tokens=True)), block
        assert sorted(e.line for e in report.errors) == [4, 51, 121], block
        assert report.valid == 197  # line 52: bad UTF-8 in a key the types ignore, accepted as before


@pytest.mark.usefixtures("utf8_check")
def test_the_utf8_check_never_cuts_a_character() -> None:
    for before in range(utf8._PIECE - 4, utf8._PIECE + 1):
        data = b"a" * before + "\U0001f600\u00e9".encode() + b"\n" + b"b\n"
        assert utf8.bad_lines(data, 0, len(data)) == []
        broken = data.replace(b"\xc3", b"\xc3\xc3")
        assert utf8.bad_lines(broken, 0, len(broken)) == [0]
        assert utf8.bad_lines(b"ok\n" + broken, 0, len(broken) + 3) == [3]


@pytest.mark.usefixtures("utf8_check")
def test_every_bad_line_of_a_block_is_listed_once() -> None:
    lines = [b"ok", b"caf\xe9", b"\xff\xfe", "東京".encode(), b"cut \xe2\x82", b"", b"end \x80"]
    data = b"\n".join(lines) + b"\n"
    starts = [data.index(raw) for raw in (b"caf", b"\xff", b"cut", b"end")]
    assert utf8.bad_lines(data, 0, len(data)) == starts
    assert utf8.bad_lines(data, starts[1], len(data)) == starts[1:]


def test_lines_the_text_types_refuse_are_decided_by_the_full_types() -> None:
    lines = [line(chat(f"q{i}")) for i in range(10)]
    lines += [line(tool_chat(1)), line(vision_chat(image_part("https://example.com/a.png")))]
    lines += [line({"messages": [{"role": "user", "content": "no reply"}]}), "", "  " + line(chat("x"))]
    report = run(lines, model="gpt-4o-2024-08-06")
    assert [(e.line, e.code) for e in report.errors] == [(13, f.EXAMPLE_MISSING_ASSISTANT_MESSAGE)]
    assert (report.valid, report.invalid, report.blank_lines) == (13, 1, 1)


def parts_chat(i: int) -> dict[str, Any]:
    """A valid example the text-only types refuse: content as a list of text parts."""
    return {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": f"question {i}"},
            {"role": "assistant", "content": f"answer {i}"},
        ]
    }


def test_mostly_parts_data_switches_to_the_full_types_with_the_same_report() -> None:
    lines = [line(chat("no system", system=None))] + [line(parts_chat(i)) for i in range(300)]
    lines.insert(150, line({"messages": [{"role": "assistant", "content": ""}]}))
    data = jsonl(lines)
    switched, report = feed(data, 4096)
    assert not switched._text_first  # the text-only types missed too often and were dropped
    # Token counting decodes every line with the full types: the same findings.
    assert summary(report) == summary(run(data, count_tokens=True))
    assert report.valid == 301 and [(e.line, e.code) for e in report.errors] == [(151, f.MISSING_CONTENT)]
    assert report.warning_counts == {f.MISSING_SYSTEM_MESSAGE: 1}


def test_plain_chat_data_keeps_the_text_types() -> None:
    lines = [line(chat(f"q{i}")) for i in range(300)] + [line(parts_chat(1))]
    v, report = feed(jsonl(lines), 4096)
    assert v._text_first and report.valid == 301 and report.ok


def test_tool_call_data_keeps_the_text_types_with_the_same_report() -> None:
    no_reply = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}]}
    lines = [line(tool_chat(i)) for i in range(300)] + [line(no_reply)]
    v, report = feed(jsonl(lines), 4096)
    assert v._text_first and v._text_misses == 0
    assert summary(report) == summary(run(jsonl(lines), count_tokens=True))
    assert report.valid == 300 and [(e.line, e.code) for e in report.errors] == [(301, f.MISSING_CONTENT)]


def test_a_tool_list_repeated_line_after_line_is_judged_the_same_every_time() -> None:
    # Without tokens the tool list stays raw and each distinct one is decoded once per validator. The memo
    # keys on a copy: the reader's buffer (where the raw value points) is overwritten by the next block.
    good = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    bad = [{"type": "function", "function": {"name": "lookup", "parameters": "an object"}}]
    lines = []
    for i in range(60):
        example = tool_chat(i)
        example["tools"] = bad if i % 7 == 3 else good
        lines.append(line(example))
    data = jsonl(lines)
    for block in (len(data), 4096, 333):
        _, report = feed(data, block)
        assert summary(report) == summary(run(data, count_tokens=True)), block
        assert [e.line for e in report.errors] == [i + 1 for i in range(60) if i % 7 == 3], block
        assert {e.code for e in report.errors} == {f.INVALID_TOOLS}
        assert report.valid == 51
