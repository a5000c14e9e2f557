"""Idempotency keys: a request sent again under the same key is answered, not run again.

A client that sends a batch with an ``Idempotency-Key`` and loses the answer
(a timeout, a dropped connection) sends it again with the same key; the
server must not apply it twice. The state lives in the database
(``idempotency_record``), so every worker and machine of a deployment sees
it:

* :func:`claim` inserts the record (unique per user and key) and commits it
  before the request runs: the first request owns the key. A second one finds
  the record: the same request gets the stored answer (or waits for it while
  the first still runs); a different request under the same key is refused.
* :func:`complete` stores the answer; :func:`release` gives the key up when
  the request failed in a way worth retrying (a server error, busy), so that
  the retry runs.
* Records older than :data:`RETENTION` are purged (each claim purges them):
  a key may be used again after a day.

Nothing here knows HTTP: the server's ``conditional.idempotent`` does the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sitroom.auth.models import IdempotencyRecord
from sitroom.db import DEFAULT_LOCK_TIMEOUT, begin_write, utcnow
from sitroom.errors import ConflictError, SitroomError

#: How long an answer is kept for retries (and a key stays taken).
RETENTION = timedelta(hours=24)
#: A request still unanswered after this long is taken as lost (its worker
#: died): a retry then runs it. Longer than any request runs (the lock
#: timeout times the import's attempts, with room to spare).
ABANDONED_AFTER = timedelta(minutes=15)
#: How often a retry looks for the first request's answer while it waits.
POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request owns the key: run it, then :func:`complete` or :func:`release`."""

    id: int


@dataclass(frozen=True, slots=True)
class Answered:
    """The key's request was answered before: this is its answer, to send again."""

    status_code: int
    content_type: str
    body: bytes


class KeyReused(SitroomError):
    """The key was used for a different request (another body, method or path)."""


class InProgress(ConflictError):
    """The key's first request is still running (past the wait)."""


def claim(
    session: Session,
    *,
    username: str,
    key: str,
    method: str,
    path: str,
    request_sha256: str,
    wait: float = DEFAULT_LOCK_TIMEOUT,
) -> Claimed | Answered:
    """Take ``key`` for this request, or find the answer of the request that took it.

    ``request_sha256`` fingerprints the request (method, path and body); the
    same key with another fingerprint raises :class:`KeyReused`. While the
    first request runs, a retry waits up to ``wait`` seconds for its answer,
    then raises :class:`InProgress`. Commits ``session`` (its own, not the
    request's: the claim must be visible to other workers before the request runs).
    """
    deadline = time.monotonic() + wait
    while True:
        now = utcnow()
        begin_write(session, wait)
        session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - RETENTION)
        )
        record = IdempotencyRecord(
            username=username,
            key=key,
            method=method,
            path=path[:500],
            request_sha256=request_sha256,
            created_at=now,
        )
        session.add(record)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
        else:
            session.commit()
            return Claimed(record.id)
        found = _found(
            session,
            username=username,
            key=key,
            method=method,
            path=path,
            request_sha256=request_sha256,
        )
        if isinstance(found, Answered):
            return found
        if found is not None and found.created_at < now - ABANDONED_AFTER:
            taken = _take_over(session, found, now)
            if taken is not None:
                return taken
        session.rollback()
        if time.monotonic() >= deadline:
            raise InProgress(
                f"Idempotency-Key: a request with the key {key!r} is in progress;"
                " wait for its answer, or send this again in a moment"
            )
        time.sleep(POLL_SECONDS)


def _found(
    session: Session, *, username: str, key: str, method: str, path: str, request_sha256: str
) -> Answered | IdempotencyRecord | None:
    """The key's record: its answer, the record while unanswered, or None if it is gone."""
    found = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.username == username, IdempotencyRecord.key == key
        )
    )
    if found is None:
        return None  # purged or released meanwhile: try to take it again
    if (found.request_sha256, found.method, found.path) != (request_sha256, method, path[:500]):
        raise KeyReused(
            f"Idempotency-Key: the key {key!r} was used for a different request"
            f" ({found.method} {found.path}, another body) in the last"
            f" {RETENTION.total_seconds() / 3600:.0f} hours; send a new key with a new request"
        )
    if found.status_code is not None:
        return Answered(
            found.status_code, found.content_type or "application/json", found.response_body or b""
        )
    return found


def _take_over(session: Session, found: IdempotencyRecord, now: datetime) -> Claimed | None:
    """Claim a record whose request was lost, unless another retry took it first."""
    begin_write(session)
    taken = session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == found.id,
            IdempotencyRecord.created_at == found.created_at,
            IdempotencyRecord.status_code.is_(None),
        )
        .values(created_at=now)
    )
    if getattr(taken, "rowcount", 0) == 1:
        session.commit()
        return Claimed(found.id)
    session.rollback()
    return None


def complete(
    session: Session, claimed: Claimed, status_code: int, content_type: str, body: bytes
) -> None:
    """Store the answer of the claimed request, for its retries. Commits."""
    begin_write(session)
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == claimed.id)
        .values(status_code=status_code, content_type=content_type[:100], response_body=body)
    )
    session.commit()


def release(session: Session, claimed: Claimed) -> None:
    """Give the key up (the request failed before it was answered): a retry will run. Commits."""
    begin_write(session)
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.id == claimed.id, IdempotencyRecord.status_code.is_(None)
        )
    )
    session.commit()


def purge(session: Session, *, older_than: timedelta = RETENTION) -> int:
    """Delete the records older than ``older_than``; how many. Commits."""
    begin_write(session)
    done = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - older_than)
    )
    session.commit()
    return int(getattr(done, "rowcount", 0) or 0)
