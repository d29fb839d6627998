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
from typing import TYPE_CHECKING, Any, cast

import msgspec
from msgspec import UNSET

from bot.dataprep.fastpath import (
    AssistantMessage,
    ChatExample,
    CompletionExample,
    DpoExample,
    FunctionDef,
    Message,
    SystemMessage,
    TextAssistantMessage,
    TextChatExample,
    TextMessage,
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
# Tokens of a message besides its content, by type, when it has no name: 3 + the role (one token each).
_PLAIN: dict[type, int] = {
    cls: TOKENS_PER_MESSAGE + 1
    for cls in (
        SystemMessage,
        UserMessage,
        AssistantMessage,
        ToolMessage,
        TextSystemMessage,
        TextUserMessage,
        TextAssistantMessage,
        TextToolMessage,
    )
}
# Decoded with the full types or the text-only ones (`fastpath.py`).
_SYSTEM = (SystemMessage, TextSystemMessage)
_ASSISTANT = (AssistantMessage, TextAssistantMessage)
AnyMessage = Message | TextMessage


@lru_cache(maxsize=4)
def get_encoding(name: str) -> quicktok.Tokenizer:
    """Loading o200k_base takes most of a second and ~65 MB: load each encoding once per process."""
    # Imported here, never at start-up: the no-token path and the bot's start do without it.
    import quicktok

    return quicktok.get_encoding(name)


class TokenCounter:
    """Counts tokens of typed examples (see `fastpath.py`) with one encoding."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._count = get_encoding(encoding).count
        # Each distinct short string is counted once: text -> tokens.
        self._cache: dict[str, int] = {}
        self._cached_chars = 0
        self.encoded = 0  # strings handed to the tokenizer (the rest came from the cache)

    def text(self, text: str) -> int:
        n = self._cache.get(text)
        if n is not None:
            return n
        if not text:
            return 0
        n = self._encode(text)
        size = len(text)
        if size <= _CACHE_MAX_CHARS:
            if self._cached_chars > _CACHE_BUDGET_CHARS:
                self._cache.clear()
                self._cached_chars = 0
            self._cache[text] = n
            self._cached_chars += size
        return n

    def _encode(self, text: str) -> int:
        self.encoded += 1
        try:
            return self._count(text)
        except (TypeError, UnicodeEncodeError):
            # A lone surrogate (JSON "\\ud800" read by a lenient decoder) is not UTF-8: count it as tiktoken
            # does, as U+FFFD.
            return self._count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    def message(self, m: AnyMessage) -> int:
        """One message, any shape: role, content (text parts, images), name, calls."""
        n = TOKENS_PER_MESSAGE + self.text(m.ROLE)
        content = m.content
        if isinstance(content, str):
            n += self.text(content)
        elif isinstance(content, list):
            for part in content:
                if hasattr(part, "text"):
                    n += self.text(part.text)
                else:
                    detail = part.image_url.detail
                    n += image_tokens(part.image_url.url, "auto" if detail is UNSET else detail)
        if m.name is not UNSET:
            n += TOKENS_PER_NAME + self.text(m.name)
        if isinstance(m, _ASSISTANT):
            if m.function_call is not UNSET:
                n += self.text(m.function_call.name) + self.text(m.function_call.arguments)
            if m.tool_calls is not UNSET:
                for call in m.tool_calls:
                    n += self.text(call.function.name) + self.text(call.function.arguments)
        return n

    def messages(self, messages: list[Message] | list[TextMessage]) -> int:
        """The hot loop: string content goes straight to the tokenizer (system prompts through the cache,
        user and assistant text is rarely repeated); any other shape takes `message`."""
        n = 0
        count = self._count
        text = self.text
        plain = _PLAIN
        try:
            for m in messages:
                cls = m.__class__
                if m.name is not UNSET or cls not in plain:
                    n += self.message(m)
                    continue
                content = m.content
                if cls in _ASSISTANT:
                    a = cast(AssistantMessage, m)
                    if a.function_call is not UNSET or content.__class__ is list:
                        n += self.message(m)
                        continue
                    n += plain[cls]
                    if content.__class__ is str:
                        n += count(content)
                    if a.tool_calls is not UNSET:
                        for call in a.tool_calls:
                            f = call.function
                            n += text(f.name) + count(f.arguments)
                elif content.__class__ is str:
                    n += plain[cls] + (text(content) if cls in _SYSTEM else count(content))
                else:
                    n += self.message(m)
        except (TypeError, UnicodeEncodeError):
            return sum(self.message(m) for m in messages)  # a lone surrogate: `text` replaces it
        return n

    def definitions(self, tools: list[Tool] | Any, functions: list[FunctionDef] | Any) -> int:
        n = 0
        for defs in (tools, functions):
            if defs is not UNSET and defs:
                n += self.text(msgspec.json.encode(defs).decode())
        return n

    def chat(self, ex: ChatExample | TextChatExample) -> int:
        return self.messages(ex.messages) + self.definitions(ex.tools, ex.functions) + REPLY_PRIMER

    def dpo(self, ex: DpoExample) -> int:
        """Input plus both outputs: everything in the line is read in training."""
        inp = ex.input
        return (
            self.messages(inp.messages)
            + self.definitions(inp.tools, inp.functions)
            + self.messages(ex.preferred_output)
            + self.messages(ex.non_preferred_output)
            + REPLY_PRIMER
        )

    def completion(self, ex: CompletionExample) -> int:
        return self.text(ex.prompt) + self.text(ex.completion)
