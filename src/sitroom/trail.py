"""The audit trail: every write, by whom, when, through which door and from where.

One read model over the tables that already record each kind of write, so
nothing is recorded twice:

* ``import_run``: every batch of values (a file, an API request, a web form),
  with its channel (``file``, ``cli``, ``api``, ``web``), client address and
  counts; the values it changed point back to it;
* ``data_value_audit``: each value an import updated or deleted, with the
  value it replaced (listed with ``values=True``: a large import changes
  thousands);
* ``approval``: approvals and their revocations, with channel and address;
* ``auth_event``: sign-ins, lock-outs, tokens and every change to a user;
* ``event``: the dated events (interventions) entered for the curves;
* ``stock_batch``: every write to the stock ledger (a file, a command, a
  request, a reversal, the simulation), with its channel and entry count, and
  every change to the facility network (a batch without entries saying what
  changed: a facility made or changed, a route declared).

The command line (``sitroom audit``) and the API (``GET /api/v1/audit``) both
call :func:`audit_trail`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from sitroom.auth.models import AuthEvent
from sitroom.auth.permissions import Principal, authorize
from sitroom.db import utcnow
from sitroom.errors import SitroomError
from sitroom.events.models import Event
from sitroom.places.models import OrgUnit
from sitroom.supply.models import NETWORK_SOURCE, StockBatch
from sitroom.surveillance.models import Approval, DataElement, DataValueAudit, ImportRun

#: The kinds of entry, in the order ``--kind`` lists them.
KINDS = ("import", "value", "approval", "security", "event", "supply")
Kind = Literal["import", "value", "approval", "security", "event", "supply"]

#: Entries a listing returns when no limit is given.
DEFAULT_LIMIT = 500
MAX_LIMIT = 100_000


@dataclass(frozen=True)
class AuditEntry:
    """One write. ``channel`` is ``file``, ``cli``, ``api`` or ``web`` where known."""

    time: datetime
    kind: str
    user: str | None
    action: str
    what: str
    channel: str | None = None
    client: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["time"] = self.time.isoformat()
        return out


@dataclass(frozen=True)
class AuditPage:
    """The entries found, oldest first, and how many matched before the limit."""

    entries: list[AuditEntry]
    matched: int

    @property
    def truncated(self) -> bool:
        return self.matched > len(self.entries)


_RELATIVE = re.compile(r"^(\d{1,5})\s*([mhd])$")


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A start time: ``2022-05-20`` (midnight UTC), an ISO time, or ``90m``, ``24h``, ``7d`` ago."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount)}.get(
            unit, timedelta(days=amount)
        )
        return (now or utcnow()) - delta
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SitroomError(
            f"since: {text!r} is not a date (2022-05-20), a time (2022-05-20T18:00+09:00)"
            " or a span back from now (90m, 24h, 7d)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def authorize_audit(session: Session, principal: Principal | None) -> None:
    """Raise ForbiddenError unless ``principal`` may read the whole audit trail.

    The trail names every region's imports, users and addresses, so reading it
    takes ``audit.read`` over the country itself (the root org unit), not a
    region. ``None`` is the command line's local operator: not restricted.
    """
    if principal is None:
        return
    roots = session.scalars(select(OrgUnit.path).where(OrgUnit.parent_id.is_(None))).all()
    authorize(principal, "audit.read", None)
    for path in roots:
        authorize(principal, "audit.read", path)


def audit_trail(
    session: Session,
    *,
    user: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: tuple[str, ...] | None = None,
    values: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> AuditPage:
    """The writes of ``user`` (as actor, or as the subject of a security event) in a span.

    Oldest first; when more than ``limit`` match, the newest ``limit`` are
    kept and ``matched`` says how many there were. Value-level rows come only
    with ``values`` (or ``kinds`` naming ``value``).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise SitroomError(f"limit: give a number from 1 to {MAX_LIMIT:,}")
    chosen = set(kinds or ())
    unknown = chosen - set(KINDS)
    if unknown:
        raise SitroomError(
            f"kind: unknown {', '.join(sorted(unknown))}; choose from {', '.join(KINDS)}"
        )
    if not chosen:
        chosen = set(KINDS) if values else set(KINDS) - {"value"}
    found: list[AuditEntry] = []
    # Each source is cut to the newest ``limit`` in the database: the merge needs no more.
    readers = {
        "import": _imports,
        "value": _values,
        "approval": _approvals,
        "security": _security,
        "event": _events,
        "supply": _supply,
    }
    matched = 0
    for kind in KINDS:
        if kind in chosen:
            entries, count = readers[kind](session, user, since, until, limit)
            found.extend(entries)
            matched += count
    found.sort(key=lambda e: (e.time, KINDS.index(e.kind)))
    return AuditPage(found[-limit:], matched)


def _span(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    out = []
    if since is not None:
        out.append(column >= since)
    if until is not None:
        out.append(column < until)
    return out


def _count_and_rows(session: Session, query: Any, order: Any, limit: int) -> tuple[list[Any], int]:
    from sqlalchemy import func

    count = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.execute(query.order_by(order.desc()).limit(limit)).all()
    return list(rows), count


def _imports(
    session: Session, user: str | None, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[AuditEntry], int]:
    query = select(ImportRun).where(*_span(ImportRun.finished_at, since, until))
    if user is not None:
        query = query.where(ImportRun.user == user)
    rows, count = _count_and_rows(session, query, ImportRun.id, limit)
    entries = [
        AuditEntry(
            time=run.finished_at,
            kind="import",
            user=run.user,
            action="import",
            what=run.file_name,
            channel=run.channel,
            client=run.client,
            detail=(
                f"import #{run.id}: {run.created:,} created, {run.updated:,} updated,"
                f" {run.deleted:,} deleted, {run.unchanged:,} unchanged"
            ),
        )
        for (run,) in rows
    ]
    return entries, count


def _values(
    session: Session, user: str | None, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[AuditEntry], int]:
    query = (
        select(DataValueAudit, DataElement.code, OrgUnit.code, ImportRun.channel, ImportRun.client)
        .join(DataElement, DataElement.id == DataValueAudit.element_id)
        .join(OrgUnit, OrgUnit.id == DataValueAudit.org_unit_id)
        .outerjoin(ImportRun, ImportRun.id == DataValueAudit.import_id)
        .where(*_span(DataValueAudit.changed_at, since, until))
    )
    if user is not None:
        query = query.where(DataValueAudit.changed_by == user)
    rows, count = _count_and_rows(session, query, DataValueAudit.id, limit)
    entries = []
    for audit, element, unit, channel, client in rows:
        new = "deleted" if audit.new_value is None else f"{audit.new_value:,}"
        entries.append(
            AuditEntry(
                time=audit.changed_at,
                kind="value",
                user=audit.changed_by,
                action=audit.action,
                what=f"{element} / {unit} / {audit.period.isoformat()}",
                channel=channel,
                client=client,
                detail=f"{audit.old_value:,} -> {new}"
                + (f" (import #{audit.import_id})" if audit.import_id else ""),
            )
        )
    return entries, count


def _approvals(
    session: Session, user: str | None, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[AuditEntry], int]:
    entries: list[AuditEntry] = []
    total = 0
    unit = aliased(OrgUnit)
    for revoked in (False, True):
        at = Approval.revoked_at if revoked else Approval.approved_at
        by = Approval.revoked_by if revoked else Approval.approved_by
        query = (
            select(Approval, unit.code)
            .join(unit, unit.id == Approval.org_unit_id)
            .where(*_span(at, since, until))
        )
        if revoked:
            query = query.where(Approval.revoked_at.is_not(None))
        if user is not None:
            query = query.where(by == user)
        rows, count = _count_and_rows(session, query, at, limit)
        total += count
        for approval, code in rows:
            what = f"{code} / {approval.period_type} {approval.period.isoformat()}"
            if revoked:
                entries.append(
                    AuditEntry(
                        approval.revoked_at,
                        "approval",
                        approval.revoked_by,
                        "unapprove",
                        what,
                        approval.revoked_via,
                        approval.revoked_client,
                        approval.revoke_reason,
                    )
                )
            else:
                entries.append(
                    AuditEntry(
                        approval.approved_at,
                        "approval",
                        approval.approved_by,
                        "approve",
                        what,
                        approval.approved_via,
                        approval.approved_client,
                    )
                )
    return entries, total


def _security(
    session: Session, user: str | None, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[AuditEntry], int]:
    query = select(AuthEvent).where(*_span(AuthEvent.time, since, until))
    if user is not None:
        query = query.where(or_(AuthEvent.actor == user, AuthEvent.username == user))
    rows, count = _count_and_rows(session, query, AuthEvent.id, limit)
    entries = []
    for (event,) in rows:
        channel = "cli" if event.client == "cli" else None
        entries.append(
            AuditEntry(
                time=event.time,
                kind="security",
                user=event.actor or event.username,
                action=event.event,
                what=event.username or "",
                channel=channel,
                client=None if channel else event.client,
                detail=event.detail,
            )
        )
    return entries, count


def _events(
    session: Session, user: str | None, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[AuditEntry], int]:
    query = (
        select(Event, OrgUnit.code)
        .join(OrgUnit, OrgUnit.id == Event.org_unit_id)
        .where(*_span(Event.created_at, since, until))
    )
    if user is not None:
        query = query.where(Event.created_by == user)
    rows, count = _count_and_rows(session, query, Event.id, limit)
    entries = [
        AuditEntry(
            time=event.created_at,
            kind="event",
            user=event.created_by,
            action="event added",
            what=f"{code} / {event.day.isoformat()} / {event.kind}",
            detail=event.title,
        )
        for event, code in rows
    ]
    return entries, count


def _supply(
    session: Session, user: str | None, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[AuditEntry], int]:
    query = select(StockBatch).where(*_span(StockBatch.created_at, since, until))
    if user is not None:
        query = query.where(StockBatch.created_by == user)
    rows, count = _count_and_rows(session, query, StockBatch.id, limit)
    entries = []
    for (batch,) in rows:
        if batch.entries == 0 and batch.source.startswith(NETWORK_SOURCE):
            action, what = "network change", batch.source[len(NETWORK_SOURCE) :]
            detail = f"stock batch #{batch.id}, no ledger entries"
        else:
            action, what = "stock post", batch.source
            detail = f"stock batch #{batch.id}: {batch.entries:,} ledger entries" + (
                " (simulated)" if batch.simulated else ""
            )
        entries.append(
            AuditEntry(
                time=batch.created_at,
                kind="supply",
                user=batch.created_by,
                action=action,
                what=what,
                channel=batch.channel,
                detail=detail,
            )
        )
    return entries, count
