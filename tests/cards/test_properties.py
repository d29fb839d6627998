"""Property tests: any card content (long texts, many rows, odd unicode) renders within limits and validates."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards.markup import text_len, to_ac_markdown, to_mrkdwn, to_plain
from cards.model import Button, Card, Confirm, Fact, Image, Table, Tone
from cards.render_slack import render_blocks
from cards.render_teams import MAX_CARD_BYTES, card_bytes, render_adaptive
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

# Surrogates cannot be encoded (the utf-8 codec leaves them out); everything else is fair game: emoji, RTL, combining marks, control characters.
ODD = st.characters(codec="utf-8")
MARKUP_BITS = st.sampled_from(
    ["**bold**", "`code`", "[docs](https://x.io/a?b=1&c=<2>)", "<", ">", "&", "*", "|"]
)
piece = st.one_of(st.text(ODD, max_size=30), MARKUP_BITS)


# Long texts by repetition: hypothesis draws them fast, and they still hit every limit.
def repeated(parts: int, times: int) -> st.SearchStrategy[str]:
    return st.builds(lambda p, n: "".join(p) * n, st.lists(piece, max_size=parts), st.integers(0, times))


text = repeated(6, 120)  # up to ~20,000 chars: over every single-text limit
cell = repeated(3, 8)
short = st.text(ODD, max_size=60)
url = st.one_of(
    st.builds(lambda p: "https://example.com/" + p, st.from_regex(r"[a-z0-9/_.-]{0,40}", fullmatch=True)),
    st.just("http://intranet.local/chart.png"),
    st.builds(lambda n: "data:image/png;base64," + "A" * n, st.sampled_from([0, 100, 70_000])),
    st.just("not a url"),
)
action = st.sampled_from(["job.refresh", "job.events", "job.cancel", "help"])
payload = st.dictionaries(st.sampled_from(["job", "after", "page"]), st.text(ODD, max_size=40), max_size=3)
confirm = st.builds(Confirm, title=short, text=cell, ok=short, dismiss=short)
button = st.one_of(
    st.builds(
        Button,
        label=short,
        action=action,
        payload=payload,
        style=st.sampled_from(["default", "primary", "danger"]),
        confirm=st.none() | confirm,
    ),
    st.builds(Button, label=short, url=url.filter(lambda u: u.startswith("http"))),
)
row = st.lists(cell, max_size=4).map(tuple)
table = st.builds(
    Table,
    columns=st.lists(short, max_size=4).map(tuple),
    rows=st.builds(lambda rows, times: tuple(rows) * times, st.lists(row, max_size=5), st.integers(1, 25)),
    title=short,
    more=cell,
)
cards = st.builds(
    Card,
    title=text,
    tone=st.sampled_from(list(Tone)),
    text=text,
    facts=st.lists(st.builds(Fact, label=short, value=cell), max_size=25).map(tuple),
    tables=st.lists(table, max_size=2).map(tuple),
    images=st.lists(st.builds(Image, url=url, alt=short), max_size=4).map(tuple),
    buttons=st.lists(button, max_size=30).map(tuple),
    footer=text,
    summary=text,
    badge=short,
)

# No deadline: the machine is small and noisy, and these assert limits, not speed.
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(cards)
def test_any_card_renders_valid_block_kit(card: Card) -> None:
    assert_valid_blocks(render_blocks(card))


# Fewer examples here: the 1.5 schema is anyOf-heavy and jsonschema needs ~0.2 s for a big card.
@settings(PROPERTY, max_examples=25)
@given(cards)
def test_any_card_renders_a_valid_adaptive_card_under_the_size_limit(card: Card) -> None:
    rendered = render_adaptive(card)
    assert card_bytes(rendered) <= MAX_CARD_BYTES
    assert_valid_adaptive(rendered)


@settings(max_examples=200, deadline=None)
@given(text, st.integers(1, 500))
def test_cut_markup_stays_within_its_limit(value: str, limit: int) -> None:
    for write in (to_mrkdwn, to_ac_markdown, to_plain):
        assert text_len(write(value, limit)) <= limit


@given(st.text(ODD, max_size=80), st.one_of(st.none(), st.integers(1, 120)))
def test_text_without_markup_is_written_as_the_parse_would_write_it(raw: str, limit: int | None) -> None:
    # `_write` skips the parse for text with no mark that could start markup: the same answer either way.
    from cards import markup

    plain = raw.translate({ord(c): None for c in "\\*`["})
    for write, piece in (
        (markup.to_plain, markup._plain_piece),
        (markup.to_ac_markdown, markup._ac_piece),
        (markup.to_mrkdwn, markup._slack_piece),
    ):
        parsed = "".join(piece(seg, seg.text) for seg in markup.parse(plain))
        if limit is None or text_len(parsed) <= limit:
            assert write(plain, limit) == parsed
        else:
            assert write(plain, limit).endswith(markup.ELLIPSIS)
            assert text_len(write(plain, limit)) <= limit


@given(st.text(ODD, max_size=40))
def test_text_len_counts_utf16_units(raw: str) -> None:
    assert text_len(raw) == len(raw.encode("utf-16-le")) // 2
