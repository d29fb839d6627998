"""The fast path: a typed msgspec decode of each line (C speed) plus the cross-field rules types cannot say.

It only ever *accepts*: a line it accepts is valid by the precise rules in `rules.py`; any other line is
handed to those rules for the exact reasons (tests check both agree on arbitrary examples). Field types
mirror the rules: unknown keys are forbidden in messages and content parts, ignored elsewhere.
"""

# No `from __future__ import annotations` here: with string annotations msgspec evals each of them when a
# process builds its first decoders (3-9 ms of every `ftbot validate`, in each forked worker too).
import struct
from itertools import combinations
from operator import attrgetter
from typing import Annotated, Any, ClassVar, Literal

from msgspec import UNSET, DecodeError, Meta, Raw, Struct, UnsetType, ValidationError
from msgspec.json import Decoder

from bot.dataprep.images import MAX_IMAGES_PER_EXAMPLE, WARN_IMAGES_PER_EXAMPLE, check_image_url

NonEmptyStr = Annotated[str, Meta(min_length=1)]

# What messages hold, packed in an int while scanning: bit 0 a system message, bit 1 a user message,
# bit 2 an assistant message, bits 3+ the number of images. -1 = not accepted.
HAS_SYSTEM = 1
HAS_USER = 2
HAS_ASSISTANT = 4
IMAGE_SHIFT = 3
REJECT = -1


class FunctionCall(Struct, gc=False):
    name: str
    arguments: str


class ToolCall(Struct, gc=False):
    id: str
    type: Literal["function"]
    function: FunctionCall


class FunctionDef(Struct, gc=False):
    name: str
    description: str | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET


class Tool(Struct, gc=False):
    type: Literal["function"]
    function: FunctionDef


class TextPart(Struct, gc=False, tag_field="type", tag="text", forbid_unknown_fields=True):
    text: str


class ImageUrl(Struct, gc=False, forbid_unknown_fields=True):
    url: str
    detail: Literal["low", "high", "auto"] | UnsetType = UNSET


class ImagePart(Struct, gc=False, tag_field="type", tag="image_url", forbid_unknown_fields=True):
    image_url: ImageUrl


Parts = list[TextPart | ImagePart]
# Messages other than the assistant's need non-empty content.
RequiredContent = Annotated[str, Meta(min_length=1)] | Annotated[Parts, Meta(min_length=1)]


# One type per role (tagged by "role"): a key that is not allowed for that role is an unknown field, so
# the decoder itself enforces "weight/tool_calls/function_call only on assistant", "name on function"...
class SystemMessage(Struct, tag_field="role", tag="system", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "system"
    content: RequiredContent
    name: NonEmptyStr | UnsetType = UNSET


class UserMessage(Struct, tag_field="role", tag="user", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "user"
    content: RequiredContent
    name: NonEmptyStr | UnsetType = UNSET


class AssistantMessage(Struct, tag_field="role", tag="assistant", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "assistant"
    content: str | Parts | UnsetType | None = UNSET
    name: NonEmptyStr | UnsetType = UNSET
    weight: Literal[0, 1] | UnsetType = UNSET
    tool_calls: Annotated[list[ToolCall], Meta(min_length=1)] | UnsetType = UNSET
    function_call: FunctionCall | UnsetType = UNSET


class ToolMessage(Struct, tag_field="role", tag="tool", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "tool"
    content: RequiredContent
    name: NonEmptyStr | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET


class FunctionMessage(Struct, tag_field="role", tag="function", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "function"
    content: RequiredContent
    name: NonEmptyStr


Message = SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage

Messages = Annotated[list[Message], Meta(min_length=1)]


class ChatExample(Struct, gc=False):
    messages: Messages
    tools: list[Tool] | UnsetType = UNSET
    functions: list[FunctionDef] | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET


class DpoInput(Struct, gc=False):
    messages: Messages
    tools: list[Tool] | UnsetType = UNSET
    functions: list[FunctionDef] | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET


class DpoExample(Struct, gc=False):
    input: DpoInput
    preferred_output: Messages
    non_preferred_output: Messages


# The common case, decoded faster: every message's content is a non-empty string (no parts, no images),
# which leaves only "which roles are there" to check in Python. Stricter than the types above, never
# looser: an example these accept is accepted by `ChatExample` + `chat_flags` with the same warnings
# (tested); anything else (parts, errors) goes to the full types. Tool-call-only replies are text too.
class TextSystemMessage(Struct, tag_field="role", tag="system", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "system"
    BIT: ClassVar[int] = HAS_SYSTEM
    content: NonEmptyStr
    name: NonEmptyStr | UnsetType = UNSET


class TextUserMessage(Struct, tag_field="role", tag="user", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "user"
    BIT: ClassVar[int] = HAS_USER
    content: NonEmptyStr
    name: NonEmptyStr | UnsetType = UNSET


class TextAssistantMessage(Struct, tag_field="role", tag="assistant", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "assistant"
    BIT: ClassVar[int] = HAS_ASSISTANT
    # None or absent only with tool calls or a function call (checked by `text_chat_flags`).
    content: NonEmptyStr | UnsetType | None = UNSET
    name: NonEmptyStr | UnsetType = UNSET
    weight: Literal[0, 1] | UnsetType = UNSET
    tool_calls: Annotated[list[ToolCall], Meta(min_length=1)] | UnsetType = UNSET
    function_call: FunctionCall | UnsetType = UNSET


class TextToolMessage(Struct, tag_field="role", tag="tool", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "tool"
    BIT: ClassVar[int] = 0  # no warning depends on it
    content: NonEmptyStr
    name: NonEmptyStr | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET


class TextFunctionMessage(Struct, tag_field="role", tag="function", forbid_unknown_fields=True, gc=False):
    ROLE: ClassVar[str] = "function"
    BIT: ClassVar[int] = 0  # no warning depends on it
    content: NonEmptyStr
    name: NonEmptyStr


TextMessage = (
    TextSystemMessage | TextUserMessage | TextAssistantMessage | TextToolMessage | TextFunctionMessage
)


class TextChatExample(Struct, gc=False):
    messages: Annotated[list[TextMessage], Meta(min_length=1)]
    tools: list[Tool] | UnsetType = UNSET
    functions: list[FunctionDef] | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET


# Without tokens nothing reads the text of a message, only that it is a non-empty string: these types
# leave each content raw (its JSON, checked by the decoder but not turned into a `str`, which is most of
# the decode's cost on non-ASCII text), and `RawChatFlags` checks what the decoder no longer does: each
# content is a JSON string other than "" (or null/absent on an assistant reply with calls). The decoder
# does not check the UTF-8 of what it leaves raw: the validator checks the UTF-8 of whole lines first and
# sends a line that fails to the text-only types. Stricter than those, never looser (tested).
RAW_NULL = Raw(b"null")
_RAW_EMPTY = Raw(b'""')


class RawSystemMessage(Struct, tag_field="role", tag="system", forbid_unknown_fields=True, gc=False):
    content: Raw
    name: NonEmptyStr | UnsetType = UNSET


class RawUserMessage(Struct, tag_field="role", tag="user", forbid_unknown_fields=True, gc=False):
    content: Raw
    name: NonEmptyStr | UnsetType = UNSET


class RawAssistantMessage(Struct, tag_field="role", tag="assistant", forbid_unknown_fields=True, gc=False):
    content: Raw = RAW_NULL  # absent reads as null
    name: NonEmptyStr | UnsetType = UNSET
    weight: Literal[0, 1] | UnsetType = UNSET
    tool_calls: Annotated[list[ToolCall], Meta(min_length=1)] | UnsetType = UNSET
    function_call: FunctionCall | UnsetType = UNSET


class RawToolMessage(Struct, tag_field="role", tag="tool", forbid_unknown_fields=True, gc=False):
    content: Raw
    name: NonEmptyStr | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET


class RawFunctionMessage(Struct, tag_field="role", tag="function", forbid_unknown_fields=True, gc=False):
    content: Raw
    name: NonEmptyStr


RawMessage = RawSystemMessage | RawUserMessage | RawAssistantMessage | RawToolMessage | RawFunctionMessage


class RawChatExample(Struct, gc=False):
    messages: Annotated[list[RawMessage], Meta(min_length=1)]
    # A dataset's lines repeat a few tool lists: left raw, each distinct one decoded once (`RawChatFlags`).
    tools: Raw | UnsetType = UNSET
    functions: list[FunctionDef] | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET


class CompletionExample(Struct, gc=False, forbid_unknown_fields=True):
    prompt: str
    completion: NonEmptyStr


# What `chat_flags`/`dpo_flags` return for an accepted example: the warnings it deserves, 0 for none (the
# common case, tested with one comparison per line): bit 0 no system message, bit 1 no user message,
# bits 3+ the number of images when over the warning level.
NO_SYSTEM = 1
NO_USER = 2
_MISSING = (NO_SYSTEM | NO_USER, NO_USER, NO_SYSTEM, 0)  # indexed by the HAS_SYSTEM | HAS_USER bits


def scan_messages(messages: list[Message], vision_ok: bool) -> int:
    """Cross-field rules for a list of typed messages; the packed facts or REJECT."""
    flags = 0
    for m in messages:
        cls = m.__class__
        content = m.content
        if content.__class__ is str and content:
            # The common case, decided by the class alone: string content cannot hold images.
            if cls is AssistantMessage:
                flags |= HAS_ASSISTANT
            elif cls is SystemMessage:
                flags |= HAS_SYSTEM
            elif cls is UserMessage:
                flags |= HAS_USER
            continue
        if cls is AssistantMessage:
            flags |= HAS_ASSISTANT
            if not content and m.tool_calls is UNSET and m.function_call is UNSET:  # type: ignore[union-attr]
                return REJECT
            if content.__class__ is list:
                for part in content:
                    if part.__class__ is ImagePart:
                        return REJECT
            continue
        if cls is SystemMessage:
            flags |= HAS_SYSTEM
        elif cls is UserMessage:
            flags |= HAS_USER
        if content.__class__ is list:
            for part in content:
                if part.__class__ is ImagePart:
                    if not vision_ok or check_image_url(part.image_url.url) is not None:
                        return REJECT
                    flags += 1 << IMAGE_SHIFT
    return flags


def image_count(flags: int) -> int:
    return flags >> IMAGE_SHIFT


def _warnings(seen: int) -> int:
    """Scan facts of an accepted example -> its warning bits (0 = nothing to say)."""
    many = seen >> IMAGE_SHIFT > WARN_IMAGES_PER_EXAMPLE
    return _MISSING[seen & (HAS_SYSTEM | HAS_USER)] | (seen & ~7 if many else 0)


def chat_flags(example: ChatExample, vision_ok: bool) -> int:
    """Warning bits of an accepted chat example, or REJECT."""
    seen = scan_messages(example.messages, vision_ok)
    if seen == HAS_SYSTEM | HAS_USER | HAS_ASSISTANT:  # the usual example: no images, nothing to warn about
        return 0
    if seen & HAS_ASSISTANT and 0 <= seen < (MAX_IMAGES_PER_EXAMPLE + 1) << IMAGE_SHIFT:
        return _warnings(seen)
    return REJECT


def text_chat_flags(example: TextChatExample, vision_ok: bool) -> int:
    """`chat_flags` for a text-only example: only the roles matter (no images, content already checked)."""
    seen = 0
    for m in example.messages:
        seen |= m.BIT
        if m.content.__class__ is not str and m.tool_calls is UNSET and m.function_call is UNSET:  # type: ignore[union-attr]
            return REJECT  # an assistant message with neither text nor a call
    if seen == HAS_SYSTEM | HAS_USER | HAS_ASSISTANT:
        return 0
    return _MISSING[seen & (HAS_SYSTEM | HAS_USER)] if seen & HAS_ASSISTANT else REJECT


def dpo_flags(example: DpoExample, vision_ok: bool) -> int:
    """Warning bits of an accepted DPO example (system/user warnings are about its input), or REJECT."""
    seen = scan_messages(example.input.messages, vision_ok)
    if seen == REJECT:
        return REJECT
    for output in (example.preferred_output, example.non_preferred_output):
        out_seen = scan_messages(output, vision_ok)
        if out_seen == REJECT or not out_seen & HAS_ASSISTANT:
            return REJECT
        if any(m.__class__ is not AssistantMessage and m.__class__ is not ToolMessage for m in output):
            return REJECT
        seen += out_seen & ~(HAS_SYSTEM | HAS_USER | HAS_ASSISTANT)
    if image_count(seen) > MAX_IMAGES_PER_EXAMPLE:
        return REJECT
    return _warnings(seen)


# `RawChatFlags` works on whole lists with C-level `map`s (a Python step per message costs as much as
# the decode saves): the first byte of each raw content, and the set of message types, which decides
# the warnings.
_CONTENT = attrgetter("content")
_FIRST_BYTE = struct.Struct("B").unpack_from
_STRINGS = {(ord('"'),)}
_STRINGS_OR_NULL = {(ord('"'),), (ord("n"),)}
_RAW_TYPES = (RawSystemMessage, RawUserMessage, RawAssistantMessage, RawToolMessage, RawFunctionMessage)
_RAW_BITS: dict[type, int] = {
    RawSystemMessage: HAS_SYSTEM,
    RawUserMessage: HAS_USER,
    RawAssistantMessage: HAS_ASSISTANT,
}


def _role_flags(types: tuple[type, ...]) -> int:
    seen = 0
    for cls in types:
        seen |= _RAW_BITS.get(cls, 0)
    if not seen & HAS_ASSISTANT:
        return REJECT
    return _MISSING[seen & (HAS_SYSTEM | HAS_USER)]


# Every set of message types -> the warning bits (or REJECT: no assistant message).
_RAW_ROLE_FLAGS: dict[frozenset[type], int] = {
    frozenset(types): _role_flags(types)
    for size in range(1, len(_RAW_TYPES) + 1)
    for types in combinations(_RAW_TYPES, size)
}


def _raw_messages_flags(messages: list[RawMessage]) -> int:
    """The messages' part of `RawChatFlags`."""
    contents = list(map(_CONTENT, messages))
    kinds = set(map(_FIRST_BYTE, contents))
    if kinds != _STRINGS:
        if not kinds <= _STRINGS_OR_NULL:
            return REJECT  # a list of parts, a number...: the text or the full types decide
        at = -1
        for _ in range(contents.count(RAW_NULL)):
            at = contents.index(RAW_NULL, at + 1)
            m = messages[at]
            if m.__class__ is not RawAssistantMessage or (m.tool_calls is UNSET and m.function_call is UNSET):
                return REJECT
    if _RAW_EMPTY in contents:
        return REJECT
    if (
        len(messages) > 2
        and messages[0].__class__ is RawSystemMessage
        and messages[1].__class__ is RawUserMessage
        and messages[2].__class__ is RawAssistantMessage
    ):
        return 0  # the usual start: nothing to warn about
    return _RAW_ROLE_FLAGS[frozenset(map(type, messages))]


_TOOLS = Decoder(list[Tool])
_TOOLS_ERRORS = (ValidationError, DecodeError, RecursionError)


def _tools_valid(tools: Raw) -> bool:
    try:
        _TOOLS.decode(tools)
    except _TOOLS_ERRORS:
        return False
    return True


class RawChatFlags:
    """`text_chat_flags` for a raw-content example (the line's UTF-8 already checked): each content a
    non-empty JSON string, or null/absent on an assistant message with tool calls or a function call; the
    tool list as the text-only types take it, each distinct one decoded once (one validator's memo: verdicts
    by the list's bytes, emptied past `MAX_BYTES`)."""

    MAX_BYTES = 4 * 1024 * 1024

    def __init__(self) -> None:
        self._tools: dict[bytes, bool] = {}
        self._tools_bytes = 0

    def __call__(self, example: RawChatExample, vision_ok: bool) -> int:
        tools = example.tools
        if tools is not UNSET:
            # A copy: the raw value points into the reader's buffer, which the next block overwrites.
            key = bytes(tools)
            valid = self._tools.get(key)
            if valid is None:
                valid = _tools_valid(tools)
                if self._tools_bytes > self.MAX_BYTES:
                    self._tools.clear()
                    self._tools_bytes = 0
                self._tools[key] = valid
                self._tools_bytes += len(key)
            if not valid:
                return REJECT
        return _raw_messages_flags(example.messages)
