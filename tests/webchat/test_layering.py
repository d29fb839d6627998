"""The Bot Framework SDK stays inside adapters/teams*: the local chat channel reuses the Teams adapter's turn
without importing botbuilder itself (so a move to the SDK's successor stays local)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "adapters", "handlers", "cards", "emulator")
SDK = ("botbuilder", "botframework", "msrest")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_botbuilder_is_imported_only_by_the_teams_modules() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if not (package == "adapters" and path.name.startswith("teams"))
        and any(name.split(".")[0] in SDK for name in _imports(path))
    ]
    assert offenders == []
