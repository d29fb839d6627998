"""Progress lines on Slack (`Command.interim`): private to the person who typed the command.

A slash command has a `response_url`: the first line is posted there as an ephemeral message and later lines
replace it (`replace_original`), and once the command has answered the line is deleted (`delete_original`),
so the person sees one line move on and then the answer. Slack takes at most five posts to one `response_url`
within 30 minutes; progress uses at most `MAX_RESPONSE_URL_POSTS` of them (lines and the delete), leaving the
rest for the answer itself (it goes through the `response_url` when the bot cannot post in the channel).
Without a `response_url` (an `@ftbot` mention, a direct message) each line is a new `chat.postEphemeral`, at
most `MAX_EPHEMERAL_LINES` of them. Lines beyond the budget are dropped; a line Slack refuses is logged and
dropped. Nothing here raises into the handler.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack_translate import Origin
from cards.markup import escape_slack, to_mrkdwn, to_plain

log = logging.getLogger(__name__)

MAX_RESPONSE_URL_POSTS = (
    4  # of Slack's five per response_url: 3 lines + the delete; one is left for the answer
)
MAX_EPHEMERAL_LINES = 3
MAX_LINE = 500  # characters of one progress line
MARK = "⏳ "


def interim_message(text: str) -> dict[str, Any]:
    """A progress line as a small Block Kit message: one context element (grey, small), plain fallback text."""
    return {
        # Slack reads `<...>` and `&` in a message's `text` as mentions, links and entities, plain or not.
        "text": MARK + escape_slack(to_plain(text, MAX_LINE - len(MARK))),
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": MARK + to_mrkdwn(text, MAX_LINE)}]}
        ],
    }


class SlackInterim:
    """The progress lines of one command (see the module docstring); call it with a line, `clear` at the end."""

    def __init__(
        self, client: AsyncWebClient, origin: Origin, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.client = client
        self.origin = origin
        self.session = session
        self.posts = 0  # response_url posts made (lines and the delete)
        self.lines = 0  # lines shown

    async def __call__(self, text: str) -> None:
        try:
            if self.origin.response_url:
                # The last post of the budget is kept for the delete.
                if self.posts >= MAX_RESPONSE_URL_POSTS - 1:
                    return
                replace = {"replace_original": True} if self.lines else {}
                await self._respond(**interim_message(text), response_type="ephemeral", **replace)
            else:
                if self.lines >= MAX_EPHEMERAL_LINES:
                    return
                await self.client.chat_postEphemeral(
                    channel=self.origin.conversation.id,
                    user=self.origin.user.id,
                    thread_ts=self.origin.thread_ts,
                    **interim_message(text),
                )
            self.lines += 1
        except SlackApiError as exc:
            log.info(
                "slack progress line in %s refused: %s",
                self.origin.conversation.id,
                exc.response.get("error"),
            )
        except Exception as exc:
            log.info(
                "slack progress line in %s not shown: %s", self.origin.conversation.id, type(exc).__name__
            )

    async def clear(self) -> None:
        """Remove the progress line once the answer is there (only a response_url line can be removed)."""
        if not self.lines or not self.origin.response_url or self.posts >= MAX_RESPONSE_URL_POSTS:
            return
        try:
            await self._respond(delete_original=True)
        except Exception as exc:
            log.info("slack progress line not removed: %s", type(exc).__name__)

    async def _respond(self, **body: Any) -> None:
        assert self.origin.response_url is not None
        self.posts += 1
        webhook = AsyncWebhookClient(self.origin.response_url, session=self.session)
        resp = await webhook.send_dict(body)
        if resp.status_code != 200:
            log.info("slack response_url answered HTTP %s to a progress line", resp.status_code)
