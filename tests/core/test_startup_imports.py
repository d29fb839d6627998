"""Start-up imports only what start-up needs (issue 17): checked in a fresh interpreter, by `sys.modules`.

What stays out: migrations (Alembic, Mako, Pygments) unless an existing database is behind; each chat platform's SDK
unless that platform is served (and the Bot Framework SDK of the local chat page and local Teams until after
`/healthz` answers); the tokenizer, charts and numeric libraries until a command needs them; the data validator
(and msgspec, its JSON parser) until data is checked; the chart's analysis, the quota card and the price table
until a command needs them; tomllib without a config file; azure-core until an Entra credential is used; the
PostgreSQL dialect on SQLite; SQLAlchemy's ORM and its asyncio extension (the store drives Core itself,
`bot/store/aio.py`); the browser launcher outside the demo; the handler modules (and with them the Azure client,
httpx and most card builders) until the first command or the warm-up after `/healthz` answers; the store's row
types until a row is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from adapters import deferred, directline

ROOT = Path(__file__).resolve().parents[2]

NEVER_AT_START = (
    "alembic",
    "mako",
    "pygments",
    "botbuilder",
    "botframework",
    "msrest",
    "msal",
    "jwt",
    "slack_bolt",
    "slack_sdk",
    "adapters.teams",
    "adapters.slack",
    "azure.core",
    "azure.identity",
    "webbrowser",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio",
    "tiktoken",
    "bpe_openai",
    "numpy",
    "matplotlib",
    "PIL",
    "openai",
    "jinja2",
    "bot.dataprep.validator",
    "msgspec",
    "tomllib",
    "bot.results_analysis",
    "cards.loss_chart",
    "cards.quota",
    "bot.dataprep.prices",
    "handlers.help",
    "handlers.jobs",
    "handlers.start",
    "handlers.data",
    "handlers.watcher",
    "handlers.reconcile",
    "bot.azure",
    "bot.azure.models",
    "httpx",
    "cards.alerts",
    "bot.store.rows",
)


def loaded_after(code: str, tmp_path: Path) -> set[str]:
    """The heavy modules present in `sys.modules` after `code` runs in a fresh interpreter."""
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps(sorted(m for m in {list(NEVER_AT_START)!r} if m in sys.modules)))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTBOT_", "SLACK_", "MicrosoftApp"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_app_and_its_router_loads_none_of_the_heavy_modules(tmp_path: Path) -> None:
    assert loaded_after("import bot.app\nbot.app.build_router()", tmp_path) == set()


def test_the_embedded_default_is_healthy_before_the_bot_framework_sdk_loads(tmp_path: Path) -> None:
    """`start_bot` on the embedded default (emulator, chat page, local Teams, a new SQLite file) returns
    (and `/healthz` answers) with none of them; the chat page's adapter is built right after."""
    code = """
        import asyncio, json, sys, urllib.request
        from bot.app import start_bot
        from bot.config import Settings

        async def main():
            bot = await start_bot(Settings(port=0, database_url="sqlite+aiosqlite:///./ftbot.db"))
            at_start = sorted(
                m for m in sys.modules
                if m.split(".")[0] in ("botbuilder", "alembic", "slack_bolt", "httpx")
                or m.startswith(("sqlalchemy.orm", "sqlalchemy.ext.asyncio", "bot.azure.", "cards.alerts", "bot.store.rows"))
                or (m.startswith("handlers.") and m != "handlers.spool")
            )
            status = await asyncio.to_thread(lambda: urllib.request.urlopen(bot.url + "/healthz").status)
            await bot.warming
            built = bot.adapters["web"].turns.deferred.built is not None
            # The warm-up loaded the handlers and scheduled their work.
            wired = "idle" in bot.ctx.extras and "watcher" in bot.ctx.extras and bot.ctx.extras["router"].verbs()
            await bot.close()
            print(json.dumps([at_start, status, built, bool(wired)]), file=sys.stderr)

        asyncio.run(main())
        """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTBOT_", "SLACK_", "MicrosoftApp"))}
    env["PYTHONPATH"] = str(ROOT)
    for run in ("new database", "database at the head"):
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        at_start, status, built, wired = json.loads(done.stderr.strip().splitlines()[-1])
        # A new database is created from the metadata and stamped; one at the head is told by one query.
        assert at_start == [], f"{run}: imported before /healthz could answer"
        assert status == 200
        assert built, "the chat page's adapter is built right after start-up"
        assert wired, "the warm-up loads the handlers and schedules their periodic work"


def test_the_constants_copied_to_keep_the_sdk_out_agree_with_the_teams_adapter() -> None:
    from adapters import teams

    assert deferred.TEAMS_ROUTE == teams.ROUTE
    assert directline.INVOKE_EXECUTE == teams.INVOKE_EXECUTE
