"""The records behind Idempotency-Key: claim, answer, release, purge (no HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sitroom.auth import idempotency
from sitroom.auth.models import IdempotencyRecord
from sitroom.db import utcnow
from sitroom.server.conditional import entity_tags, fingerprint


def _claim(session: Session, sha: str = "a" * 64, key: str = "k", user: str = "rex") -> object:
    return idempotency.claim(
        session,
        username=user,
        key=key,
        method="POST",
        path="/api/v1/dataValues",
        request_sha256=sha,
        wait=0,
    )


def test_a_key_is_claimed_answered_and_replayed(session: Session) -> None:
    first = _claim(session)
    assert isinstance(first, idempotency.Claimed)
    with pytest.raises(idempotency.InProgress, match=r"Idempotency-Key: .* in progress"):
        _claim(session)
    idempotency.complete(session, first, 200, "application/json", b'{"created": 2}')
    again = _claim(session)
    assert again == idempotency.Answered(200, "application/json", b'{"created": 2}')
    with pytest.raises(idempotency.KeyReused, match=r"Idempotency-Key: .*different request"):
        _claim(session, sha="b" * 64)
    # Another user's key of the same name is theirs.
    assert isinstance(_claim(session, user="eve"), idempotency.Claimed)


def test_a_released_key_runs_again_and_old_records_are_purged(session: Session) -> None:
    first = _claim(session)
    assert isinstance(first, idempotency.Claimed)
    idempotency.release(session, first)
    assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    second = _claim(session)
    assert isinstance(second, idempotency.Claimed)
    idempotency.complete(session, second, 200, "application/json", b"{}")
    session.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(days=2)))
    session.commit()
    assert idempotency.purge(session) == 1
    assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_entity_tags_and_fingerprints() -> None:
    assert entity_tags(None) is None
    assert entity_tags('"a", W/"b" ,c') == ("a", "b", "c")
    assert entity_tags('"a", W/"b"', strong=True) == ("a",)
    assert entity_tags("*") == ("*",)
    assert entity_tags("") == ()
    one = fingerprint("POST", "/api/dataValueSets", b"{}")
    assert one == fingerprint("post", "/api/dataValueSets", b"{}")
    assert one != fingerprint("POST", "/api/dataValueSets?dryRun=true", b"{}")
    assert one != fingerprint("POST", "/api/dataValueSets", b"{ }")
