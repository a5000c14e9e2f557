"""Roles, scopes and the one check: the whole matrix against a table written by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sitroom.auth.models import AUTH_EVENTS, EVENT_CHECK
from sitroom.auth.permissions import ROLES, Permission, Principal, authorize, markdown_table
from sitroom.errors import ForbiddenError, SitroomError
from sitroom.users.models import ROLE_CHECK

ROOT = Path(__file__).resolve().parents[3]

# The expected answers, written out (not derived from ROLES): Y = the role has
# the permission. Columns: admin, epidemiologist, reporter, logistician,
# pharmacist, coordinator, viewer.
EXPECTED = """
permission      adm epi rep log pha coo vie
aid.read         Y   Y   .   .   .   Y   Y
aid.write        Y   .   .   .   .   Y   .
analysis.read    Y   Y   Y   Y   .   Y   Y
audit.read       Y   Y   .   .   .   .   .
data.approve     Y   Y   .   .   .   .   .
data.read        Y   Y   Y   Y   Y   Y   Y
data.write       Y   Y   Y   .   .   .   .
events.write     Y   Y   .   .   .   .   .
report.publish   Y   Y   .   .   .   .   .
stock.dispense   Y   .   .   .   Y   .   .
stock.read       Y   Y   .   Y   Y   Y   Y
stock.write      Y   .   .   Y   .   .   .
users.manage     Y   .   .   .   .   .   .
"""
ROLE_ORDER = (
    "admin",
    "epidemiologist",
    "reporter",
    "logistician",
    "pharmacist",
    "coordinator",
    "viewer",
)


def _expected() -> dict[tuple[str, str], bool]:
    lines = EXPECTED.strip().splitlines()[1:]
    table = {}
    for line in lines:
        permission, *marks = line.split()
        assert len(marks) == len(ROLE_ORDER), line
        for role, mark in zip(ROLE_ORDER, marks, strict=True):
            table[role, permission] = mark == "Y"
    return table


EXPECTED_TABLE = _expected()

INSIDE = "/KP/KP-04/KP-04-KANGGYE/"  # below the scope KP-04
AT_SCOPE = "/KP/KP-04/"
OUTSIDE = "/KP/KP-01/"

CELLS = [
    (role, permission, where)
    for role in ROLE_ORDER
    for permission in sorted({p for _, p in EXPECTED_TABLE})
    for where in ("inside", "outside", "no org unit")
]


def test_the_expected_table_names_every_role_and_permission():
    assert set(ROLES) == set(ROLE_ORDER)
    assert {p for _, p in EXPECTED_TABLE} == {p.value for p in Permission}


@pytest.mark.parametrize(("role", "permission", "where"), CELLS)
def test_the_authorisation_matrix(role, permission, where):
    principal = Principal("ana", role, ("/KP/KP-04/",), ("KP-04",))
    path = {"inside": INSIDE, "outside": OUTSIDE, "no org unit": None}[where]
    allowed = EXPECTED_TABLE[role, permission] and where != "outside"
    if allowed:
        authorize(principal, permission, path)
    else:
        with pytest.raises(ForbiddenError):
            authorize(principal, permission, path)
    assert principal.can(permission) is EXPECTED_TABLE[role, permission]


def test_the_matrix_has_every_cell():
    assert len(CELLS) == 7 * 13 * 3


def test_a_scope_covers_itself_and_its_subtree_only():
    principal = Principal("ana", "reporter", ("/KP/KP-04/",), ("KP-04",))
    assert principal.covers(AT_SCOPE)
    assert principal.covers(INSIDE)
    assert principal.covers("/KP/KP-04")  # without the closing separator
    assert not principal.covers(OUTSIDE)
    assert not principal.covers("/KP/")  # the parent is not inside
    # A code that merely starts like the scope's is another unit.
    assert not principal.covers("/KP/KP-041/")
    assert not Principal("ana", "reporter", ("/KP/KP-0",), ("KP-0",)).covers("/KP/KP-04/")


def test_the_country_scope_covers_everything_and_no_scope_covers_nothing():
    national = Principal("chief", "epidemiologist", ("/KP/",), ("KP",))
    assert national.covers(INSIDE)
    assert national.covers(OUTSIDE)
    nowhere = Principal("new", "admin")
    assert not nowhere.covers("/KP/")
    authorize(nowhere, "users.manage", None)
    with pytest.raises(ForbiddenError):
        authorize(nowhere, "data.read", "/KP/")


def test_a_user_without_a_role_may_do_nothing():
    cli_user = Principal("tester", None, ("/KP/",), ("KP",))
    for permission in Permission:
        assert not cli_user.can(permission)
    with pytest.raises(ForbiddenError, match="no role"):
        authorize(cli_user, "data.read", None)


def test_refusals_name_the_user_the_permission_and_the_org_unit():
    reporter = Principal("ri", "reporter", ("/KP/KP-04/",), ("KP-04",))
    with pytest.raises(ForbiddenError) as refused:
        authorize(reporter, "data.approve", INSIDE)
    assert (
        str(refused.value) == "user 'ri' (role reporter) does not have the permission data.approve"
    )
    with pytest.raises(ForbiddenError) as refused:
        authorize(reporter, "data.write", OUTSIDE)
    assert str(refused.value) == (
        "user 'ri' may not use data.write on org unit KP-01: outside their scopes (KP-04)"
    )
    assert refused.value.exit_code == 77


def test_an_unknown_permission_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown permission"):
        authorize(Principal("a", "admin", ("/KP/",), ("KP",)), "data.delete", None)


def test_permissions_are_kept_sorted():
    values = [p.value for p in Permission]
    assert values == sorted(values)


def test_the_docs_table_is_the_code_table():
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert markdown_table() in text, "docs/security.md: paste permissions.markdown_table()"


def test_the_schema_checks_the_same_roles_and_events():
    assert re.findall(r"'([a-z_]+)'", ROLE_CHECK) == list(ROLES)
    assert re.findall(r"'([a-z_]+)'", EVENT_CHECK) == list(AUTH_EVENTS)


def test_an_unknown_role_is_refused_with_the_choices():
    from sitroom.auth.permissions import check_role

    with pytest.raises(SitroomError, match="unknown role 'doctor': choose one of admin, "):
        check_role("doctor")
