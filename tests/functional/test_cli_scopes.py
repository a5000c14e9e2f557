"""The command line's --user meets the server's checks on reads as on writes (issue #9, item 3).

A name with a role acts within it: a reporter of Chagang (KP-04) reads
Chagang and nothing else, nationally or elsewhere; a name without a role
(the local operator) is not restricted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from sitroom.auth import service as auth

FORBIDDEN = 77  # ForbiddenError's exit code (EX_NOPERM)


@pytest.fixture
def people(outbreak: Session) -> Session:
    for name, role, scope in (
        ("rex", "reporter", "KP-04"),
        ("eve", "epidemiologist", "KP"),
        ("pam", "pharmacist", "KP"),
    ):
        auth.create_user(outbreak, name, role=role, scopes=[scope], password=None, actor="test")
    outbreak.commit()
    return outbreak


@pytest.mark.parametrize(
    ("user", "args", "allowed"),
    [
        ("rex", ["history", "new_fever", "KP-04", "2022-05-15"], True),
        ("rex", ["history", "new_fever", "KP-01", "2022-05-15"], False),
        ("rex", ["bulletin"], False),
        ("eve", ["bulletin"], True),
        ("rex", ["completeness"], False),
        ("eve", ["completeness"], True),
        ("rex", ["validate", "--period", "2022-05-15", "--exit-zero"], False),
        ("rex", ["aggregate", "--period", "2022-05-15", "--org-unit", "KP-04"], True),
        ("rex", ["aggregate", "--period", "2022-05-15", "--org-unit", "KP-01"], False),
        ("rex", ["analyze", "growth", "--org-unit", "KP-04", "--fill", "linear"], True),
        ("rex", ["analyze", "growth", "--org-unit", "Ryanggang", "--fill", "linear"], False),
        ("pam", ["analyze", "growth", "--fill", "linear"], False),
        ("rex", ["events", "list", "--org-unit", "KP-04"], True),
        ("rex", ["events", "add", "KP-04", "2022-05-20", "Pharmacies open all night"], False),
        ("eve", ["events", "add", "KP-04", "2022-05-20", "Pharmacies open all night"], True),
        ("rex", ["places", "tree"], True),
        # The ranked suspects: stock.write over the whole country, not stock.read.
        ("eve", ["supply", "suspects"], False),
        ("pam", ["supply", "suspects"], False),
        ("tester", ["bulletin"], True),
    ],
)
def test_reads_and_writes_are_checked_against_the_acting_users_role_and_scope(
    cli, people: Session, user: str, args: list[str], allowed: bool
) -> None:
    result = cli("--user", user, *args)
    if allowed:
        assert result.code == 0, result.err
    else:
        assert result.code == FORBIDDEN, (result.code, result.out, result.err)
        assert user in result.err
        assert "permission" in result.err or "outside their scopes" in result.err


def test_a_refused_export_writes_no_file(cli, people: Session, tmp_path: Path) -> None:
    target = tmp_path / "pyongyang.csv"
    refused = cli("--user", "rex", "export", "--org-unit", "KP-01", "-o", str(target))
    assert refused.code == FORBIDDEN
    assert "KP-01" in refused.err
    assert not target.exists()
    mine = cli("--user", "rex", "export", "--org-unit", "KP-04", "-o", str(target))
    assert mine.code == 0, mine.err
    assert "KP-04" in target.read_text()
