"""Who may do what, decided in one place before a handler acts. Fail closed.

Fed by the neutral `User` (platform id, Teams AAD object id) and the resource the act concerns. Roles come
from settings (`[roles]` in the TOML file, overridable per resource): `operators` manage any job and
deployment, `approvers` approve deployments, `starters` (optional) are the only ones who may start jobs or ask
for deployments. A member is a Slack user id (`U...`/`W...`), a Slack user group id (`S...`, resolved through
the group resolver the Slack adapter registers) or a Teams AAD object id.

    policy = Policy(settings)
    await policy.require(user, Act.MANAGE_JOB, resource="default", owner=job.requested_by)

`require` raises `NotAllowed`; the dispatcher's error route shows it privately and audits the refusal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.errors import NotAllowed
from bot.model import User

if TYPE_CHECKING:
    from bot.config import Roles, Settings

GroupResolver = Callable[[str], Awaitable[frozenset[str]]]
"""`members(group id) -> user ids`: registered by an adapter that has user groups (Slack `S...`)."""


class Role(StrEnum):
    OPERATOR = "operators"
    APPROVER = "approvers"
    STARTER = "starters"


class Act(StrEnum):
    """Everything the policy is asked about. The value is what the audit log records."""

    START_JOB = "job.start"
    MANAGE_JOB = "job.manage"  # cancel, pause, resume
    VIEW_JOB = "job.view"  # status, events, checkpoints of a job outside the asking conversation
    LIST_ALL_JOBS = "job.list_all"
    REQUEST_DEPLOY = "deploy.request"
    APPROVE_DEPLOY = "deploy.approve"
    DELETE_DEPLOY = "deploy.delete"  # undeploy, idle "Delete now", cleanup
    KEEP_ALIVE = "deploy.keep_alive"  # idle guard: keep alive, snooze


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""


class Policy:
    """Answers "may this user do this here?" from the configured roles.

    `local` is the embedded default (emulator, no chat platform): one person on one laptop holds every role,
    and cards say so where it matters (approvals)."""

    def __init__(self, settings: Settings, *, local: bool = False) -> None:
        self._settings = settings
        self.local = local
        self._group_resolver: GroupResolver | None = None

    def set_group_resolver(self, resolver: GroupResolver) -> None:
        self._group_resolver = resolver

    def roles_config(self, resource: str | None) -> Roles:
        """The roles in force for a resource: its own `[resources.roles]` if set, else the global `[roles]`."""
        for res in self._settings.resources:
            if res.name == resource and res.roles is not None:
                return res.roles
        return self._settings.roles

    async def has_role(self, user: User, role: Role, resource: str | None) -> bool:
        if self.local:
            return True
        roles = self.roles_config(resource)
        members: list[str] = list(getattr(roles, role.value) or [])
        if role is Role.OPERATOR:
            members += roles.admins  # the older name for operators
        return await self._matches(user, members)

    async def check(
        self, user: User, act: Act, *, resource: str | None = None, owner: str | None = None
    ) -> Decision:
        if self.local:
            return Decision(True)
        roles = self.roles_config(resource)
        is_operator = await self.has_role(user, Role.OPERATOR, resource)
        if act in (Act.START_JOB, Act.REQUEST_DEPLOY):
            if roles.starters is None or is_operator or await self.has_role(user, Role.STARTER, resource):
                return Decision(True)
            return Decision(False, "only the configured starters (or operators) may do that here")
        if act is Act.MANAGE_JOB:
            if is_operator or (owner is not None and owner == user.id):
                return Decision(True)
            return Decision(False, "only the person who started this job or an operator may change it")
        if act is Act.APPROVE_DEPLOY:
            if await self.has_role(user, Role.APPROVER, resource):
                return Decision(True)
            if not roles.approvers:
                return Decision(False, "no approvers are configured for this resource, so nobody can approve")
            return Decision(False, "only the configured approvers may approve deployments")
        if act is Act.VIEW_JOB:
            # Asked only for a job outside the asking conversation (the handler lets its own through).
            if is_operator or (owner is not None and owner == user.id):
                return Decision(True)
            return Decision(
                False,
                "this job was not started in this conversation; only the person who started it and "
                "operators may see it here",
            )
        if act in (Act.LIST_ALL_JOBS, Act.DELETE_DEPLOY, Act.KEEP_ALIVE):
            if is_operator or (act is not Act.LIST_ALL_JOBS and owner is not None and owner == user.id):
                return Decision(True)
            return Decision(False, "only operators may do that")
        return Decision(False, "not allowed")  # an act nobody wrote a rule for is refused

    async def require(
        self,
        user: User,
        act: Act,
        *,
        resource: str | None = None,
        owner: str | None = None,
        subject: str | None = None,
    ) -> None:
        """Raise `NotAllowed` (carrying the act and `subject`, e.g. the job id, for the audit) unless allowed."""
        decision = await self.check(user, act, resource=resource, owner=owner)
        if not decision.allowed:
            raise NotAllowed(
                f"You may not do that: {decision.reason}.", act=act.value, subject=subject or resource or ""
            )

    async def _matches(self, user: User, members: Iterable[str]) -> bool:
        ids = {user.id, user.aad_object_id} - {None, ""}
        for member in members:
            if member in ids:
                return True
            if member.startswith("S") and self._group_resolver is not None:
                try:
                    if user.id in await self._group_resolver(member):
                        return True
                except Exception:  # a group that cannot be read grants nothing (fail closed)
                    continue
        return False
