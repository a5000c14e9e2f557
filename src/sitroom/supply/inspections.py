"""Pharmacy inspections and investigation cases (issue #11, item 9).

An **inspection** is a named inspector's visit: the checklist
(:data:`~sitroom.supply.models.CHECKLIST`: stock matches the ledger, prices as
set, open as posted, records kept), the physical counts (posted through the
ledger as stocktakes in the same transaction, so a count below the ledger
becomes a loss entry), findings and the photos' file names.

A **case** investigates a facility. It is opened from a detection finding
(``sitroom supply suspects``), from an inspection, or from a report, and its
evidence is frozen when it is opened: the finding or the inspection as they
were, the facility's stock then, and its ledger of the last 30 days, stored
as JSON with its SHA-256 (a trigger refuses any change). The case then moves
open → investigating → closed (with an outcome), assigned to someone, each
step and note kept in its append-only history.

Both need ``stock.write`` over the facility (reading cases too: they name
people and accusations).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.db import begin_write, utcnow
from sitroom.errors import ConflictError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.ledger import FUTURE_TOLERANCE, Ledger, Movement, PostSummary
from sitroom.supply.lookups import clean_text, find_facility
from sitroom.supply.models import (
    CASE_SOURCES,
    CASE_STATUSES,
    CHECKLIST,
    Case,
    CaseNote,
    Facility,
    Inspection,
    StockEntry,
)
from sitroom.supply.scopes import within

#: Longest free text kept (findings, notes, outcomes).
MAX_TEXT = 10_000
#: Days of a facility's ledger frozen into a case's evidence.
EVIDENCE_DAYS = 30


@dataclass(frozen=True, slots=True)
class Count:
    """A physical count of one item (one lot, or the only lot held)."""

    item: str
    counted: int
    lot: str | None = None


def _text(value: str, what: str, *, required: bool = True) -> str:
    return clean_text(value, what, most=MAX_TEXT, required=required)


def _not_in_future(at: datetime) -> None:
    """Refuse an inspection dated in the future (as the ledger refuses its stocktakes),
    with counts or without."""
    if at.tzinfo is None:
        raise SitroomError("the inspection's time has no time zone")
    if at > utcnow() + FUTURE_TOLERANCE:
        raise SitroomError(
            f"the inspection's time {at.isoformat()} is in the future: record a visit once"
            " it has taken place"
        )


def record_inspection(
    session: Session,
    facility: str,
    *,
    inspector: str,
    at: datetime,
    checklist: dict[str, bool | None],
    counts: list[Count],
    findings: str = "",
    photos: list[str] | None = None,
    user: str,
    principal: Principal | None = None,
    channel: str = "cli",
) -> tuple[dict[str, Any], PostSummary | None]:
    """Record an inspection and post its counts as stocktakes; all or nothing.

    Returns the inspection and the stocktakes' summary (None without counts).
    An inspection dated in the future is refused (SitroomError), counts or not.
    When a count is refused (an unknown item, a lot to name), nothing is
    recorded and the summary says why.
    """
    unknown = sorted(set(checklist) - set(CHECKLIST))
    if unknown:
        raise SitroomError(
            f"unknown checklist question {', '.join(unknown)}; the questions are"
            f" {', '.join(CHECKLIST)}"
        )
    _not_in_future(at)
    inspector = _text(inspector, "the inspector's name")
    findings = _text(findings, "the findings", required=False)
    names = [_text(p, "a photo's file name") for p in photos or []]
    begin_write(session)
    try:
        place, path = find_facility(session, facility)
        if principal is not None:
            authorize(principal, Permission.STOCK_WRITE, path)
        summary = None
        batch_id = None
        missing = surplus = 0
        if counts:
            ledger = Ledger(session, user=user, channel=channel, principal=principal)
            movements = [
                Movement(at, "stocktake", facility, c.item, c.counted, lot=c.lot, line=n)
                for n, c in enumerate(counts, start=1)
            ]
            summary = ledger.apply(movements, source=f"inspection of {facility} by {inspector}")
            if not summary.ok:
                session.rollback()
                return {}, summary
            batch_id = summary.batch_id
            for delta in session.scalars(
                select(StockEntry.quantity).where(StockEntry.batch_id == batch_id)
            ):
                if delta < 0:
                    missing += -int(delta)
                else:
                    surplus += int(delta)
        row = Inspection(
            facility_id=place.id,
            inspector=inspector,
            inspected_at=at,
            checklist=json.dumps({q: checklist.get(q) for q in CHECKLIST}),
            findings=findings,
            photos=json.dumps(names, ensure_ascii=False),
            stock_batch_id=batch_id,
            missing=missing,
            surplus=surplus,
            recorded_by=user,
            recorded_at=utcnow(),
        )
        session.add(row)
        session.flush()
        record = _inspection(row, facility)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if summary is not None:
        summary.committed = True
    return record, summary


def _inspection(row: Inspection, facility: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "facility": facility,
        "inspector": row.inspector,
        "inspected_at": row.inspected_at.isoformat(),
        "checklist": json.loads(row.checklist),
        "findings": row.findings,
        "photos": json.loads(row.photos),
        "stock_batch": row.stock_batch_id,
        "missing": row.missing,
        "surplus": row.surplus,
        "recorded_by": row.recorded_by,
    }


def _evidence(session: Session, place: Facility, now: datetime) -> dict[str, Any]:
    """The facility's stock now and its ledger of the last :data:`EVIDENCE_DAYS` days."""
    from sitroom.supply.service import ledger_rows, stock_on_hand

    last = session.scalar(
        select(func.max(StockEntry.time)).where(StockEntry.facility_id == place.id)
    )
    # The last 30 days of the facility's own ledger (a history may be years old): only
    # those are read.
    since = (min(last, now) if last else now) - timedelta(days=EVIDENCE_DAYS)
    recent = list(ledger_rows(session, facility=place.code, since=since, recorded_counts=True))
    return {
        "stock": [line.to_dict() for line in stock_on_hand(session, facility=place.code)],
        "ledger_since": since.isoformat(),
        "ledger": recent[-2000:],
    }


def open_case(
    session: Session,
    facility: str,
    *,
    source: str,
    title: str,
    evidence: dict[str, Any] | None = None,
    inspection: int | None = None,
    user: str,
    principal: Principal | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Open a case on ``facility`` with its evidence frozen now.

    ``source`` is ``detection`` (``evidence`` the finding), ``inspection``
    (``inspection`` its id: the inspection is the evidence) or ``report``.
    The facility's stock and recent ledger are added to the evidence.
    """
    if source not in CASE_SOURCES:
        raise SitroomError(f"unknown source {source!r}; choose one of {', '.join(CASE_SOURCES)}")
    title = _text(title, "the case's title")[:300]
    now = now or utcnow()
    begin_write(session)
    try:
        place, path = find_facility(session, facility)
        if principal is not None:
            authorize(principal, Permission.STOCK_WRITE, path)
        frozen: dict[str, Any] = {"source": source, "opened_at": now.isoformat()}
        if source == "inspection":
            if inspection is None:
                raise SitroomError("a case from an inspection names the inspection")
            row = session.get(Inspection, inspection)
            if row is None or row.facility_id != place.id:
                raise NotFoundError(f"no inspection {inspection} of {facility}")
            frozen["inspection"] = _inspection(row, facility)
        elif evidence is not None:
            frozen["finding"] = evidence
        frozen.update(_evidence(session, place, now))
        text = json.dumps(frozen, ensure_ascii=False, sort_keys=True, default=str)
        case = Case(
            facility_id=place.id,
            source=source,
            inspection_id=inspection if source == "inspection" else None,
            title=title,
            evidence=text,
            evidence_sha256=hashlib.sha256(text.encode()).hexdigest(),
            status="open",
            opened_by=user,
            opened_at=now,
        )
        session.add(case)
        session.flush()
        session.add(
            CaseNote(
                case_id=case.id,
                written_by=user,
                written_at=now,
                text=f"opened: {title}",
                status_from=None,
                status_to="open",
            )
        )
        session.commit()
        return case_record(session, case.id)
    except BaseException:
        session.rollback()
        raise


def update_case(
    session: Session,
    case_id: int,
    *,
    user: str,
    note: str = "",
    status: str | None = None,
    assign: str | None = None,
    outcome: str | None = None,
    principal: Principal | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Add a note, assign, move the status on (closing needs an ``outcome``)."""
    if status is not None and status not in CASE_STATUSES:
        raise SitroomError(f"unknown status {status!r}; choose one of {', '.join(CASE_STATUSES)}")
    note = _text(note, "the note", required=False)
    now = now or utcnow()
    begin_write(session)
    try:
        case = session.get(Case, case_id, with_for_update=True)
        if case is None:
            raise NotFoundError(f"no case {case_id}")
        path = session.scalar(
            select(OrgUnit.path)
            .join(Facility, Facility.org_unit_id == OrgUnit.id)
            .where(Facility.id == case.facility_id)
        )
        if principal is not None and path is not None:
            authorize(principal, Permission.STOCK_WRITE, path)
        if case.status == "closed":
            raise ConflictError(f"case {case_id} is closed ({case.outcome})")
        before = case.status
        if status == "closed":
            if not outcome or not outcome.strip():
                raise SitroomError("closing a case says its outcome")
            case.outcome = _text(outcome, "the outcome")
            case.closed_at = now
        if status is not None:
            case.status = status
        if assign is not None:
            case.assigned_to = _text(assign, "the assignee")[:100]
        if not (note or status or assign):
            raise SitroomError("nothing to record: give a note, a status or an assignee")
        session.add(
            CaseNote(
                case_id=case.id,
                written_by=user,
                written_at=now,
                text=note or (f"outcome: {case.outcome}" if status == "closed" else ""),
                status_from=before if status else None,
                status_to=status,
                assigned_to=case.assigned_to if assign is not None else None,
            )
        )
        session.commit()
        return case_record(session, case_id)
    except BaseException:
        session.rollback()
        raise


def case_record(session: Session, case_id: int, *, evidence: bool = False) -> dict[str, Any]:
    """A case with its history (and its frozen evidence on request)."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    facility = session.scalar(select(Facility.code).where(Facility.id == case.facility_id))
    notes = session.scalars(
        select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.id)
    ).all()
    record: dict[str, Any] = {
        "id": case.id,
        "facility": facility,
        "source": case.source,
        "inspection": case.inspection_id,
        "title": case.title,
        "status": case.status,
        "assigned_to": case.assigned_to,
        "outcome": case.outcome,
        "opened_by": case.opened_by,
        "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "evidence_sha256": case.evidence_sha256,
        "history": [
            {
                "by": n.written_by,
                "at": n.written_at.isoformat(),
                "text": n.text,
                "status_from": n.status_from,
                "status_to": n.status_to,
                "assigned_to": n.assigned_to,
            }
            for n in notes
        ],
    }
    if evidence:
        record["evidence"] = json.loads(case.evidence)
    return record


def read_case(
    session: Session, case_id: int, *, principal: Principal | None = None, evidence: bool = True
) -> dict[str, Any]:
    """A case, its history and (``evidence``) its frozen evidence, for a user with
    ``stock.write`` over its facility (ForbiddenError otherwise; NotFoundError if none)."""
    if principal is not None:
        authorize(principal, Permission.STOCK_WRITE, None)
    path = session.scalar(
        select(OrgUnit.path)
        .join(Facility, Facility.org_unit_id == OrgUnit.id)
        .join(Case, Case.facility_id == Facility.id)
        .where(Case.id == case_id)
    )
    if path is None:
        raise NotFoundError(f"no case {case_id}")
    if principal is not None:
        authorize(principal, Permission.STOCK_WRITE, path)
    return case_record(session, case_id, evidence=evidence)


def _visible_cases(query: Any, principal: Principal | None) -> Any:
    """``query`` (joined to the case's org unit) kept to the cases ``principal`` may see:
    ``stock.write`` over the facility (None: every case; no such role: none)."""
    if principal is None:
        return query
    if not principal.can(Permission.STOCK_WRITE):
        return query.where(false())
    return query.where(within(principal))


def list_cases(
    session: Session,
    *,
    status: str | None = None,
    principal: Principal | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The cases the user may see (``stock.write`` over the facility), newest first; the
    first ``limit`` of them. Chosen and cut by the database."""
    if status is not None and status not in CASE_STATUSES:
        raise SitroomError(f"unknown status {status!r}; choose one of {', '.join(CASE_STATUSES)}")
    query = (
        select(Case.id, Facility.code, Case.status, Case.title, Case.opened_at)
        .join(Facility, Facility.id == Case.facility_id)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .order_by(Case.id.desc())
    )
    if status is not None:
        query = query.where(Case.status == status)
    query = _visible_cases(query, principal)
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            "id": case_id,
            "facility": facility,
            "status": state,
            "title": title,
            "opened_at": opened.isoformat(),
        }
        for case_id, facility, state, title, opened in session.execute(query)
    ]


def count_cases(session: Session, *, principal: Principal | None = None) -> dict[str, int]:
    """How many cases of each status the user may see (those :func:`list_cases` lists)."""
    query = (
        select(Case.status, func.count(Case.id))
        .join(Facility, Facility.id == Case.facility_id)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .group_by(Case.status)
    )
    query = _visible_cases(query, principal)
    return {state: int(n) for state, n in session.execute(query)}


def cases_open(session: Session) -> int:
    return int(session.scalar(select(func.count(Case.id)).where(Case.status != "closed")) or 0)


__all__ = [
    "Count",
    "case_record",
    "cases_open",
    "count_cases",
    "list_cases",
    "open_case",
    "read_case",
    "record_inspection",
    "update_case",
]
