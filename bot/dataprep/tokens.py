"""Offline token counts per example with the `bpe-openai` encodings (o200k_base, cl100k_base).

Counting follows the OpenAI cookbook's `num_tokens_from_messages`: 3 tokens per message plus its role,
content and name (+1 for a name), plus 3 for the reply primer. Tool calls count their name and
arguments, tool definitions their JSON; images count by OpenAI's tile rule (85 at low detail; the size of
data-URI images is read from their header; http(s) images are estimated at 765). These are estimates of
what the service bills, close but not exact.
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
    Message,
    Tool,
)
from bot.dataprep.images import image_tokens

if TYPE_CHECKING:
    import bpe_openai

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMER = 3
# bpe-openai refuses strings of 1M characters or more and results over 200k tokens; longer texts are
# counted in pieces cut at whitespace, which changes the count by at most a token or so per cut.
_PIECE_CHARS = 100_000
_CACHE_MAX_CHARS = 4_096


@lru_cache(maxsize=4)
def get_encoding(name: str) -> bpe_openai.Encoding:
    """Loading o200k_base takes most of a second: load each encoding once per process."""
    # Imported here: importing bpe_openai alone costs ~0.5 s and ~65 MB, which the no-token path skips.
    import bpe_openai

    return bpe_openai.get_encoding(name)


class TokenCounter:
    """Counts tokens of typed examples (see `fastpath.py`) with one encoding."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._encode = get_encoding(encoding).encode_ordinary
        # System prompts and tool definitions repeat on every line: count each distinct one once.
        self._cache: dict[str, int] = {}

    def text(self, text: str) -> int:
        if not text:
            return 0
        if len(text) <= _CACHE_MAX_CHARS:
            n = self._cache.get(text)
            if n is None:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                n = self._cache[text] = len(self._encode(text))
            return n
        total = 0
        start = 0
        while start < len(text):
            end = start + _PIECE_CHARS
            if end < len(text):
                cut = text.rfind(" ", start + 1, end)
                end = cut if cut > start else end
            total += len(self._encode(text[start:end]))
            start = end
        return total

    def message(self, m: Message) -> int:
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
        if isinstance(m, AssistantMessage):
            if m.function_call is not UNSET:
                n += self.text(m.function_call.name) + self.text(m.function_call.arguments)
            if m.tool_calls is not UNSET:
                for call in m.tool_calls:
                    n += self.text(call.function.name) + self.text(call.function.arguments)
        return n

    def messages(self, messages: list[Message]) -> int:
        return sum(self.message(m) for m in messages)

    def definitions(self, tools: list[Tool] | Any, functions: list[FunctionDef] | Any) -> int:
        n = 0
        for defs in (tools, functions):
            if defs is not UNSET and defs:
                n += self.text(msgspec.json.encode(defs).decode())
        return n

    def chat(self, ex: ChatExample) -> int:
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
