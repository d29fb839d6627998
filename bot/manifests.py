"""App manifests built from settings: the Teams app package (a zip) and the Slack app manifest (JSON).

The static parts live as data in `manifest/` (templates and icons); this module fills in what depends on the
deployment (bot id, public URL) and on the command verbs, which the app passes as (verb, summary) pairs:

    verbs = router_verbs(router)
    Path("ftbot-teams.zip").write_bytes(build_teams_package(settings, verbs))
    print(json.dumps(slack_manifest(settings, verbs), indent=2))

Template strings may contain `{public_url}`, replaced by the bot's public base URL.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import uuid
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.config import ConfigError, Settings
from bot.router import Router

MANIFEST_DIR = Path(__file__).resolve().parent.parent / "manifest"
TEAMS_DIR = MANIFEST_DIR / "teams"
SLACK_TEMPLATE = MANIFEST_DIR / "slack" / "manifest.json"
TEAMS_ICONS = ("color.png", "outline.png")
TEAMS_SCOPES = ("personal", "team", "groupChat")

# Command menu limits. The title and description limits are those of schemas 1.17-1.21 (later ones allow
# 128/4000): kept so the menu reads well in every Teams client. 12 commands per list is the schema's maximum.
TITLE_MAX = 32
DESCRIPTION_MAX = 128
COMMANDS_MAX = 12
USAGE_HINT_MAX = 1000  # Slack manifest schema: slash_commands[].usage_hint

# Fixed namespace so the Teams app id is the same GUID every time for the same bot id: re-uploading the
# package updates the installed app instead of adding a second one.
APP_ID_NAMESPACE = uuid.UUID("5d0c3a8e-6f57-4c1b-9a53-0f0c7b1e2d11")
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same inputs give the same zip bytes

Verbs = Sequence[tuple[str, str]]


def router_verbs(router: Router) -> list[tuple[str, str]]:
    """The (verb, summary) pairs of every verb registered on `router`, in registration order."""
    return [(spec.verb, spec.summary) for spec in router.verbs()]


def teams_manifest(settings: Settings, verbs: Verbs) -> dict[str, Any]:
    """The `manifest.json` of the Teams app package; ConfigError when MicrosoftAppId is missing or not a GUID."""
    bot_id = _bot_id(settings)
    manifest = _load_template(TEAMS_DIR / "manifest.json", settings)
    manifest["id"] = str(uuid.uuid5(APP_ID_NAMESPACE, bot_id.lower()))
    manifest["version"] = _app_version(manifest["version"])
    bot = manifest["bots"][0]
    bot["botId"] = bot_id
    commands = [_teams_command(verb, summary) for verb, summary in _menu_verbs(verbs)]
    # one list per scope, as the schema asks; the same verbs work everywhere
    bot["commandLists"] = [{"scopes": [scope], "commands": commands} for scope in bot["scopes"]]
    host = urlsplit(settings.base_url).hostname
    manifest["validDomains"] = [host] if host else []
    return manifest


def build_teams_package(settings: Settings, verbs: Verbs) -> bytes:
    """The Teams app package: a zip of manifest.json, color.png (192x192) and outline.png (32x32)."""
    manifest = teams_manifest(settings, verbs)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        for icon in TEAMS_ICONS:
            _add(archive, icon, (TEAMS_DIR / icon).read_bytes())
    return buffer.getvalue()


def slack_manifest(settings: Settings, verbs: Verbs) -> dict[str, Any]:
    """The Slack app manifest: slash command `/ft`, events and interactivity at `<public_url>/slack/events`."""
    manifest = _load_template(SLACK_TEMPLATE, settings)
    names = _checked_verbs(verbs)
    hint = " | ".join(names)
    if len(hint) > USAGE_HINT_MAX:
        hint = hint[: USAGE_HINT_MAX - 1].rsplit(" | ", 1)[0] + " …"
    for command in manifest["features"]["slash_commands"]:
        command["usage_hint"] = hint or "help"
    return manifest


def omitted_verbs(verbs: Verbs) -> list[str]:
    """Verbs left out of the Teams command menu because it holds at most COMMANDS_MAX entries."""
    shown = {verb for verb, _ in _menu_verbs(verbs)}
    return [verb for verb, _ in verbs if verb not in shown]


def public_url_warnings(settings: Settings) -> list[str]:
    """What makes the manifests unusable outside this machine (not fatal: local testing is fine)."""
    if not settings.public_url:
        return [
            f"FTBOT_PUBLIC_URL is not set: the manifest points at {settings.base_url}, "
            "which Slack and Teams cannot reach; set it to the bot's public https URL"
        ]
    if not settings.public_url.startswith("https://"):
        return ["FTBOT_PUBLIC_URL is not https: Slack and Teams only call https endpoints"]
    return []


def cli(argv: list[str], settings: Settings, verbs: Verbs) -> int:
    """`ftbot manifest teams [--out PATH]` (zip, default ftbot-teams.zip) and
    `ftbot manifest slack [--out PATH]` (JSON, default stdout). Returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="ftbot manifest", description="Write the Teams or Slack app manifest."
    )
    sub = parser.add_subparsers(dest="platform", required=True, metavar="{teams,slack}")
    teams = sub.add_parser(
        "teams", help="Teams app package (zip): upload it in Teams > Apps > Manage your apps"
    )
    teams.add_argument("--out", default="ftbot-teams.zip", help="Zip file to write (default: %(default)s).")
    slack = sub.add_parser("slack", help="Slack app manifest (JSON): paste it at api.slack.com/apps")
    slack.add_argument("--out", default="-", help="File to write; `-` (default) is standard output.")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem already
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.platform == "teams":
            return _write_teams(settings, verbs, Path(args.out))
        return _write_slack(settings, verbs, args.out)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"ftbot manifest: {exc}", file=sys.stderr)
        return 2


def _write_teams(settings: Settings, verbs: Verbs, out: Path) -> int:
    package = build_teams_package(settings, verbs)
    _warn(public_url_warnings(settings))
    left_out = ", ".join(omitted_verbs(verbs))
    if left_out:
        _warn(
            [f"Teams shows at most {COMMANDS_MAX} commands; left out of its menu (still usable): {left_out}"]
        )
    try:
        out.write_bytes(package)
    except OSError as exc:
        print(f"ftbot manifest: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"Wrote {out} ({len(package)} bytes). Upload it in Teams: Apps > Manage your apps > Upload an app.")
    return 0


def _write_slack(settings: Settings, verbs: Verbs, out: str) -> int:
    text = json.dumps(slack_manifest(settings, verbs), indent=2, ensure_ascii=False) + "\n"
    _warn(public_url_warnings(settings))
    if out == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"ftbot manifest: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"Wrote {out}. Create the app from it at https://api.slack.com/apps (From an app manifest).")
    return 0


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def _bot_id(settings: Settings) -> str:
    bot_id = settings.microsoft_app_id.strip()
    if not bot_id:
        raise ConfigError(
            ["MicrosoftAppId: required for the Teams app package (the bot's Microsoft App ID, a GUID)"]
        )
    if not GUID.match(bot_id):
        raise ConfigError(
            [f"MicrosoftAppId: must be a GUID like 00000000-0000-0000-0000-000000000000 (got {bot_id!r})"]
        )
    return bot_id


def _checked_verbs(verbs: Verbs) -> list[str]:
    names: list[str] = []
    for verb, _ in verbs:
        if not verb or len(verb) > TITLE_MAX or verb != verb.strip() or " " in verb:
            raise ValueError(f"verb {verb!r} must be one word of 1 to {TITLE_MAX} characters")
        if verb in names:
            raise ValueError(f"verb {verb!r} is listed twice")
        names.append(verb)
    return names


def _menu_verbs(verbs: Verbs) -> list[tuple[str, str]]:
    """At most COMMANDS_MAX verbs, in the given order, but always with `help` so the rest can be found."""
    _checked_verbs(verbs)
    chosen = list(verbs[:COMMANDS_MAX])
    help_verb = next((pair for pair in verbs if pair[0] == "help"), None)
    if help_verb and help_verb not in chosen:
        chosen[-1] = help_verb
    return chosen


def _teams_command(verb: str, summary: str) -> dict[str, str]:
    text = " ".join(summary.split()) or verb
    if len(text) > DESCRIPTION_MAX:
        text = text[: DESCRIPTION_MAX - 1].rstrip() + "…"
    return {"title": verb, "description": text}


def _app_version(template_version: str) -> str:
    """The package version (so each release can be re-uploaded as an update), if it is plain x.y.z."""
    try:
        version = metadata.version("ftbot")
    except metadata.PackageNotFoundError:
        return template_version
    return version if SEMVER.match(version) else template_version


def _load_template(path: Path, settings: Settings) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"manifest template {path}: cannot read it ({exc.strerror})"]) from exc
    filled = _fill(data, settings.base_url)
    if not isinstance(filled, dict):
        raise ConfigError([f"manifest template {path}: must hold a JSON object"])
    return filled


def _fill(node: Any, public_url: str) -> Any:
    if isinstance(node, str):
        return node.replace("{public_url}", public_url)
    if isinstance(node, list):
        return [_fill(item, public_url) for item in node]
    if isinstance(node, dict):
        return {key: _fill(value, public_url) for key, value in node.items()}
    return node


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)
