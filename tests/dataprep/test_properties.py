"""Property tests: arbitrary bytes and lines never make the validator raise; counts always add up; the fast
path never accepts what the precise rules refuse, and agrees with them on well-formed examples."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dataprep import StreamValidator, ValidationReport
from bot.dataprep.fastpath import (
    REJECT,
    ChatExample,
    DpoExample,
    RawChatExample,
    RawChatFlags,
    TextChatExample,
    chat_flags,
    dpo_flags,
    text_chat_flags,
)
from bot.dataprep.rules import check_chat, check_dpo

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
ROLES = st.sampled_from(["system", "user", "assistant", "tool", "function", "bot", 1, None])
CALL = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.sampled_from(["hi", "", 3])}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.fixed_dictionaries(
                {"url": st.sampled_from(["https://a.b/c.png", "ftp://x", "data:image/png;base64,@"])},
                optional={"detail": st.sampled_from(["low", "auto", "huge"])},
            ),
        }
    ),
    json_values,
)
message = st.fixed_dictionaries(
    {},
    optional={
        "role": ROLES,
        "content": st.one_of(st.sampled_from(["text", "", None, 7]), st.lists(part, max_size=2)),
        "name": st.sampled_from(["n", "", 5]),
        "weight": st.sampled_from([0, 1, 2, True, 1.0, "1"]),
        "tool_calls": st.sampled_from([[CALL], [], [{"id": 1}], "x"]),
        "function_call": st.sampled_from([{"name": "f", "arguments": "{}"}, {"name": "f"}, 3]),
        "tool_call_id": st.sampled_from(["c", 4]),
        "extra": json_values,
    },
)
messages = st.lists(message | json_values, max_size=4)
chat_example = (
    st.fixed_dictionaries(
        {},
        optional={
            "messages": messages | json_values,
            "tools": st.sampled_from(
                [
                    [{"type": "function", "function": {"name": "f"}}],
                    [{"type": "function", "function": {"name": "f", "parameters": {"a": [1, {"b": None}]}}}],
                    [{"type": "function", "function": {"name": "f", "parameters": "p"}}],
                    [{"type": "x"}],
                    {},
                    None,
                ]
            ),
            "parallel_tool_calls": st.sampled_from([True, 0]),
            "other": json_values,
        },
    )
    | json_values
)

# Mostly valid examples with a few mutations: what makes the fast-path/rules agreement test meaningful.
VALID_MESSAGES = {
    "system": [{"role": "system", "content": "s"}, {"role": "system", "content": "s", "name": "n"}],
    "user": [
        {"role": "user", "content": "u"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "u"},
                {"type": "image_url", "image_url": {"url": "https://a.b/c.png"}},
            ],
        },
    ],
    "assistant": [
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": "a", "weight": 0},
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
    ],
    "tool": [{"role": "tool", "content": "r", "tool_call_id": "c"}],
    "function": [{"role": "function", "name": "f", "content": "r"}],
}
MUTATION_KEYS = ["role", "content", "name", "weight", "tool_calls", "function_call", "tool_call_id", "extra"]
MUTATION_VALUES = st.sampled_from(
    [
        "system",
        "user",
        "assistant",
        "tool",
        "function",
        "bot",
        "",
        "x",
        None,
        0,
        1,
        2,
        True,
        1.5,
        [],
        {},
        [CALL],
        {"name": "f", "arguments": "{}"},
        [{"type": "text", "text": "t"}],
        [{"type": "image_url"}],
        [{"type": "image_url", "image_url": {"url": "https://a.b/c.png"}}],
    ]
)


# Valid messages whose content is a non-empty string: what the text-only types take.
TEXT_MESSAGES = {
    role: [m for m in ms if isinstance(m.get("content"), str) and m["content"]]
    for role, ms in VALID_MESSAGES.items()
}


@st.composite
def near_valid_messages(
    draw: st.DrawFn, roles: list[str], source: dict[str, list[dict[str, Any]]] = VALID_MESSAGES
) -> list[Any]:
    out = [dict(draw(st.sampled_from(source[r]))) for r in roles]
    for _ in range(draw(st.integers(0, 2))):
        if not out:
            break
        target = out[draw(st.integers(0, len(out) - 1))]
        key = draw(st.sampled_from(MUTATION_KEYS))
        if draw(st.booleans()) and key in target:
            del target[key]
        else:
            target[key] = draw(MUTATION_VALUES)
    return out


role_lists = st.lists(st.sampled_from(list(VALID_MESSAGES)), min_size=0, max_size=4)
with_assistant = role_lists.map(lambda roles: [*roles, "assistant"])
near_valid_chat = (role_lists | with_assistant).flatmap(near_valid_messages).map(lambda ms: {"messages": ms})
near_valid_text_chat = (
    (role_lists | with_assistant)
    .flatmap(lambda roles: near_valid_messages(roles, TEXT_MESSAGES))
    .map(lambda ms: {"messages": ms})
)
near_valid_dpo = st.tuples(
    with_assistant.flatmap(near_valid_messages),
    st.lists(st.sampled_from(["assistant", "tool", "user"]), max_size=2)
    .map(lambda roles: ["assistant", *roles])
    .flatmap(near_valid_messages),
    st.lists(st.sampled_from(["assistant", "tool"]), max_size=2)
    .map(lambda roles: [*roles, "assistant"])
    .flatmap(near_valid_messages),
).map(lambda t: {"input": {"messages": t[0]}, "preferred_output": t[1], "non_preferred_output": t[2]})
dpo_example = st.fixed_dictionaries(
    {},
    optional={
        "input": st.fixed_dictionaries(
            {}, optional={"messages": messages, "parallel_tool_calls": st.booleans()}
        )
        | json_values,
        "preferred_output": messages,
        "non_preferred_output": messages,
    },
)


def check_counts(report: ValidationReport, max_errors: int) -> None:
    assert report.examples == report.valid + report.invalid
    assert report.lines >= report.examples + report.blank_lines - 1
    assert report.ok == (not report.error_counts)
    line_errors = [e for e in report.errors if e.line is not None]
    assert len(line_errors) <= max_errors
    assert sum(report.error_counts.values()) >= len(report.errors)
    assert report.invalid <= sum(n for code, n in report.error_counts.items())
    assert all(e.line is None or 1 <= e.line <= report.lines for e in report.errors)
    report.to_text()
    json.dumps(report.to_dict())


def validate(data: bytes, cuts: list[int], **options: Any) -> ValidationReport:
    v = StreamValidator(**options)
    prev = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        v.feed(data[prev:cut])
        prev = max(prev, cut)
    v.feed(data[prev:])
    return v.finish()


@SETTINGS
@given(
    st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=4), st.sampled_from(["sft", "dpo"])
)
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int], method: str) -> None:
    report = validate(data, cuts, method=method, count_tokens=False, max_errors=3)
    check_counts(report, 3)


@SETTINGS
@given(
    st.lists(st.text(max_size=40) | (chat_example | near_valid_chat).map(json.dumps), max_size=12),
    st.lists(st.integers(min_value=0), max_size=3),
    st.booleans(),
)
def test_arbitrary_lines_never_raise_and_chunking_does_not_matter(
    lines: list[str], cuts: list[int], tokens: bool
) -> None:
    data = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "surrogatepass")
    options: dict[str, Any] = {"count_tokens": tokens, "max_errors": 5, "model": "gpt-4o-2024-08-06"}
    whole = validate(data, [], **options)
    check_counts(whole, 5)
    pieces = validate(data, cuts, **options)
    assert (pieces.valid, pieces.invalid, pieces.errors, pieces.warning_counts) == (
        whole.valid,
        whole.invalid,
        whole.errors,
        whole.warning_counts,
    )


def _flags(raw: bytes, kind: type, flags_of: Any) -> int:
    try:
        example: Any = msgspec.json.decode(raw, type=kind)
    except msgspec.MsgspecError:
        return REJECT
    return int(flags_of(example, True))


def _fast(raw: bytes, kind: type, flags_of: Any) -> bool:
    return _flags(raw, kind, flags_of) != REJECT


@SETTINGS
@given(near_valid_chat | chat_example)
def test_fast_path_agrees_with_the_rules_on_chat(example: Any) -> None:
    raw = json.dumps(example).encode()
    assert _fast(raw, ChatExample, chat_flags) == (not check_chat(example, vision_ok=True))


@SETTINGS
@given(near_valid_dpo | dpo_example)
def test_fast_path_agrees_with_the_rules_on_dpo(example: Any) -> None:
    raw = json.dumps(example).encode()
    assert _fast(raw, DpoExample, dpo_flags) == (not check_dpo(example, vision_ok=True))


@SETTINGS
@given(near_valid_text_chat | near_valid_chat | chat_example)
def test_text_only_types_accept_only_what_the_full_types_accept_with_the_same_warnings(example: Any) -> None:
    raw = json.dumps(example).encode()
    text = _flags(raw, TextChatExample, text_chat_flags)
    if text != REJECT:
        assert _flags(raw, ChatExample, chat_flags) == text
        assert not check_chat(example, vision_ok=True)


@SETTINGS
@given(near_valid_text_chat | near_valid_chat | chat_example, st.booleans())
def test_raw_content_types_accept_exactly_what_the_text_only_types_accept(example: Any, spaced: bool) -> None:
    # On valid UTF-8 (the validator checks it first) the raw contents change nothing but the cost.
    raw = json.dumps(example, separators=(" , ", " : ") if spaced else None).encode()
    text = _flags(raw, TextChatExample, text_chat_flags)
    assert _flags(raw, RawChatExample, RawChatFlags()) == text
    memo = RawChatFlags()  # the validator's: each distinct tool list decoded once
    assert [_flags(raw, RawChatExample, memo) for _ in range(2)] == [text, text]


@SETTINGS
@given(
    st.lists(
        st.text(max_size=40) | (chat_example | near_valid_chat | near_valid_text_chat).map(json.dumps),
        max_size=12,
    )
)
def test_the_no_token_hot_path_finds_what_the_full_path_finds(lines: list[str]) -> None:
    # Without tokens, chat lines go through the text-only types first; with tokens, all take the full types.
    data = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "surrogatepass")
    fast = validate(data, [], count_tokens=False, max_errors=5)
    full = validate(data, [], count_tokens=True, max_errors=5)
    assert (fast.valid, fast.invalid, fast.errors, fast.warnings) == (
        full.valid,
        full.invalid,
        full.errors,
        full.warnings,
    )
