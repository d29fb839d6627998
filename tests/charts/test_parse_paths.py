"""The fast results.csv path (one byte array) reads every file exactly as the csv module path does."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.azure.results_csv import parse_results_columns, parse_results_columns_csv

NAMES = st.sampled_from(
    [
        "step",
        "train_loss",
        "valid_loss",
        "validation_loss",
        "full_valid_loss",
        "valid_mean_token_accuracy",
        "validation_mean_token_accuracy",
        "train_mean_token_accuracy",
        " Step ",
        "extra",
        "",
    ]
)
PLAIN = st.one_of(
    st.integers(-(10**16), 10**16).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(0, 10, allow_nan=False).map(lambda v: f"{v:.4f}"),
    st.decimals(-1000, 1000, places=6, allow_nan=False).map(str),
)
# Cells only float() reads (or nobody): blank, spaces, signs, exponents, words, non-ASCII.
ODD = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "inf",
        "-inf",
        " 0.5",
        "+1",
        "1e-3",
        "-",
        ".",
        "-.5",
        "5.",
        "1.2.3",
        "x",
        "0x10",
        "1_0",
        "é",
    ]
)
CELL = st.one_of(PLAIN, ODD, st.text(st.sampled_from("0123456789.-e "), max_size=30))


@st.composite
def files(draw: st.DrawFn) -> bytes:
    header = draw(st.lists(NAMES, min_size=1, max_size=6))
    width = len(header)
    rows = draw(st.lists(st.lists(CELL, min_size=width, max_size=width), max_size=30))
    if draw(st.booleans()) and rows:  # a ragged row somewhere
        rows[draw(st.integers(0, len(rows) - 1))].pop()
    text = "\n".join([",".join(header)] + [",".join(r) for r in rows])
    end = draw(st.sampled_from(["\n", "", "\n\n"]))
    if not end and rows and draw(st.booleans()):  # cut off mid-download
        text = text[: len(text) - draw(st.integers(1, 6))]
    text += end
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return ("\ufeff" if draw(st.booleans()) else "").encode() + text.encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), st.sampled_from([None, ("train_loss", "valid_loss")]))
def test_fast_and_csv_paths_agree(data: bytes, only: tuple[str, ...] | None) -> None:
    fast, slow = parse_results_columns(data, only), parse_results_columns_csv(data, only)
    assert fast.truncated == slow.truncated
    assert fast.steps.tolist() == slow.steps.tolist()
    assert set(fast.values) == set(slow.values)
    for name, values in slow.values.items():
        assert np.array_equal(fast.values[name], values, equal_nan=True), name


def test_a_large_plain_file_takes_the_fast_path_and_reads_exactly() -> None:
    rng = np.random.default_rng(1)
    values = rng.random((2000, 3)) * 3
    lines = ["step,train_loss,valid_loss,full_valid_loss"] + [
        f"{i + 1},{a:.4f},{-b:.6f},{c!r}" if i % 10 == 9 else f"{i + 1},{a:.4f},{-b:.6f},"
        for i, (a, b, c) in enumerate(values.tolist())
    ]
    data = ("\n".join(lines) + "\n").encode()
    from bot.azure.csv_numbers import CsvGrid

    assert CsvGrid.parse(data[data.index(b"\n") + 1 :].rstrip(), 4) is not None
    fast, slow = parse_results_columns(data), parse_results_columns_csv(data)
    assert fast.steps.tolist() == list(range(1, 2001))
    for name in slow.values:
        assert np.array_equal(fast.values[name], slow.values[name], equal_nan=True)
    assert fast.values["full_valid_loss"][9] == values[9, 2]


SHORT_CELLS = [
    "0", "-0", "7", "12345678", "-1234567", "0.1234", "-0.1234", "1.5", "-.5", ".5", "5.", "-5.", ".", "-", "--1",
    "1-2", "1.2.3", "0.000001", "9999.999", "+1", " 1", "1 ", "1e-3", "nan", "inf", "-inf", "\x00", "1\x001",
    "\u0661", "é", "0x10", "1_0", "00000001", "-0000001", "1234567.", ".1234567", "/", ":", "-/", "1:",
]  # fmt: skip


def test_short_cells_read_as_float_reads_them() -> None:
    """Cells of at most 8 characters are read as one 64-bit word each: every odd shape agrees with float()."""
    from bot.azure.csv_numbers import CsvGrid, _number

    cells = [c.encode() for c in SHORT_CELLS] + [
        f"{v:.{k}f}".encode() for k in range(7) for v in (0.5, -3.25)
    ]
    grid = CsvGrid.parse(b",".join(cells), len(cells))
    assert grid is not None
    got = [grid.column(i)[0] for i in range(len(cells))]
    for cell, value in zip(cells, got, strict=True):
        want = _number(cell)
        assert (value == want and np.signbit(value) == np.signbit(want)) or (
            np.isnan(value) and np.isnan(want)
        ), cell
