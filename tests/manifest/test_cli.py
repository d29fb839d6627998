"""`ftbot manifest teams|slack`: files written, output on stdout, readable errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import Settings
from bot.manifests import cli
from tests.manifest.conftest import make_settings, unzip


def test_teams_writes_the_zip_to_the_default_name(
    settings: Settings,
    verbs: list[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(["teams"], settings, verbs) == 0
    files = unzip((tmp_path / "ftbot-teams.zip").read_bytes())
    assert json.loads(files["manifest.json"])["bots"][0]["botId"] == settings.microsoft_app_id
    out, err = capsys.readouterr()
    assert "ftbot-teams.zip" in out
    assert err == ""


def test_teams_out_path(settings: Settings, verbs: list[tuple[str, str]], tmp_path: Path) -> None:
    out = tmp_path / "pkg" / "app.zip"
    out.parent.mkdir()
    assert cli(["teams", "--out", str(out)], settings, verbs) == 0
    assert set(unzip(out.read_bytes())) == {"manifest.json", "color.png", "outline.png"}


def test_teams_without_app_id_is_a_readable_error(
    verbs: list[tuple[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "app.zip"
    assert cli(["teams", "--out", str(out)], make_settings(MicrosoftAppId=""), verbs) == 2
    _, err = capsys.readouterr()
    assert err.strip().splitlines() == [
        "MicrosoftAppId: required for the Teams app package (the bot's Microsoft App ID, a GUID)"
    ]
    assert not out.exists()


def test_teams_unwritable_path_exits_1(
    settings: Settings, verbs: list[tuple[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["teams", "--out", str(tmp_path / "missing" / "app.zip")], settings, verbs) == 1
    assert "cannot write" in capsys.readouterr().err


def test_teams_warns_about_a_local_url_and_menu_overflow(
    verbs: list[tuple[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    many = verbs + [(f"extra{i}", "more") for i in range(10)]
    assert cli(["teams", "--out", str(tmp_path / "a.zip")], make_settings(public_url=""), many) == 0
    err = capsys.readouterr().err
    assert "FTBOT_PUBLIC_URL is not set" in err
    assert "extra9" in err


def test_slack_prints_json_on_stdout(
    settings: Settings, verbs: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["slack"], settings, verbs) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["features"]["slash_commands"][0]["command"] == "/ft"
    assert err == ""


def test_slack_out_file(
    settings: Settings, verbs: list[tuple[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "slack.json"
    assert cli(["slack", "--out", str(out)], settings, verbs) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["display_information"]["name"]
    assert str(out) in capsys.readouterr().out


def test_slack_warns_when_url_is_not_https(
    verbs: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["slack"], make_settings(public_url="http://bot.example.com"), verbs) == 0
    assert "not https" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["discord"], ["teams", "--bogus"], ["slack", "extra"]])
def test_usage_errors_exit_2(
    argv: list[str], settings: Settings, verbs: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(argv, settings, verbs) == 2
    assert "usage: ftbot manifest" in capsys.readouterr().err


def test_help_exits_0(
    settings: Settings, verbs: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["--help"], settings, verbs) == 0
    assert "teams" in capsys.readouterr().out


def test_bad_verb_list_exits_2(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["slack"], settings, [("two words", "x")]) == 2
    assert "verb 'two words'" in capsys.readouterr().err
