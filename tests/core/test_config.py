from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.errors import ConfigError

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("FTBOT_") or name.startswith(("SLACK_", "Microsoft")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    s = load_settings()
    assert (s.host, s.port) == ("127.0.0.1", 3978)
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.uses_emulator
    assert s.arm_endpoint == "https://management.azure.com"
    assert s.slack_api_url == "https://slack.com/api/"


def test_platform_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "sig")
    monkeypatch.setenv("MicrosoftAppId", "app")
    monkeypatch.setenv("MicrosoftAppPassword", "pw")
    monkeypatch.setenv("MicrosoftAppType", "MultiTenant")
    monkeypatch.setenv("FTBOT_AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com/")
    s = load_settings()
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-1"
    assert s.microsoft_app_id == "app"
    assert s.azure_openai_endpoint == "https://x.openai.azure.com"
    assert not s.uses_emulator
    assert "pw" not in repr(s) and "xoxb-1" not in repr(s)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"FTBOT_PORT": "abc"}, "FTBOT_PORT: "),
        ({"FTBOT_PORT": "70000"}, "FTBOT_PORT: "),
        ({"FTBOT_LOG_FORMAT": "xml"}, "FTBOT_LOG_FORMAT: "),
        ({"FTBOT_AZURE_OPENAI_ENDPOINT": "x.openai.azure.com"}, "FTBOT_AZURE_OPENAI_ENDPOINT: must start"),
        ({"SLACK_BOT_TOKEN": "xoxb-secret"}, "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"),
        ({"FTBOT_DATABASE_URL": "mysql://x"}, "FTBOT_DATABASE_URL: "),
        ({"FTBOT_DATABASE_URL": "sqlite:///x.db"}, "FTBOT_DATABASE_URL: "),
        ({"FTBOT_DATABASE_URL": "postgresql://u@h/db"}, "FTBOT_DATABASE_URL: "),
    ],
)
def test_bad_settings_give_one_readable_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], line: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(line)
    assert "xoxb-secret" not in info.value.problems[0]


def test_toml_resources_and_roles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ftbot.toml").write_text(
        """
[[resources]]
name = "swe"
endpoint = "https://swe.openai.azure.com"
api_key_env = "SWE_KEY"
subscription_id = "sub"
resource_group = "rg"
account_name = "swe-aoai"

[roles]
approvers = ["U123"]
"""
    )
    monkeypatch.setenv("SWE_KEY", "k-123")
    s = load_settings()
    [res] = s.resources
    assert res.name == "swe" and res.api_key() is not None
    assert res.arm_id.endswith("/accounts/swe-aoai")
    assert s.roles.approvers == ["U123"]


def test_secrets_in_toml_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[[resources]]\nname="a"\nendpoint="https://a"\napi_key="sk-123"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=str(path))
    assert "secret" in info.value.problems[0] and "sk-123" not in info.value.problems[0]


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    table = {m.group(1) for m in re.finditer(r"^\| `([A-Za-z_]+)` \|", text, re.M)}
    expected = set()
    for name, info in Settings.model_fields.items():
        if name in ("resources", "roles"):
            continue
        alias = info.validation_alias
        expected.add(alias.choices[0] if alias is not None else f"FTBOT_{name.upper()}")  # type: ignore[union-attr]
    assert expected <= table, sorted(expected - table)


def test_overrides_by_field_name_work_for_aliased_settings() -> None:
    s = load_settings(microsoft_app_id="app-1", slack_bot_token="xoxb-2", slack_signing_secret="sig")
    assert s.microsoft_app_id == "app-1"
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-2"
