"""Failed sign-ins from two processes at once on one account are all counted.

Each process verifies the password before taking any lock (the slow part),
then counts the failure under the user's row lock (PostgreSQL ``SELECT ...
FOR UPDATE``, SQLite ``BEGIN IMMEDIATE``); the test widens the time between
reading the count and committing it, where concurrent attempts would meet.
Six wrong passwords, three from each process at the same instant: exactly
five are counted (1 to 5 in a row, each once), the fifth locks the account,
and the sixth is refused by the lock. A lost update would repeat a count or
miss the lock (without the locks this test sees 3).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth import passwords, service
from sitroom.db import create_db_engine
from sitroom.errors import AuthenticationError
from sitroom.users.models import AppUser
from tests.unit.auth.conftest import FAST

ATTEMPTS = 3  # per process


def _slowly(record: Callable[..., None]) -> Callable[..., None]:
    """``record`` after a pause: the window between reading the count and committing it
    is widened to where two processes surely meet in it (a lost update would show)."""

    def slow(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.2)
        record(*args, **kwargs)

    return slow


def _fail_logins(url: str, start: float, results: multiprocessing.Queue) -> None:
    """In a process of its own: wait for ``start``, then fail ATTEMPTS sign-ins."""
    service.record = _slowly(service.record)  # type: ignore[attr-defined]  # this process only
    passwords.hasher = lambda: FAST  # type: ignore[assignment]
    engine = create_db_engine(url)
    messages = []
    time.sleep(max(0.0, start - time.time()))
    with Session(engine, expire_on_commit=False) as session:
        for _ in range(ATTEMPTS):
            try:
                service.authenticate_password(session, "ri", "not-the-password-at-all")
            except AuthenticationError as exc:
                messages.append(str(exc))
    engine.dispose()
    results.put(messages)


def test_concurrent_failures_are_counted_exactly(db_url, session):
    service.create_user(
        session,
        "ri",
        role="reporter",
        scopes=[],
        password="amber-Kettle-91-harbour",
        actor="admin",
    )
    session.commit()

    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    start = time.time() + 3.0  # after both processes have imported sitroom
    workers = [spawn.Process(target=_fail_logins, args=(db_url, start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    messages = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    assert sum(len(m) for m in messages) == 2 * ATTEMPTS  # every attempt refused
    user = session.scalar(
        select(AppUser).where(AppUser.username == "ri").execution_options(populate_existing=True)
    )
    assert user.failed_logins == 5
    assert user.locked_until is not None
    events = [(e.event, e.detail) for e in service.auth_events(session, username="ri")]
    failed = [d for e, d in events if e == "login_failed"]
    counted = sorted(d for d in failed if d.startswith("wrong password"))
    assert counted == [f"wrong password ({n} in a row)" for n in range(1, 6)]
    refused_by_lock = [d for d in failed if d.startswith("locked until ")]
    assert len(refused_by_lock) == 1
    assert len(failed) == 6
    assert [e for e, _ in events].count("locked") == 1
