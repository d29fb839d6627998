"""Which lines of a block are not UTF-8: the no-token path checks every byte of a file.

The check is `bot/dataprep/_utf8.c` where it was built (SIMD, ~1 instruction a byte); without a C
compiler at install time, CPython's decoder in pieces (~5.6 a byte, and a str built only to be dropped).
Both give the same answers: the tests run both.
"""

from __future__ import annotations

from collections.abc import Callable

# The decoder's pieces: small enough to stay in cache.
_PIECE = 1 << 16

FirstInvalid = Callable[[bytes | bytearray, int, int], int]


def first_invalid_decoding(buffer: bytes | bytearray, start: int, stop: int) -> int:
    """Where the first ill-formed sequence of `buffer[start:stop]` starts, or -1: CPython's decoder over
    pieces cut before a character (never inside one), so a valid buffer fails no piece."""
    view = memoryview(buffer)
    i = start
    while i < stop:
        j = i + _PIECE
        if j >= stop:
            j = stop
        else:
            for _ in range(3):  # back to the first byte of a character (a continuation byte is 10xxxxxx)
                if buffer[j] & 0xC0 != 0x80:
                    break
                j -= 1
        try:
            str(view[i:j], "utf-8")
        except UnicodeDecodeError as exc:
            return i + exc.start
        i = j
    return -1


try:
    from bot.dataprep._utf8 import first_invalid as _native
except ImportError:  # built without a C compiler
    NATIVE = False
    first_invalid: FirstInvalid = first_invalid_decoding
else:
    NATIVE = True
    first_invalid = _native


def bad_lines(buffer: bytes | bytearray, start: int, stop: int) -> list[int]:
    """Where the lines of `buffer[start:stop]` (whole lines: `stop` follows a newline) that are not valid
    UTF-8 start, in order."""
    bad: list[int] = []
    if stop <= start:  # no whole line
        return bad
    i = start
    while (at := first_invalid(buffer, i, stop)) >= 0:
        bad.append(max(start, buffer.rfind(b"\n", start, at) + 1))
        end = buffer.find(b"\n", at, stop)
        if end < 0:
            break
        i = end + 1  # the next line starts a character: the check may start there
    return bad
