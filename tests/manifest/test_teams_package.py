"""The Teams app package: valid against Microsoft's schema, filled from settings, icons as Teams wants them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image

from bot.config import ConfigError, Settings
from bot.manifests import (
    COMMANDS_MAX,
    DESCRIPTION_MAX,
    TEAMS_DIR,
    TITLE_MAX,
    build_teams_package,
    omitted_verbs,
    teams_manifest,
)
from tests.manifest.conftest import BOT_ID, make_settings, teams_schema, unzip

VALIDATOR_JS = Path(__file__).with_name("validate_teams_manifest.js")

# The schema is draft-04 but uses `const` (draft-06) for manifestVersion; check it too.
Draft4WithConst = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"const": jsonschema.Draft6Validator.VALIDATORS["const"]}
)


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    schema = teams_schema(manifest["manifestVersion"])
    validator = Draft4WithConst(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def manifest_of(package: bytes) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(unzip(package)["manifest.json"])
    return manifest


def test_package_holds_manifest_and_both_icons(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    files = unzip(build_teams_package(settings, verbs))
    assert sorted(files) == ["color.png", "manifest.json", "outline.png"]
    manifest = json.loads(files["manifest.json"])
    assert files[manifest["icons"]["color"]] == (TEAMS_DIR / "color.png").read_bytes()
    assert files[manifest["icons"]["outline"]] == (TEAMS_DIR / "outline.png").read_bytes()


def test_manifest_passes_official_schema_with_jsonschema(
    settings: Settings, verbs: list[tuple[str, str]]
) -> None:
    manifest = manifest_of(build_teams_package(settings, verbs))
    assert schema_errors(manifest) == []


def test_jsonschema_check_catches_a_broken_manifest(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    manifest = manifest_of(build_teams_package(settings, verbs))
    manifest["bots"][0]["botId"] = "not-a-guid"
    manifest["accentColor"] = "blue"
    errors = schema_errors(manifest)
    assert any(e.startswith("bots/0/botId") for e in errors)
    assert any(e.startswith("accentColor") for e in errors)


def test_manifest_version_is_pinned_by_the_schema(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    manifest = manifest_of(build_teams_package(settings, verbs))
    version = manifest["manifestVersion"]
    assert manifest["$schema"].endswith(f"/v{version}/MicrosoftTeams.schema.json")
    wrong = {**manifest, "manifestVersion": "1.0"}
    assert any(e.startswith("manifestVersion") for e in schema_errors_against(wrong, version))


def schema_errors_against(manifest: dict[str, Any], version: str) -> list[str]:
    validator = Draft4WithConst(teams_schema(version))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def test_manifest_passes_the_official_validator_in_node(
    settings: Settings, verbs: list[tuple[str, str]], tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node, "node is needed for the official @microsoft/app-manifest validator"
    path = tmp_path / "manifest.json"
    path.write_bytes(unzip(build_teams_package(settings, verbs))["manifest.json"])
    done = subprocess.run([node, str(VALIDATOR_JS), str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["errors"] == []


def test_node_validator_reports_errors(
    settings: Settings, verbs: list[tuple[str, str]], tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node
    manifest = manifest_of(build_teams_package(settings, verbs))
    manifest["bots"][0]["scopes"] = ["everywhere"]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    done = subprocess.run([node, str(VALIDATOR_JS), str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert any("/bots/0/scopes/0" in e for e in json.loads(done.stdout)["errors"])


def test_filled_from_settings(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    manifest = teams_manifest(settings, verbs)
    bot = manifest["bots"][0]
    assert bot["botId"] == BOT_ID
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert manifest["validDomains"] == ["ftbot.example.com"]
    assert manifest["developer"]["websiteUrl"] == "https://ftbot.example.com"
    assert manifest["developer"]["privacyUrl"].startswith("https://ftbot.example.com/")
    assert manifest["name"]["short"] and manifest["description"]["full"]
    assert "{public_url}" not in json.dumps(manifest)


def test_app_id_is_a_stable_guid_of_the_bot_id(verbs: list[tuple[str, str]]) -> None:
    first = teams_manifest(make_settings(), verbs)["id"]
    again = teams_manifest(make_settings(public_url="https://elsewhere.example.org"), verbs)["id"]
    other = teams_manifest(make_settings(MicrosoftAppId="00000000-0000-0000-0000-000000000001"), verbs)["id"]
    assert first == again != other
    assert first != BOT_ID


def test_same_inputs_give_the_same_zip(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    assert build_teams_package(settings, verbs) == build_teams_package(settings, verbs)


def test_valid_domain_is_the_host_without_port(verbs: list[tuple[str, str]]) -> None:
    manifest = teams_manifest(make_settings(public_url="https://bot.example.net:8443/base/"), verbs)
    assert manifest["validDomains"] == ["bot.example.net"]
    assert manifest["developer"]["websiteUrl"] == "https://bot.example.net:8443/base"


def test_one_command_list_per_scope_with_every_verb(settings: Settings, verbs: list[tuple[str, str]]) -> None:
    lists = teams_manifest(settings, verbs)["bots"][0]["commandLists"]
    assert sorted(s for entry in lists for s in entry["scopes"]) == ["groupChat", "personal", "team"]
    for entry in lists:
        assert [(c["title"], c["description"]) for c in entry["commands"]] == verbs


def test_command_texts_keep_within_limits(settings: Settings) -> None:
    long_summary = "Show a job's events " + "and more detail " * 20
    verbs = [("help", "  List   the\ncommands "), ("x" * TITLE_MAX, long_summary), ("bare", "")]
    commands = teams_manifest(settings, verbs)["bots"][0]["commandLists"][0]["commands"]
    assert commands[0]["description"] == "List the commands"
    assert len(commands[1]["title"]) == TITLE_MAX
    assert len(commands[1]["description"]) == DESCRIPTION_MAX
    assert commands[1]["description"].endswith("…")
    assert commands[2]["description"] == "bare"
    assert schema_errors(teams_manifest(settings, verbs)) == []


def test_too_many_verbs_keep_help_and_report_the_rest(settings: Settings) -> None:
    verbs = [(f"verb{i}", f"Verb number {i}") for i in range(COMMANDS_MAX + 3)] + [("help", "The commands")]
    manifest = teams_manifest(settings, verbs)
    titles = [c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]]
    assert len(titles) == COMMANDS_MAX
    assert titles[-1] == "help"
    assert omitted_verbs(verbs) == [f"verb{i}" for i in range(COMMANDS_MAX - 1, COMMANDS_MAX + 3)]
    assert schema_errors(manifest) == []


@pytest.mark.parametrize("bad", [[("", "empty")], [("two words", "x")], [("x" * (TITLE_MAX + 1), "x")],
                                 [("list", "a"), ("list", "b")]])  # fmt: skip
def test_malformed_verbs_are_refused(settings: Settings, bad: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match="verb"):
        build_teams_package(settings, bad)


@pytest.mark.parametrize("app_id", ["", "   ", "my-bot", "8f0e2a4c1b3d4e5f9a7b6c5d4e3f2a1b"])
def test_bot_id_must_be_a_guid(app_id: str, verbs: list[tuple[str, str]]) -> None:
    with pytest.raises(ConfigError) as caught:
        build_teams_package(make_settings(MicrosoftAppId=app_id), verbs)
    assert caught.value.problems[0].startswith("MicrosoftAppId: ")


def rgba_pixels(image: Image.Image) -> list[tuple[int, ...]]:
    data = image.convert("RGBA").tobytes()
    return [tuple(data[i : i + 4]) for i in range(0, len(data), 4)]


def test_color_icon_is_192_square_full_colour() -> None:
    with Image.open(TEAMS_DIR / "color.png") as image:
        assert image.format == "PNG"
        assert image.size == (192, 192)
        rgba = image.convert("RGBA")
    assert rgba.getextrema()[3] == (255, 255)  # fully opaque
    colours = {pixel[:3] for pixel in rgba_pixels(rgba)}
    assert len(colours) > 16  # a real picture, not a flat square
    assert any(abs(r - g) > 60 or abs(g - b) > 60 for r, g, b in colours)  # in colour, not grey


def test_outline_icon_is_32_square_white_on_transparent() -> None:
    with Image.open(TEAMS_DIR / "outline.png") as image:
        assert image.format == "PNG"
        assert image.size == (32, 32)
        assert image.mode == "RGBA"
        pixels = rgba_pixels(image)
    visible = [p for p in pixels if p[3] > 0]
    assert all(p[:3] == (255, 255, 255) for p in visible)  # white wherever anything shows
    assert sum(1 for p in pixels if p[3] == 0) > len(pixels) // 2  # mostly transparent background
    assert sum(1 for p in pixels if p[3] == 255) > 20  # and a symbol that can be seen
    corners = [pixels[0], pixels[31], pixels[-32], pixels[-1]]
    assert all(p[3] == 0 for p in corners)


def test_ftbot_manifest_teams_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The acceptance check: `ftbot manifest teams` with the app's real verbs writes a schema-valid zip."""
    from bot.cli import main

    monkeypatch.chdir(tmp_path)  # no stray ftbot.toml; the zip lands here
    monkeypatch.setenv("MicrosoftAppId", BOT_ID)
    monkeypatch.setenv("FTBOT_PUBLIC_URL", "https://ftbot.example.com")
    assert main(["manifest", "teams"]) == 0
    manifest = manifest_of((tmp_path / "ftbot-teams.zip").read_bytes())
    assert schema_errors(manifest) == []
    titles = {c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]}
    assert {"help", "list", "status", "events", "checkpoints"} <= titles
