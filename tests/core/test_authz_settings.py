"""The authorization settings as an operator writes them: environment variables and TOML."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError


@pytest.mark.parametrize(
    "value",
    ["T0AAA0001,E0GRID001", "T0AAA0001, E0GRID001", "T0AAA0001 E0GRID001", '["T0AAA0001", "E0GRID001"]'],
)
def test_ids_in_an_environment_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FTBOT_SLACK_ALLOWED_WORKSPACES", value)
    monkeypatch.setenv("FTBOT_TEAMS_ALLOWED_TENANTS", value)
    settings = load_settings()
    assert settings.slack_allowed_workspaces == ["T0AAA0001", "E0GRID001"]
    assert settings.teams_allowed_tenants == ["T0AAA0001", "E0GRID001"]


def test_ids_and_roles_in_toml(tmp_path: Path) -> None:
    config = tmp_path / "ftbot.toml"
    config.write_text(
        'slack_allowed_workspaces = ["T0AAA0001"]\n'
        'teams_allowed_tenants = ["11111111-1111-1111-1111-111111111111"]\n'
        "[roles]\n"
        'operators = ["U0OPER0001", "S0GROUP001"]\n'
        'starters = ["00000000-0000-0000-0000-0000000000a1"]\n',
        encoding="utf-8",
    )
    settings = load_settings(config_file=str(config))
    assert settings.slack_allowed_workspaces == ["T0AAA0001"]
    assert settings.teams_allowed_tenants == ["11111111-1111-1111-1111-111111111111"]
    assert settings.roles.operators == ["U0OPER0001", "S0GROUP001"]
    assert settings.roles.starters == ["00000000-0000-0000-0000-0000000000a1"]


def test_no_auth_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTBOT_TEAMS_NO_AUTH", "1")
    monkeypatch.setenv("FTBOT_AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:8000")
    monkeypatch.setenv("FTBOT_ARM_ENDPOINT", "http://localhost:8000")
    assert load_settings().teams_unauthenticated()
    monkeypatch.setenv("FTBOT_ARM_ENDPOINT", "https://management.azure.com")
    with pytest.raises(ConfigError, match="off this machine"):
        load_settings()
