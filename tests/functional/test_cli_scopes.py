"""The command line's --user meets the server's checks on reads as on writes (issue #9, item 3).

A name with a role acts within it: a reporter of Chagang (KP-04) reads
Chagang and nothing else, nationally or elsewhere; a name without a role
(the local operator) is not restricted.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

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


# The ledger's export and verification: the facilities in the user's scopes -------------

CHAGANG = ("WH-KP-04", "PH-KP-04-CHANGGANG-001")
PYONGYANG = "WH-KP-01"


@pytest.fixture
def stocked(people: Session) -> Session:
    """Stock received in Chagang (two facilities) and Pyongyang (one); a logistician
    and a viewer of Chagang."""
    from sitroom.supply.ledger import Ledger, Movement

    when = datetime(2022, 5, 20, 9, tzinfo=ZoneInfo("Asia/Pyongyang"))
    summary = Ledger(people, user="test").post(
        [
            Movement(when, "receipt", code, "PARA-500", 100, lot="L1", expiry=date(2030, 1, 1))
            for code in (*CHAGANG, PYONGYANG)
        ],
        source="test",
    )
    assert summary.committed, summary.rejections
    for name, role in (("lou", "logistician"), ("vic", "viewer")):
        auth.create_user(people, name, role=role, scopes=["KP-04"], password=None, actor="test")
    people.commit()
    return people


def _exported(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as rows:
        return [row["facility"] for row in csv.DictReader(rows)]


def test_the_export_holds_the_facilities_in_the_users_scopes(
    cli, stocked: Session, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "ledger.csv"
    mine = cli("--user", "lou", "supply", "export", "-o", str(target))
    assert mine.code == 0, mine.err
    assert sorted(_exported(target)) == sorted(CHAGANG)
    assert "lou's scopes: KP-04" in mine.out
    one = cli("--user", "vic", "supply", "export", "--facility", CHAGANG[0], "-o", str(target))
    assert one.code == 0, one.err
    assert _exported(target) == [CHAGANG[0]]
    everything = cli("supply", "export", "-o", str(target))  # the operator: not restricted
    assert sorted(_exported(target)) == sorted((*CHAGANG, PYONGYANG)), everything.err

    refused = out / "pyongyang.csv"
    outside = cli("--user", "lou", "supply", "export", "--facility", PYONGYANG, "-o", str(refused))
    assert outside.code == FORBIDDEN, (outside.code, outside.err)
    assert "may not use stock.read on org unit KP-01: outside their scopes (KP-04)" in outside.err
    no_role = cli("--user", "rex", "supply", "export", "-o", str(refused))
    assert no_role.code == FORBIDDEN
    assert "does not have the permission stock.read" in no_role.err
    assert list(out.iterdir()) == [target]  # nothing written, not even a part


def test_the_ledger_is_verified_over_the_users_scopes(cli, stocked: Session) -> None:
    mine = cli("--user", "lou", "supply", "verify", "--json")
    assert mine.code == 0, mine.err
    assert (json.loads(mine.out)["entries"], json.loads(mine.out)["balances"]) == (2, 2)
    said = cli("--user", "lou", "supply", "verify").out
    assert "ledger verified (the facilities in lou's scopes: KP-04): 2 entries" in said
    whole = json.loads(cli("supply", "verify", "--json").out)
    assert (whole["ok"], whole["entries"]) == (True, 3)
    # Verifying is the API's stock.write: a viewer is refused, with why.
    viewer = cli("--user", "vic", "supply", "verify")
    assert viewer.code == FORBIDDEN
    assert "'vic' (role viewer) does not have the permission stock.write" in viewer.err
