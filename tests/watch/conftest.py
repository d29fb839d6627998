"""The stand-in Slack API for the watcher's tests (the Slack adapter's own fixture)."""

from tests.slack.conftest import slack_api

__all__ = ["slack_api"]
