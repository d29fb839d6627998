"""Parse and validate an uploaded JSONL file the way the fine-tuning service does before it accepts it.

Checks follow the OpenAI cookbook's data-format checks (the reference lists them, in order); the first few
problems become the file's `status_details`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from emulator import rai

Kind = Literal["chat", "dpo", "completion"]

CHAT_ROLES = {"system", "user", "assistant", "tool", "function"}
MESSAGE_KEYS = {"role", "content", "name", "function_call", "tool_calls", "weight", "tool_call_id"}
MAX_REPORTED_PROBLEMS = 5
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class DatasetReport:
    ok: bool
    detail: str | None
    kind: Kind | None
    examples: int
    tokens: int  # approximate: words and punctuation, plus 4 per message (the chat framing)
    harms: frozenset[str]
    eval_harms: frozenset[str]
    fingerprint: str  # sha256 of the bytes: feeds the deterministic loss curves


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _texts_of_content(content: Any) -> Iterator[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]


def _check_messages(messages: Any, where: str, *, need_assistant: bool) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"{where}: missing or empty 'messages' list (missing_messages_list)"
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            return f"{where}: a message lacks 'role' (message_missing_key)"
        if "content" not in message and not ({"tool_calls", "function_call"} & message.keys()):
            return f"{where}: a message lacks 'content' (message_missing_key)"
        unknown = set(message) - MESSAGE_KEYS
        if unknown:
            return f"{where}: unrecognized message key {sorted(unknown)[0]!r} (message_unrecognized_key)"
        if message["role"] not in CHAT_ROLES:
            return f"{where}: unrecognized role {message['role']!r} (unrecognized_role)"
        content = message.get("content")
        if "content" in message and content is not None and not isinstance(content, str | list):
            return f"{where}: content must be a string or a list of parts (missing_content)"
        if message.get("weight", 1) not in (0, 1):
            return f"{where}: 'weight' must be 0 or 1"
    if need_assistant and not any(m["role"] == "assistant" for m in messages):
        return f"{where}: no assistant message (example_missing_assistant_message)"
    return None


def _check_outputs(outputs: Any, where: str, key: str) -> str | None:
    if not isinstance(outputs, list) or not outputs:
        return f"{where}: '{key}' must be a non-empty list of messages"
    problem = _check_messages(outputs, where, need_assistant=True)
    if problem:
        return problem
    if any(m["role"] not in ("assistant", "tool") for m in outputs):
        return f"{where}: '{key}' may hold only assistant and tool messages"
    return None


def _classify(example: dict[str, Any], where: str) -> tuple[Kind | None, str | None, list[str]]:
    """-> (kind, problem, texts) for one example."""
    if "messages" in example:
        messages = example["messages"]
        problem = _check_messages(messages, where, need_assistant=True)
        found = [t for m in messages if isinstance(m, dict) for t in _texts_of_content(m.get("content"))]
        return "chat", problem, found
    if {"input", "preferred_output", "non_preferred_output"} <= example.keys():
        source = example["input"]
        problem = None
        if not isinstance(source, dict):
            problem = f"{where}: 'input' must be an object with 'messages'"
        else:
            problem = _check_messages(source.get("messages"), where, need_assistant=False)
        for key in ("preferred_output", "non_preferred_output"):
            problem = problem or _check_outputs(example[key], where, key)
        texts: list[str] = []
        if problem is None:
            for m in [*source["messages"], *example["preferred_output"], *example["non_preferred_output"]]:
                texts.extend(_texts_of_content(m.get("content")))
        return "dpo", problem, texts
    if "prompt" in example and "completion" in example:
        if not isinstance(example["prompt"], str) or not isinstance(example["completion"], str):
            return "completion", f"{where}: 'prompt' and 'completion' must be strings", []
        return "completion", None, [example["prompt"], example["completion"]]
    return (
        None,
        f"{where}: unrecognized example format; expected 'messages' (chat), "
        "'input'/'preferred_output'/'non_preferred_output' (DPO) or 'prompt'/'completion'",
        [],
    )


def inspect(data: bytes, min_examples: int = 10) -> DatasetReport:
    fingerprint = hashlib.sha256(data).hexdigest()

    def failed(detail: str, kind: Kind | None = None, examples: int = 0) -> DatasetReport:
        return DatasetReport(False, detail, kind, examples, 0, frozenset(), frozenset(), fingerprint)

    try:
        text = data.decode("utf-8-sig")  # the guide says UTF-8 with BOM; accept both
    except UnicodeDecodeError as exc:
        return failed(f"The file is not valid UTF-8 (byte {exc.start}).")

    problems: list[str] = []
    kinds: set[Kind] = set()
    texts: list[str] = []
    examples = 0
    messages = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"Line {number}"
        try:
            example = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON ({exc.msg})")
            continue
        if not isinstance(example, dict):
            problems.append(f"{where}: example is not a JSON object (data_type)")
            continue
        examples += 1
        kind, problem, example_texts = _classify(example, where)
        if problem:
            problems.append(problem)
        if kind:
            kinds.add(kind)
        texts.extend(example_texts)
        messages += len(example_texts)

    if not problems and len(kinds) > 1:
        problems.append(f"Examples mix formats: {', '.join(sorted(kinds))}")
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        detail = "Invalid JSONL: " + "; ".join(shown) + (f"; and {more} more problem(s)" if more else "")
        return failed(detail, None, examples)
    kind = next(iter(kinds)) if kinds else None
    if examples < min_examples:
        return failed(
            f"The file has {examples} example(s); at least {min_examples} are required for fine-tuning.",
            kind,
            examples,
        )
    tokens = sum(count_tokens(t) for t in texts) + 4 * messages
    return DatasetReport(
        True, None, kind, examples, tokens, rai.data_harms(texts), rai.evaluation_harms(texts), fingerprint
    )
