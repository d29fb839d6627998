"""ARCHITECTURE.md's dependency direction, checked on every module's imports (top level and inside functions):
bot/ imports the cards model only and no adapters or handlers outside its one wiring module; handlers import
no adapters; cards import nothing of ours outside cards/; the emulator imports nothing of ours; botbuilder stays
inside adapters/teams*."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("bot", "adapters", "handlers", "cards", "emulator")
WIRING = {"bot/app.py"}  # the one module that puts adapters and handlers together


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _ours(name: str) -> str | None:
    top = name.split(".", 1)[0]
    return top if top in OURS else None


@pytest.mark.parametrize("folder", OURS)
def test_imports_follow_the_dependency_direction(folder: str) -> None:
    wrong: list[str] = []
    for path in _modules(folder):
        rel = path.relative_to(ROOT).as_posix()
        for name in _imports(path):
            top = _ours(name)
            if rel in WIRING:
                bad = False  # it starts the embedded emulator and mounts the adapters and handlers
            elif folder == "bot":
                bad = top in ("adapters", "handlers", "emulator") or (
                    top == "cards" and name != "cards.model"
                )
            elif folder == "handlers":
                bad = top in ("adapters", "emulator")
            elif folder == "cards":
                bad = top is not None and top != "cards"
            elif folder == "emulator":
                bad = top is not None and top != "emulator"
            else:  # adapters: bot and cards (and, for the local chat page's turns, the handlers' router)
                bad = top == "emulator"
            if bad:
                wrong.append(f"{rel} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_botbuilder_stays_inside_the_teams_adapter() -> None:
    wrong = [
        f"{path.relative_to(ROOT).as_posix()} imports {name}"
        for folder in OURS
        for path in _modules(folder)
        if not path.relative_to(ROOT).as_posix().startswith("adapters/teams")
        for name in _imports(path)
        if name.split(".", 1)[0] in ("botbuilder", "botframework")
    ]
    assert not wrong, "\n".join(wrong)
