"""Streaming pre-flight validation of fine-tuning JSONL: feed bytes in any chunking, get a report.

Memory stays flat: input is read in 1 MiB blocks and split into lines; only the current block, one
partial line and the first errors/warnings are held (plus 4 bytes per example for token statistics).
A line longer than `max_line_bytes` is reported and skipped without being held.
Blank (whitespace-only) lines are ignored and reported as one `blank_lines` warning.
"""

from __future__ import annotations

import json
import os
import threading
from array import array
from collections import Counter
from collections.abc import AsyncIterable, Callable, Iterator
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgspec

from bot.dataprep import findings as f
from bot.dataprep import rules
from bot.dataprep.fastpath import (
    NO_SYSTEM,
    NO_USER,
    REJECT,
    ChatExample,
    CompletionExample,
    DpoExample,
    RawChatExample,
    RawChatFlags,
    TextChatExample,
    chat_flags,
    dpo_flags,
    image_count,
    text_chat_flags,
)
from bot.dataprep.findings import Finding
from bot.dataprep.images import WARN_IMAGES_PER_EXAMPLE
from bot.dataprep.models import DEFAULT_ENCODING, dpo_models, model_info
from bot.dataprep.prices import PriceTable
from bot.dataprep.report import TokenStats, ValidationReport, default_epochs
from bot.dataprep.tokens import TokenCounter
from bot.dataprep.utf8 import bad_lines

Method = Literal["sft", "dpo"]


@dataclass(frozen=True, slots=True)
class PartResult:
    """What a validator found in one part of a file (a range of whole lines), for `absorb`: line numbers
    count from the part's first line."""

    nbytes: int
    lines: int
    valid: int
    invalid: int
    blank: int
    first_blank: int | None
    wrong_format: int
    errors: list[Finding]
    warnings: list[Finding]
    error_counts: Counter[str]
    warning_counts: Counter[str]
    token_counts: bytes  # array("I") of tokens per valid example


BLOCK_SIZE = 1 << 20
MAX_FILE_BYTES = 512 * 1024 * 1024  # files must be smaller than this
MIN_EXAMPLES = 10
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ERRORS = 20
# The decoder recurses once per nesting level; deeper than Python's recursion limit it raises RecursionError.
# Real examples are a handful of levels deep, so such a line is reported, not a crash.
NESTED_MESSAGE = "nested too deeply: JSON arrays/objects inside each other hundreds of levels deep"

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# The text-only types stay the hot decoder while the lines they refuse but the full types accept
# ("misses": parts, tool-call-only replies) are at most 1 in this many; past that, the full types are.
_MISS_RATIO = 16
# Strings queued for the tokenizer before they are counted mid-block (a block is counted at its end).
_MAX_PENDING = 16_384
_DECODE_ERRORS = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError)


_SPACE = frozenset(b" \t\r\n\x0b\x0c")


def _blank(raw: memoryview) -> bool:
    """Empty or whitespace only, without copying a long line that does not even start with a space."""
    return not raw or (raw[0] in _SPACE and raw.tobytes().isspace())


def _completion_flags(example: Any, vision_ok: bool) -> int:
    # Prompt/completion lines have no roles: nothing to warn about.
    return 0


class StreamValidator:
    """Validates one file fed as bytes in any chunking. `feed()` blocks as they come, then `finish()`."""

    def __init__(
        self,
        *,
        model: str | None = None,
        method: Method = "sft",
        count_tokens: bool = True,
        max_errors: int = DEFAULT_MAX_ERRORS,
        max_warnings: int | None = None,
        epochs: int | None = None,
        prices: PriceTable | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_invalid: int | None = None,
    ) -> None:
        if method not in ("sft", "dpo"):
            raise ValueError(f"method must be 'sft' or 'dpo', not {method!r}")
        if epochs is not None and epochs < 1:
            raise ValueError("epochs must be at least 1")
        self.model = model
        self.method = method
        self.info = model_info(model)
        self.max_errors = max(0, max_errors)
        self.max_warnings = self.max_errors if max_warnings is None else max(0, max_warnings)
        self.epochs = epochs
        self.prices = prices
        self.max_line_bytes = max_line_bytes
        # Stop after this many invalid examples (None: check every line): a file of garbage costs the
        # slow path on every line, and the first errors already say what to fix.
        self.max_invalid = max_invalid if max_invalid is None or max_invalid > 0 else 1
        self._file_errors: list[Finding] = []
        self._file_warnings: list[Finding] = []
        # An unknown model may take images: only refuse them for models known not to.
        self._vision_ok = self.info is None or self.info.supports_vision
        if method == "dpo":
            self.data_format = "dpo"
            self._decode: Callable[[bytes | memoryview], Any] = msgspec.json.Decoder(DpoExample).decode
            self._type: type = DpoExample
            self._flags: Callable[[Any, bool], int] = dpo_flags
            self._rules: Callable[[Any], list[rules.Issue]] = self._check_dpo
            if self.info is not None and not self.info.supports_dpo:
                self._file_errors.append(
                    Finding(
                        None,
                        f.DPO_NOT_SUPPORTED,
                        f"{model} does not support DPO; DPO base models: {', '.join(dpo_models())}",
                    )
                )
        elif self.info is not None and self.info.data_format == "completion":
            self.data_format = "completion"
            self._decode = msgspec.json.Decoder(CompletionExample).decode
            self._type = CompletionExample
            self._flags = _completion_flags
            self._rules = rules.check_completion
        else:
            self.data_format = "chat"
            self._decode = msgspec.json.Decoder(ChatExample).decode
            self._type = ChatExample
            self._flags = chat_flags
            self._rules = self._check_chat
        if model and self.info is None:
            self._file_warnings.append(
                Finding(None, f.UNKNOWN_MODEL, f"unknown model {model!r}: model limits not checked")
            )
        encoding = self.info.encoding if self.info else DEFAULT_ENCODING
        self._counter = TokenCounter(encoding) if count_tokens else None
        # Accepted examples whose tokens are not counted yet: (line, warning flags, tokens counted so far,
        # end of its strings in the counter's `pending`).
        self._held: list[tuple[int, int, int, int]] = []
        # Over the model's limit an example is warned about (no limit for an unknown model).
        self._token_limit = self.info.token_limit if self.info is not None else 1 << 62
        self._limit_of = self.info.key if self.info is not None else ""
        if self._counter is None:
            self._add: Callable[[Any], int] = len
        elif self.data_format == "dpo":
            self._add = self._counter.add_dpo
        elif self.data_format == "completion":
            self._add = self._counter.add_completion
        else:
            self._add = self._counter.add_chat
        # The hot loop's decoder. Chat lines are first decoded with the text-only types (no content
        # unions, a one-line role check); lines they refuse take the full types.
        self._hot_decode: Callable[[bytes | memoryview], Any] = self._decode
        self._hot_flags: Callable[[Any, bool], int] = self._flags
        self._text_first = self.data_format == "chat"
        if self._text_first:
            self._text_decode = msgspec.json.Decoder(TextChatExample).decode
            self._hot_decode = self._text_decode
            self._hot_flags = text_chat_flags
            if self._counter is None:
                # Nothing reads the text: contents stay raw JSON (`RawChatExample`), lines whose UTF-8 is
                # bad and lines those types do not accept take the text-only types.
                self._hot_decode = msgspec.json.Decoder(RawChatExample).decode
                self._hot_flags = RawChatFlags()
        self._text_lines = 0
        self._text_misses = 0
        self._token_counts: array[int] = array("I")
        # Stream state.
        self._bytes = 0
        self._started = False
        self._stopped = False
        self._skipping = False
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._lineno = 0
        self._blank = 0
        self._first_blank: int | None = None
        self._valid = 0
        self._invalid = 0
        self._errors: list[Finding] = []
        self._warnings: list[Finding] = []
        self._error_counts: Counter[str] = Counter()
        self._warning_counts: Counter[str] = Counter()
        self._wrong_format = 0  # examples shaped for the other method
        self._stopped_at: int | None = None  # the line where `max_invalid` stopped the check

    @property
    def stopped_early(self) -> bool:
        """True once `max_invalid` invalid examples were seen: more input is ignored."""
        return self._stopped_at is not None

    # -- feeding ---------------------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Checks every line `data` completes. Nothing refers to `data` afterwards: its buffer may be reused."""
        buffer = data.tobytes() if isinstance(data, memoryview) else data
        self.feed_buffer(buffer, len(buffer))

    def feed_buffer(self, buffer: bytes | bytearray, size: int) -> None:
        """`feed(buffer[:size])` without the copy (for readers that `readinto` one reusable bytearray)."""
        self._bytes += size
        if self._stopped or not size:
            return
        start = 0
        if not self._started:
            # Look at the first bytes once for a byte-order mark.
            self._hold(bytes(buffer[:size]))
            if self._pending_len < 3:
                return
            buffer = self._start()
            size = len(buffer)
            if self._stopped:
                return
        if self._skipping:
            cut = buffer.find(b"\n", 0, size)
            if cut < 0:
                return
            self._skipping = False
            start = cut + 1
        self._block(buffer, start, size)
        self._count_held()

    def _start(self) -> bytes:
        self._started = True
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_len = 0
        if data.startswith(_UTF16_BOMS):
            self._stopped = True
            self._file_errors.append(
                Finding(None, f.UNSUPPORTED_ENCODING, "the file is UTF-16 (or UTF-32); save it as UTF-8")
            )
            return b""
        return data[3:] if data.startswith(_UTF8_BOM) else data

    def _hold(self, part: bytes) -> None:
        """Keeps the unfinished last line, unless it is already too long to ever be accepted."""
        if not part:
            return
        self._pending.append(part)
        self._pending_len += len(part)
        if self._started and self._pending_len > self.max_line_bytes:
            self._pending.clear()
            self._pending_len = 0
            self._skipping = True
            self._lineno += 1
            self._line_too_long(self._lineno, None)

    def _line_too_long(self, lineno: int, length: int | None) -> None:
        size = f"{length:,} bytes" if length is not None else f"more than {self.max_line_bytes:,} bytes"
        self._invalid_line(lineno, f.LINE_TOO_LONG, f"line is {size}; the limit is {self.max_line_bytes:,}")

    def _invalid_line(self, lineno: int, code: str, message: str) -> None:
        """One invalid example with one reason; stops the check once `max_invalid` is reached."""
        self._invalid += 1
        self._error(lineno, code, message)
        self._count_invalid(lineno)

    def _count_invalid(self, lineno: int) -> None:
        if self.max_invalid is not None and self._invalid >= self.max_invalid and not self._stopped:
            self._stopped = True
            self._stopped_at = lineno

    # -- per line ----------------------------------------------------------------------------------------
    def _block(self, buffer: bytes | bytearray, start: int, end: int) -> None:
        """The hot loop over the lines in `buffer[start:end]`, decoded from memoryview slices (no copies).
        Locals keep attribute look-ups out of the loop."""
        find = buffer.find
        nl = find(b"\n", start, end)
        if nl < 0:
            self._hold(bytes(buffer[start:end]))
            return
        whole = memoryview(buffer)
        lineno = self._lineno
        if self._pending:
            self._pending.append(bytes(buffer[start:nl]))
            first = b"".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
            lineno += 1
            self._line_at(memoryview(first), lineno)
            start = nl + 1
            nl = find(b"\n", start, end)
            if self._stopped:
                self._lineno = lineno
                return
        first_lineno = lineno
        decode = self._hot_decode
        flags_of = self._hot_flags
        vision_ok = self._vision_ok
        accept = self._accept
        # A line the hot decoder did not accept: the full types when the hot ones are text-only, else
        # the precise rules. Blank lines fail every decode, so they are told apart there too.
        refused = self._text_refused if self._text_first else self._refused
        # Raw contents: the UTF-8 the decoder skips is checked here first, a block at a time; the lines
        # that fail take the text-only types. The others the raw types refuse, the text-only ones refuse
        # too (they accept the same on valid UTF-8, tested): straight to the full types.
        bad_utf8: Iterator[int] = iter(())
        if flags_of.__class__ is RawChatFlags:
            bad_utf8 = iter(bad_lines(buffer, start, buffer.rfind(b"\n", start, end) + 1))
        next_bad = next(bad_utf8, -1)
        counting = self._counter is not None
        # Counting: `_accept` inlined (an example's strings queued, counted when the block ends).
        hold = self._held.append
        add = self._add
        queue = self._counter.pending if self._counter is not None else []
        max_line = self.max_line_bytes
        # Only a block longer than the limit can hold a line over it.
        check_length = end - start > max_line
        decode_errors = _DECODE_ERRORS
        valid = 0
        while nl >= 0:
            lineno += 1
            if start == next_bad:  # not UTF-8: the text-only types decide
                next_bad = next(bad_utf8, -1)
                self._raw_refused(whole[start:nl], lineno)
                if self._stopped:
                    break
            elif check_length and nl - start > max_line:
                self._line_at(whole[start:nl], lineno)
            else:
                try:
                    example = decode(whole[start:nl])
                except decode_errors:
                    refused(whole[start:nl], lineno)
                    if self._stopped:  # too many invalid lines (checked off the hot path only)
                        break
                else:
                    flags = flags_of(example, vision_ok)
                    if flags < 0:
                        refused(whole[start:nl], lineno)
                        if self._stopped:
                            break
                    elif counting:
                        valid += 1
                        hold((lineno, flags, add(example), len(queue)))
                        if len(queue) > _MAX_PENDING:
                            self._count_held()
                    elif flags:
                        accept(example, flags, lineno)
                    else:
                        valid += 1
            start = nl + 1
            nl = find(b"\n", start, end)
        self._valid += valid
        self._lineno = lineno
        if self._stopped:
            return
        if self._text_first:
            self._text_lines += lineno - first_lineno
            if self._text_misses * _MISS_RATIO > self._text_lines:
                # Parts, tool-call-only replies... are this data's normal: decode with the full types.
                self._text_first = False
                self._hot_decode = self._decode
                self._hot_flags = self._flags
        if start < end:
            self._hold(bytes(buffer[start:end]))

    def _line_at(self, raw: memoryview, lineno: int) -> bool:
        """One line off the hot path (blank, too long, or completing a held piece), decoded with the full
        types. True when they accept it."""
        if _blank(raw):
            self._blank_line(lineno)
        elif len(raw) > self.max_line_bytes:
            self._line_too_long(lineno, len(raw))
        else:
            try:
                example = self._decode(raw)
            except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
                self._slow(raw, lineno)
                return False
            flags = self._flags(example, self._vision_ok)
            if flags == REJECT:
                # The line is read in place and the typed copy let go first: a 63 MB line (one huge image)
                # must not be held three times over.
                del example
                self._slow(raw, lineno)
            else:
                self._accept(example, flags, lineno)
                return True
        return False

    def _raw_refused(self, raw: memoryview, lineno: int) -> None:
        """A line whose UTF-8 is bad while the raw-content types are the hot decoder: the text-only types
        decide, as in the hot loop when they are the hot decoder."""
        if len(raw) > self.max_line_bytes:
            self._line_at(raw, lineno)
            return
        try:
            example = self._text_decode(raw)
        except _DECODE_ERRORS:
            self._text_refused(raw, lineno)
            return
        flags = text_chat_flags(example, self._vision_ok)
        if flags < 0:
            self._text_refused(raw, lineno)
        elif flags:
            self._accept(example, flags, lineno)
        else:
            self._valid += 1

    def _text_refused(self, raw: memoryview, lineno: int) -> None:
        """A line the text-only types refused: the full types decide; count what they accept (a miss)."""
        if self._line_at(raw, lineno):
            self._text_misses += 1

    def _refused(self, raw: memoryview, lineno: int) -> None:
        """A line the full types refused in the hot loop: blank, or the precise rules say why."""
        if _blank(raw):
            self._blank_line(lineno)
        else:
            self._slow(raw, lineno)

    def _blank_line(self, lineno: int) -> None:
        self._blank += 1
        if self._first_blank is None:
            self._first_blank = lineno

    def _accept(self, example: Any, flags: int, lineno: int) -> None:
        self._valid += 1
        if self._counter is None:
            self._accepted(lineno, flags, None)
            return
        # Counted later, a block at a time (`_count_held`); its warnings wait with it, so that they
        # keep line order with the token-limit ones.
        queued = self._add(example)
        pending = len(self._counter.pending)
        self._held.append((lineno, flags, queued, pending))
        if pending > _MAX_PENDING:
            self._count_held()

    def _count_held(self) -> None:
        """Counts the strings queued by the examples accepted since the last call, then records each
        example's tokens and warnings in line order."""
        held = self._held
        if not held or self._counter is None:
            return
        counts = self._counter.flush()
        ends = list(accumulate(counts, initial=0))  # ends[i]: tokens of the first i queued strings
        start = 0
        accepted = self._accepted
        append = self._token_counts.append
        # Over this, `_accepted` warns (or clamps to what the array holds).
        plain_max = min(self._token_limit, 0xFFFFFFFF)
        for lineno, flags, queued, end in held:
            tokens = queued + ends[end] - ends[start]
            start = end
            if flags or tokens > plain_max:
                accepted(lineno, flags, tokens)
            else:
                append(tokens)
        held.clear()

    def _accepted(self, lineno: int, flags: int, tokens: int | None) -> None:
        if flags:
            if flags & NO_SYSTEM:
                self._warn(
                    lineno, f.MISSING_SYSTEM_MESSAGE, "no system message (use the same one at inference)"
                )
            if flags & NO_USER:
                self._warn(lineno, f.MISSING_USER_MESSAGE, "no user message")
            images = image_count(flags)
            if images > WARN_IMAGES_PER_EXAMPLE:
                self._warn(
                    lineno, f.MANY_IMAGES, f"{images} images; docs also say {WARN_IMAGES_PER_EXAMPLE} max"
                )
        if tokens is None:
            return
        self._token_counts.append(tokens if tokens <= 0xFFFFFFFF else 0xFFFFFFFF)
        if tokens > self._token_limit:
            self._warn(
                lineno,
                f.OVER_TOKEN_LIMIT,
                f"{tokens:,} tokens; {self._limit_of} trains on at most {self._token_limit:,} "
                "(the example will be truncated)",
            )

    def _slow(self, raw: bytes | memoryview, lineno: int) -> None:
        """The precise path for a line the fast path did not accept: every reason, or a late acceptance."""
        try:
            obj = msgspec.json.decode(raw)
        except RecursionError:
            self._invalid_line(lineno, f.NESTED_TOO_DEEPLY, NESTED_MESSAGE)
            return
        except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
            # Only now is the text needed (for the column of the error): a big valid line is not copied.
            try:
                text = bytes(raw).decode("utf-8")
            except UnicodeDecodeError as uexc:
                self._invalid_line(
                    lineno,
                    f.INVALID_UTF8,
                    f"invalid UTF-8 byte 0x{raw[uexc.start]:02x} at byte {uexc.start + 1} of the line",
                )
                return
            self._invalid_line(lineno, f.INVALID_JSON, f"not valid JSON: {_json_reason(text, exc)}")
            return
        other = _other_method_shape(obj, self.data_format)
        if other is not None:
            # One clear reason instead of the rules' several (missing messages, unrecognized keys...).
            self._wrong_format += 1
            self._invalid_line(lineno, f.WRONG_FORMAT, other)
            return
        try:
            issues = self._rules(obj)
            # The rules accept what the typed decode did not: they decide. Tests keep this path unused.
            example: Any = None if issues else msgspec.convert(obj, self._type)
        except RecursionError:
            self._invalid_line(lineno, f.NESTED_TOO_DEEPLY, NESTED_MESSAGE)
            return
        except msgspec.MsgspecError:
            self._valid += 1
            return
        if issues:
            self._invalid += 1
            for code, message in issues:
                self._error(lineno, code, message)
            self._count_invalid(lineno)
            return
        flags = self._flags(example, self._vision_ok)
        self._accept(example, max(flags, 0), lineno)

    def _check_chat(self, obj: Any) -> list[rules.Issue]:
        return rules.check_chat(obj, vision_ok=self._vision_ok)

    def _check_dpo(self, obj: Any) -> list[rules.Issue]:
        return rules.check_dpo(obj, vision_ok=self._vision_ok)

    def _error(self, lineno: int | None, code: str, message: str) -> None:
        self._error_counts[code] += 1
        if len(self._errors) < self.max_errors:
            self._errors.append(Finding(lineno, code, message))

    def _warn(self, lineno: int | None, code: str, message: str) -> None:
        self._warning_counts[code] += 1
        if len(self._warnings) < self.max_warnings:
            self._warnings.append(Finding(lineno, code, message))

    def _last_line(self) -> None:
        """Check a last line that has no newline (held back until the end), then count the held strings."""
        if self._pending and not self._stopped:
            last = b"".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
            self._lineno += 1
            self._line_at(memoryview(last), self._lineno)
        self._count_held()

    # -- files checked in parts (bot/dataprep/parallel.py) -----------------------------------------------
    def start_mid_file(self) -> None:
        """This validator is fed a part of a file that starts at a line other than the first: no BOM check."""
        self._started = True

    def part_result(self) -> PartResult:
        """The findings of this part, once all of it was fed (a last line without a newline included)."""
        self._last_line()
        return PartResult(
            nbytes=self._bytes,
            lines=self._lineno,
            valid=self._valid,
            invalid=self._invalid,
            blank=self._blank,
            first_blank=self._first_blank,
            wrong_format=self._wrong_format,
            errors=self._errors,
            warnings=self._warnings,
            error_counts=self._error_counts,
            warning_counts=self._warning_counts,
            token_counts=self._token_counts.tobytes(),
        )

    def absorb(self, part: PartResult) -> None:
        """Adds the findings of the part of the file that follows what this validator was fed (which ended
        with a newline), as if it had been fed that part itself."""
        self._bytes += part.nbytes
        if self._stopped:
            return  # a UTF-16 file: the rest is not UTF-8 lines either
        offset = self._lineno
        self._lineno += part.lines
        self._valid += part.valid
        self._invalid += part.invalid
        self._wrong_format += part.wrong_format
        if part.blank:
            self._blank += part.blank
            if self._first_blank is None and part.first_blank is not None:
                self._first_blank = part.first_blank + offset
        self._error_counts.update(part.error_counts)
        self._warning_counts.update(part.warning_counts)
        room = self.max_errors - len(self._errors)
        self._errors.extend(replace(e, line=_shift(e.line, offset)) for e in part.errors[: max(0, room)])
        room = self.max_warnings - len(self._warnings)
        self._warnings.extend(replace(w, line=_shift(w.line, offset)) for w in part.warnings[: max(0, room)])
        counts: array[int] = array("I")
        counts.frombytes(part.token_counts)
        self._token_counts.extend(counts)

    # -- the end ------------------------------------------------------------------------------------------
    def finish(self) -> ValidationReport:
        if not self._started and not self._stopped:
            data = self._start()
            if data and not self._stopped:
                self._block(data, 0, len(data))
        self._last_line()
        examples = self._valid + self._invalid
        file_errors = list(self._file_errors)
        if self._stopped_at is not None:
            file_errors.insert(
                0,
                Finding(
                    None,
                    f.STOPPED_EARLY,
                    f"stopped checking at line {self._stopped_at:,} after {self._invalid:,} invalid "
                    "examples; the rest of the file was not checked",
                ),
            )
        if self._bytes >= MAX_FILE_BYTES:
            file_errors.append(
                Finding(None, f.FILE_TOO_LARGE, f"the file is {self._bytes:,} bytes; it must be under 512 MB")
            )
        if examples < MIN_EXAMPLES and not self._stopped:
            file_errors.append(
                Finding(None, f.TOO_FEW_EXAMPLES, f"{examples} examples; at least {MIN_EXAMPLES} are needed")
            )
        warnings = list(self._file_warnings)
        warning_counts = Counter({w.code: 1 for w in warnings})
        if self._blank:
            warning_counts[f.BLANK_LINES] = self._blank
            warnings.append(
                Finding(
                    self._first_blank,
                    f.BLANK_LINES,
                    f"{self._blank} blank line(s) ignored, first at line {self._first_blank}",
                )
            )
        warning_counts.update(self._warning_counts)
        line_errors = self._errors
        if self._wrong_format and self._wrong_format * 2 > examples:
            # The whole file is of the other method: say so once, first, not once per line.
            file_errors.insert(0, Finding(None, f.METHOD_MISMATCH, _MISMATCH_HINT[self.data_format]))
            line_errors = [e for e in line_errors if e.code != f.WRONG_FORMAT]
        error_counts = Counter({e.code: 0 for e in file_errors})
        for e in file_errors:
            error_counts[e.code] += 1
        error_counts.update(self._error_counts)
        return self._report(examples, file_errors, line_errors, error_counts, warnings, warning_counts)

    def _report(
        self,
        examples: int,
        file_errors: list[Finding],
        line_errors: list[Finding],
        error_counts: Counter[str],
        warnings: list[Finding],
        warning_counts: Counter[str],
    ) -> ValidationReport:
        notes: list[str] = []
        stats = None
        trained = None
        cost = None
        epochs = self.epochs if self.epochs is not None else default_epochs(self._valid)
        if self._counter is not None:
            stats = TokenStats.from_counts(self._counter.encoding, self._token_counts)
            trained = (stats.total if stats else 0) * epochs
            if not self.model:
                notes.append("no model given: cost not estimated (pass --model)")
            else:
                table = self.prices or PriceTable.default()
                cost = table.estimate(self.model, trained, self.method)
                if cost is None:
                    notes.append(f"no price for {self.model} in the price table: cost not estimated")
        return ValidationReport(
            method=self.method,
            model=self.model,
            data_format=self.data_format,
            bytes=self._bytes,
            lines=self._lineno,
            blank_lines=self._blank,
            examples=examples,
            valid=self._valid,
            invalid=self._invalid,
            errors=tuple(file_errors + line_errors),
            error_counts=dict(error_counts),
            warnings=tuple(warnings + self._warnings[: max(0, self.max_warnings)]),
            warning_counts=dict(warning_counts),
            token_stats=stats,
            epochs=epochs,
            epochs_is_default=self.epochs is None,
            estimated_trained_tokens=trained,
            estimated_cost=cost,
            notes=tuple(notes),
        )


def _shift(line: int | None, offset: int) -> int | None:
    return None if line is None else line + offset


_MISMATCH_HINT = {
    "chat": "This looks like DPO preference data: add `--method dpo`",
    "dpo": "This looks like chat (SFT) data, not DPO preference data: leave out `--method dpo`",
}


def _other_method_shape(obj: Any, data_format: str) -> str | None:
    """Why `obj` belongs to the other method (a DPO example checked as chat or the reverse), or None."""
    if not isinstance(obj, dict):
        return None
    dpo_keys = "preferred_output" in obj or "non_preferred_output" in obj
    if data_format == "chat" and "messages" not in obj and "input" in obj and dpo_keys:
        return "a DPO preference example (`input`, `preferred_output`), not chat `messages`"
    if data_format == "dpo" and "input" not in obj and "messages" in obj:
        return (
            "a chat example (`messages`), not a DPO one (`input`, `preferred_output`, `non_preferred_output`)"
        )
    return None


def _json_reason(text: str, exc: Exception) -> str:
    """Python's json gives column positions; msgspec's message is the fallback (NaN, lone surrogates)."""
    try:
        json.loads(text)
    except ValueError as jexc:
        if isinstance(jexc, json.JSONDecodeError):
            # "Unterminated string starting at" already ends in "at": no "at at column".
            return f"{jexc.msg.removesuffix(' at')} at column {jexc.colno}"
        return str(jexc)
    except RecursionError:
        return "nested too deeply"
    return str(exc)


class ValidationCancelled(Exception):
    """The `cancel` event was set: the caller no longer wants the report (e.g. the bot is shutting down)."""


def validate_stream(
    stream: BinaryIO,
    *,
    block_size: int = BLOCK_SIZE,
    cancel: threading.Event | None = None,
    **options: Any,
) -> ValidationReport:
    """Validates a binary stream read in blocks. Options as for `StreamValidator` (model, method, ...).
    `cancel` is checked between blocks, so a worker thread stops within one block of it being set."""
    if hasattr(stream, "__aiter__"):
        raise TypeError("an async source: use `await validate_chunks(chunks, ...)`")
    validator = StreamValidator(**options)
    buffer = bytearray(block_size)
    readinto = getattr(stream, "readinto", None)
    while True:
        if cancel is not None and cancel.is_set():
            raise ValidationCancelled()
        if readinto is not None:
            size = readinto(buffer)
            if not size:
                break
            validator.feed_buffer(buffer, size)
        else:
            block = stream.read(block_size)
            if not block:
                break
            validator.feed(block)
        if validator.stopped_early:
            break  # the rest is not read: the report says where it stopped
    return validator.finish()


async def validate_chunks(chunks: AsyncIterable[bytes], **options: Any) -> ValidationReport:
    """Validates data arriving in chunks (e.g. an HTTP download) without holding it.

    >>> report = await validate_chunks(response.aiter_bytes(), model="gpt-4o-mini-2024-07-18")
    """
    validator = StreamValidator(**options)
    async for chunk in chunks:
        validator.feed(chunk)
        if validator.stopped_early:
            break
    return validator.finish()


def validate_path(
    path: str | Path,
    *,
    model: str | None = None,
    method: Method = "sft",
    count_tokens: bool = True,
    max_errors: int = DEFAULT_MAX_ERRORS,
    epochs: int | None = None,
    prices: PriceTable | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_invalid: int | None = None,
    cancel: threading.Event | None = None,
    workers: int = 1,
) -> ValidationReport:
    """Validates a JSONL file on disk. Raises OSError when it cannot be read, ValidationCancelled when
    `cancel` is set while it runs.

    `workers` > 1 checks a large file on that many processes (forked: only from a process that may fork,
    such as the CLI; see `parallel.py`); the report is the same.

    >>> report = validate_path("train.jsonl", model="gpt-4o-mini-2024-07-18", count_tokens=False)
    >>> report.ok, report.examples, [(e.line, e.code) for e in report.errors]
    """
    if workers > 1 and max_invalid is None and hasattr(os, "fork"):  # no fork on Windows: one process
        from bot.dataprep import parallel

        least = parallel.MIN_PARALLEL_BYTES if count_tokens else parallel.MIN_PARALLEL_BYTES_NO_TOKENS
        if os.stat(path).st_size >= least:
            return parallel.validate_parallel(
                path,
                workers=workers,
                cancel=cancel,
                model=model,
                method=method,
                count_tokens=count_tokens,
                max_errors=max_errors,
                epochs=epochs,
                prices=prices,
                max_line_bytes=max_line_bytes,
            )
    with open(path, "rb", buffering=0) as stream:
        return validate_stream(
            stream,
            model=model,
            method=method,
            count_tokens=count_tokens,
            max_errors=max_errors,
            epochs=epochs,
            prices=prices,
            max_line_bytes=max_line_bytes,
            max_invalid=max_invalid,
            cancel=cancel,
        )
