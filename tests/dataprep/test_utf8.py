"""The validator's UTF-8 check (bot/dataprep/_utf8.c, and CPython's decoder where it is not built): the
same first error as CPython's decoder on every short sequence, at every offset around the SIMD blocks,
and on random buffers."""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Callable

import pytest

from bot.dataprep import utf8

# CI builds the extension (gcc is there): it must not quietly fall back.
REQUIRE_ENV = "FTBOT_REQUIRE_NATIVE"
if utf8.NATIVE:
    from bot.dataprep import _utf8

    CHECKS: dict[str, Callable[[bytes, int, int], int]] = {
        "native": _utf8.first_invalid,
        "native-bytewise": _utf8.first_invalid_bytewise,
        "decoding": utf8.first_invalid_decoding,
    }
else:
    if os.environ.get(REQUIRE_ENV) == "1":
        raise RuntimeError(f"bot/dataprep/_utf8.c was not built, and {REQUIRE_ENV}=1 (run `make install`)")
    CHECKS = {"decoding": utf8.first_invalid_decoding}

# Every boundary of the Unicode Standard's Table 3-7 (well-formed byte sequences), and ASCII around it.
EDGES = bytes([0x00, 0x0A, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF])
EDGES += bytes([0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF])
# Sequences to move across block edges: well-formed ones of each length, and each kind of error.
SAMPLES = [
    "é".encode(),
    "東".encode(),
    "😀".encode(),
    "\U0010ffff".encode(),
    b"\x80",  # a continuation byte alone
    b"\xc0\xaf",  # overlong "/"
    b"\xc3",  # cut short by the end or by what follows
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xed\xa0\x80",  # a surrogate
    b"\xe0\x9f\xbf",  # overlong 3-byte
    b"\xf0\x8f\xbf\xbf",  # overlong 4-byte
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xf5\x80\x80\x80",
    b"\xff",
    "é".encode() + b"\x80",  # one continuation too many
]


def expected(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return -1


@pytest.fixture(params=sorted(CHECKS))
def check(request: pytest.FixtureRequest) -> Callable[[bytes, int, int], int]:
    return CHECKS[request.param]


def test_every_short_sequence_is_judged_as_cpython_judges_it(check: Callable[[bytes, int, int], int]) -> None:
    firsts = range(256)
    cases = [bytes([a]) for a in firsts]
    cases += [bytes([a, b]) for a in firsts for b in EDGES]
    cases += [bytes([a, b, c]) for a in firsts for b in EDGES for c in EDGES]
    cases += [bytes([a, *rest]) for a in range(0xF0, 0xF8) for rest in itertools.product(EDGES, repeat=3)]
    wrong = [(data, check(data, 0, len(data)), expected(data)) for data in cases]
    assert [w for w in wrong if w[1] != w[2]] == []


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.hex())
def test_a_sequence_anywhere_around_the_blocks(
    check: Callable[[bytes, int, int], int], sample: bytes
) -> None:
    # 32-byte SIMD blocks, checked 64 bytes at a time, and a padded tail: every offset across two chunks,
    # with text ending right after the sequence, or 1 and 40 bytes later.
    for before in range(0, 140):
        for after in (0, 1, 40):
            data = b"a" * before + sample + "ü".encode() * (after // 2) + b"z" * (after % 2)
            assert check(data, 0, len(data)) == expected(data), (before, after)


def test_random_buffers(check: Callable[[bytes, int, int], int]) -> None:
    rng = random.Random(20261127)
    alphabet = [
        "a",
        " ",
        "\n",
        "é",
        "ß",
        "東",
        "😀",
        "\u07ff",
        "\u0800",
        "\uffff",
        "\U00010000",
        "\U0010ffff",
    ]
    for _ in range(4000):
        text = "".join(
            rng.choice(alphabet) if rng.random() < 0.7 else "x" * rng.randrange(1, 70)
            for _ in range(rng.randrange(0, 60))
        )
        data = bytearray(text.encode())
        for _ in range(rng.choice((0, 0, 1, 3))):
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice(SAMPLES) if rng.random() < 0.5 else bytes([rng.randrange(256)])
        if data and rng.random() < 0.2:
            del data[rng.randrange(len(data)) :]
        raw = bytes(data)
        assert check(raw, 0, len(raw)) == expected(raw), raw


def test_start_and_stop_bound_the_check(check: Callable[[bytes, int, int], int]) -> None:
    data = b"\xff" + "é".encode() * 100 + b"\xc3\n" + b"b" * 200 + b"\x80"
    cut = data.index(b"\n")
    assert check(data, 0, len(data)) == 0
    assert check(data, 1, cut - 1) == -1  # stops before the lone 0xC3
    assert check(data, 1, cut) == cut - 1  # which is cut short by the newline
    assert check(data, cut, len(data) - 1) == -1
    assert check(data, cut, len(data)) == len(data) - 1
    assert check(data, 5, 5) == -1


@pytest.mark.skipif(not utf8.NATIVE, reason="bot/dataprep/_utf8.c not built (no C compiler at install)")
def test_the_native_check_takes_any_buffer_and_refuses_bad_bounds() -> None:
    data = b"ok \xe2\x82\xac " * 20_000 + b"\xe2\x82"  # long enough to let other threads run meanwhile
    for buffer in (data, bytearray(data), memoryview(data)):
        assert _utf8.first_invalid(buffer, 0, len(data)) == len(data) - 2
    for start, stop in ((-1, 3), (0, len(data) + 1), (5, 4)):
        with pytest.raises(IndexError):
            _utf8.first_invalid(data, start, stop)
    with pytest.raises(TypeError):
        _utf8.first_invalid("text", 0, 1)  # type: ignore[arg-type]


@pytest.mark.skipif(not utf8.NATIVE, reason="bot/dataprep/_utf8.c not built (no C compiler at install)")
def test_the_validator_uses_the_native_check() -> None:
    assert utf8.first_invalid is _utf8.first_invalid
