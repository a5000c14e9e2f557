"""The auth tables' rules in the database itself: roles, events, an append-only audit."""

from __future__ import annotations

import importlib.util

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from sitroom.auth.models import EVENT_CHECK
from sitroom.db import MIGRATIONS_DIR
from sitroom.users.models import ROLE_CHECK
from sitroom.users.service import ensure_user


def _migration(name: str = "0007_auth"):
    path = MIGRATIONS_DIR / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_checks_what_the_models_do():
    assert _migration().ROLE_CHECK == ROLE_CHECK
    # 0009 widened the list of events.
    assert f"event IN ({_migration('0009_server_state')._NEW_EVENTS})" == EVENT_CHECK


def test_the_database_refuses_an_unknown_role(db_session):
    ensure_user(db_session, "ri")
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(text("UPDATE app_user SET role = 'doctor' WHERE username = 'ri'"))


def test_the_database_refuses_an_unknown_event(db_session):
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(
            text("INSERT INTO auth_event (time, event) VALUES ('2040-01-01 00:00:00', 'hacked')")
        )


def test_the_security_audit_stays_append_only_after_0009s_rebuild(db_session):
    # 0009 rebuilt auth_event on SQLite to widen its check; the triggers came back.
    db_session.execute(
        text("INSERT INTO auth_event (time, event) VALUES ('2040-01-01 00:00:00', 'logout')")
    )
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(text("DELETE FROM auth_event"))


@pytest.mark.parametrize(
    "statement", ["UPDATE auth_event SET detail = 'changed'", "DELETE FROM auth_event"]
)
def test_the_security_audit_is_append_only(db_session, statement):
    db_session.execute(
        text(
            "INSERT INTO auth_event (time, username, event) VALUES"
            " ('2040-01-01 00:00:00', 'ri', 'login_ok')"
        )
    )
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(text(statement))
