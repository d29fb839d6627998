"""Fixtures for the manifest tests: settings for a deployed bot, a verb list, and the official Teams schema."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings

BOT_ID = "8f0e2a4c-1b3d-4e5f-9a7b-6c5d4e3f2a1b"
PUBLIC_URL = "https://ftbot.example.com"
VERBS = [
    ("help", "List the commands, or show how to use one"),
    ("list", "Recent fine-tuning jobs, filtered by status"),
    ("status", "Show a job: state, model, progress"),
    ("events", "Show a job's events, newest first"),
    ("checkpoints", "Show a job's checkpoints and their metrics"),
]
JS_DIR = Path(__file__).resolve().parents[1] / "js"
SCHEMA_PACKAGE = JS_DIR / "node_modules" / "@microsoft" / "app-manifest"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot's own variables from the developer's shell must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith(("FTBOT_", "SLACK_", "Microsoft")):
            monkeypatch.delenv(name)


def make_settings(**values: Any) -> Settings:
    """Settings with the platform names (aliases) as keys; explicit values win over the environment."""
    base: dict[str, Any] = {"MicrosoftAppId": BOT_ID, "public_url": PUBLIC_URL}
    return Settings(**{**base, **values})


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def verbs() -> list[tuple[str, str]]:
    return list(VERBS)


def unzip(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def teams_schema(manifest_version: str) -> dict[str, Any]:
    """The official Teams manifest schema for this version, from the npm package in tests/js.

    Missing package or version is a failure, not a skip: `make install` puts it there.
    """
    path = (
        SCHEMA_PACKAGE
        / "build"
        / "json-schemas"
        / "teams"
        / f"v{manifest_version}"
        / "MicrosoftTeams.schema.json"
    )
    if not path.is_file():
        pytest.fail(
            f"official Teams manifest schema missing: {path} (run `make install`, which installs tests/js)"
        )
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema
