"""Error and warning codes and the one finding type both carry.

Chat codes follow the OpenAI cookbook's names (the first seven); the rest name the checks the cookbook does
not make. Every code is listed here so reports, cards and tests share one vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

# Per-example errors: chat format (cookbook names).
DATA_TYPE = "data_type"
MISSING_MESSAGES_LIST = "missing_messages_list"
MESSAGE_MISSING_KEY = "message_missing_key"
MESSAGE_UNRECOGNIZED_KEY = "message_unrecognized_key"
UNRECOGNIZED_ROLE = "unrecognized_role"
MISSING_CONTENT = "missing_content"
EXAMPLE_MISSING_ASSISTANT_MESSAGE = "example_missing_assistant_message"
# Per-example errors: checks beyond the cookbook.
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NESTED_TOO_DEEPLY = "nested_too_deeply"  # JSON deeper than the decoder's recursion limit (a hostile line)
LINE_TOO_LONG = "line_too_long"
INVALID_WEIGHT = "invalid_weight"
INVALID_NAME = "invalid_name"
INVALID_TOOL_CALLS = "invalid_tool_calls"
INVALID_FUNCTION_CALL = "invalid_function_call"
INVALID_TOOLS = "invalid_tools"
INVALID_CONTENT_PART = "invalid_content_part"
INVALID_IMAGE = "invalid_image"
IMAGE_IN_ASSISTANT_MESSAGE = "image_in_assistant_message"
TOO_MANY_IMAGES = "too_many_images"
VISION_NOT_SUPPORTED = "vision_not_supported"
# DPO.
MISSING_INPUT = "missing_input"
MISSING_OUTPUT = "missing_output"
INVALID_OUTPUT_ROLE = "invalid_output_role"
OUTPUT_MISSING_ASSISTANT_MESSAGE = "output_missing_assistant_message"
# An example of the other method's shape (DPO lines checked as chat, or chat lines checked as DPO).
WRONG_FORMAT = "wrong_format"
# Prompt/completion format (babbage-002, davinci-002).
MISSING_PROMPT = "missing_prompt"
MISSING_COMPLETION = "missing_completion"
UNRECOGNIZED_KEY = "unrecognized_key"
# File-level errors (line is None).
TOO_FEW_EXAMPLES = "too_few_examples"
FILE_TOO_LARGE = "file_too_large"
UNSUPPORTED_ENCODING = "unsupported_encoding"
DPO_NOT_SUPPORTED = "dpo_not_supported"
READ_FAILED = "read_failed"
METHOD_MISMATCH = "method_mismatch"  # most examples have the other method's shape
STOPPED_EARLY = "stopped_early"  # too many invalid lines: the rest of the file was not checked

# Warnings.
MISSING_SYSTEM_MESSAGE = "missing_system_message"
MISSING_USER_MESSAGE = "missing_user_message"
OVER_TOKEN_LIMIT = "over_token_limit"
MANY_IMAGES = "many_images"
BLANK_LINES = "blank_lines"
UNKNOWN_MODEL = "unknown_model"


@dataclass(frozen=True, slots=True)
class Finding:
    """One error or warning. `line` is 1-based; None for findings about the whole file."""

    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.code}: {self.message}"
