"""`ftbot` command line: serve, emulator, db upgrade, validate, manifest.

Bad settings stop start-up with one readable line per problem on stderr and exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.errors import ConfigError, StartupError
from bot.logs import RedactingFilter, setup_logging

if TYPE_CHECKING:
    from bot.config import Settings

# The settings (pydantic, SQLAlchemy's URL parsing) are imported by `main` once it knows the command, so that
# `serve` can turn the cyclic garbage collector off first (see `main`).

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftbot", description="Azure OpenAI fine-tuning from Slack and Microsoft Teams."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve", help="run the bot (embedded emulator + SQLite when nothing is configured)"
    )
    serve.add_argument("--host", help="override FTBOT_HOST")
    serve.add_argument("--port", type=int, help="override FTBOT_PORT")
    sub.add_parser("demo", help="run the bot on its embedded default (same as `serve` with no configuration)")
    # These three hand their arguments to their own parsers (see DELEGATED); listed here for --help.
    sub.add_parser("emulator", help="run the Azure OpenAI / ARM / Monitor emulator alone")
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="apply migrations up to the newest schema")
    sub.add_parser("validate", help="check a training/validation JSONL file before upload")
    sub.add_parser("manifest", help="write the Teams app package or the Slack app manifest")
    return parser


def _settings(**overrides: object) -> Settings:
    from bot.config import load_settings

    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


SECRET_ENV = (
    "SLACK_BOT_TOKEN",
    "FTBOT_SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "FTBOT_SLACK_SIGNING_SECRET",
    "MicrosoftAppPassword",
    "FTBOT_MICROSOFT_APP_PASSWORD",
    "FTBOT_AZURE_OPENAI_API_KEY",
    "AZURE_CLIENT_SECRET",
)


def _env_secrets() -> list[str]:
    """The secrets in the environment, for messages printed before settings could be read."""
    from bot.config import database_password_forms

    found = [os.environ[name] for name in SECRET_ENV if os.environ.get(name)]
    return found + database_password_forms(os.environ.get("FTBOT_DATABASE_URL", ""))


def _say(message: str, settings: Settings | None = None) -> None:
    """Print a start-up message on stderr through the same redaction filter as every log line."""
    secrets = _env_secrets() + (settings.secret_values() if settings is not None else [])
    print(RedactingFilter(secrets).redact(message), file=sys.stderr)


def _config_failure(exc: ConfigError) -> int:
    for problem in exc.problems:
        _say(f"ftbot: configuration error: {problem}")
    return EXIT_USAGE


DELEGATED = frozenset({"emulator", "validate", "manifest"})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        # Their own parsers see every argument, so `ftbot validate --model M FILE` and `--help` work.
        try:
            return _delegate(argv[0], argv[1:])
        except BrokenPipeError:  # `ftbot validate big.jsonl | head`: the reader left, not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    args = _parser().parse_args(argv)
    command = args.command
    if command is None:
        _parser().print_help()
        return EXIT_USAGE
    settings: Settings | None = None
    serving = command in ("serve", "demo")
    if serving:
        # Start-up builds a large heap of long-lived objects (SQLAlchemy, pydantic, the handlers and cards), and
        # the cyclic collector walked it again and again while it grew: ~0.1 s of every start (issue 17). It
        # stays off until start-up is done: `bot.warmup.WarmUp` then collects once, freezes what survived
        # and turns it back on (the `finally` below covers a start that fails).
        gc.disable()
    try:
        if serving:
            settings = _settings(host=getattr(args, "host", None), port=getattr(args, "port", None))
            setup_logging(settings.log_format, settings.log_level, settings.secret_values())
            from bot.app import serve

            return asyncio.run(serve(settings, demo=command == "demo"))
        if command == "db":
            settings = _settings()
            setup_logging(settings.log_format, settings.log_level, settings.secret_values())
            return asyncio.run(_db_upgrade(settings))
    except ConfigError as exc:
        return _config_failure(exc)
    except OSError as exc:  # e.g. the port is taken
        _say(f"ftbot: {exc.strerror or exc}", settings)
        return 1
    except StartupError as exc:
        _say(f"ftbot: cannot start: {exc}", settings)
        return 1
    except Exception as exc:  # one line; the trace only at DEBUG (through the redacting log handler)
        logging.getLogger("ftbot").debug("start-up failed", exc_info=True)
        _say(f"ftbot: cannot start: {type(exc).__name__}: {exc}", settings)
        return 1
    finally:
        if serving:
            gc.enable()
    return EXIT_USAGE


def _delegate(command: str, rest: list[str]) -> int:
    if command == "emulator":
        from bot.app import run_emulator

        return run_emulator(rest)
    if command == "validate":
        from bot.dataprep.cli import main as validate_main

        return validate_main(rest)
    try:
        settings = _settings()
    except ConfigError as exc:
        return _config_failure(exc)
    from bot.app import build_router
    from bot.manifests import cli as manifest_cli

    verbs = [(spec.verb, spec.summary) for spec in build_router().verbs()]
    return manifest_cli(rest, settings, verbs)


async def _db_upgrade(settings: Settings) -> int:

    from bot.app import open_store

    store = await open_store(settings)
    await store.close()
    logging.getLogger("ftbot").info("database schema is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
