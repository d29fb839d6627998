"""Numbers from a plain CSV body without a Python object per cell: the fast path of the results.csv parser.

A 100,000-step results.csv has 700,000 cells; the csv module plus `float()` spends about a third of a second
creating and converting them. Here the bytes are read as one numpy array: the separators give every cell's
start and end, and each wanted column's cells are read as decimal numbers with array operations: a cell of at
most 8 characters (`0.1234`, `100000`: nearly every cell of a real file) as one 64-bit word, its characters
classified and its digits combined eight at a time with integer arithmetic (SWAR: "SIMD within a register"),
a longer one in a small matrix (one row per character position, one column per cell).

Exact: a cell of at most 15 significant digits is read as an integer mantissa and divided by a power of ten,
both exact in float64, so the one rounding is the division's, the same correctly rounded value `float()`
gives (Clinger's fast path). Anything else in a cell (an exponent, `nan`, spaces, a `+`, more digits, junk) is
left to `float()` cell by cell, which is rare in a real file. A body that is not a plain grid (quotes, rows of
other lengths, blank lines) is declined (`None`): the caller falls back to the csv module.

>>> table = CsvGrid.parse(b"1,0.5,\\n2,-0.25,1e-3", 3)
>>> [table.column(i).tolist() for i in range(3)]
[[1.0, 2.0], [0.5, -0.25], [nan, 0.001]]
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

# Cells read as arrays have at most this many characters and significant digits; longer ones go to float().
_WIDTH = 24
_DIGITS = 15
_WORD = 8
_COMMA, _NEWLINE, _DOT, _MINUS, _ZERO = 44, 10, 46, 45, 48
# Bytes in front of the body, so that the 8 bytes ending at any cell's end can be read as one word.
_FRONT = _WORD


def _repeat(byte: int) -> int:
    """The byte in every lane of a 64-bit word."""
    return int.from_bytes(bytes([byte]) * _WORD, "little")


_HIGH, _LOW7 = _repeat(0x80), _repeat(0x7F)


@dataclass(frozen=True, slots=True)
class CsvGrid:
    """A plain CSV body (`\\n` line ends, no quotes, `ncols` cells on every line) as cell bounds."""

    text: bytes  # the body with a line end in front and behind, zero padded: positions below are in it
    words: Any  # `text` as overlapping 8-byte words: words[i] holds bytes i..i+7
    before: Any  # (rows, ncols) int64: the separator before each cell
    ends: Any  # (rows, ncols) int64: the separator after it

    @classmethod
    def parse(cls, body: bytes | memoryview, ncols: int) -> CsvGrid | None:
        """Cell bounds, or None when `body` is not such a grid (quotes, CRs, ragged or blank lines)."""
        import numpy as np

        if not len(body) or ncols < 1:
            return None
        # A line end in front of the first cell and after the last: every cell lies between two separators.
        text = bytes(_FRONT - 1) + b"\n" + body + b"\n" + bytes(_WORD + _WIDTH)
        if b'"' in text or b"\r" in text:
            return None
        buf = np.frombuffer(text, dtype=np.uint8)
        newline = buf == _NEWLINE
        separators = np.flatnonzero(newline | (buf == _COMMA))
        rows, extra = divmod(len(separators) - 1, ncols)
        # Every ncols-th separator must be a line end and there must be no other: ragged and blank lines fail.
        line_ends = separators[::ncols]
        if extra or np.count_nonzero(newline) != len(line_ends) or not newline[line_ends].all():
            return None
        words = np.ndarray((len(text) - _WORD,), dtype=np.uint64, buffer=text, strides=(1,))
        return cls(text, words, separators[:-1].reshape(rows, ncols), separators[1:].reshape(rows, ncols))

    def __len__(self) -> int:
        return len(self.ends)

    def column(self, index: int) -> Any:
        """Column `index` as float64: NaN for blank cells and for anything that is not a finite number."""
        import numpy as np

        starts = self.before[:, index] + 1
        lengths = self.ends[:, index] - starts
        if len(starts) and lengths.min() > 0:
            return self._read(starts, lengths)
        out = np.full(len(starts), np.nan)
        filled = np.flatnonzero(lengths)
        if len(filled):  # e.g. full validation, measured once an epoch: read only the cells with text
            out[filled] = self._read(starts[filled], lengths[filled])
        return out

    def _read(self, starts: Any, lengths: Any) -> Any:
        """The numbers in the cells at `starts` (none blank)."""
        import numpy as np

        short = lengths <= _WORD
        if short.all():
            return self._read_short(starts, lengths)
        values = np.empty(len(starts))
        values[short] = self._read_short(starts[short], lengths[short])
        values[~short] = self._read_long(starts[~short], lengths[~short])
        return values

    def _read_short(self, starts: Any, lengths: Any) -> Any:
        """Cells of 1 to 8 characters, each read as one 64-bit word (8 byte lanes, the first character in the
        lowest), right-aligned: the cell's last character in the top lane, the lanes before the cell zeroed."""
        import numpy as np

        if not len(starts):
            return np.empty(0)
        u = np.uint64
        high, low7 = u(_HIGH), u(_LOW7)
        shift = (u(_WORD) - lengths.astype(u)) * u(8)  # the bits before the cell's first character
        word = self.words[starts + lengths - _WORD] >> shift << shift
        # Lane classes, exact for any byte (no carry crosses a lane): the lane's top bit set where it is one.
        seven = word & low7
        digit = (seven + u(_repeat(0x80 - _ZERO))) & ~(seven + u(_repeat(0x80 - _ZERO - 10))) & ~word & high
        dot = _zero_lanes(word ^ u(_repeat(_DOT)))
        digits, dots = np.bitwise_count(digit), np.bitwise_count(dot)
        negative = (word >> shift) & u(0xFF) == _MINUS  # a minus sign only in front
        plain = (digits + dots + negative == lengths) & (dots <= 1) & (digits > 0)
        # The digits' values, the dot taken out: the lanes before it move up one (a leading zero comes in).
        keep = (digit >> u(7)) * u(0xFF)
        value = (word & keep) - (u(_repeat(_ZERO)) & keep)
        before = (dot >> u(7)) - u(1)  # the lanes before the dot (with one dot; the dot's own lane is zero)
        value = np.where(dots == 1, (value & ~before) | ((value & before) << u(8)), value)
        # Eight digits to one number: pairs, then fours, then eight (the first character the most significant).
        value = (value * u(10) + (value >> u(8))) & u(0x00FF00FF00FF00FF)
        value = (value * u(100) + (value >> u(16))) & u(0x0000FFFF0000FFFF)
        value = (value * u(10000) + (value >> u(32))) & u(0xFFFFFFFF)
        decimals = np.bitwise_count(~(dot - u(1))) // 8  # lanes after the dot (0 without one)
        # Both exact in float64 (value < 10**8): the division rounds once, as float() does.
        values = value.astype(np.float64) / np.take(_powers(), decimals)  # take: decimals are uint8
        np.negative(values, out=values, where=negative)
        self._odd_cells(values, plain, starts, lengths)
        return values

    def _odd_cells(self, values: Any, plain: Any, starts: Any, lengths: Any) -> None:
        """Anything but a plain decimal (an exponent, `nan`, spaces, junk): `float()` cell by cell."""
        import numpy as np

        for row in np.flatnonzero(~plain).tolist():
            values[row] = _number(self.text[starts[row] : starts[row] + lengths[row]])

    def _read_long(self, starts: Any, lengths: Any) -> Any:
        """Cells of more than 8 characters, laid side by side in a matrix (a row per character position)."""
        import numpy as np

        width = int(min(lengths.max(), _WIDTH))
        # Each cell's first `width` characters, one row per character position (the cells along the rows).
        words = [self.words[starts + offset] for offset in range(0, width, _WORD)]
        block = np.stack(words, axis=1).view(np.uint8).reshape(len(starts), -1)
        chars = np.ascontiguousarray(block[:, :width].T)
        inside = np.arange(width)[:, None] < lengths
        digit = np.where(inside, chars - _ZERO, 255)  # uint8: wraps around for anything below '0'
        is_digit = digit < 10
        is_dot = (chars == _DOT) & inside
        negative = (chars[0] == _MINUS) & inside[0]
        other = inside & ~is_digit & ~is_dot
        other[0] &= ~negative  # a minus sign only in front
        digits = is_digit.sum(axis=0)
        plain = (
            ~other.any(axis=0)
            & (lengths <= _WIDTH)
            & (digits <= _DIGITS)
            & (digits > 0)
            & (is_dot.sum(axis=0) <= 1)
        )
        # Horner's rule, one character position at a time across all cells: exact in int64 for <= 15 digits.
        scale = np.where(is_digit, np.uint8(10), np.uint8(1))
        digit_value = np.where(is_digit, digit, np.uint8(0))
        mantissa = np.zeros(len(starts), dtype=np.int64)
        decimals = np.zeros(len(starts), dtype=np.int64)
        seen_dot = np.zeros(len(starts), dtype=bool)
        for position in range(width):
            mantissa = mantissa * scale[position] + digit_value[position]
            decimals += is_digit[position] & seen_dot
            seen_dot |= is_dot[position]
        # Both exact in float64 (mantissa < 2**53, 10**decimals <= 10**15): the division rounds once.
        values = mantissa / _powers()[np.minimum(decimals, _DIGITS)]
        np.negative(values, out=values, where=negative)
        self._odd_cells(values, plain, starts, lengths)
        return values


def _zero_lanes(word: Any) -> Any:
    """The top bit of each lane of `word` that is zero, exactly (no carry crosses a lane)."""
    import numpy as np

    low7 = np.uint64(_LOW7)
    return ~(((word & low7) + low7) | word) & np.uint64(_HIGH)


@functools.cache
def _powers() -> Any:
    """10**k for k <= _DIGITS as float64 (exact)."""
    import numpy as np

    return np.array([10.0**k for k in range(_DIGITS + 1)])


def _number(cell: bytes) -> float:
    """One odd cell the way the csv path reads it: `float()` of the stripped text, NaN unless finite."""
    try:
        value = float(cell.decode("utf-8", errors="replace").strip())
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


__all__ = ["CsvGrid"]
