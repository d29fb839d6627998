"""The precise checks: one decoded example (plain JSON values) -> every problem, with where and why.

This is the reference definition of a valid example. The fast path (`fastpath.py`) accepts only what
these rules accept; lines it does not accept are run through here to get the exact reasons.
Unknown top-level keys of an example are ignored; unknown keys inside a message are errors.
"""

from __future__ import annotations

from typing import Any

from bot.dataprep import findings as f
from bot.dataprep.images import DETAILS, MAX_IMAGES_PER_EXAMPLE, check_image_url

Issue = tuple[str, str]  # (code, message)

ROLES = ("system", "user", "assistant", "tool", "function")
MESSAGE_KEYS = ("role", "content", "name", "function_call", "tool_calls", "weight", "tool_call_id")
DPO_OUTPUT_ROLES = ("assistant", "tool")


def _is_str(value: object) -> bool:
    return type(value) is str


def _tname(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


# Where a message is, for issue texts: (list name, index or None, role). Formatted only when an issue is
# added, so that valid messages (nearly all) cost no string building.
Place = tuple[str, int | None, Any]


def _bare(at: Place) -> str:
    """ "messages[3]" """
    where, index, _ = at
    return where if index is None else f"{where}[{index}]"


def _label(at: Place) -> str:
    """ "messages[3] (user)" """
    role = at[2]
    return f"{_bare(at)} ({role})" if _is_str(role) else _bare(at)


class _Checker:
    """Collects issues for one example; `vision_ok` is False when the model is known not to take images."""

    def __init__(self, vision_ok: bool) -> None:
        self.vision_ok = vision_ok
        self.issues: list[Issue] = []
        self.images = 0

    def add(self, code: str, message: str) -> None:
        self.issues.append((code, message))

    # -- messages ---------------------------------------------------------------------------------------
    def messages(self, value: Any, where: str) -> list[dict[str, Any]]:
        """Checks a messages list; returns its well-formed messages (dicts) for list-level checks."""
        if type(value) is not list or not value:
            got = "missing" if value is None else ("empty" if value == [] else f"a {_tname(value)}")
            self.add(f.MISSING_MESSAGES_LIST, f"'{where}' must be a non-empty array of messages (got {got})")
            return []
        good = []
        for i, message in enumerate(value):
            if self.message(message, where, i):
                good.append(message)
        return good

    def message(self, m: Any, where: str, index: int | None = None) -> bool:
        """Checks message `where[index]`."""
        if type(m) is not dict:
            self.add(f.DATA_TYPE, f"{_bare((where, index, None))} must be an object, got {_tname(m)}")
            return False
        role = m.get("role")
        at = (where, index, role)
        for key in m:
            if key not in MESSAGE_KEYS:
                self.add(f.MESSAGE_UNRECOGNIZED_KEY, f"{_label(at)}: unrecognized key {key!r}")
        if "role" not in m:
            self.add(f.MESSAGE_MISSING_KEY, f"{_bare(at)}: missing key 'role'")
        elif role not in ROLES or not _is_str(role):
            self.add(
                f.UNRECOGNIZED_ROLE, f"{_bare(at)}: unrecognized role {role!r} (one of {', '.join(ROLES)})"
            )
        is_assistant = role == "assistant"
        has_calls = "tool_calls" in m or "function_call" in m
        self.content(m, at, is_assistant, has_calls)
        if "name" in m and (not _is_str(m["name"]) or not m["name"]):
            self.add(f.INVALID_NAME, f"{_label(at)}: 'name' must be a non-empty string")
        if role == "function" and "name" not in m:
            self.add(f.MESSAGE_MISSING_KEY, f"{_label(at)}: a function message needs 'name'")
        if "tool_call_id" in m:
            if role != "tool":
                self.add(
                    f.MESSAGE_UNRECOGNIZED_KEY, f"{_label(at)}: 'tool_call_id' belongs on tool messages only"
                )
            elif not _is_str(m["tool_call_id"]):
                self.add(f.MESSAGE_UNRECOGNIZED_KEY, f"{_label(at)}: 'tool_call_id' must be a string")
        if "weight" in m:
            weight = m["weight"]
            if not is_assistant:
                self.add(f.INVALID_WEIGHT, f"{_label(at)}: 'weight' is only allowed on assistant messages")
            elif type(weight) is not int or weight not in (0, 1):
                self.add(f.INVALID_WEIGHT, f"{_label(at)}: 'weight' must be 0 or 1, got {weight!r}")
        if "tool_calls" in m:
            self.tool_calls(m["tool_calls"], at, is_assistant)
        if "function_call" in m:
            if not is_assistant:
                self.add(f.INVALID_FUNCTION_CALL, f"{_label(at)}: 'function_call' only on assistant messages")
            else:
                reason = _function_shape(m["function_call"], need_arguments=True)
                if reason:
                    self.add(f.INVALID_FUNCTION_CALL, f"{_label(at)}: 'function_call' {reason}")
        return True

    def content(self, m: dict[str, Any], at: Place, is_assistant: bool, has_calls: bool) -> None:
        if "content" not in m:
            if not (is_assistant and has_calls):
                self.add(f.MESSAGE_MISSING_KEY, f"{_label(at)}: missing key 'content'")
            return
        content = m["content"]
        if content is None or content == "" or content == []:
            if not (is_assistant and has_calls):
                self.add(f.MISSING_CONTENT, f"{_label(at)}: 'content' is empty")
            return
        if _is_str(content):
            return
        if type(content) is not list:
            got = _tname(content)
            self.add(
                f.MISSING_CONTENT, f"{_label(at)}: 'content' must be a string or array of parts, got {got}"
            )
            return
        for j, part in enumerate(content):
            self.part(part, f"{_label(at)} content[{j}]", is_assistant)

    def part(self, part: Any, where: str, is_assistant: bool) -> None:
        if type(part) is not dict:
            self.add(f.INVALID_CONTENT_PART, f"{where} must be an object, got {_tname(part)}")
            return
        kind = part.get("type")
        if kind == "text":
            extra = [k for k in part if k not in ("type", "text")]
            if not _is_str(part.get("text")):
                self.add(f.INVALID_CONTENT_PART, f"{where}: a text part needs 'text' (string)")
            if extra:
                self.add(f.INVALID_CONTENT_PART, f"{where}: unrecognized key {extra[0]!r} in a text part")
        elif kind == "image_url":
            self.image(part, where, is_assistant)
        else:
            self.add(f.INVALID_CONTENT_PART, f"{where}: 'type' must be 'text' or 'image_url', got {kind!r}")

    def image(self, part: dict[str, Any], where: str, is_assistant: bool) -> None:
        self.images += 1
        if is_assistant:
            self.add(f.IMAGE_IN_ASSISTANT_MESSAGE, f"{where}: assistant messages cannot contain images")
        if not self.vision_ok:
            self.add(f.VISION_NOT_SUPPORTED, f"{where}: this model does not take images")
        extra = [k for k in part if k not in ("type", "image_url")]
        if extra:
            self.add(f.INVALID_CONTENT_PART, f"{where}: unrecognized key {extra[0]!r} in an image part")
        inner = part.get("image_url")
        if type(inner) is not dict:
            self.add(f.INVALID_IMAGE, f"{where}: 'image_url' must be an object with 'url' (+ 'detail')")
            return
        extra = [k for k in inner if k not in ("url", "detail")]
        if extra:
            self.add(f.INVALID_IMAGE, f"{where}: unrecognized key {extra[0]!r} in 'image_url'")
        if "detail" in inner and inner["detail"] not in DETAILS:
            self.add(f.INVALID_IMAGE, f"{where}: 'detail' must be low, high or auto, got {inner['detail']!r}")
        url = inner.get("url")
        if not isinstance(url, str):
            self.add(f.INVALID_IMAGE, f"{where}: 'image_url.url' must be a string")
            return
        reason = check_image_url(url)
        if reason:
            self.add(f.INVALID_IMAGE, f"{where}: {reason}")

    def tool_calls(self, calls: Any, at: Place, is_assistant: bool) -> None:
        if not is_assistant:
            self.add(
                f.INVALID_TOOL_CALLS, f"{_label(at)}: 'tool_calls' is only allowed on assistant messages"
            )
            return
        if type(calls) is not list or not calls:
            self.add(f.INVALID_TOOL_CALLS, f"{_label(at)}: 'tool_calls' must be a non-empty array")
            return
        for k, call in enumerate(calls):
            if type(call) is not dict:
                self.add(f.INVALID_TOOL_CALLS, f"{_label(at)} tool_calls[{k}] must be an object")
                continue
            if not _is_str(call.get("id")):
                self.add(f.INVALID_TOOL_CALLS, f"{_label(at)} tool_calls[{k}]: 'id' must be a string")
            if call.get("type") != "function":
                self.add(f.INVALID_TOOL_CALLS, f"{_label(at)} tool_calls[{k}]: 'type' must be 'function'")
            reason = _function_shape(call.get("function"), need_arguments=True)
            if reason:
                self.add(f.INVALID_TOOL_CALLS, f"{_label(at)} tool_calls[{k}]: 'function' {reason}")

    # -- tool definitions ----------------------------------------------------------------------------------
    def definitions(self, obj: dict[str, Any], where: str) -> None:
        prefix = f"{where}." if where else ""
        if "tools" in obj:
            tools = obj["tools"]
            if type(tools) is not list:
                self.add(f.INVALID_TOOLS, f"'{prefix}tools' must be an array")
            else:
                for k, tool in enumerate(tools):
                    if type(tool) is not dict or tool.get("type") != "function":
                        self.add(f.INVALID_TOOLS, f"{prefix}tools[{k}] must be an object of type 'function'")
                        continue
                    reason = _function_shape(tool.get("function"), need_arguments=False)
                    if reason:
                        self.add(f.INVALID_TOOLS, f"{prefix}tools[{k}]: 'function' {reason}")
        if "functions" in obj:
            functions = obj["functions"]
            if type(functions) is not list:
                self.add(f.INVALID_TOOLS, f"'{prefix}functions' must be an array")
            else:
                for k, fn in enumerate(functions):
                    reason = _function_shape(fn, need_arguments=False)
                    if reason:
                        self.add(f.INVALID_TOOLS, f"{prefix}functions[{k}] {reason}")
        if "parallel_tool_calls" in obj and type(obj["parallel_tool_calls"]) is not bool:
            self.add(f.INVALID_TOOLS, f"'{prefix}parallel_tool_calls' must be true or false")

    def image_count(self) -> None:
        if self.images > MAX_IMAGES_PER_EXAMPLE:
            self.add(f.TOO_MANY_IMAGES, f"{self.images} images; at most {MAX_IMAGES_PER_EXAMPLE} per example")


def _function_shape(fn: Any, *, need_arguments: bool) -> str | None:
    """Checks a function call ({name, arguments}) or definition ({name, description?, parameters?})."""
    if type(fn) is not dict:
        return "must be an object"
    if not _is_str(fn.get("name")):
        return "needs 'name' (string)"
    if need_arguments:
        if not _is_str(fn.get("arguments")):
            return "needs 'arguments' (a JSON string)"
        return None
    if "description" in fn and not _is_str(fn["description"]):
        return "'description' must be a string"
    if "parameters" in fn and type(fn["parameters"]) is not dict:
        return "'parameters' must be an object (JSON Schema)"
    return None


def check_chat(obj: Any, *, vision_ok: bool = True) -> list[Issue]:
    """Every problem of one chat SFT example."""
    if type(obj) is not dict:
        return [(f.DATA_TYPE, f"each line must be a JSON object, got {_tname(obj)}")]
    c = _Checker(vision_ok)
    messages = c.messages(obj.get("messages"), "messages")
    if messages and not any(m.get("role") == "assistant" for m in messages):
        c.add(f.EXAMPLE_MISSING_ASSISTANT_MESSAGE, "no assistant message: there is nothing to learn from")
    c.definitions(obj, "")
    c.image_count()
    return c.issues


def check_dpo(obj: Any, *, vision_ok: bool = True) -> list[Issue]:
    """Every problem of one DPO (preference) example."""
    if type(obj) is not dict:
        return [(f.DATA_TYPE, f"each line must be a JSON object, got {_tname(obj)}")]
    c = _Checker(vision_ok)
    inp = obj.get("input")
    if type(inp) is not dict:
        c.add(f.MISSING_INPUT, "'input' must be an object with 'messages'")
    else:
        c.messages(inp.get("messages"), "input.messages")
        c.definitions(inp, "input")
    for key in ("preferred_output", "non_preferred_output"):
        out = obj.get(key)
        if type(out) is not list or not out:
            c.add(f.MISSING_OUTPUT, f"'{key}' must be a non-empty array of assistant messages")
            continue
        for i, m in enumerate(out):
            if not c.message(m, key, i):
                continue
            if m.get("role") in ROLES and m.get("role") not in DPO_OUTPUT_ROLES:
                c.add(f.INVALID_OUTPUT_ROLE, f"{key}[{i}]: role {m['role']!r} (only assistant or tool)")
        if not any(type(m) is dict and m.get("role") == "assistant" for m in out):
            c.add(f.OUTPUT_MISSING_ASSISTANT_MESSAGE, f"'{key}' has no assistant message")
    c.image_count()
    return c.issues


def check_completion(obj: Any) -> list[Issue]:
    """Every problem of one prompt/completion example (babbage-002, davinci-002)."""
    if type(obj) is not dict:
        return [(f.DATA_TYPE, f"each line must be a JSON object, got {_tname(obj)}")]
    issues: list[Issue] = []
    if not _is_str(obj.get("prompt")):
        issues.append((f.MISSING_PROMPT, "'prompt' must be a string"))
    if not _is_str(obj.get("completion")) or not obj["completion"]:
        issues.append((f.MISSING_COMPLETION, "'completion' must be a non-empty string"))
    extra = [k for k in obj if k not in ("prompt", "completion")]
    issues.extend((f.UNRECOGNIZED_KEY, f"unrecognized key {k!r}") for k in extra)
    return issues
