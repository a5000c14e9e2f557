"""What every step of aid coordination shares: look-ups, checks, numbers, history.

A step gathers every reason to refuse before it writes anything, and raises
one :class:`AidRefused` listing them all; it runs in a write transaction of
its own (:func:`sitroom.db.run_write`), so a refusal or a failure leaves
nothing behind. Who may act: ``aid.write`` over the org unit of the record
(the country for a national request, a region for a regional one), and
``stock.write`` over the warehouse a shipment is received into.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, refusal
from sitroom.db import DEFAULT_LOCK_TIMEOUT, run_write, utcnow
from sitroom.errors import ForbiddenError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.models import Facility, Item

from .models import AidEvent, Partner

T = TypeVar("T")
R = TypeVar("R")

#: A time this far ahead of the clock is "in the future" (clocks differ a little).
FUTURE_SLACK_SECONDS = 300
#: The longest free text (a reason, a summary, conditions).
MAX_TEXT = 10_000
#: The prefixes of the numbers of each kind of record: ``REQ-2022-0001``.
PREFIXES = {"request": "REQ", "offer": "OFF", "pledge": "PLG", "shipment": "SHP"}
#: PostgreSQL advisory lock of aid's numbering (space, key): one writer numbers at a time.
LOCK_AID = (0x5180, 0)


class AidRefused(SitroomError):
    """A step of aid coordination cannot be taken: every reason; nothing was written."""

    def __init__(self, what: str, reasons: Sequence[str]) -> None:
        self.what = what
        self.reasons = list(reasons)
        super().__init__(f"{what}: " + "; ".join(self.reasons) + "; nothing was written")


def write(
    session: Session,
    step: Callable[[], T],
    *,
    what: str,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> T:
    """Run ``step`` in a transaction of its own, serialised with aid's other writers."""
    return run_write(session, step, what=what, lock_timeout=lock_timeout, lock=LOCK_AID)


# Look-ups ---------------------------------------------------------------------------


def load(session: Session, model: type[R], number: str, what: str) -> R:
    """The ``model`` row numbered ``number``, fresh from the database (a concurrent
    writer's change is seen); refused as unknown ``what`` when there is none."""
    query: Any = select(model).where(model.number == number)  # type: ignore[attr-defined]
    found: R | None = session.scalar(query.execution_options(populate_existing=True))
    if found is None:
        raise NotFoundError(f"unknown {what} {number!r}")
    return found


@dataclass(frozen=True, slots=True)
class Unit:
    """An org unit as the checks need it."""

    id: int
    code: str
    name: str
    path: str
    level: int


def org_unit(session: Session, code: str | None) -> Unit:
    """The org unit ``code``, or the country (the root) when None."""
    query = select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.path, OrgUnit.level)
    if code is None:
        row = session.execute(query.where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id)).first()
        if row is None:
            raise NotFoundError("no places are loaded: run sitroom setup first")
    else:
        row = session.execute(query.where(OrgUnit.code == code)).first()
        if row is None:
            raise NotFoundError(f"unknown org unit {code!r}")
    return Unit(int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]))


def unit_by_id(session: Session, unit_id: int) -> Unit:
    row = session.execute(
        select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.path, OrgUnit.level).where(
            OrgUnit.id == unit_id
        )
    ).one()
    return Unit(int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]))


def partner(session: Session, code: str) -> Partner:
    found = session.scalar(select(Partner).where(Partner.code == code))
    if found is None:
        known = session.scalars(select(Partner.code).order_by(Partner.code).limit(20)).all()
        hint = f" (known: {', '.join(known)})" if known else " (none is registered yet)"
        raise NotFoundError(f"unknown partner {code!r}{hint}")
    return found


def items_by_code(session: Session, codes: Sequence[str]) -> dict[str, Item]:
    return {
        item.code: item for item in session.scalars(select(Item).where(Item.code.in_(set(codes))))
    }


def facility(session: Session, code: str) -> tuple[Facility, str]:
    """The facility ``code`` and its org unit's path."""
    row = session.execute(
        select(Facility, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .where(Facility.code == code)
    ).first()
    if row is None:
        raise NotFoundError(f"unknown facility {code!r}")
    return row[0], str(row[1])


# Checks -----------------------------------------------------------------------------


def authorize(principal: Principal | None, permission: Permission, path: str, action: str) -> None:
    """Refuse unless the user may use ``permission`` at the unit of ``path`` (None: anyone)."""
    if principal is None:
        return
    why = refusal(principal, permission, path)
    if why is not None:
        raise ForbiddenError(f"cannot {action}: {why}")


def can_read(principal: Principal | None, path: str) -> bool:
    return principal is None or refusal(principal, Permission.AID_READ, path) is None


def moment(at: datetime | None, now: datetime, what: str, reasons: list[str]) -> datetime:
    """``at`` (or now), refused when it has no time zone or is in the future."""
    when = now if at is None else at
    if when.tzinfo is None:
        reasons.append(f"the time {what} has no time zone")
        return now
    if (when - now).total_seconds() > FUTURE_SLACK_SECONDS:
        reasons.append(f"the time {what} ({when.isoformat()}) is in the future")
    return when


def text(
    value: str | None, what: str, reasons: list[str], *, required: bool, most: int = MAX_TEXT
) -> str | None:
    """``value`` stripped; a reason when it is missing, too long or holds a NUL."""
    value = (value or "").strip()
    if not value:
        if required:
            reasons.append(f"{what} is empty")
        return None
    if len(value) > most:
        reasons.append(f"{what} has {len(value):,} characters, more than {most:,}")
    if "\x00" in value:
        reasons.append(f"{what} contains a NUL character")
    return value[:most]


def choice(value: str, allowed: tuple[str, ...], what: str, reasons: list[str]) -> str:
    if value not in allowed:
        reasons.append(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
    return value


def whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class LineIn:
    """A line of a request, offer, pledge: ``quantity`` whole units of ``item``."""

    item: str
    quantity: int
    expiry: date | None = None


def lines(
    session: Session, given: Sequence[LineIn], reasons: list[str]
) -> list[tuple[Item, LineIn]]:
    """The items of ``given``, checked: known, once each, a whole quantity above 0."""
    if not given:
        reasons.append("no lines: name at least one item and its quantity")
        return []
    items = items_by_code(session, [line.item for line in given])
    seen: set[str] = set()
    out: list[tuple[Item, LineIn]] = []
    for n, line in enumerate(given, 1):
        item = items.get(line.item)
        if item is None:
            reasons.append(f"line {n}: unknown item {line.item!r}")
            continue
        if line.item in seen:
            reasons.append(f"line {n}: {line.item} is listed twice (one line per item)")
            continue
        seen.add(line.item)
        if not whole(line.quantity) or line.quantity <= 0:
            reasons.append(
                f"line {n} ({line.item}): the quantity must be a whole number of"
                f" {item.unit}s above 0 (got {line.quantity!r})"
            )
            continue
        out.append((item, line))
    return out


# Numbers and history ----------------------------------------------------------------


def next_number(session: Session, model: Any, kind: str, when: datetime) -> str:
    """The next ``PREFIX-<year>-NNNN`` of ``model`` (its ``number`` column)."""
    prefix = f"{PREFIXES[kind]}-{when.year}-"
    last = session.scalar(
        select(func.max(model.number)).where(
            model.number.startswith(prefix, autoescape=True),
            func.length(model.number) == len(prefix) + 4,
        )
    )
    tail = last[len(prefix) :] if last else ""
    return f"{prefix}{(int(tail) if tail.isdigit() else 0) + 1:04d}"


def record(
    session: Session,
    subject: str,
    subject_id: int,
    *,
    by: str,
    at: datetime,
    to_status: str,
    from_status: str | None = None,
    note: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> None:
    """Add a step to the append-only history of a request, offer, pledge or shipment."""
    session.add(
        AidEvent(
            subject=subject,
            subject_id=subject_id,
            time=at,
            recorded_at=now(),
            by=by,
            from_status=from_status,
            to_status=to_status,
            note=note,
        )
    )


def alike(moment_: datetime, like: datetime) -> str:
    """``moment_`` in ISO 8601 in the time zone of ``like``: a refusal that compares a
    stored time (UTC) with the time given (the country's, say) writes both alike."""
    if moment_.tzinfo is None or like.tzinfo is None:
        return moment_.isoformat()
    return moment_.astimezone(like.tzinfo).isoformat()


def iso(moment_: datetime | date | None) -> str | None:
    """ISO 8601; a time in UTC, as everything sitroom stores and serves."""
    if moment_ is None:
        return None
    if isinstance(moment_, datetime) and moment_.tzinfo is not None:
        return moment_.astimezone(UTC).isoformat()
    return moment_.isoformat()


def expect(subject: str, number: str, status: str, allowed: Sequence[str], to: str) -> None:
    """Refuse (409) a step from ``status`` when it is not one of ``allowed``."""
    from sitroom.errors import ConflictError

    if status not in allowed:
        raise ConflictError(
            f"{subject} {number} is {status}, not {' or '.join(allowed)}: it cannot become"
            f" {to}; nothing was written"
        )


def change_status(
    session: Session,
    model: Any,
    subject: str,
    row: Any,
    to_status: str,
    *,
    allowed_from: tuple[str, ...],
    by: str,
    at: datetime,
    note: str | None = None,
    values: dict[str, Any] | None = None,
) -> None:
    """Move ``row`` to ``to_status`` if its status is still the one read and one of
    ``allowed_from`` (of two writers, one wins; the other is told what it is now),
    and record the step in the history."""
    from sqlalchemy import update

    from sitroom.errors import ConflictError

    read = row.status
    expect(subject, row.number, read, allowed_from, to_status)
    changed = session.execute(
        update(model)
        .where(model.id == row.id, model.status == read)
        .values(status=to_status, status_at=at, **(values or {}))
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        now_status = session.scalar(select(model.status).where(model.id == row.id))
        raise ConflictError(
            f"{subject} {row.number} was changed meanwhile (it is {now_status} now): nothing"
            " was written"
        )
    record(session, subject, row.id, by=by, at=at, from_status=read, to_status=to_status, note=note)
    session.flush()
    session.expire(row)


def settle(
    session: Session,
    model: Any,
    subject: str,
    row: Any,
    to_status: str,
    *,
    allowed_from: tuple[str, ...],
    reason: str,
    reason_is: str,
    at: datetime | None,
    recorded: datetime,
    previous: datetime,
    step_is: str,
    by: str,
    checks: Callable[[datetime, list[str]], None] | None = None,
    note: Callable[[str], str] | None = None,
) -> None:
    """The last steps of a pledge or shipment that ends (cancelled, closed short): its
    status must be one of ``allowed_from``; a reason is required; the time ``at`` (or
    ``recorded``) may not be in the future nor before the ``previous`` step;
    ``checks`` adds the step's own reasons. Every reason refuses the step at once
    (:class:`AidRefused`); otherwise the status changes and the history records it
    with the reason (or what ``note`` makes of it).

    ``reason_is`` names the reason in a refusal ("the reason for the cancellation"),
    ``step_is`` the step ("the cancellation").
    """
    expect(subject, row.number, row.status, allowed_from, to_status)
    reasons: list[str] = []
    why = text(reason, reason_is, reasons, required=True)
    when = moment(at, recorded, f"of {step_is}", reasons)
    if (at is None or at.tzinfo is not None) and when < previous:
        reasons.append(
            f"{step_is} at {when.isoformat()} is before the {subject}'s previous step"
            f" ({alike(previous, when)})"
        )
    if checks is not None:
        checks(when, reasons)
    if reasons:
        raise AidRefused(f"{subject} {row.number}", reasons)
    said = why or ""
    change_status(
        session,
        model,
        subject,
        row,
        to_status,
        allowed_from=allowed_from,
        by=by,
        at=when,
        note=note(said) if note is not None else said,
    )


def require(principal: Principal | None, permission: Permission) -> None:
    """Refuse a user whose role lacks ``permission`` (anywhere: lists then filter by scope)."""
    if principal is not None and not principal.can(permission):
        role = f"role {principal.role}" if principal.role else "no role"
        raise ForbiddenError(
            f"user {principal.username!r} ({role}) does not have the permission {permission}"
        )


def within(column: Any, principal: Principal | None) -> Any:
    """A SQL condition: the org unit path ``column`` lies in one of the user's scopes."""
    from sqlalchemy import false, or_

    if principal is None:
        return None
    if not principal.scope_paths:
        return false()
    return or_(
        *(
            column.startswith(p if p.endswith("/") else p + "/", autoescape=True)
            for p in principal.scope_paths
        )
    )
