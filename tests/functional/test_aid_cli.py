"""``sitroom aid ...`` from the command line (issue #12, items 7 and 8): the 2022
request and offer typed as a coordinator would, ``--json`` output, bad input and
a coordinator outside their scope (a non-zero exit, nothing written)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from sitroom.auth import service as auth

FORBIDDEN = 77  # ForbiddenError's exit code (EX_NOPERM)


def _rows(session: Session) -> dict[str, int]:
    session.rollback()
    return {
        table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in ("aid_partner", "aid_request", "aid_offer", "aid_message", "aid_event")
    }


@pytest.fixture
def partners(cli, loaded: Session) -> Session:
    auth.create_user(loaded, "kim", role="coordinator", scopes=["KP-04"], password=None, actor="t")
    auth.create_user(loaded, "vic", role="viewer", scopes=["KP"], password=None, actor="t")
    loaded.commit()
    for args in (
        ["CN", "--name", "People's Republic of China", "--kind", "government", "--iso", "CN"],
        ["KR", "--name", "Republic of Korea", "--kind", "government", "--iso", "KR"],
    ):
        assert cli("aid", "partner", "add", *args).code == 0
    made = cli("aid", "partner", "contact", "KR", "--name", "Liaison office",
               "--channel", "liaison_office", "--json")  # fmt: skip
    assert json.loads(made.out)["contacts"][0]["channel"] == "liaison_office"
    return loaded


def test_a_request_sent_and_answered(cli, partners: Session) -> None:
    made = cli(
        "aid", "request", "create", "--partner", "CN", "--line", "PCR-TEST=100000",
        "--line", "PARA-500=5000000", "--channel", "diplomatic_note",
        "--reason", "No PCR tests in stock", "--needed-by", "2022-05-31",
        "--time", "2022-05-16T09:00", "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    request = json.loads(made.out)
    assert request["number"] == "REQ-2022-0001"
    assert request["status"] == "draft"
    assert [line["quantity"] for line in request["lines"]] == [100_000, 5_000_000]

    sent = cli("aid", "request", "send", "REQ-2022-0001", "--time", "2022-05-16T10:00")
    assert sent.code == 0, sent.err
    assert "REQ-2022-0001: sent" in sent.out
    answered = cli("aid", "request", "status", "REQ-2022-0001", "partly_accepted",
                   "--accept", "PCR-TEST=80000", "--time", "2022-05-18T10:00")  # fmt: skip
    assert answered.code == 0, answered.err
    assert "PCR-TEST 100,000 (80,000 accepted)" in answered.out

    shown = json.loads(cli("aid", "request", "show", "REQ-2022-0001", "--json").out)
    whats = [entry["what"] for entry in shown["timeline"]]
    assert whats.count("status") == 3
    assert whats.count("message") == 2
    assert json.loads(cli("aid", "log", "overdue", "--json").out) == []


def test_the_offer_that_got_no_answer(cli, partners: Session) -> None:
    offer = cli(
        "aid", "offer", "record", "--partner", "KR", "--line", "VAC-COV=1000000@2023-01-01",
        "--line", "MASK-MED=2000000", "--channel", "liaison_office",
        "--time", "2022-05-16T09:00", "--answer-by", "2022-05-19T18:00", "--json",
    )  # fmt: skip
    assert offer.code == 0, offer.err
    assert json.loads(offer.out)["lines"][0]["expiry"] == "2023-01-01"
    notice = cli(
        "aid", "log", "add", "OFF-2022-0001", "--direction", "out", "--kind", "notice",
        "--channel", "liaison_office", "--summary", "Notice: 'not yet received'",
        "--awaits-answer", "--time", "2022-05-16T10:00", "--json",
    )  # fmt: skip
    assert notice.code == 0, notice.err
    due = json.loads(notice.out)["answer_due_at"]
    assert due == "2022-05-17T01:00:00+00:00"  # 24 hours ([aid] answer_hours), in UTC

    found = json.loads(cli("aid", "log", "overdue", "--at", "2022-05-20T12:00", "--json").out)
    assert sorted((o["kind"], o["waiting_for"]) for o in found) == [
        ("message", "partner"),
        ("message", "us"),
    ]
    table = cli("aid", "log", "list", "OFF-2022-0001", "--at", "2022-05-20")
    assert table.code != 0  # log list has no --at: a clear usage error, not a traceback
    assert "Traceback" not in table.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partner", "XX", "--line", "ORS=1"], "unknown partner 'XX'"),
        (["--partner", "CN", "--line", "NOPE=5"], "unknown item 'NOPE'"),
        (["--partner", "CN", "--line", "ORS=-5"], "negative"),
        (["--partner", "CN", "--line", "ORS=2.5"], "ORS=2.5"),
        (["--partner", "CN", "--line", "ORS"], "write ITEM=QUANTITY"),
        (["--partner", "CN", "--line", "ORS=1", "--time", "2099-01-01T00:00"], "in the future"),
    ],
)
def test_bad_input_exits_non_zero_and_writes_nothing(
    cli, partners: Session, args: list[str], message: str
) -> None:
    before = _rows(partners)
    result = cli("aid", "request", "create", "--channel", "email", "--reason", "r", *args)
    assert result.code == 1, result.out
    assert message in result.err
    assert "Traceback" not in result.err
    assert _rows(partners) == before


def test_a_coordinator_outside_their_scope(cli, partners: Session) -> None:
    before = _rows(partners)
    national = cli("--user", "kim", "aid", "request", "create", "--partner", "CN",
                   "--line", "ORS=1", "--channel", "email", "--reason", "r")  # fmt: skip
    assert national.code == FORBIDDEN
    assert "outside their scopes" in national.err
    viewer = cli("--user", "vic", "aid", "partner", "add", "UN", "--name", "UN",
                 "--kind", "un_agency")  # fmt: skip
    assert viewer.code == FORBIDDEN
    assert _rows(partners) == before
    mine = cli("--user", "kim", "aid", "request", "create", "--partner", "CN", "--line",
               "ORS=1", "--channel", "email", "--reason", "r", "--org-unit", "KP-04")  # fmt: skip
    assert mine.code == 0, mine.err
    assert cli("--user", "vic", "aid", "request", "list", "--json").code == 0
