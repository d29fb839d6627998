"""The stand-ins the watcher's tests share with the adapters' own tests: Slack Web API, Bot Connector."""

from tests.slack.conftest import slack_api
from tests.teams.conftest import connector

__all__ = ["connector", "slack_api"]
