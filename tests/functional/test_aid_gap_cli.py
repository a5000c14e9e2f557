"""``sitroom aid gap`` and ``sitroom aid suggest`` on the 2022 series (issue #12, items
5 and 7): the gap's arithmetic holds row by row, suggestions ask for the median gap,
``--create`` drafts them, and bad input exits non-zero with nothing written."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.aid.models import AidRequest


@pytest.fixture
def partnered(cli, outbreak: Session) -> Session:
    made = cli("aid", "partner", "add", "CN", "--name", "China", "--kind", "government")
    assert made.code == 0, made.err
    return outbreak


def test_the_gap_adds_up_row_by_row(cli, partnered: Session) -> None:
    result = cli("aid", "gap", "--end", "2022-05-25", "--horizon", "14", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["horizon"] == 14
    rows = report["rows"]
    national = [r for r in rows if r["national"]]
    assert {r["item"] for r in national} == {r["item"] for r in rows}
    assert len(rows) > len(national)
    for row in rows:
        # No stock and no pipeline in this database: the gap is the need.
        assert row["stock"] == 0
        assert row["pledged"] == row["shipped"] == 0
        assert row["gap_median"] == row["need_median"]
        assert row["need_lower"] <= row["need_median"] <= row["need_upper"]
    # The national need is the sum of the regions' medians, within rounding up.
    para = [r for r in rows if r["item"] == "PARA-500"]
    regions = sum(r["need_median"] for r in para if not r["national"])
    total = next(r["need_median"] for r in para if r["national"])
    assert math.isclose(total, regions, rel_tol=0.001, abs_tol=len(para))
    text = cli("aid", "gap", "--end", "2022-05-25", "--horizon", "14")
    assert text.code == 0, text.err
    assert "PARA-500" in text.out


def test_suggest_then_draft(cli, partnered: Session) -> None:
    gap = json.loads(cli("aid", "gap", "--end", "2022-05-25", "--json").out)
    short = {r["item"]: r for r in gap["rows"] if r["national"] and r["gap_median"] > 0}
    assert short
    shown = cli("aid", "suggest", "--end", "2022-05-25", "--json")
    assert shown.code == 0, shown.err
    suggestions = json.loads(shown.out)["suggestions"]
    assert {s["item"] for s in suggestions} == set(short)
    for s in suggestions:
        assert s["quantity"] == short[s["item"]]["gap_median"]  # the median, not the bound
        assert s["partner"] == "CN"
        assert s["channel"] == "diplomatic_note"
    assert partnered.scalar(select(func.count()).select_from(AidRequest)) == 0

    drafted = cli("aid", "suggest", "--end", "2022-05-25", "--create", "--json")
    assert drafted.code == 0, drafted.err
    drafts = json.loads(drafted.out)["drafts"]
    assert len(drafts) == len(suggestions)
    assert {d["status"] for d in drafts} == {"draft"}
    assert sorted(d["lines"][0]["quantity"] for d in drafts) == sorted(
        s["quantity"] for s in suggestions
    )
    assert all(d["gap"]["item"] == d["lines"][0]["item"] for d in drafts)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org-unit", "KP-99"], "unknown org unit"),
        (["--end", "20-05-2022"], "is not a day"),
        (["--model", "crystal"], "unknown forecast model"),
    ],
)
def test_bad_input(cli, partnered: Session, args: list[str], message: str) -> None:
    result = cli("aid", "suggest", "--create", *args)
    assert result.code == 1, result.out
    assert message in result.err
    assert partnered.scalar(select(func.count()).select_from(AidRequest)) == 0
