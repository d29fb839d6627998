"""The token path of `ftbot validate`: exact counts (tiktoken's) on varied and realistic data, each distinct
system prompt and tool list counted once, and a large file checked on several processes giving the report
a single process gives, line numbers included. The tokenizer is loaded only when tokens are counted."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
import threading
from array import array
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bot.dataprep import TokenStats, parallel, validate_path
from bot.dataprep.cli import main as cli_main
from bot.dataprep.fastpath import ChatExample, DpoExample, TextAssistantMessage, TextUserMessage
from bot.dataprep.rules import check_chat, check_dpo
from bot.dataprep.tokens import TokenCounter
from bot.dataprep.validator import ValidationCancelled

from .realistic import conversation, write_chat, write_dpo
from .reference import cookbook_tokens, reference_encoding

VARIED = [
    "",
    " ",
    "Hello, world! How are you?",
    "  \n\n\t  indented\r\n",
    "<|endoftext|> is text here, as with encode_ordinary",
    "東京の天気は晴れです。请问您的订单号是多少？ 서울에서 만나요.",
    "😀👍🏽🇫🇷 family: 👨‍👩‍👧‍👦 ☕",
    "naïve café résumé Straße e\u0301 (combining)",
    "مرحبا بالعالم שלום",
    "12345678901234567890 3.14159 -0.5e10 1,000,000",
    "I'll you've they're WE'LL It's",
    '{"city": "Paris", "unit": "celsius", "days": [1, 2, 3]}',
    "```python\ndef f(x):\n    return x ** 2\n```",
    "\x00\x01\x7f control \u00a0nbsp\u2003em \ufeff",
    "x" * 5000,
    "🙂" * 2000,
    " " * 3000 + "end",
    "hello " * 200_000,  # over 1M characters: counted whole, exactly (bpe-openai needed pieces)
]


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_text_counts_equal_tiktoken(encoding: str) -> None:
    reference = reference_encoding(encoding)
    counter = TokenCounter(encoding)
    for text in VARIED:
        assert counter.text(text) == len(reference.encode_ordinary(text)), text[:40]
    # A lone surrogate (not UTF-8) counts as tiktoken counts it, as U+FFFD.
    assert counter.text("lone \ud800 surrogate") == len(reference.encode_ordinary("lone \ud800 surrogate"))


def test_queued_strings_with_a_lone_surrogate_count_as_tiktoken_counts_them() -> None:
    """msgspec refuses lone surrogates, but typed examples can be built in Python: one such string in a
    block's queue makes `flush` count the block string by string, with the same totals."""
    reference = reference_encoding("o200k_base")
    counter = TokenCounter("o200k_base")
    texts = ["plain text", "lone \ud800 surrogate", "more text"]
    messages = [TextUserMessage(content=texts[0]), TextAssistantMessage(content=texts[1])]
    queued = counter.add_messages(messages) + counter.add_messages([TextUserMessage(content=texts[2])])
    assert counter.pending == texts
    assert counter.flush() == [len(reference.encode_ordinary(t)) for t in texts]
    assert counter.pending == [] and queued == 3 * (3 + 1)


def test_roles_are_one_token() -> None:
    """Roles are one token each (`tokens.py` counts each once, when a counter is made)."""
    for encoding in ("o200k_base", "cl100k_base"):
        reference = reference_encoding(encoding)
        for role in ("system", "user", "assistant", "tool", "function"):
            assert len(reference.encode_ordinary(role)) == 1


def _reference_stats(path: Path, method: str) -> TokenStats | None:
    encode = reference_encoding("o200k_base").encode_ordinary
    counts = array("I")
    for raw in path.read_bytes().splitlines():
        try:
            example = json.loads(raw.decode("utf-8"))
        except ValueError:
            continue
        if not (check_dpo(example) if method == "dpo" else check_chat(example)):
            counts.append(cookbook_tokens(example, method, encode))
    return TokenStats.from_counts("o200k_base", counts)


@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_realistic_file_counts_equal_the_reference(tmp_path: Path, method: str) -> None:
    """Multi-turn chats with tool calls and results, weights, unicode and ~1% invalid lines; DPO pairs."""
    path = tmp_path / "train.jsonl"
    if method == "dpo":
        write_dpo(path, 0.3)
    else:
        write_chat(path, 0.6, invalid_every=16)
    report = validate_path(path, model="gpt-4.1-mini-2025-04-14", method=method)  # type: ignore[arg-type]
    assert report.token_stats is not None and report.token_stats.examples == report.valid > 50
    assert report.token_stats == _reference_stats(path, method)
    if method == "sft":
        assert report.invalid >= 5


def test_each_distinct_system_prompt_and_tool_list_is_counted_once() -> None:
    import random

    rng = random.Random(7)
    examples = []
    while len(examples) < 300:
        example = conversation(rng)
        if example.get("tools") and example["messages"][0]["role"] == "system":
            examples.append(example)
    counter = TokenCounter("o200k_base")
    decode = msgspec.json.Decoder(ChatExample).decode
    encode = reference_encoding("o200k_base").encode_ordinary
    for example in examples:
        assert counter.chat(decode(json.dumps(example))) == cookbook_tokens(example, "sft", encode)
    distinct = {e["messages"][0]["content"] for e in examples}
    distinct |= {json.dumps(e["tools"]) for e in examples}
    distinct |= {
        call["function"]["name"] for e in examples for m in e["messages"] for call in m.get("tool_calls", ())
    }
    # Only cache misses reach the tokenizer through the cache: each distinct string once.
    assert counter.encoded == len(distinct) < 20


def test_dpo_counts_via_the_fast_loop_equal_the_reference() -> None:
    import random

    from .realistic import dpo_example

    counter = TokenCounter("o200k_base")
    encode = reference_encoding("o200k_base").encode_ordinary
    decode = msgspec.json.Decoder(DpoExample).decode
    rng = random.Random(3)
    for _ in range(50):
        example = dpo_example(rng)
        assert counter.dpo(decode(json.dumps(example))) == cookbook_tokens(example, "dpo", encode)


def _mixed_file(path: Path) -> None:
    """Realistic lines plus blank lines, a line over the length limit, a BOM and no final newline."""
    write_chat(path, 0.8, invalid_every=25)
    lines = path.read_bytes().split(b"\n")[:-1]
    lines[3:3] = [b"", b"   "]
    lines[len(lines) * 3 // 4 : len(lines) * 3 // 4] = [b"", b'{"messages": [' + b" " * 300_000 + b"]}"]
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines))


@pytest.mark.parametrize(
    "workers,count_tokens,range_bytes",
    [
        (2, True, parallel.RANGE_BYTES),
        (3, True, 40_000),
        (2, False, parallel.RANGE_BYTES),
        (2, False, 25_000),
    ],
)
def test_several_processes_give_the_single_process_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, count_tokens: bool, range_bytes: int
) -> None:
    path = tmp_path / "train.jsonl"
    _mixed_file(path)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES_NO_TOKENS", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", range_bytes)
    calls: list[int] = []
    real = parallel.validate_parallel

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs["workers"])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "validate_parallel", spy)
    size = path.stat().st_size
    cuts = parallel.cut_points(path, parallel.range_bounds(size, workers))
    data = path.read_bytes()
    assert cuts[0] == 0 and cuts[-1] == size and len(cuts) > workers and cuts == sorted(set(cuts))
    assert all(data[cut - 1 : cut] == b"\n" for cut in cuts[1:-1])  # whole lines in every range
    options = {"model": "gpt-4o-mini-2024-07-18", "max_line_bytes": 200_000, "count_tokens": count_tokens}
    for max_errors in (3, 500):
        one = validate_path(path, workers=1, max_errors=max_errors, **options)  # type: ignore[arg-type]
        many = validate_path(path, workers=workers, max_errors=max_errors, **options)  # type: ignore[arg-type]
        assert many == one
    assert calls == [workers, workers]
    assert (one.token_stats is not None) == count_tokens
    # Findings far into the file keep their line numbers.
    assert one.blank_lines == 3 and one.error_counts["line_too_long"] == 1
    assert max(e.line or 0 for e in one.errors) > one.lines // 2


@pytest.mark.parametrize(
    "size,workers",
    [
        (100_000_000, 2),
        (16 << 20, 2),
        (800_000, 3),
        (50 << 30, 64),
        (100_000_000, 1),
        (10, 2),
        (1, 2),
        (0, 2),
    ],
)
def test_the_ranges_cover_the_file_and_shrink_at_its_end(size: int, workers: int) -> None:
    bounds = parallel.range_bounds(size, workers)
    sizes = [b - a for a, b in itertools.pairwise(bounds)]
    assert bounds[0] == 0 and bounds[-1] == size and all(sizes)
    assert min(workers, size) <= len(sizes) < parallel.MAX_RANGES
    if size >= 16 << 20:
        width = min(workers, 32)
        tail = sizes[-3 * width :]
        assert (
            tail == sorted(tail, reverse=True) and tail[-1] * 4 < sizes[0]
        )  # an eighth of a full range at the end
        assert max(sizes) <= max(parallel.RANGE_BYTES, size // (parallel.MAX_RANGES // 2)) + 1


def test_the_ranges_a_dead_child_took_are_checked_by_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "train.jsonl"
    _mixed_file(path)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 30_000)

    parent = os.getpid()
    checked: list[int] = []
    real = parallel._check_part

    def dies_in_its_second_range(*args: Any) -> Any:
        checked.append(1)
        if os.getpid() != parent and len(checked) == 2:
            os._exit(1)  # a child killed mid-way: its first range's result is lost with it
        return real(*args)

    monkeypatch.setattr(parallel, "_check_part", dies_in_its_second_range)
    options = {"model": "gpt-4o-mini-2024-07-18", "max_line_bytes": 200_000, "max_errors": 500}
    assert validate_path(path, workers=3, **options) == validate_path(path, workers=1, **options)  # type: ignore[arg-type]


def test_a_utf16_file_is_refused_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes("\n".join(["{}"] * 50_000).encode("utf-16"))
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    assert validate_path(path, workers=2) == validate_path(path, workers=1)


def test_the_cli_uses_every_core_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "train.jsonl"
    write_chat(path, 0.5)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr("bot.dataprep.cli.usable_cores", lambda: 2)
    calls: list[int] = []
    real = parallel.validate_parallel

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs["workers"])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "validate_parallel", spy)
    outputs = []
    for argv in ([str(path), "--json"], [str(path), "--json", "--workers", "1"]):
        out = io.StringIO()
        cli_main([*argv, "--model", "gpt-4o-mini-2024-07-18"], stdout=out)
        outputs.append(out.getvalue())
    assert calls == [2]
    assert outputs[0] == outputs[1]


def test_the_tokenizer_is_not_loaded_at_start_up() -> None:
    code = (
        "import sys, bot.app, bot.dataprep, bot.dataprep.cli\n"
        "from bot.dataprep import validate_path\n"
        "assert not {'quicktok', 'tiktoken', 'bpe_openai'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_a_cancelled_check_ends_its_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "train.jsonl"
    _mixed_file(path)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 30_000)
    cancel = threading.Event()
    started: list[parallel._Child] = []
    real = parallel._start_child

    def start(*args: Any) -> parallel._Child:
        child = real(*args)
        started.append(child)
        cancel.set()  # set while this process checks its first range
        return child

    monkeypatch.setattr(parallel, "_start_child", start)
    with pytest.raises(ValidationCancelled):
        parallel.validate_parallel(path, workers=3, cancel=cancel, count_tokens=False)
    assert len(started) == 2 and all(child.reaped for child in started)
    for child in started:
        with pytest.raises(ChildProcessError):
            os.waitpid(child.pid, os.WNOHANG)  # reaped: no zombie left
        with pytest.raises(OSError):
            os.fstat(child.results)  # and its pipe closed


def test_without_fork_one_process_checks_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "train.jsonl"
    write_chat(path, 0.2)
    expected = validate_path(path, workers=1, count_tokens=False)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES_NO_TOKENS", 0)
    monkeypatch.delattr(os, "fork")  # as on Windows
    monkeypatch.setattr(parallel, "validate_parallel", lambda *a, **k: pytest.fail("forked"))
    assert validate_path(path, workers=2, count_tokens=False) == expected
