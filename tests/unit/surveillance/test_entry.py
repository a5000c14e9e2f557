"""The data entry service (surveillance.entry) and the review (surveillance.review)."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.country import Country
from sitroom.errors import ForbiddenError, SitroomError
from sitroom.surveillance import approvals, entry
from sitroom.surveillance.approvals import ApprovalIndex
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.models import DataValue, DataValueAudit, ImportRun
from sitroom.surveillance.review import review

#: 2022-05-20 at 12:00 in Pyongyang (UTC+9): the window of 2022-05-20 is open.
NOON = datetime(2022, 5, 20, 3, 0, tzinfo=UTC)
DAY = date(2022, 5, 20)
REX = Principal("rex", "reporter", ("/KP/KP-04/",), ("KP-04",))
EVE = Principal("eve", "epidemiologist", ("/KP/",), ("KP",))


def store(
    db: Session, country: Country, unit: str, period: date, at: datetime, **values: int
) -> None:
    body = {
        "dataValues": [
            {"dataElement": e, "orgUnit": unit, "period": period.isoformat(), "value": str(v)}
            for e, v in values.items()
        ]
    }
    summary = Importer(db, country, user="loader", now=at).run(
        io.BytesIO(json.dumps(body).encode()), name="seed.json"
    )
    assert summary.ok, summary.rejections


def versions(
    db: Session, country: Country, unit: str = "KP-04", period: date = DAY
) -> dict[str, str]:
    form = entry.entry_form(db, country, org_unit=unit, period=period, now=NOON)
    return {f.element: f.version for f in form.fields}


def submit(db: Session, country: Country, period: date = DAY, now: datetime = NOON, **kw: object):
    values = {k: str(v) for k, v in kw.items() if k not in ("reasons", "correction", "seen")}
    seen = kw.get("seen") or versions(db, country, period=period)
    sub = entry.Submission(
        values,
        seen,  # type: ignore[arg-type]
        kw.get("reasons") or {},  # type: ignore[arg-type]
        str(kw.get("correction") or ""),
    )
    return entry.submit(
        db,
        country,
        org_unit="KP-04",
        period=period,
        submission=sub,
        user="rex",
        principal=REX,
        client="10.0.0.4",
        now=now,
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("", None), ("  ", None), ("0", 0), ("1,204", 1204), ("392 920", 392920), (" 7 ", 7)],
)
def test_parse_entry_reads_counts_with_digit_groups(text: str, value: int | None) -> None:
    assert entry.parse_entry(text) == value


@pytest.mark.parametrize(("text", "why"), [("-3", "negative"), ("1.5", "whole"), ("x", "number")])
def test_parse_entry_refuses_what_is_not_a_count(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        entry.parse_entry(text)


def test_the_form_is_the_open_period_with_the_stored_and_previous_values(
    loaded: Session, country: Country
) -> None:
    store(loaded, country, "KP-04", DAY - timedelta(days=1), NOON - timedelta(days=1), new_fever=9)
    store(loaded, country, "KP-04", DAY, NOON, new_fever=11)
    form = entry.entry_form(loaded, country, org_unit="KP-04", principal=REX, now=NOON)
    assert form.period == DAY
    assert form.is_open
    assert not form.overdue
    assert form.next_label is None
    assert [f.element for f in form.fields] == country.data_sets[0].elements
    fever = form.fields[0]
    assert (fever.previous, fever.current.value if fever.current else None) == (9, 11)
    assert fever.required
    assert fever.version == fever.current.version if fever.current else False
    # Past 18:00 local the open window is the next day's.
    evening = datetime(2022, 5, 20, 9, 30, tzinfo=UTC)
    assert entry.open_period(country, evening) == date(2022, 5, 21)
    with pytest.raises(ForbiddenError):
        entry.entry_form(loaded, country, org_unit="KP-01", principal=REX, now=NOON)
    with pytest.raises(SitroomError, match="has not begun"):
        entry.entry_form(
            loaded, country, org_unit="KP-04", period=DAY + timedelta(days=1), now=NOON
        )


def test_a_day_is_written_through_the_importer_with_the_web_channel(
    loaded: Session, country: Country
) -> None:
    result = submit(loaded, country, new_fever=12, new_deaths=0)
    assert result.status == "saved"
    assert set(result.written) == {"new_fever", "new_deaths"}
    assert not result.late
    run = loaded.get(ImportRun, result.import_id)
    assert run is not None
    assert (run.channel, run.client, run.user) == ("web", "10.0.0.4", "rex")
    again = submit(loaded, country, new_fever=12, new_deaths=0)
    assert again.status == "unchanged"


def test_errors_refuse_and_rules_the_form_does_not_touch_do_not(
    loaded: Session, country: Country
) -> None:
    result = submit(loaded, country, new_fever=5, confirmed=10)
    assert result.status == "invalid"
    (check,) = result.checks
    assert (check.rule, check.blocking, check.anchor) == (
        "suspected_ge_confirmed",
        True,
        "new_fever",
    )
    assert (check.left, check.operator, check.right) == (5, ">=", 10)
    assert "value_new_fever" in result.errors
    assert loaded.scalar(select(DataValue.id)) is None
    # Stored values that already fail, left as they are, do not block another field.
    store(loaded, country, "KP-04", DAY, NOON, new_fever=5, confirmed=10)
    other = submit(loaded, country, new_fever=5, confirmed=10, tested=40)
    assert other.status == "saved", other.errors
    assert [c.touched for c in other.checks if c.rule == "suspected_ge_confirmed"] == [False]


def test_a_warning_needs_a_reason_which_becomes_the_comment(
    loaded: Session, country: Country
) -> None:
    store(
        loaded,
        country,
        "KP-04",
        DAY - timedelta(days=1),
        NOON - timedelta(days=1),
        under_treatment=100,
    )
    figures = {"new_fever": 50, "new_recovered": 0, "new_deaths": 0, "under_treatment": 100}
    refused = submit(loaded, country, **figures)
    assert refused.status == "invalid"
    assert set(refused.errors) == {"reason_treatment_balance"}
    accepted = submit(
        loaded, country, reasons={"treatment_balance": " moved\n to hospital "}, **figures
    )
    assert accepted.status == "saved"
    comments = set(loaded.scalars(select(DataValue.comment).where(DataValue.period == DAY)))
    assert comments == {"moved to hospital"}


def test_a_late_value_is_marked(loaded: Session, country: Country) -> None:
    late = submit(loaded, country, period=DAY - timedelta(days=2), new_fever=3)
    assert late.status == "saved"
    assert late.late
    assert "marked late" in late.message


def test_a_correction_needs_a_reason_and_leaves_an_audit_row(
    loaded: Session, country: Country
) -> None:
    earlier = DAY - timedelta(days=1)
    store(loaded, country, "KP-04", earlier, NOON - timedelta(days=1), new_fever=10)
    refused = submit(loaded, country, period=earlier, new_fever=11)
    assert refused.status == "invalid"
    assert set(refused.errors) == {"correction"}
    assert refused.corrected == ("new_fever",)
    fixed = submit(loaded, country, period=earlier, new_fever=11, correction="double count")
    assert fixed.status == "saved"
    audit = loaded.scalar(select(DataValueAudit))
    assert audit is not None
    assert (audit.old_value, audit.new_value, audit.new_comment) == (10, 11, "double count")
    # A value entered for the first time on an earlier day is late, not a correction.
    first = submit(loaded, country, period=earlier, new_fever=11, new_deaths=1)
    assert first.status == "saved"
    assert first.corrected == ()


def test_a_value_changed_since_the_form_was_read_is_a_conflict(
    loaded: Session, country: Country
) -> None:
    seen = versions(loaded, country)
    store(loaded, country, "KP-04", DAY, NOON, new_fever=25)
    result = submit(loaded, country, seen=seen, new_fever=21)
    assert result.status == "conflict"
    assert result.conflicts == ("new_fever",)
    assert "Someone changed" in result.message
    assert loaded.scalar(select(DataValue.value)) == 25


def test_an_approved_period_writes_nothing(loaded: Session, country: Country) -> None:
    approvals.approve(loaded, "KP", DAY.isoformat(), user="eve", principal=EVE, via="web")
    form = entry.entry_form(loaded, country, org_unit="KP-04", period=DAY, now=NOON)
    assert form.read_only
    assert form.approval is not None
    assert (form.approval.org_unit, form.approval.approved_by) == ("KP", "eve")
    result = submit(loaded, country, new_fever=1)
    assert result.status == "approved"
    assert loaded.scalar(select(DataValue.id)) is None


def test_approval_index_covering_names_where_and_who(loaded: Session) -> None:
    approvals.approve(loaded, "KP-04", DAY.isoformat(), user="eve")
    index = ApprovalIndex.load(loaded, [DAY])
    cover = index.covering("/KP/KP-04/KP-04-X/", "daily", DAY)
    assert cover is not None
    assert (cover.org_unit, cover.approved_by) == ("KP-04", "eve")
    assert index.covering("/KP/KP-01/", "daily", DAY) is None
    assert index.covering("/KP/KP-04/", "daily", DAY + timedelta(days=1)) is None
    assert "approved by eve" in (index.refuses("/KP/KP-04/", "daily", DAY) or "")


def test_the_review_counts_received_late_missing_and_findings(
    loaded: Session, country: Country
) -> None:
    day = date(2022, 5, 18)
    store(
        loaded,
        country,
        "KP-04",
        day,
        datetime(2022, 5, 18, 5, tzinfo=UTC),
        new_fever=5,
        confirmed=8,
    )
    store(loaded, country, "KP-01", day, datetime(2022, 5, 19, 9, tzinfo=UTC), new_fever=7)
    seen = review(loaded, country, principal=EVE, now=datetime(2022, 5, 19, 3, tzinfo=UTC))
    assert seen.period == day  # the latest closed window by default
    assert [u.code for u in seen.received] == ["KP-01", "KP-04"]
    assert [u.code for u in seen.late] == ["KP-01"]
    assert len(seen.missing) == 11
    assert [(f.org_unit, f.rule, f.left, f.right) for f in seen.findings] == [
        ("KP-04", "suspected_ge_confirmed", 5, 8)
    ]
    kp04 = next(u for u in seen.units if u.code == "KP-04")
    assert (kp04.by, kp04.values, kp04.findings, kp04.late) == (("loader",), 2, 1, False)
    mine = review(loaded, country, principal=REX, period=day)
    assert [u.code for u in mine.units] == ["KP-04"]
    assert not mine.can_approve
    assert [s.code for s in seen.scopes] == ["KP"]
