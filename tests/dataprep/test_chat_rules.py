"""One bad line per rule among good ones: the report names the rule and the line."""

from __future__ import annotations

import pytest

from bot.dataprep import findings as f

from .helpers import chat, codes_at, line, run, with_bad_line

SYS = {"role": "system", "content": "s"}
USER = {"role": "user", "content": "u"}
ASSISTANT = {"role": "assistant", "content": "a"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}


def msgs(*messages: dict[str, object], **extra: object) -> str:
    return line({"messages": list(messages), **extra})


BAD_LINES = {
    "not_an_object": ('["messages"]', f.DATA_TYPE),
    "string_line": ('"hello"', f.DATA_TYPE),
    "no_messages": (line({"prompt": "x"}), f.MISSING_MESSAGES_LIST),
    "empty_messages": (msgs(), f.MISSING_MESSAGES_LIST),
    "messages_not_list": (line({"messages": {"role": "user"}}), f.MISSING_MESSAGES_LIST),
    "message_not_object": (msgs(USER, "hi", ASSISTANT), f.DATA_TYPE),  # type: ignore[arg-type]
    "no_role": (msgs({"content": "x"}, ASSISTANT), f.MESSAGE_MISSING_KEY),
    "no_content": (msgs({"role": "user"}, ASSISTANT), f.MESSAGE_MISSING_KEY),
    "unknown_key": (msgs({**USER, "mood": "happy"}, ASSISTANT), f.MESSAGE_UNRECOGNIZED_KEY),
    "unknown_role": (msgs({"role": "bot", "content": "x"}, ASSISTANT), f.UNRECOGNIZED_ROLE),
    "role_not_string": (msgs({"role": 3, "content": "x"}, ASSISTANT), f.UNRECOGNIZED_ROLE),
    "empty_content": (msgs({"role": "user", "content": ""}, ASSISTANT), f.MISSING_CONTENT),
    "null_content": (msgs({"role": "user", "content": None}, ASSISTANT), f.MISSING_CONTENT),
    "number_content": (msgs({"role": "user", "content": 42}, ASSISTANT), f.MISSING_CONTENT),
    "assistant_empty": (msgs(USER, {"role": "assistant", "content": ""}), f.MISSING_CONTENT),
    "no_assistant": (msgs(SYS, USER), f.EXAMPLE_MISSING_ASSISTANT_MESSAGE),
    "weight_2": (msgs(USER, {**ASSISTANT, "weight": 2}), f.INVALID_WEIGHT),
    "weight_true": (msgs(USER, {**ASSISTANT, "weight": True}), f.INVALID_WEIGHT),
    "weight_float": (msgs(USER, {**ASSISTANT, "weight": 1.0}), f.INVALID_WEIGHT),
    "weight_on_user": (msgs({**USER, "weight": 1}, ASSISTANT), f.INVALID_WEIGHT),
    "empty_name": (msgs({**USER, "name": ""}, ASSISTANT), f.INVALID_NAME),
    "function_without_name": (
        msgs(USER, {"role": "function", "content": "{}"}, ASSISTANT),
        f.MESSAGE_MISSING_KEY,
    ),
    "tool_call_id_on_user": (msgs({**USER, "tool_call_id": "c1"}, ASSISTANT), f.MESSAGE_UNRECOGNIZED_KEY),
    "tool_calls_on_user": (msgs({**USER, "tool_calls": [CALL]}, ASSISTANT), f.INVALID_TOOL_CALLS),
    "tool_calls_empty": (msgs(USER, {"role": "assistant", "tool_calls": []}), f.INVALID_TOOL_CALLS),
    "tool_call_bad_type": (
        msgs(USER, {"role": "assistant", "tool_calls": [{**CALL, "type": "code"}]}),
        f.INVALID_TOOL_CALLS,
    ),
    "tool_call_args_object": (
        msgs(
            USER, {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "x", "arguments": {}}}]}
        ),
        f.INVALID_TOOL_CALLS,
    ),
    "function_call_no_name": (
        msgs(USER, {"role": "assistant", "function_call": {"arguments": "{}"}}),
        f.INVALID_FUNCTION_CALL,
    ),
    "function_call_on_user": (
        msgs({**USER, "function_call": {"name": "f", "arguments": "{}"}}, ASSISTANT),
        f.INVALID_FUNCTION_CALL,
    ),
    "tools_not_list": (msgs(USER, ASSISTANT, tools={"type": "function"}), f.INVALID_TOOLS),
    "tool_without_function": (msgs(USER, ASSISTANT, tools=[{"type": "function"}]), f.INVALID_TOOLS),
    "parallel_not_bool": (msgs(USER, ASSISTANT, parallel_tool_calls="yes"), f.INVALID_TOOLS),
    "part_unknown_type": (
        msgs({"role": "user", "content": [{"type": "audio"}]}, ASSISTANT),
        f.INVALID_CONTENT_PART,
    ),
    "text_part_no_text": (
        msgs({"role": "user", "content": [{"type": "text"}]}, ASSISTANT),
        f.INVALID_CONTENT_PART,
    ),
    "invalid_json": ('{"messages": [', f.INVALID_JSON),
    "nan": ('{"messages": NaN}', f.INVALID_JSON),
    "trailing_garbage": (msgs(USER, ASSISTANT) + " x", f.INVALID_JSON),
}


@pytest.mark.parametrize("bad,code", list(BAD_LINES.values()), ids=list(BAD_LINES))
@pytest.mark.parametrize("at", [1, 7, 13])
def test_bad_line_is_reported_with_code_and_line(bad: str, code: str, at: int) -> None:
    report = run(with_bad_line(bad, at=at))
    assert not report.ok
    assert (at, code) in codes_at(report)
    assert {e.line for e in report.errors} == {at}
    assert report.invalid == 1 and report.valid == 12 and report.examples == 13


def test_reason_names_the_message_index_and_key() -> None:
    report = run(with_bad_line(msgs(SYS, USER, {**ASSISTANT, "weight": 5}), at=3))
    [error] = report.errors
    assert error.line == 3 and error.code == f.INVALID_WEIGHT
    assert "messages[2]" in error.message and "weight" in error.message and "5" in error.message


def test_every_problem_of_a_line_is_counted() -> None:
    bad = msgs({"role": "bot", "content": "", "extra": 1})
    report = run(with_bad_line(bad, at=2))
    assert report.error_counts == {
        f.MESSAGE_UNRECOGNIZED_KEY: 1,
        f.UNRECOGNIZED_ROLE: 1,
        f.MISSING_CONTENT: 1,
        f.EXAMPLE_MISSING_ASSISTANT_MESSAGE: 1,
    }
    assert report.invalid == 1


GOOD_LINES = {
    "plain": line(chat()),
    "weights": msgs(SYS, USER, {**ASSISTANT, "weight": 0}, USER, {**ASSISTANT, "weight": 1}),
    "tool_flow": msgs(
        USER,
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"a": 2}'},
        ASSISTANT,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        parallel_tool_calls=False,
    ),
    "tool_call_null_content": msgs(USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}),
    "function_flow": msgs(
        USER,
        {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "42"},
        ASSISTANT,
        functions=[{"name": "f", "description": "answers"}],
    ),
    "names": msgs({**USER, "name": "alice"}, {**ASSISTANT, "name": "bot"}),
    "text_parts": msgs({"role": "user", "content": [{"type": "text", "text": "hi"}]}, ASSISTANT),
    "extra_top_level_key": msgs(USER, ASSISTANT, metadata={"source": "crm"}),
}


@pytest.mark.parametrize("good", list(GOOD_LINES.values()), ids=list(GOOD_LINES))
def test_valid_shapes_pass(good: str) -> None:
    report = run(with_bad_line(good, at=5))
    assert report.ok, report.to_text()
    assert report.valid == 13


def test_too_few_examples_is_a_file_error() -> None:
    report = run([line(chat()) for _ in range(9)])
    assert not report.ok and report.errors[0].line is None
    assert report.errors[0].code == f.TOO_FEW_EXAMPLES
    assert run([line(chat()) for _ in range(10)]).ok


def test_first_errors_are_capped_but_all_counted() -> None:
    report = run(["{}"] * 30, max_errors=5)
    assert len(report.errors) == 5
    assert report.error_counts[f.MISSING_MESSAGES_LIST] == 30
    assert [e.line for e in report.errors] == [1, 2, 3, 4, 5]
