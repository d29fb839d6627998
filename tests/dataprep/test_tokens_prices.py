"""Token counts against known values, statistics, trained-token and cost estimates, the price table."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dataprep import PriceTable, PriceTableError, TokenStats, default_epochs
from bot.dataprep import findings as f
from bot.dataprep.images import tokens_for_size
from bot.dataprep.tokens import TokenCounter

from .helpers import chat, image_data_uri, image_part, line, run, vision_chat

HELLO = "Hello, world! How are you?"


@pytest.mark.parametrize(
    "encoding,ids",
    [
        ("o200k_base", [13225, 11, 2375, 0, 3253, 553, 481, 30]),
        ("cl100k_base", [9906, 11, 1917, 0, 2650, 527, 499, 30]),
    ],
)
def test_known_token_ids(encoding: str, ids: list[int]) -> None:
    from bot.dataprep.tokens import get_encoding

    assert get_encoding(encoding).encode_ordinary(HELLO) == ids
    assert TokenCounter(encoding).text(HELLO) == len(ids)


def test_example_tokens_follow_the_cookbook_formula() -> None:
    # user: 3 + "user"(1) + 8; assistant: 3 + "assistant"(1) + "Fine."(2); + 3 primer = 21
    report = run([line(chat(HELLO, "Fine.", system=None))] * 10, count_tokens=True)
    stats = report.token_stats
    assert stats is not None and stats.encoding == "o200k_base"
    assert (stats.min, stats.max, stats.total) == (21, 21, 210)


def test_long_text_is_counted_whole() -> None:
    counter = TokenCounter("o200k_base")
    text = "hello " * 300_000  # 1.8M characters in one call
    assert counter.text(text) == 300_001  # as tiktoken: the last space is a token of its own


def test_stats_percentiles() -> None:
    from array import array

    stats = TokenStats.from_counts("o200k_base", array("I", range(1, 101)))
    assert stats is not None
    assert (stats.min, stats.max, stats.p95, stats.mean, stats.total) == (1, 100, 95, 50.5, 5050)
    assert TokenStats.from_counts("o200k_base", array("I")) is None


def test_trained_tokens_and_cost() -> None:
    table = PriceTable(per_million={"gpt-4o-mini": 2.0}, currency="EUR", note="test")
    lines = [line(chat(HELLO, "Fine.", system=None))] * 10
    report = run(lines, count_tokens=True, model="gpt-4o-mini-2024-07-18", epochs=4, prices=table)
    assert report.epochs == 4 and not report.epochs_is_default
    assert report.estimated_trained_tokens == 210 * 4
    cost = report.estimated_cost
    assert cost is not None and cost.currency == "EUR" and cost.price_key == "gpt-4o-mini"
    assert cost.amount == pytest.approx(840 / 1_000_000 * 2.0)
    text = report.to_text()
    assert "840" in text and "EUR" in text


def test_default_epochs_follow_the_cookbook() -> None:
    assert [default_epochs(n) for n in (10, 33, 34, 1000, 8333, 10_000, 100_000)] == [10, 3, 3, 3, 3, 2, 1]


def test_over_token_limit_warning() -> None:
    long_line = line(chat("word " * 5000))
    report = run([long_line] + [line(chat())] * 10, count_tokens=True, model="gpt-35-turbo-0613")
    assert report.ok
    assert [(w.line, w.code) for w in report.warnings] == [(1, f.OVER_TOKEN_LIMIT)]
    assert report.token_stats is not None and report.token_stats.encoding == "cl100k_base"


@pytest.mark.parametrize("block_size", [64, 4096, 1 << 20])
def test_warnings_keep_line_order_while_tokens_are_counted_a_block_at_a_time(block_size: int) -> None:
    """Tokens are counted when a block ends, the warnings of a line wait with them: the list stays in line
    order whatever the blocks, and the first `max_warnings` are the first lines' warnings."""
    long = "word " * 5000
    lines = [
        line(chat(system=None)),
        line(chat(long)),
        line(chat(long, system=None)),
        line(chat()),
        line(chat(system=None)),
    ] + [line(chat())] * 8
    expected = [
        (1, f.MISSING_SYSTEM_MESSAGE),
        (2, f.OVER_TOKEN_LIMIT),
        (3, f.MISSING_SYSTEM_MESSAGE),
        (3, f.OVER_TOKEN_LIMIT),
        (5, f.MISSING_SYSTEM_MESSAGE),
    ]
    options = {"count_tokens": True, "model": "gpt-35-turbo-0613", "block_size": block_size}
    report = run(lines, **options)
    assert [(w.line, w.code) for w in report.warnings] == expected
    assert report.warning_counts[f.OVER_TOKEN_LIMIT] == 2
    report = run(lines, max_warnings=3, **options)
    assert [(w.line, w.code) for w in report.warnings] == expected[:3]
    assert report.warning_counts[f.MISSING_SYSTEM_MESSAGE] == 3


def test_system_and_user_warnings() -> None:
    lines = [line(chat(system=None)), line({"messages": [{"role": "assistant", "content": "hi"}]})]
    report = run(lines + [line(chat())] * 9)
    assert report.ok
    assert report.warning_counts == {f.MISSING_SYSTEM_MESSAGE: 2, f.MISSING_USER_MESSAGE: 1}
    assert {(w.line, w.code) for w in report.warnings} == {
        (1, f.MISSING_SYSTEM_MESSAGE),
        (2, f.MISSING_SYSTEM_MESSAGE),
        (2, f.MISSING_USER_MESSAGE),
    }


def test_image_tokens() -> None:
    assert tokens_for_size(1024, 1024, "high") == 765
    assert tokens_for_size(2048, 4096, "high") == 1105
    assert tokens_for_size(4000, 4000, "low") == 85
    low = vision_chat(image_part(image_data_uri(size=(600, 600)), "low"))
    high = vision_chat(image_part(image_data_uri(size=(600, 600)), "high"))
    t_low = run([line(low)] * 10, count_tokens=True, model="gpt-4o-2024-08-06").token_stats
    t_high = run([line(high)] * 10, count_tokens=True, model="gpt-4o-2024-08-06").token_stats
    assert t_low is not None and t_high is not None
    assert t_high.max - t_low.max == (85 + 170 * 4) - 85  # 600x600 -> 4 tiles at high detail


def test_no_tokens_means_no_estimates() -> None:
    report = run([line(chat())] * 10, count_tokens=False, model="gpt-4o-mini")
    assert (
        report.token_stats is None
        and report.estimated_trained_tokens is None
        and report.estimated_cost is None
    )
    assert "not counted" in report.to_text()


def test_default_price_table_is_shipped_and_matches_by_prefix() -> None:
    table = PriceTable.default()
    assert table.currency == "USD" and "illustrative" in table.note
    assert table.price_for("gpt-4o-mini-2024-07-18") == ("gpt-4o-mini", table.per_million["gpt-4o-mini"])
    assert table.price_for("gpt-4o-2024-08-06.ft-abc")[0] == "gpt-4o"  # type: ignore[index]
    assert table.price_for("llama-3") is None


def test_price_table_from_file_with_dpo_overrides(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        'currency = "USD"\n[per_million_trained_tokens]\n"gpt-4o" = 10\n[dpo]\n"gpt-4o" = 12.5\n',
        encoding="utf-8",
    )
    table = PriceTable.load(path)
    assert table.price_for("gpt-4o-2024-08-06") == ("gpt-4o", 10.0)
    assert table.price_for("gpt-4o-2024-08-06", "dpo") == ("gpt-4o", 12.5)


@pytest.mark.parametrize(
    "text",
    ["not toml [", "currency = 'USD'\n", "[per_million_trained_tokens]\n'gpt-4o' = 'cheap'\n"],
)
def test_bad_price_tables(tmp_path: Path, text: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PriceTableError):
        PriceTable.load(path)
    with pytest.raises(PriceTableError):
        PriceTable.load(tmp_path / "missing.toml")
