"""Identifier formats used by Azure OpenAI (`file-<32hex>`, `ftjob-<32hex>`, ...)."""

from __future__ import annotations

import uuid


def new_hex() -> str:
    return uuid.uuid4().hex


def new_id(prefix: str) -> str:
    return f"{prefix}-{new_hex()}"
