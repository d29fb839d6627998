"""`ftbot validate FILE [--model M] [--method sft|dpo] [--epochs N] [--no-tokens] [--max-invalid N] [--workers N]
[--json]`.

Exit status: 0 valid data, 1 invalid data (line-numbered report), 2 usage error or unreadable file.
`main` takes the arguments after `validate`; `python -m bot.dataprep FILE ...` runs it directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from bot.dataprep.parallel import usable_cores
from bot.dataprep.prices import PriceTable, PriceTableError
from bot.dataprep.validator import DEFAULT_MAX_ERRORS, validate_path, validate_stream

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ftbot validate",
        description="Check a fine-tuning JSONL file before upload (nothing is sent anywhere).",
    )
    p.add_argument("file", help="JSONL file, or - for standard input")
    p.add_argument("--model", help="base model, e.g. gpt-4o-mini-2024-07-18 (enables model limits and cost)")
    p.add_argument("--method", choices=("sft", "dpo"), default="sft", help="training method (default sft)")
    p.add_argument("--epochs", type=_positive, help="epochs for the estimate (default: chosen from the data)")
    p.add_argument("--no-tokens", action="store_true", help="skip token counting (faster, no estimates)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--max-errors", type=_positive, default=DEFAULT_MAX_ERRORS, help="errors to list (default 20)"
    )
    p.add_argument(
        "--max-invalid",
        type=_positive,
        help="stop checking after N invalid examples (default: check the whole file)",
    )
    p.add_argument(
        "--workers",
        type=_positive,
        help="processes checking a large file (default: one per usable core)",
    )
    p.add_argument("--prices", type=Path, help="price table TOML (default: the shipped, illustrative one)")
    return p


def main(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage (or --help)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        prices = PriceTable.load(args.prices) if args.prices else None
    except PriceTableError as exc:
        print(f"ftbot validate: {exc}", file=err)
        return EXIT_USAGE
    options = {
        "model": args.model,
        "method": args.method,
        "count_tokens": not args.no_tokens,
        "max_errors": args.max_errors,
        "epochs": args.epochs,
        "prices": prices,
        "max_invalid": args.max_invalid,
    }
    try:
        if args.file == "-":
            report = validate_stream(sys.stdin.buffer, **options)
        else:
            workers = args.workers if args.workers is not None else usable_cores()
            report = validate_path(args.file, workers=workers, **options)
    except OSError as exc:
        print(f"ftbot validate: cannot read {args.file}: {exc.strerror or exc}", file=err)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), file=out)
    else:
        print(report.to_text(args.file), file=out)
    return EXIT_VALID if report.ok else EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
