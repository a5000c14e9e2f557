"""Data approval (DHIS2's): an epidemiologist approves a period of an org-unit subtree.

Approved values refuse every change, by every path (the importer checks, the
server and the command line go through it), with a message that says who
approved them and when. Un-approving needs a reason. Approving takes the same
period lock as an import, so an import and an approval of the same period
never interleave: the one that commits second sees the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from sitroom.auth.permissions import Principal, authorize
from sitroom.country import PeriodType
from sitroom.db import DEFAULT_LOCK_TIMEOUT, begin_write, utcnow
from sitroom.errors import ConflictError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.surveillance.bulk import BulkStatements
from sitroom.surveillance.models import Approval
from sitroom.surveillance.periods import label, parse_period
from sitroom.users.service import ensure_user

#: Longest reason for un-approving that is kept.
MAX_REASON_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    id: int
    org_unit: str
    period: str
    period_type: str
    approved_by: str
    approved_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None
    revoke_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org_unit": self.org_unit,
            "period": self.period,
            "period_type": self.period_type,
            "active": self.active,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at.isoformat(),
            "revoked_by": self.revoked_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoke_reason": self.revoke_reason,
        }


def refusal(approval_by: str, approved_at: datetime, unit: str, period: str) -> str:
    """The sentence every refused change gets."""
    return (
        f"{period} of {unit} was approved by {approval_by} on {approved_at:%Y-%m-%d %H:%M} UTC:"
        " approved values cannot change; an epidemiologist can un-approve it, with a reason"
    )


@dataclass(frozen=True, slots=True)
class ApprovalCover:
    """The approval that locks a unit's period: where it was given (the unit or one
    above it), by whom and when."""

    org_unit: str
    approved_by: str
    approved_at: datetime


class ApprovalIndex:
    """The active approvals of some periods, to check values against quickly."""

    def __init__(self, rows: list[tuple[str, date, str, str, str, datetime]]) -> None:
        # (period_type, period) -> [(path, unit code, approved_by, approved_at)]
        self._by_period: dict[tuple[str, date], list[tuple[str, str, str, datetime]]] = {}
        for kind, period, path, code, who, when in rows:
            self._by_period.setdefault((kind, period), []).append((path, code, who, when))

    @classmethod
    def load(cls, session: Session, periods: list[date] | None = None) -> ApprovalIndex:
        query = (
            select(
                Approval.period_type,
                Approval.period,
                OrgUnit.path,
                OrgUnit.code,
                Approval.approved_by,
                Approval.approved_at,
            )
            .join(OrgUnit, OrgUnit.id == Approval.org_unit_id)
            .where(Approval.revoked_at.is_(None))
        )
        if periods is not None:
            query = query.where(Approval.period.in_(periods))
        return cls([tuple(row) for row in session.execute(query)])  # type: ignore[misc]

    def __bool__(self) -> bool:
        return bool(self._by_period)

    def covering(self, path: str, period_type: str, period: date) -> ApprovalCover | None:
        """The active approval of this period at the unit of ``path`` or above it, or None."""
        for approved_path, code, who, when in self._by_period.get((period_type, period), ()):
            if path.startswith(approved_path):
                return ApprovalCover(code, who, when)
        return None

    def refuses(self, path: str, period_type: str, period: date) -> str | None:
        """Why a value of the unit at ``path`` in this period cannot change, or None."""
        cover = self.covering(path, period_type, period)
        if cover is None:
            return None
        shown = label(period, period_type)  # type: ignore[arg-type]
        return refusal(cover.approved_by, cover.approved_at, cover.org_unit, shown)


def _record(approval: Approval, code: str) -> ApprovalRecord:
    return ApprovalRecord(
        id=approval.id,
        org_unit=code,
        period=label(approval.period, approval.period_type),  # type: ignore[arg-type]
        period_type=approval.period_type,
        approved_by=approval.approved_by,
        approved_at=approval.approved_at,
        revoked_by=approval.revoked_by,
        revoked_at=approval.revoked_at,
        revoke_reason=approval.revoke_reason,
    )


def _target(session: Session, org_unit: str, period: str) -> tuple[OrgUnit, PeriodType, date]:
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == org_unit))
    if unit is None:
        raise NotFoundError(f"unknown org unit {org_unit!r}")
    try:
        period_type, start = parse_period(period)
    except ValueError as exc:
        raise SitroomError(f"period: {exc}") from None
    return unit, period_type, start


def _lock(session: Session, start: date) -> None:
    """The import's lock on the period: an import of it waits for us, or we for it."""
    BulkStatements(session.connection()).lock_periods([start])


def approve(
    session: Session,
    org_unit: str,
    period: str,
    *,
    user: str,
    principal: Principal | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    via: str = "cli",
    client: str | None = None,
) -> ApprovalRecord:
    """Approve ``period`` (2022-05-20, 2022W20, 202205) for ``org_unit`` and below. Commits.

    ``principal`` (the signed-in user) must hold ``data.approve`` over the
    unit; None is the local operator. Refused when the period is already
    approved there or above. ``via`` (a channel of
    :data:`~sitroom.surveillance.models.CHANNELS`) and ``client`` (an address)
    say where the request came from, for the audit trail.
    """
    begin_write(session, lock_timeout)
    unit, period_type, start = _target(session, org_unit, period)
    if principal is not None:
        authorize(principal, "data.approve", unit.path)
    _lock(session, start)
    ensure_user(session, user)
    active = ApprovalIndex.load(session, [start])
    covered = active.refuses(unit.path, period_type, start)
    if covered is not None:
        session.rollback()
        raise ConflictError(f"already approved: {covered.split(':')[0]}")
    approval = Approval(
        org_unit_id=unit.id,
        period_type=period_type,
        period=start,
        approved_by=user,
        approved_at=utcnow(),
        approved_via=via,
        approved_client=client,
    )
    session.add(approval)
    session.flush()
    record = _record(approval, unit.code)
    session.commit()
    return record


def unapprove(
    session: Session,
    org_unit: str,
    period: str,
    *,
    reason: str,
    user: str,
    principal: Principal | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    via: str = "cli",
    client: str | None = None,
) -> ApprovalRecord:
    """End the approval of ``period`` for ``org_unit``, saying why. Commits."""
    reason = reason.strip()
    if not reason:
        raise SitroomError("un-approving needs a reason (--reason)")
    if len(reason) > MAX_REASON_CHARS:
        raise SitroomError(f"the reason is longer than {MAX_REASON_CHARS} characters")
    begin_write(session, lock_timeout)
    unit, period_type, start = _target(session, org_unit, period)
    if principal is not None:
        authorize(principal, "data.approve", unit.path)
    _lock(session, start)
    ensure_user(session, user)
    approval = session.scalar(
        select(Approval).where(
            Approval.org_unit_id == unit.id,
            Approval.period_type == period_type,
            Approval.period == start,
            Approval.revoked_at.is_(None),
        )
    )
    if approval is None:
        session.rollback()
        raise NotFoundError(
            f"{label(start, period_type)} of {unit.code} is not approved"
            " (an approval of a unit above it is un-approved there)"
        )
    approval.revoked_by = user
    approval.revoked_at = utcnow()
    approval.revoke_reason = reason
    approval.revoked_via = via
    approval.revoked_client = client
    session.flush()
    record = _record(approval, unit.code)
    session.commit()
    return record


def list_approvals(
    session: Session,
    *,
    org_unit: str | None = None,
    include_revoked: bool = False,
    principal: Principal | None = None,
) -> list[ApprovalRecord]:
    """Approvals, newest first; those of ``org_unit``'s subtree, and visible to ``principal``."""
    unit = aliased(OrgUnit)
    query = select(Approval, unit.code, unit.path).join(unit, unit.id == Approval.org_unit_id)
    if org_unit is not None:
        path = session.scalar(select(OrgUnit.path).where(OrgUnit.code == org_unit))
        if path is None:
            raise NotFoundError(f"unknown org unit {org_unit!r}")
        query = query.where(unit.path.startswith(path, autoescape=True))
    if not include_revoked:
        query = query.where(Approval.revoked_at.is_(None))
    query = query.order_by(Approval.approved_at.desc(), Approval.id.desc())
    out = []
    for approval, code, path in session.execute(query):
        if principal is not None and not principal.covers(path):
            continue
        out.append(_record(approval, code))
    return out
