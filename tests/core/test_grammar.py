from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import UsageError
from bot.grammar import ParsedText, parse_command_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ParsedText("help")),
        ("   ", ParsedText("help")),
        ("status ftjob-abc", ParsedText("status", ("ftjob-abc",))),
        ("STATUS ftjob-abc", ParsedText("status", ("ftjob-abc",))),
        ("events ftjob-abc --limit 5", ParsedText("events", ("ftjob-abc",), {"limit": "5"})),
        ("events ftjob-abc --limit=5", ParsedText("events", ("ftjob-abc",), {"limit": "5"})),
        ("list --status running", ParsedText("list", (), {"status": "running"})),
        ("list --mine", ParsedText("list", (), {"mine": True})),
        ("status --help", ParsedText("status", (), {"help": True})),
        ("events ftjob-abc --limit", ParsedText("events", ("ftjob-abc",), {"limit": True})),
        ("--help", ParsedText("help", (), {"help": True})),
        ('start gpt-4o --suffix "my run"', ParsedText("start", ("gpt-4o",), {"suffix": "my run"})),
        # phones and chat clients substitute typography
        ("events ftjob-abc —limit 5", ParsedText("events", ("ftjob-abc",), {"limit": "5"})),
        ("start m --suffix “a b”", ParsedText("start", ("m",), {"suffix": "a b"})),
    ],
)
def test_parses(text: str, expected: ParsedText) -> None:
    assert parse_command_text(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('status "ftjob-abc', "quote"),
        ("events --limit 1 --limit 2", "twice"),
        ("events --Bad_Name 1", "not an option"),
        ("x " + "a" * 5000, "too long"),
    ],
)
def test_usage_errors(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_command_text(text)
    assert fragment in info.value.message


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_command_or_a_usage_error(text: str) -> None:
    try:
        parsed = parse_command_text(text)
    except UsageError as exc:
        assert exc.message
        return
    assert parsed.verb
    assert all(isinstance(a, str) for a in parsed.args)
    assert all(isinstance(v, str | bool) for v in parsed.options.values())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ["--limit", "--status", "--help", "--mine", "--", "-x", '"', "'", "—", "=", "--a="]
            ),
            st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
        ),
        max_size=12,
    )
)
def test_option_soup_never_crashes(parts: list[str]) -> None:
    with contextlib.suppress(UsageError):
        parse_command_text(" ".join(parts))
