"""Managing users: creation and its refusals, roles, scopes, passwords, the audit of each."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sitroom.auth import service
from sitroom.auth.permissions import Principal
from sitroom.errors import AuthenticationError, NotFoundError, SitroomError, WeakPasswordError
from sitroom.users.models import AppUser
from sitroom.users.service import ensure_user

pytestmark = pytest.mark.usefixtures("fast_hashing")

PASSWORD = "amber-Kettle-91-harbour"


def _events(session, username):
    return [(e.event, e.actor, e.detail) for e in service.auth_events(session, username=username)]


def test_create_user_with_role_scopes_and_password(db_session, places):
    user = service.create_user(
        db_session,
        "ri",
        role="reporter",
        scopes=["KP-04"],
        password=PASSWORD,
        display_name="Ri Chol",
        actor="admin",
    )
    assert (user.username, user.role, user.scopes, user.display_name) == (
        "ri",
        "reporter",
        ("KP-04",),
        "Ri Chol",
    )
    assert user.has_password
    assert not user.disabled
    assert user.failed_logins == 0
    assert user.password_changed_at is not None
    stored = db_session.scalar(select(AppUser.password_hash).where(AppUser.username == "ri"))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert service.principal_for(db_session, "ri") == Principal(
        "ri", "reporter", ("/KP/KP-04/",), ("KP-04",)
    )
    assert _events(db_session, "ri") == [
        ("user_created", "admin", "role reporter; scopes KP-04; password set")
    ]


def test_a_user_without_a_password_cannot_sign_in_until_one_is_set(db_session, places):
    user = service.create_user(
        db_session, "kim", role="viewer", scopes=["KP"], password=None, actor="admin"
    )
    assert not user.has_password
    with pytest.raises(AuthenticationError):
        service.authenticate_password(db_session, "kim", "")
    service.set_password(db_session, "kim", PASSWORD, actor="admin")
    db_session.commit()
    assert service.authenticate_password(db_session, "kim", PASSWORD).username == "kim"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "doctor"}, "unknown role 'doctor': choose one of admin, epidemiologist"),
        ({"scopes": ["KP-04", "KP-99", "XX"]}, "unknown org unit code(s): 'KP-99', 'XX'"),
        ({"password": "short-pass"}, "the password is too short"),
        ({"password": "ri-chol-secret-2022"}, "contains the user name"),
    ],
)
def test_create_user_refuses_bad_input(db_session, places, kwargs, message):
    args = {"role": "reporter", "scopes": ["KP-04"], "password": PASSWORD, **kwargs}
    with pytest.raises(SitroomError) as refused:
        service.create_user(db_session, "ri-chol", actor="admin", **args)
    assert message in str(refused.value)
    assert db_session.scalar(select(AppUser).where(AppUser.username == "ri-chol")) is None


def test_a_weak_password_is_its_own_error(db_session, places):
    with pytest.raises(WeakPasswordError):
        service.create_user(
            db_session, "ri", role="reporter", scopes=[], password="password", actor="admin"
        )


def test_a_duplicate_user_is_refused_even_in_another_case(db_session, places):
    service.create_user(db_session, "ri", role="reporter", scopes=[], password=None, actor="a")
    with pytest.raises(SitroomError, match="the user 'ri' already exists"):
        service.create_user(db_session, "ri", role="viewer", scopes=[], password=None, actor="a")
    with pytest.raises(SitroomError, match="the user 'ri' already exists"):
        service.create_user(db_session, "RI", role="viewer", scopes=[], password=None, actor="a")


def test_a_name_registered_by_the_command_line_gets_a_hint(db_session, places):
    ensure_user(db_session, "tester")
    with pytest.raises(SitroomError, match=r"registered by a command's --user: .* set-role"):
        service.create_user(
            db_session, "tester", role="viewer", scopes=[], password=None, actor="a"
        )
    record = service.set_role(db_session, "tester", "viewer", actor="a")
    assert record.role == "viewer"
    assert _events(db_session, "tester") == [("role_set", "a", "none -> viewer")]


@pytest.mark.parametrize("name", ["", "two words", "tab\tname", "x" * 101, "semi;colon"])
def test_bad_user_names_are_refused(db_session, name):
    with pytest.raises(SitroomError, match="bad user name"):
        service.create_user(db_session, name, role="viewer", scopes=[], password=None, actor="a")


def test_list_and_get_users(db_session, places):
    ensure_user(db_session, "tester")
    service.create_user(
        db_session, "ri", role="reporter", scopes=["KP-04", "KP-01"], password=None, actor="a"
    )
    users = service.list_users(db_session)
    assert [(u.username, u.role, u.scopes) for u in users] == [
        ("ri", "reporter", ("KP-01", "KP-04")),
        ("tester", None, ()),
    ]
    assert service.get_user(db_session, "ri").to_dict()["scopes"] == ["KP-01", "KP-04"]
    with pytest.raises(NotFoundError, match="unknown user 'nobody'"):
        service.get_user(db_session, "nobody")


def test_disable_and_enable(db_session, places):
    service.create_user(
        db_session, "ri", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="a"
    )
    assert service.disable_user(db_session, "ri", actor="a").disabled
    db_session.commit()
    with pytest.raises(AuthenticationError, match="sign-in refused"):
        service.authenticate_password(db_session, "ri", PASSWORD)
    with pytest.raises(AuthenticationError, match="cannot act"):
        service.principal_for(db_session, "ri")
    assert not service.enable_user(db_session, "ri", actor="a").disabled
    db_session.commit()
    assert service.authenticate_password(db_session, "ri", PASSWORD).role == "reporter"
    events = [e for e, _, _ in _events(db_session, "ri")]
    assert events == ["login_ok", "user_enabled", "login_failed", "user_disabled", "user_created"]


def test_set_password_checks_the_policy_and_clears_the_lock(db_session, places):
    service.create_user(
        db_session, "ri", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="a"
    )
    user = db_session.scalar(select(AppUser).where(AppUser.username == "ri"))
    user.failed_logins = 5
    with pytest.raises(WeakPasswordError, match="too short"):
        service.set_password(db_session, "ri", "abc", actor="a")
    service.set_password(db_session, "ri", "new-Kettle-91-harbour", actor="a")
    record = service.get_user(db_session, "ri")
    assert record.failed_logins == 0
    assert record.locked_until is None
    assert _events(db_session, "ri")[0] == ("password_set", "a", None)


def test_grant_and_revoke_scopes(db_session, places):
    service.create_user(
        db_session, "ri", role="reporter", scopes=["KP-04"], password=None, actor="a"
    )
    record = service.grant_scope(db_session, "ri", ["KP-01", "KP-04"], actor="a")
    assert record.scopes == ("KP-01", "KP-04")
    assert service.principal_for(db_session, "ri").covers("/KP/KP-01/")
    with pytest.raises(NotFoundError, match="'KP-77'"):
        service.grant_scope(db_session, "ri", ["KP-77"], actor="a")
    record = service.revoke_scope(db_session, "ri", ["KP-04"], actor="a")
    assert record.scopes == ("KP-01",)
    assert not service.principal_for(db_session, "ri").covers("/KP/KP-04/KP-04-KANGGYE/")
    with pytest.raises(SitroomError, match=r"'ri' has no scope KP-04 \(their scopes: KP-01\)"):
        service.revoke_scope(db_session, "ri", ["KP-04"], actor="a")
    assert [(e, d) for e, _, d in _events(db_session, "ri")][:2] == [
        ("scope_revoked", "KP-04"),
        ("scope_granted", "KP-01"),
    ]


def test_set_role_refuses_an_unknown_role(db_session, places):
    service.create_user(db_session, "ri", role="reporter", scopes=[], password=None, actor="a")
    with pytest.raises(SitroomError, match="unknown role"):
        service.set_role(db_session, "ri", "superuser", actor="a")
    assert service.set_role(db_session, "ri", "epidemiologist", actor="a").role == "epidemiologist"
