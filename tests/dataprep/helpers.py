"""Builders for JSONL test data and a one-call validator over in-memory lines."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from PIL import Image

from bot.dataprep import ValidationReport, validate_stream


def chat(
    user: str = "What is 2+2?", answer: str = "4", *, system: str | None = "You are terse."
) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def dpo(prompt: str = "Say hi", good: str = "Hi!", bad: str = "Go away.") -> dict[str, Any]:
    return {
        "input": {
            "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": prompt}]
        },
        "preferred_output": [{"role": "assistant", "content": good}],
        "non_preferred_output": [{"role": "assistant", "content": bad}],
    }


def line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def jsonl(lines: list[str], *, newline: str = "\n", trailing: bool = True) -> bytes:
    return (newline.join(lines) + (newline if trailing else "")).encode("utf-8")


def with_bad_line(
    bad: str, *, at: int = 4, good: int = 12, example: dict[str, Any] | None = None
) -> list[str]:
    """`good` valid lines with `bad` inserted so that it is line number `at` (1-based)."""
    lines = [line(example or chat(f"question {i}")) for i in range(good)]
    lines.insert(at - 1, bad)
    return lines


def run(data: bytes | list[str], **options: Any) -> ValidationReport:
    raw = jsonl(data) if isinstance(data, list) else data
    options.setdefault("count_tokens", False)
    return validate_stream(io.BytesIO(raw), **options)


def codes_at(report: ValidationReport) -> set[tuple[int | None, str]]:
    return {(e.line, e.code) for e in report.errors}


def image_data_uri(fmt: str = "PNG", size: tuple[int, int] = (4, 4), mime: str | None = None) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, format=fmt)
    mime = mime or f"image/{fmt.lower()}"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"


def image_part(url: str, detail: str | None = "low") -> dict[str, Any]:
    inner: dict[str, Any] = {"url": url}
    if detail is not None:
        inner["detail"] = detail
    return {"type": "image_url", "image_url": inner}


def vision_chat(*parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "Describe images."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"}, *parts]},
            {"role": "assistant", "content": "A red square."},
        ]
    }
