"""One error base for everything a user may see, and the wording of those errors in one place.

Handlers raise these; the dispatcher's single error route turns them into error cards. Anything else that
escapes a handler is logged with a reference and shown as a short apology with that reference, never a trace.
"""

from __future__ import annotations


class FtbotError(Exception):
    """An error with a message fit for chat, and an optional hint saying what to do next."""

    title = "Something went wrong"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(FtbotError):
    """The command was not understood: answered with the verb's usage card and an example."""

    title = "I did not understand that"

    def __init__(self, message: str, *, verb: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.verb = verb


class NotFound(FtbotError):
    title = "Not found"


class NotAllowed(FtbotError):
    """The user may not do this (not an approver, wrong conversation, ...). Shown privately and audited."""

    title = "Not allowed"

    def __init__(
        self, message: str, *, act: str = "", subject: str = "", hint: str = "", audited: bool = False
    ) -> None:
        super().__init__(message, hint=hint)
        self.act = act
        self.subject = subject  # what the refused act was about (a job id, a resource), for the audit entry
        # True when the handler already wrote a richer audit entry (e.g. with the approval request): the
        # dispatcher then does not record the same refusal a second time.
        self.audited = audited


class InvalidState(FtbotError):
    """The thing exists but its state does not allow the request (e.g. cancelling a finished job)."""

    title = "Not possible for this job"


class RequestClosed(InvalidState):
    """A deployment request already approved, rejected or expired: a second approve or reject does nothing."""

    title = "Not possible for this request"


class Busy(FtbotError):
    """A shared limit is reached (e.g. data checks running): try again later, nothing was done."""

    title = "The bot is busy"


class StoreUnavailable(FtbotError):
    """The bot's own database did not answer in time or refused a write."""

    title = "The bot's database is not answering"

    def __init__(
        self,
        message: str = "I could not reach my database just now, so I did not finish this.",
        *,
        hint: str = "Try again in a minute; if it keeps happening, tell whoever runs the bot.",
    ) -> None:
        super().__init__(message, hint=hint)


class ConfigError(Exception):
    """Settings are missing or malformed: one readable line per problem, start-up stops with exit code 2."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class StartupError(Exception):
    """Something the bot needs at start is not there (e.g. the database does not answer): one readable line."""
