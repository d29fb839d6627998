"""Signed Slack requests, built the way Slack builds them: `v0=` HMAC-SHA256 over `v0:{timestamp}:{body}`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def signature(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def signed_headers(
    body: str, content_type: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature(body, ts, secret),
    }


def form_body(fields: Mapping[str, str]) -> tuple[str, str]:
    return urlencode(fields), "application/x-www-form-urlencoded"


def interactive_body(payload: Mapping[str, Any]) -> tuple[str, str]:
    """Interactivity payloads (`block_actions`) arrive as a form with one `payload` field of JSON."""
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def json_body(payload: Mapping[str, Any]) -> tuple[str, str]:
    return json.dumps(payload), "application/json"
