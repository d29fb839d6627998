"""DPO format and model support; vision image parts, formats, sizes, counts and model support."""

from __future__ import annotations

import base64

import pytest

from bot.dataprep import dpo_models, model_info
from bot.dataprep import findings as f

from .helpers import codes_at, dpo, image_data_uri, image_part, line, run, vision_chat, with_bad_line

DPO_MODEL = "gpt-4o-2024-08-06"


def dpo_lines(bad: str, at: int = 3) -> list[str]:
    return with_bad_line(bad, at=at, example=dpo())


def test_good_dpo_file() -> None:
    report = run(dpo_lines(line(dpo("other"))), method="dpo", model=DPO_MODEL)
    assert report.ok, report.to_text()
    assert report.data_format == "dpo" and report.valid == 13


def test_dpo_with_tools_and_tool_outputs() -> None:
    example = dpo()
    example["input"]["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    example["input"]["parallel_tool_calls"] = True
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    example["preferred_output"] = [
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c", "content": "1"},
        {"role": "assistant", "content": "done"},
    ]
    assert run(dpo_lines(line(example)), method="dpo").ok


def _dpo(**changes: object) -> str:
    example = dpo()
    for key, value in changes.items():
        if value is None:
            example.pop(key)
        else:
            example[key] = value
    return line(example)


DPO_BAD = {
    "no_input": (_dpo(input=None), f.MISSING_INPUT),
    "input_not_object": (_dpo(input=[]), f.MISSING_INPUT),
    "input_no_messages": (_dpo(input={"tools": []}), f.MISSING_MESSAGES_LIST),
    "no_preferred": (_dpo(preferred_output=None), f.MISSING_OUTPUT),
    "empty_non_preferred": (_dpo(non_preferred_output=[]), f.MISSING_OUTPUT),
    "user_in_output": (
        _dpo(preferred_output=[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]),
        f.INVALID_OUTPUT_ROLE,
    ),
    "output_only_tool": (
        _dpo(non_preferred_output=[{"role": "tool", "content": "x"}]),
        f.OUTPUT_MISSING_ASSISTANT_MESSAGE,
    ),
    "bad_weight_in_output": (
        _dpo(preferred_output=[{"role": "assistant", "content": "y", "weight": 3}]),
        f.INVALID_WEIGHT,
    ),
    "bad_input_tools": (
        _dpo(input={"messages": [{"role": "user", "content": "x"}], "parallel_tool_calls": 1}),
        f.INVALID_TOOLS,
    ),
}


@pytest.mark.parametrize("bad,code", list(DPO_BAD.values()), ids=list(DPO_BAD))
def test_dpo_rules(bad: str, code: str) -> None:
    report = run(dpo_lines(bad, at=5), method="dpo")
    assert (5, code) in codes_at(report)
    assert report.invalid == 1


def test_dpo_refused_for_models_without_it() -> None:
    report = run(dpo_lines(line(dpo())), method="dpo", model="gpt-4o-mini-2024-07-18")
    assert report.errors[0].line is None and report.errors[0].code == f.DPO_NOT_SUPPORTED
    for name in ("gpt-4o", "gpt-4.1", "gpt-4.1-mini"):
        assert name in report.errors[0].message
    # fine-tune-supported-models.md (2026-03-05): gpt-4.1-nano takes DPO too.
    assert set(dpo_models()) == {"gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"}


@pytest.mark.parametrize(
    "model,dpo_ok,vision_ok",
    [
        ("gpt-4o-2024-08-06", True, True),
        ("gpt-4.1-2025-04-14", True, True),
        ("gpt-4.1-mini-2025-04-14", True, False),
        ("gpt-4o-mini-2024-07-18", False, False),
        ("gpt-35-turbo-0613.ft-5fd1918ee65d4cd38a5dcf6835066ed7", False, False),
        ("ft:gpt-4o-2024-08-06:org::abc", True, True),
    ],
)
def test_model_facts(model: str, dpo_ok: bool, vision_ok: bool) -> None:
    info = model_info(model)
    assert info is not None
    assert (info.supports_dpo, info.supports_vision) == (dpo_ok, vision_ok)


def test_model_name_matching_respects_boundaries() -> None:
    assert model_info("gpt-4-0613").key == "gpt-4"  # type: ignore[union-attr]
    assert model_info("gpt-4o-2024-08-06").key == "gpt-4o"  # type: ignore[union-attr]
    assert model_info("gpt-35-turbo-0613").token_limit == 4_096  # type: ignore[union-attr]
    assert model_info("gpt-35-turbo-1106").token_limit == 16_385  # type: ignore[union-attr]
    assert model_info("gpt-5-turbo") is None and model_info(None) is None


def test_unknown_model_is_a_warning() -> None:
    report = run(with_bad_line(line(dpo()), at=1, example=dpo()), method="dpo", model="my-model")
    assert report.ok and report.warning_counts[f.UNKNOWN_MODEL] == 1


# -- vision ---------------------------------------------------------------------------------------------
VISION_MODEL = "gpt-4o-2024-08-06"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_supported_image_formats(fmt: str) -> None:
    example = vision_chat(image_part(image_data_uri(fmt), "high"))
    report = run(with_bad_line(line(example), at=2), model=VISION_MODEL)
    assert report.ok, report.to_text()


def test_http_image_and_missing_detail() -> None:
    example = vision_chat(image_part("https://example.com/cat.png", None))
    assert run(with_bad_line(line(example), at=2), model=VISION_MODEL).ok


def _vision_bad(*parts: dict[str, object]) -> str:
    return line(vision_chat(*parts))


GIF = "data:image/gif;base64," + base64.b64encode(b"GIF89a" + b"\0" * 20).decode()
BIG = "data:image/png;base64," + "A" * (14 * 1024 * 1024)
VISION_BAD = {
    "gif": (_vision_bad(image_part(GIF)), f.INVALID_IMAGE),
    "png_says_jpeg": (_vision_bad(image_part(image_data_uri("PNG", mime="image/jpeg"))), f.INVALID_IMAGE),
    "not_base64": (_vision_bad(image_part("data:image/png;base64,@@@@")), f.INVALID_IMAGE),
    "not_image_bytes": (
        _vision_bad(image_part("data:image/png;base64," + base64.b64encode(b"hello world!").decode())),
        f.INVALID_IMAGE,
    ),
    "over_10mb": (_vision_bad(image_part(BIG)), f.INVALID_IMAGE),
    "ftp_url": (_vision_bad(image_part("ftp://example.com/a.png")), f.INVALID_IMAGE),
    "bad_detail": (_vision_bad(image_part("https://example.com/a.png", "medium")), f.INVALID_IMAGE),
    "url_not_string": (_vision_bad({"type": "image_url", "image_url": {"url": 5}}), f.INVALID_IMAGE),
    "image_url_string": (
        _vision_bad({"type": "image_url", "image_url": "https://x.y/a.png"}),
        f.INVALID_IMAGE,
    ),
    "too_many": (_vision_bad(*[image_part("https://example.com/a.png")] * 65), f.TOO_MANY_IMAGES),
    "in_assistant": (
        line(
            {
                "messages": [
                    {"role": "user", "content": "draw"},
                    {"role": "assistant", "content": [image_part("https://example.com/a.png")]},
                ]
            }
        ),
        f.IMAGE_IN_ASSISTANT_MESSAGE,
    ),
}


@pytest.mark.parametrize("bad,code", list(VISION_BAD.values()), ids=list(VISION_BAD))
def test_vision_rules(bad: str, code: str) -> None:
    report = run(with_bad_line(bad, at=8), model=VISION_MODEL)
    assert (8, code) in codes_at(report)
    assert report.invalid == 1


def test_over_10_images_is_a_warning() -> None:
    example = vision_chat(*[image_part("https://example.com/a.png")] * 11)
    report = run(with_bad_line(line(example), at=3), model=VISION_MODEL)
    assert report.ok and [(w.line, w.code) for w in report.warnings] == [(3, f.MANY_IMAGES)]


def test_images_refused_for_models_without_vision() -> None:
    example = vision_chat(image_part(image_data_uri()))
    report = run(with_bad_line(line(example), at=2), model="gpt-4o-mini-2024-07-18")
    assert codes_at(report) == {(2, f.VISION_NOT_SUPPORTED)}
