"""Offline token counts per example with the `quicktok` encodings (o200k_base, cl100k_base).

Counting follows the OpenAI cookbook's `num_tokens_from_messages`: 3 tokens per message plus its role,
content and name (+1 for a name), plus 3 for the reply primer. Tool calls count their name and
arguments, tool definitions their JSON; images count by OpenAI's tile rule (85 at low detail; the size of
data-URI images is read from their header; http(s) images are estimated at 765). These are estimates of
what the service bills, close but not exact. The text counts themselves are exact: quicktok's counts equal
tiktoken's (`encode_ordinary`) for every string (tested), at ~3x bpe-openai's speed and half its memory.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET

from bot.dataprep.fastpath import (
    AssistantMessage,
    ChatExample,
    CompletionExample,
    DpoExample,
    FunctionDef,
    FunctionMessage,
    Message,
    SystemMessage,
    TextAssistantMessage,
    TextChatExample,
    TextFunctionMessage,
    TextMessage,
    TextPart,
    TextSystemMessage,
    TextToolMessage,
    TextUserMessage,
    Tool,
    ToolMessage,
    UserMessage,
)
from bot.dataprep.images import image_tokens

if TYPE_CHECKING:
    import quicktok

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMER = 3
# Strings up to this length are remembered with their count (system prompts, tool definitions, roles and
# names repeat on every line); the cache is emptied when it holds this many characters (~4-16 MB).
_CACHE_MAX_CHARS = 4_096
_CACHE_BUDGET_CHARS = 4_000_000
# Decoded with the full types or the text-only ones (`fastpath.py`).
_SYSTEM = frozenset((SystemMessage, TextSystemMessage))
_ASSISTANT = frozenset((AssistantMessage, TextAssistantMessage))
_MESSAGE_TYPES = (
    SystemMessage,
    UserMessage,
    AssistantMessage,
    ToolMessage,
    FunctionMessage,
    TextSystemMessage,
    TextUserMessage,
    TextAssistantMessage,
    TextToolMessage,
    TextFunctionMessage,
)


@lru_cache(maxsize=4)
def get_encoding(name: str) -> quicktok.Tokenizer:
    """Loading o200k_base takes most of a second and ~65 MB: load each encoding once per process."""
    # Imported here, never at start-up: the no-token path and the bot's start do without it.
    import quicktok

    return quicktok.get_encoding(name)


class TokenCounter:
    """Counts tokens of typed examples (see `fastpath.py`) with one encoding.

    Two ways: `chat`/`dpo`/`completion` give an example's count at once; the validator's hot loop instead
    `add`s examples, which queues their long strings in `pending`, and counts a whole block of them with
    one `flush` (one C-level `map` over the strings: no Python-level step per string, and the tokenizer's
    tables stay in the CPU caches while it runs). Either way the counts are the same.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._count = get_encoding(encoding).count
        # Each distinct short string is counted once: text -> tokens.
        self._cache: dict[str, int] = {}
        self._cached_chars = 0
        self.encoded = 0  # strings handed to the tokenizer through the cache (cache misses)
        # Strings queued by `add_*`, counted by `flush` (user and assistant text, tool-call arguments:
        # rarely repeated, so not worth a cache look-up).
        self.pending: list[str] = []
        # Tokens of a message besides its content and name, by type: 3 + its role.
        self._overhead = {cls: TOKENS_PER_MESSAGE + self._count(cls.ROLE) for cls in _MESSAGE_TYPES}

    def text(self, text: str) -> int:
        n = self._cache.get(text)
        if n is not None:
            return n
        if not text:
            return 0
        self.encoded += 1
        n = self._safe_count(text)
        size = len(text)
        if size <= _CACHE_MAX_CHARS:
            if self._cached_chars > _CACHE_BUDGET_CHARS:
                self._cache.clear()
                self._cached_chars = 0
            self._cache[text] = n
            self._cached_chars += size
        return n

    def _safe_count(self, text: str) -> int:
        try:
            return self._count(text)
        except (TypeError, UnicodeEncodeError):
            # A lone surrogate (JSON "\\ud800" read by a lenient decoder) is not UTF-8: count it as tiktoken
            # does, as U+FFFD.
            return self._count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    def flush(self) -> list[int]:
        """The counts of the `pending` strings, in order; empties the queue."""
        pending = self.pending
        if not pending:
            return []
        try:
            counts = list(map(self._count, pending))
        except (TypeError, UnicodeEncodeError):  # a lone surrogate somewhere: each string on its own
            counts = [self._safe_count(s) for s in pending]
        pending.clear()
        return counts

    def add_messages(self, messages: list[Message] | list[TextMessage]) -> int:
        """Queues the messages' long strings in `pending`; returns the tokens of the rest (per-message
        overhead, roles, names, function names and system prompts through the cache, images)."""
        n = 0
        push = self.pending.append
        text = self.text
        overhead = self._overhead
        for m in messages:
            cls = m.__class__
            n += overhead[cls]
            content = m.content
            if content.__class__ is str:
                if cls in _SYSTEM:
                    n += text(content)  # system prompts repeat on every line
                else:
                    push(content)
            elif content.__class__ is list:
                for part in content:
                    if isinstance(part, TextPart):
                        push(part.text)
                    else:
                        url = part.image_url
                        n += image_tokens(url.url, "auto" if url.detail is UNSET else url.detail)
            if m.name is not UNSET:
                n += TOKENS_PER_NAME + text(m.name)
            if cls in _ASSISTANT:
                calls = m.tool_calls  # type: ignore[union-attr]
                if calls is not UNSET:
                    for call in calls:
                        f = call.function
                        n += text(f.name)
                        push(f.arguments)
                fc = m.function_call  # type: ignore[union-attr]
                if fc is not UNSET:
                    n += text(fc.name)
                    push(fc.arguments)
        return n

    def definitions(self, tools: list[Tool] | Any, functions: list[FunctionDef] | Any) -> int:
        n = 0
        for defs in (tools, functions):
            if defs is not UNSET and defs:
                n += self.text(msgspec.json.encode(defs).decode())
        return n

    def add_chat(self, ex: ChatExample | TextChatExample) -> int:
        return self.add_messages(ex.messages) + self.definitions(ex.tools, ex.functions) + REPLY_PRIMER

    def add_dpo(self, ex: DpoExample) -> int:
        """Input plus both outputs: everything in the line is read in training."""
        inp = ex.input
        return (
            self.add_messages(inp.messages)
            + self.definitions(inp.tools, inp.functions)
            + self.add_messages(ex.preferred_output)
            + self.add_messages(ex.non_preferred_output)
            + REPLY_PRIMER
        )

    def add_completion(self, ex: CompletionExample) -> int:
        return self.text(ex.prompt) + self.text(ex.completion)

    def _now(self, queued: int) -> int:
        return queued + sum(self.flush())

    def chat(self, ex: ChatExample | TextChatExample) -> int:
        """The tokens of one example (nothing else may be `pending`)."""
        return self._now(self.add_chat(ex))

    def dpo(self, ex: DpoExample) -> int:
        return self._now(self.add_dpo(ex))

    def completion(self, ex: CompletionExample) -> int:
        return self._now(self.add_completion(ex))

    def messages(self, messages: list[Message] | list[TextMessage]) -> int:
        return self._now(self.add_messages(messages))
