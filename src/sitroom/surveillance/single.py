"""One value at a time: read it with its version tag, change it only if unchanged since.

The API's ``/dataValues/{dataElement}/{orgUnit}/{period}`` is built on this
module; nothing here knows HTTP. A stored value has a *version tag* (the
server's ETag): a hash of what identifies its stored version, the row's id,
the import that last wrote it, its time and its value and comment. A write
names the version the client last read (HTTP's ``If-Match``) or says it
creates only (``If-None-Match: *``); :func:`write_value` compares that with
the stored row and writes, atomically:

1. the transaction starts as a writer (SQLite: ``BEGIN IMMEDIATE``);
2. the period is locked, as every import locks it (PostgreSQL: the period's
   advisory lock), so no other writer can change the value until we commit;
3. the row is read again, under the lock, and its version compared;
4. the value is written through :meth:`Importer.apply` (the one write path:
   the scope check, approvals, the audit row, the import run), and committed.

A refusal (stale version, missing precondition) writes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal, authorize, refusal
from sitroom.country import Country
from sitroom.counts import parse_count
from sitroom.db import DEFAULT_LOCK_TIMEOUT, begin_write, is_db_error, is_retryable, utcnow
from sitroom.errors import BusyError, ConflictError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.places.service import UnitRef
from sitroom.surveillance.bulk import BulkStatements, ConcurrentChange
from sitroom.surveillance.imports import MAX_ATTEMPTS, Importer
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.surveillance.periods import label, parse_period
from sitroom.surveillance.service import period_types

log = logging.getLogger(__name__)

#: Longest comment a single write takes (the batch API's limit).
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class StoredValue:
    """A stored value, with what the API shows of it and its version tag."""

    id: int
    element: str
    org_unit: str
    period: str
    period_type: str
    value: int
    comment: str | None
    stored_by: str
    changed_by: str
    received_at: datetime
    updated_at: datetime
    late: bool
    import_id: int | None

    @property
    def version(self) -> str:
        """The version tag: equal for equal stored versions, different after any write."""
        identity = [
            self.id,
            self.import_id,
            self.updated_at.isoformat(),
            self.value,
            self.comment,
            self.stored_by,
        ]
        digest = hashlib.sha256(json.dumps(identity, ensure_ascii=True).encode()).hexdigest()
        return digest[:32]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataElement": self.element,
            "orgUnit": self.org_unit,
            "period": self.period,
            "value": self.value,
            "comment": self.comment,
            "stored_by": self.stored_by,
            "changed_by": self.changed_by,
            "received_at": self.received_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "late": self.late,
            "import_id": self.import_id,
            "version": self.version,
        }

    def describe(self) -> str:
        """The state in one phrase, for refusals."""
        return (
            f"it is now {self.value} (version {self.version}), set by {self.changed_by}"
            f" at {self.updated_at:%Y-%m-%d %H:%M:%S} UTC"
        )


@dataclass(frozen=True, slots=True)
class Expect:
    """What the client expects of the stored value before it writes (HTTP preconditions).

    ``versions`` are the tags the value may have (``If-Match``); ``("*",)``
    means "any, as long as it exists". ``absent`` means it must not exist
    (``If-None-Match: *``). Neither given: a value that exists is refused
    (:class:`PreconditionRequired`), so that nobody overwrites what they never read.
    """

    versions: tuple[str, ...] | None = None
    absent: bool = False
    #: Tags the stored value must not have (``If-None-Match`` with tags).
    not_versions: tuple[str, ...] = ()

    @property
    def given(self) -> bool:
        return self.versions is not None or self.absent or bool(self.not_versions)


class PreconditionFailed(ConflictError):
    """The stored value is not in the state the client expected; nothing was written.

    ``header`` names the precondition that failed (``If-Match`` or
    ``If-None-Match``); ``current`` is the stored value (None when there is none).
    """

    def __init__(self, header: str, message: str, current: StoredValue | None) -> None:
        super().__init__(f"{header}: {message}")
        self.header = header
        self.current = current


class PreconditionRequired(ConflictError):
    """The value exists and the write did not say which version it replaces."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a single write did: ``created``, ``updated``, ``unchanged`` or ``deleted``."""

    action: Literal["created", "updated", "unchanged", "deleted"]
    value: StoredValue | None  # None after a deletion
    import_id: int


@dataclass(frozen=True, slots=True)
class _Target:
    element: DataElement
    unit: OrgUnit
    period_type: str
    start: date
    label: str


def _target(session: Session, element: str, org_unit: str, period: str) -> _Target:
    found = session.scalar(select(DataElement).where(DataElement.code == element))
    if found is None:
        raise NotFoundError(f"unknown data element {element!r}")
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == org_unit))
    if unit is None:
        raise NotFoundError(f"unknown org unit {org_unit!r}")
    try:
        period_type, start = parse_period(period)
    except ValueError as exc:
        raise SitroomError(f"period: {exc}") from None
    wanted = period_types(session).get(found.code, "daily")
    if period_type != wanted:
        raise SitroomError(
            f"period: {period!r} is not a {wanted} period; {found.code} is reported {wanted}"
        )
    return _Target(found, unit, period_type, start, label(start, period_type))


def _stored(session: Session, target: _Target) -> StoredValue | None:
    row = session.scalar(
        select(DataValue).where(
            DataValue.element_id == target.element.id,
            DataValue.org_unit_id == target.unit.id,
            DataValue.period == target.start,
        )
    )
    if row is None:
        return None
    return StoredValue(
        id=row.id,
        element=target.element.code,
        org_unit=target.unit.code,
        period=target.label,
        period_type=target.period_type,
        value=row.value,
        comment=row.comment,
        stored_by=row.stored_by,
        changed_by=row.changed_by,
        received_at=row.received_at,
        updated_at=row.updated_at,
        late=row.late,
        import_id=row.import_id,
    )


def read_value(
    session: Session,
    element: str,
    org_unit: str,
    period: str,
    *,
    principal: Principal | None = None,
) -> StoredValue:
    """The stored value of ``element`` at ``org_unit`` in ``period``, with its version.

    NotFoundError when the element, the unit or the value does not exist;
    ForbiddenError when ``principal`` may not read the unit's data.
    """
    target = _target(session, element, org_unit, period)
    if principal is not None:
        authorize(principal, "data.read", target.unit.path)
    found = _stored(session, target)
    if found is None:
        raise NotFoundError(f"no value of {element} is stored for {org_unit} in {target.label}")
    return found


def _check(expect: Expect, current: StoredValue | None, what: str, *, deleting: bool) -> None:
    """Raise unless ``current`` is what ``expect`` says the client read."""
    if current is None:
        if expect.versions is not None:
            raise PreconditionFailed(
                "If-Match",
                f"no value of {what} is stored (it was deleted, or never written);"
                " send If-None-Match: * to create it",
                None,
            )
        if deleting:
            raise NotFoundError(f"no value of {what} is stored: nothing to delete")
        return
    if expect.absent:
        raise PreconditionFailed(
            "If-None-Match",
            f"a value of {what} exists already: {current.describe()};"
            " send If-Match with its version to change it",
            current,
        )
    if current.version in expect.not_versions:
        raise PreconditionFailed(
            "If-None-Match", f"the value of {what} is still version {current.version}", current
        )
    if expect.versions is None:
        if expect.not_versions:
            return
        raise PreconditionRequired(
            f"If-Match: a value of {what} exists: send If-Match with the ETag of the value"
            " you read (GET it first), so that a change made since is not overwritten;"
            " or If-None-Match: * to create only"
        )
    if "*" not in expect.versions and current.version not in expect.versions:
        raise PreconditionFailed(
            "If-Match",
            f"the value of {what} changed since you read it: {current.describe()};"
            " read it again and send its ETag",
            current,
        )


def write_value(
    session: Session,
    country: Country,
    *,
    element: str,
    org_unit: str,
    period: str,
    value: int | None,
    comment: str | None = None,
    expect: Expect,
    user: str,
    principal: Principal | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    channel: str = "cli",
    client: str | None = None,
) -> WriteResult:
    """Set (``value``) or delete (``None``) one value if it is as ``expect`` says. Commits.

    The comparison and the write are one transaction under the period's lock
    (see the module's docstring). Raises :class:`PreconditionFailed` or
    :class:`PreconditionRequired` (nothing written), NotFoundError,
    ForbiddenError when ``principal`` may not write the unit's data,
    ConflictError when the importer refuses the value (an approved period,
    say), SitroomError for a bad period, value or comment.
    """
    if value is not None:
        try:
            parse_count(str(value))
        except ValueError as exc:
            raise SitroomError(f"value: {exc}") from None
    if comment is not None and (len(comment) > MAX_COMMENT_CHARS or "\x00" in comment):
        raise SitroomError(
            f"comment: at most {MAX_COMMENT_CHARS} characters, without NUL characters"
        )
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return _write_once(
                session,
                country,
                element=element,
                org_unit=org_unit,
                period=period,
                value=value,
                comment=comment,
                expect=expect,
                user=user,
                principal=principal,
                lock_timeout=lock_timeout,
                channel=channel,
                client=client,
            )
        except ConcurrentChange as exc:  # cannot happen under the lock; kept as the importer does
            session.rollback()
            reason = str(exc)
        except Exception as exc:
            session.rollback()
            if not (is_db_error(exc) and is_retryable(exc)):
                raise
            reason = type(exc).__name__
        log.warning(
            "write of %s %s %s conflicted (%s); attempt %d",
            element,
            org_unit,
            period,
            reason,
            attempt,
        )
        time.sleep(random.uniform(0.05, 0.25) * attempt)
    raise BusyError(
        f"the value conflicted with concurrent changes {MAX_ATTEMPTS} times: nothing was"
        " written; try again in a moment"
    )


def _write_once(
    session: Session,
    country: Country,
    *,
    element: str,
    org_unit: str,
    period: str,
    value: int | None,
    comment: str | None,
    expect: Expect,
    user: str,
    principal: Principal | None,
    lock_timeout: float,
    channel: str,
    client: str | None,
) -> WriteResult:
    begin_write(session, lock_timeout)
    target = _target(session, element, org_unit, period)
    if principal is not None:
        authorize(principal, "data.write", target.unit.path)
    BulkStatements(session.connection()).lock_periods([target.start])
    what = f"{target.element.code} at {target.unit.code} in {target.label}"
    current = _stored(session, target)
    _check(expect, current, what, deleting=value is None)
    item: dict[str, Any] = {
        "dataElement": target.element.code,
        "orgUnit": target.unit.code,
        "period": target.label,
    }
    if value is None:
        item["deleted"] = True
    else:
        item["value"] = str(value)
    if comment is not None:
        item["comment"] = comment
    body = json.dumps({"dataValues": [item]}, ensure_ascii=False).encode()
    scope: Callable[[UnitRef], str | None] | None = None
    if principal is not None:
        who = principal
        scope = lambda unit: refusal(who, "data.write", unit.path)  # noqa: E731
    importer = Importer(
        session,
        country,
        user=user,
        lock_timeout=lock_timeout,
        authorize_unit=scope,
        channel=channel,
        client=client,
        now=utcnow(),
    )
    shown = f"one {'deletion' if value is None else 'value'} from {client or 'unknown'}"
    summary = importer.apply(io.BytesIO(body), name=shown, fmt="dhis2-json")
    if not summary.ok:
        session.rollback()
        reasons = "; ".join(r.reason for r in summary.rejections) or "refused"
        raise ConflictError(f"{what}: {reasons}")
    assert summary.import_id is not None  # an import that writes has one
    after = _stored(session, target)
    session.commit()
    action: Literal["created", "updated", "unchanged", "deleted"]
    if summary.created:
        action = "created"
    elif summary.updated:
        action = "updated"
    elif summary.deleted:
        action = "deleted"
    else:
        action = "unchanged"
    return WriteResult(action, after, summary.import_id)


__all__ = [
    "Expect",
    "PreconditionFailed",
    "PreconditionRequired",
    "StoredValue",
    "WriteResult",
    "read_value",
    "write_value",
]
