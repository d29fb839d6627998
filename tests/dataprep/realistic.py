"""Realistic fine-tuning data, deterministic from a seed: for `bench/validate.py` and the token tests.

Chat lines hold 1-8 turns, a system prompt from a small repeated set (one is ~2 KB, as real ones are),
tool definitions on a third of the lines, tool calls answered by tool results (JSON), `weight` keys,
text mixing English, accented words, CJK, emoji, numbers and code. About 1% of the lines are invalid, of
several kinds (broken JSON, invalid UTF-8, a wrong role, a missing reply, empty content, a bad weight, a
DPO line in a chat file, a bad tool call). DPO lines hold an input conversation and two replies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _words(text: str) -> list[str]:
    return text.split()


_ENGLISH = _words(
    "the of and to a in is it you that he was for on are with as I his they be at one have this from or had "
    "by not word but what some we can out other were all there when up use your how said an each she which "
    "do their time if will way about many then them write would like so these her long make thing see him "
    "two has look more day could go come did number sound no most people my over know water than call first "
    "who may down side been now find any new work part take get place made live where after back little only "
    "round man year came show every good me give our under name very through just form sentence great think "
    "say help low line differ turn cause much mean before move right boy old too same tell does set three "
    "want air well also play small end put home read hand port large spell add even land here must big high "
    "such follow act why ask men change went light kind off need house picture try us again animal point "
    "order invoice refund shipping customer account password delivery warranty subscription billing "
    "model training dataset epoch learning rate checkpoint deployment endpoint latency throughput quota "
    "weather forecast temperature humidity tomorrow weekend flight hotel booking reservation itinerary "
    "Paris London Tokyo Berlin Madrid Toronto Sydney Microsoft Azure OpenAI Python JSON API"
)
_ACCENTED = _words(
    "résumé naïve café crème brûlée façade déjà vu Straße Übung Größe niño señor año São Paulo Kraków Zürich"
)
# Real text has a long tail of rare words (names, jargon, typos) that split into several tokens: made-up
# words from syllables stand in for it, 5% of the words, which makes the generated text as slow to tokenize
# as real English prose (measured against the GPL texts in /usr/share/common-licenses: 12% was 0.7x, none
# 1.5x as fast).
_SYLLABLES = _words(
    "ka lo mi ne ta ri so vu ex an ber dor fel gri hum jas kel mor nis pra qua ster tin vol wex yor zan"
)
_RARE = [
    "".join(random.Random(i).choices(_SYLLABLES, k=random.Random(-i).randint(2, 4))) for i in range(20_000)
]
_CJK = [
    "東京の天気は晴れです。",
    "ご注文ありがとうございます。",
    "请问您的订单号是多少？",
    "我们会尽快为您处理退款。",
    "서울에서 만나요.",
    "배송은 보통 삼 일 걸립니다.",
    "データセットを確認してください。",
]
_EMOJI = ["😀", "👍", "🎉", "🚀", "✅", "❌", "🙏", "👍🏽", "🇫🇷", "👨‍👩‍👧", "☕", "📦"]
_CODE = [
    "```python\ndef total(items):\n    return sum(i.price * i.qty for i in items)\n```",
    "```sql\nSELECT id, status FROM orders WHERE created_at > '2024-01-01';\n```",
    '```json\n{"retry": 3, "timeout_ms": 2500}\n```',
    "`az cognitiveservices account list -g rg-prod`",
]

_SYSTEMS = [
    "You are a helpful assistant.",
    "You are Clippy, a factual chatbot that is also sarcastic.",
    "You are a customer-support assistant for Contoso Outdoor. Answer briefly and politely, and never promise "
    "refunds that the policy does not allow. If you need an order number, ask for it.",
    "Tu es un assistant qui répond en français, de façon concise et précise.",
    (
        "You are the support assistant of an online shop. Policies:\n"
        + "\n".join(
            f"{i}. "
            + " ".join(
                random.Random(i).choices(_ENGLISH, k=30)  # a fixed, long prompt (~2 KB)
            )
            for i in range(1, 12)
        )
        + "\nAlways answer in the customer's language. 必要なら日本語で答えてください。"
    ),
]
_SYSTEM_WEIGHTS = [10, 5, 30, 5, 50]

_TOOLSETS: list[list[dict[str, Any]]] = [
    [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather and a 3-day forecast for a city",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "description": "City name, e.g. Paris"},
                        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    },
                    "required": ["city"],
                },
            },
        }
    ],
    [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Find an order by its number and return its status and items",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"],
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "issue_refund",
                "description": "Refund an order, fully or in part",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "order_id": {"type": "string"},
                        "amount": {"type": "number"},
                        "reason": {"type": "string"},
                    },
                    "required": ["order_id", "amount"],
                },
            },
        },
    ],
    [
        {
            "type": "function",
            "function": {
                "name": "search_docs",
                "description": "Search the product documentation",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "top": {"type": "integer"}},
                    "required": ["query"],
                },
            },
        }
    ],
]


def text(rng: random.Random, lo: int, hi: int) -> str:
    """Sentences of `lo`-`hi` words: mostly English, with accents, CJK, emoji, numbers and some code."""
    words: list[str] = []
    for _ in range(rng.randint(lo, hi)):
        r = rng.random()
        if r < 0.81:
            words.append(rng.choice(_ENGLISH))
        elif r < 0.86:
            words.append(rng.choice(_RARE))
        elif r < 0.90:
            words.append(rng.choice(_ACCENTED))
        elif r < 0.93:
            words.append(
                str(rng.choice((rng.randint(0, 99), rng.randint(100, 99_999), rng.random() * 100)))[:7]
            )
        elif r < 0.95:
            words.append(rng.choice(_CJK))
        elif r < 0.97:
            words.append(rng.choice(_EMOJI))
        else:
            words.append(rng.choice((",", ".", "?", "!", ";", " -", ":")))
    out = " ".join(words).capitalize() + rng.choice((".", ".", "?", "!"))
    if rng.random() < 0.06:
        out += "\n\n" + rng.choice(_CODE)
    if rng.random() < 0.15:
        out += "\n\n" + text(rng, lo // 2, hi // 2)
    return out


def _call_id(rng: random.Random) -> str:
    return "call_" + "".join(
        rng.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=24)
    )


def _tool_round(rng: random.Random, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An assistant message with 1-2 tool calls, then one tool result per call."""
    calls = []
    results = []
    for _ in range(rng.choice((1, 1, 1, 2))):
        fn = rng.choice(tools)["function"]
        args: dict[str, Any] = {}
        for key, spec in fn["parameters"]["properties"].items():
            if spec.get("type") == "number":
                args[key] = round(rng.random() * 200, 2)
            elif spec.get("type") == "integer":
                args[key] = rng.randint(1, 10)
            elif "enum" in spec:
                args[key] = rng.choice(spec["enum"])
            else:
                args[key] = text(rng, 1, 6).rstrip(".?!")
        call_id = _call_id(rng)
        calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {"name": fn["name"], "arguments": json.dumps(args)},
            }
        )
        result = {
            "ok": True,
            "status": rng.choice(("shipped", "pending", "delivered", "refunded")),
            "items": [{"sku": f"SKU-{rng.randint(1000, 9999)}", "qty": rng.randint(1, 4)} for _ in range(2)],
            "note": text(rng, 3, 20),
        }
        results.append(
            {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result, ensure_ascii=False)}
        )
    return [{"role": "assistant", "content": None, "tool_calls": calls}, *results]


def conversation(rng: random.Random) -> dict[str, Any]:
    """One valid chat example."""
    messages: list[dict[str, Any]] = []
    if rng.random() < 0.95:
        messages.append({"role": "system", "content": rng.choices(_SYSTEMS, _SYSTEM_WEIGHTS)[0]})
    tools = rng.choice(_TOOLSETS) if rng.random() < 0.33 else None
    weighted = rng.random() < 0.2
    for _ in range(rng.randint(1, 8)):
        messages.append({"role": "user", "content": text(rng, 4, 60)})
        if tools and rng.random() < 0.5:
            messages.extend(_tool_round(rng, tools))
        answer: dict[str, Any] = {"role": "assistant", "content": text(rng, 8, 140)}
        if weighted:
            answer["weight"] = rng.choice((0, 1, 1))
        messages.append(answer)
    if weighted:
        messages[-1]["weight"] = 1
    example: dict[str, Any] = {"messages": messages}
    if tools:
        example["tools"] = tools
    return example


def _invalid(rng: random.Random, kind: int) -> bytes:
    """An invalid chat line of one of several kinds."""
    example = conversation(rng)
    messages = example["messages"]
    if kind == 0:  # cut short (a truncated write)
        raw = json.dumps(example, ensure_ascii=False).encode()
        return raw[: len(raw) // 2]
    if kind == 1:  # invalid UTF-8 (a Latin-1 export)
        return json.dumps(example, ensure_ascii=False).encode().replace(b"\xc3\xa9", b"\xe9") + "é".encode(
            "latin-1"
        )
    if kind == 2:
        messages[-1]["role"] = "bot"
    elif kind == 3:  # no reply
        example["messages"] = [m for m in messages if m["role"] != "assistant"] or [
            {"role": "user", "content": "hi"}
        ]
    elif kind == 4:
        messages[-1]["content"] = ""
    elif kind == 5:
        messages[-1]["weight"] = 2
    elif kind == 6:  # a DPO line in a chat file
        example = dpo_example(rng)
    elif kind == 7:
        example["messages"].append({"role": "assistant", "tool_calls": [{"id": 7, "type": "function"}]})
    return json.dumps(example, ensure_ascii=False).encode()


INVALID_KINDS = 8


def dpo_example(rng: random.Random) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": rng.choices(_SYSTEMS, _SYSTEM_WEIGHTS)[0]}
    ]
    for _ in range(rng.randint(0, 2)):
        messages.append({"role": "user", "content": text(rng, 4, 40)})
        messages.append({"role": "assistant", "content": text(rng, 8, 80)})
    messages.append({"role": "user", "content": text(rng, 4, 60)})
    return {
        "input": {"messages": messages},
        "preferred_output": [{"role": "assistant", "content": text(rng, 10, 120)}],
        "non_preferred_output": [{"role": "assistant", "content": text(rng, 3, 60)}],
    }


def _write(path: Path, megabytes: float, seed: int, make: Callable[[random.Random, int], bytes]) -> int:
    """Writes lines from `make(rng, index)` until the file reaches `megabytes`; returns the line count."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    written = count = 0
    with path.open("wb") as out:
        while written < target:
            line = make(rng, count) + b"\n"
            out.write(line)
            written += len(line)
            count += 1
    return count


def write_chat(path: Path, megabytes: float, seed: int = 42, invalid_every: int = 100) -> int:
    """A chat JSONL file; every `invalid_every`-th line (about) is invalid, kinds in turn."""

    def make(rng: random.Random, i: int) -> bytes:
        if invalid_every and i % invalid_every == invalid_every // 2:
            return _invalid(rng, (i // invalid_every) % INVALID_KINDS)
        return json.dumps(conversation(rng), ensure_ascii=False).encode()

    return _write(path, megabytes, seed, make)


def write_dpo(path: Path, megabytes: float, seed: int = 43) -> int:
    return _write(
        path, megabytes, seed, lambda rng, _i: json.dumps(dpo_example(rng), ensure_ascii=False).encode()
    )
