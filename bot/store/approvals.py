"""Deployment approval requests: decided once by compare-and-set, then followed until the deployment settles.

`decide` is the one place a request changes state: `UPDATE approvals ... WHERE id = ? AND state = 'pending'`,
so double clicks, clicks on two replicas and a click racing the expiry sweep lead to one winner. The winner of
an approval also takes the follow-up lease in the same statement, so it alone sends the ARM PUT; a replica
that restarts later claims rows whose lease ran out and resumes following them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, func, or_, select, update

from bot.model import User
from bot.schema import approval_votes, approvals, audit_log
from bot.store.base import StoreBase, as_utc, utcnow

if TYPE_CHECKING:
    from bot.store.rows import Approval, AuditEntry, NewApproval

ApprovalState = Literal["pending", "approved", "rejected", "expired"]
# After approval: the PUT is being sent, Azure is provisioning, or it settled.
DeployState = Literal["putting", "provisioning", "succeeded", "failed"]
FOLLOWING = ("putting", "provisioning")


class ApprovalStore(StoreBase):
    # -- requests -------------------------------------------------------------------------------------------

    async def create_approval(self, new: NewApproval, approval_id: str) -> Approval:
        now = utcnow()
        values = {
            "id": approval_id,
            "state": "pending",
            "resource": new.resource,
            "model": new.model,
            "job_id": new.job_id,
            "checkpoint_step": new.checkpoint_step,
            "deployment": new.deployment,
            "sku": new.sku,
            "capacity": new.capacity,
            "source": new.source,
            "source_tenant": new.source_tenant,
            "cross_tenant": new.cross_tenant,
            "detail": dict(new.detail or {}),
            "platform": new.platform,
            "conversation_key": new.conversation_key,
            "requested_by": new.requester.id,
            "requested_by_name": new.requester.name or None,
            "required_approvals": new.required_approvals,
            "created_at": now,
            "expires_at": now + new.ttl,
            "updated_at": now,
        }
        async with await self.write() as conn:
            await conn.execute(approvals.insert().values(**values))
        found = await self.get_approval(approval_id)
        assert found is not None
        return found

    async def get_approval(self, approval_id: str) -> Approval | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(approvals).where(approvals.c.id == approval_id))).first()
        return _approval(row) if row is not None else None

    async def open_approvals(self, resource: str) -> list[Approval]:
        """Requests of a resource that are pending or approved and not failed: they hold a name and a model."""
        query = select(approvals).where(
            approvals.c.resource == resource,
            or_(
                approvals.c.state == "pending",
                and_(approvals.c.state == "approved", approvals.c.deploy_state.in_(FOLLOWING)),
            ),
        )
        async with self.engine.connect() as conn:
            return [_approval(r) for r in (await conn.execute(query)).all()]

    async def approvals_of(self, resource: str) -> dict[str, Approval]:
        """The latest approved request per deployment name of a resource (who approved a deployment)."""
        query = (
            select(approvals)
            .where(approvals.c.resource == resource, approvals.c.state == "approved")
            .order_by(approvals.c.decided_at)
        )
        async with self.engine.connect() as conn:
            return {r.deployment: _approval(r) for r in (await conn.execute(query)).all()}

    # -- decisions ------------------------------------------------------------------------------------------

    async def add_vote(self, approval_id: str, user: User) -> int:
        """Record one approver's yes (a repeat is a no-op) while the request is pending; distinct votes now."""
        now = utcnow()
        async with await self.write() as conn:
            pending = (
                await conn.execute(
                    select(approvals.c.id).where(
                        approvals.c.id == approval_id,
                        approvals.c.state == "pending",
                        approvals.c.expires_at > now,
                    )
                )
            ).first()
            if pending is not None:
                stmt = self.insert(approval_votes).values(
                    approval_id=approval_id, approver=user.id, approver_name=user.name or None, at=now
                )
                await conn.execute(stmt.on_conflict_do_nothing(index_elements=["approval_id", "approver"]))
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(approval_votes)
                    .where(approval_votes.c.approval_id == approval_id)
                )
            ).scalar_one()
        return int(count)

    async def votes(self, approval_id: str) -> list[tuple[str, str | None]]:
        query = (
            select(approval_votes.c.approver, approval_votes.c.approver_name)
            .where(approval_votes.c.approval_id == approval_id)
            .order_by(approval_votes.c.at)
        )
        async with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(query)).all()]

    async def decide(
        self,
        approval_id: str,
        to: ApprovalState,
        *,
        by: User | None = None,
        reason: str | None = None,
        lease_owner: str | None = None,
        lease: timedelta = timedelta(minutes=1),
    ) -> bool:
        """pending -> `to`, once: True for the one caller whose UPDATE matched. Approve and reject also need
        the request unexpired (a click racing the expiry loses to it); an approval takes the follow-up lease."""
        now = utcnow()
        values: dict[str, Any] = {"state": to, "decided_at": now, "updated_at": now}
        if by is not None:
            values.update(decided_by=by.id, decided_by_name=by.name or None)
        if reason:
            values["reason"] = reason[:500]
        if to == "approved":
            values.update(deploy_state="putting", lease_owner=lease_owner, lease_until=now + lease)
        where = [approvals.c.id == approval_id, approvals.c.state == "pending"]
        if to != "expired":
            where.append(approvals.c.expires_at > now)
        async with await self.write() as conn:
            result = await conn.execute(update(approvals).where(*where).values(**values))
        return bool(result.rowcount == 1)

    async def due_for_expiry(self, now: datetime | None = None) -> list[str]:
        query = select(approvals.c.id).where(
            approvals.c.state == "pending", approvals.c.expires_at <= (now or utcnow())
        )
        async with self.engine.connect() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    # -- following the deployment ---------------------------------------------------------------------------

    async def set_deploy_state(
        self,
        approval_id: str,
        state: DeployState,
        *,
        owner: str,
        lease: timedelta | None = None,
        **values: Any,
    ) -> bool:
        """Advance the follow-up of an approved request, only while `owner` holds its lease."""
        now = utcnow()
        changes: dict[str, Any] = {"deploy_state": state, "updated_at": now, **values}
        if state in FOLLOWING and lease is not None:
            changes["lease_until"] = now + lease
        else:
            changes.update(lease_owner=None, lease_until=None)
        async with await self.write() as conn:
            result = await conn.execute(
                update(approvals)
                .where(approvals.c.id == approval_id, approvals.c.lease_owner == owner)
                .values(**changes)
            )
        return bool(result.rowcount == 1)

    async def claim_deploys(self, owner: str, *, limit: int, lease: timedelta) -> list[Approval]:
        """Lease approved requests whose deployment is still being created and nobody follows now."""
        eligible = and_(approvals.c.state == "approved", approvals.c.deploy_state.in_(FOLLOWING))
        rows = await self.claim(approvals, approvals.c.id, eligible, owner, limit, lease)
        return [_approval(r) for r in rows]

    # -- audit reading ----------------------------------------------------------------------------------------

    async def recent_audit(self, limit: int, subject: str | None = None) -> list[AuditEntry]:
        from bot.store.rows import AuditEntry

        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if subject is not None:
            query = query.where(audit_log.c.subject == subject)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AuditEntry(
                as_utc(r.at) or utcnow(), r.platform, r.actor, r.actor_name, r.action, r.subject, r.detail
            )
            for r in rows
        ]


def _approval(row: Any) -> Approval:
    from bot.store.rows import Approval

    return Approval(
        id=row.id,
        state=row.state,
        resource=row.resource,
        model=row.model,
        job_id=row.job_id,
        checkpoint_step=row.checkpoint_step,
        deployment=row.deployment,
        sku=row.sku,
        capacity=int(row.capacity),
        source=row.source,
        source_tenant=row.source_tenant,
        cross_tenant=bool(row.cross_tenant),
        detail=row.detail or {},
        platform=row.platform,
        conversation_key=row.conversation_key,
        requested_by=row.requested_by,
        requested_by_name=row.requested_by_name,
        required_approvals=int(row.required_approvals),
        created_at=as_utc(row.created_at) or utcnow(),
        expires_at=as_utc(row.expires_at) or utcnow(),
        decided_at=as_utc(row.decided_at),
        decided_by=row.decided_by,
        decided_by_name=row.decided_by_name,
        reason=row.reason,
        deploy_state=row.deploy_state,
        operation_url=row.operation_url,
        endpoint=row.endpoint,
        error=row.error,
    )
