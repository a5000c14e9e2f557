from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from sitroom.country import load_country
from sitroom.setup import setup_country
from sitroom.surveillance.imports import Importer, _SeenKeys, parse_count
from sitroom.surveillance.models import DataValue, DataValueAudit, ImportRun
from sitroom.surveillance.periods import parse_period
from sitroom.surveillance.service import fetch_values, value_history
from tests.conftest import DATA, DEMO

WHEN = datetime(2022, 5, 16, 0, 0, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def importer(session, country, user="reporter", now=WHEN):
    return Importer(session, country, user=user, now=now)


def count(session, model=DataValue):
    return session.scalar(select(func.count()).select_from(model))


def test_real_files_import_with_their_mappings(outbreak):
    values = fetch_values(outbreak, start=date(2022, 5, 15), end=date(2022, 5, 15))
    assert values[("KP", date(2022, 5, 15))] == {
        "new_fever": 392_920,
        "new_recovered": 152_600,
        "new_deaths": 8,
        "cum_fever": 1_213_550,
        "cum_recovered": 648_630,
        "under_treatment": 564_860,
        "cum_deaths": 50,
    }
    # "Jagang" in the broadcast is ISO's Chagang, KP-04.
    assert values[("KP-04", date(2022, 5, 15))]["new_fever"] == 7_651
    assert count(outbreak) == 548 + 2_756


def test_importing_the_same_file_again_changes_nothing(outbreak, country):
    summary = importer(outbreak, country).run(DEMO / "fever_national.csv")
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 548)
    assert summary.previously_imported is not None
    assert count(outbreak, DataValueAudit) == 0


def test_a_correction_keeps_the_old_value_in_the_audit(loaded, country, tmp_path):
    first = write(tmp_path, "a.csv", "org_unit,period,new_fever\nKP-01,2022-05-15,100\n")
    fixed = write(tmp_path, "b.csv", "org_unit,period,new_fever\nKP-01,2022-05-15,120\n")
    importer(loaded, country, user="alice").run(first)
    later = datetime(2022, 5, 17, tzinfo=UTC)
    summary = importer(loaded, country, user="bob", now=later).run(fixed)
    assert (summary.created, summary.updated) == (0, 1)

    history = value_history(loaded, "new_fever", "KP-01", date(2022, 5, 15))
    assert [(e.action, e.value, e.by, e.source) for e in history] == [
        ("created", 100, "alice", "import:a.csv"),
        ("updated", 120, "bob", "import:b.csv"),
    ]
    # Timestamps written through the DBAPI read back through the ORM as aware UTC.
    assert history[0].at == WHEN
    assert history[1].at == later
    assert audit_times_are_utc(loaded)
    audit = loaded.scalars(select(DataValueAudit)).one()
    assert (audit.old_value, audit.new_value, audit.changed_by) == (100, 120, "bob")


def audit_times_are_utc(session):
    audit = session.scalars(select(DataValueAudit)).one()
    value = session.scalars(select(DataValue)).one()
    return all(
        t.tzinfo is not None and t.utcoffset().total_seconds() == 0
        for t in (audit.old_set_at, audit.changed_at, value.received_at, value.updated_at)
    )


def test_dry_run_counts_but_writes_nothing(loaded, country, tmp_path):
    path = write(
        tmp_path, "a.csv", "org_unit,period,new_fever,new_deaths\nKP-01,2022-05-15,100,1\n"
    )
    summary = importer(loaded, country).run(path, dry_run=True)
    assert (summary.created, summary.committed) == (2, False)
    assert count(loaded) == 0
    assert count(loaded, ImportRun) == 0


def test_receipt_time_decides_lateness(loaded, country, tmp_path):
    # Deadline for period 2022-05-15: 05-15 18:00 + 6 h grace
    # = 05-16 00:00 Pyongyang = 05-15 15:00 UTC.
    path = write(
        tmp_path,
        "a.csv",
        "org_unit,period,new_fever,received_at\n"
        "KP-01,2022-05-15,1,2022-05-15T23:30\n"
        "KP-02,2022-05-15,1,2022-05-16T08:00\n"
        "KP-03,2022-05-15,1,2022-05-15T14:00:00+00:00\n",
    )
    importer(loaded, country).run(path)
    late = dict(
        loaded.execute(
            select(DataValue.org_unit_id, DataValue.late).order_by(DataValue.org_unit_id)
        ).all()
    )
    assert list(late.values()) == [False, True, False]


def test_blank_cells_are_no_value(loaded, country):
    importer(loaded, country).run(DEMO / "fever_national.csv")
    values = fetch_values(loaded, start=date(2022, 5, 23), end=date(2022, 5, 23))
    # The source printed a dash for new deaths that day: no value, not zero.
    assert "new_deaths" not in values[("KP", date(2022, 5, 23))]


def test_dhis2_json_round_trip_and_delete_semantics(session, tmp_path):
    """DHIS2's own payloads: a value, then the same without value, which deletes it."""
    test_country = load_country(DATA / "dhis2test" / "country.toml")
    setup_country(session, test_country)
    # The payloads as DHIS2 ships them: monthly (201201), like the data set.
    run = Importer(session, test_country, user="dhis2", now=WHEN)
    created = run.run(DATA / "dhis2" / "dataValueSetJ.json")
    assert (created.format, created.created) == ("dhis2-json", 1)
    deleted = run.run(DATA / "dhis2" / "dataValueSetJDeleteNoValue.json")
    assert deleted.deleted == 1
    assert count(session) == 0
    history = value_history(session, "f7n9E0hX8qk", "DiszpKrYNg8", date(2012, 1, 1))
    assert [(e.action, e.value) for e in history] == [("created", 10), ("deleted", None)]


def test_a_period_of_another_type_than_the_data_sets_is_refused(session, tmp_path):
    test_country = load_country(DATA / "dhis2test" / "country.toml")
    setup_country(session, test_country)
    text = (DATA / "dhis2" / "dataValueSetJ.json").read_text(encoding="utf-8")
    for period, kind in (("20120115", "day"), ("2012W3", "week")):
        path = write(tmp_path, "j.json", text.replace('"201201"', f'"{period}"'))
        summary = Importer(session, test_country, user="x").run(path)
        assert not summary.ok
        assert summary.rejections[0].reason == (
            f"'{period}' is a {kind}: f7n9E0hX8qk is reported monthly (periods like 201201)"
        )
    summary = Importer(session, test_country, user="x").run(
        DATA / "dhis2" / "docs_read_response.json"
    )
    # The manual's payload: each value rejected with its own line number, for
    # its non-default category option combo.
    assert summary.rejected == 3
    assert {r.line for r in summary.rejections} == {7, 14, 21}
    assert {r.field for r in summary.rejections} == {"categoryOptionCombo"}


def test_dhis2_csv_is_read_by_position(session, tmp_path):
    test_country = load_country(DATA / "dhis2test" / "country.toml")
    setup_country(session, test_country)
    text = (DATA / "dhis2" / "dataValueSetB.csv").read_text(encoding="utf-8")
    # DHIS2's sample stamps every value 2012-01-01, before February's and
    # March's periods began: sitroom refuses a receipt before its period, so
    # the stamps move to the end of March.
    text = text.replace('"2012-01-01"', '"2012-03-31"')
    summary = Importer(session, test_country, user="x").run(write(tmp_path, "b.csv", text))
    assert summary.format == "csv-long"
    assert summary.ok, summary.rejections
    assert summary.created == 12
    row = session.scalars(select(DataValue).where(DataValue.value == 10001)).one()
    assert (row.stored_by, row.comment, row.period) == ("john", "comment", date(2012, 1, 1))


def test_rejections_are_reported_once_per_bad_row(loaded, country, tmp_path):
    path = write(
        tmp_path, "a.csv", "org_unit,period,new_fever,new_deaths\nNowhere,2022-05-15,1,2\n"
    )
    summary = importer(loaded, country).run(path)
    assert summary.rejected == 1
    assert summary.rejections[0].field == "org_unit"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("392920", 392920), (" 7 ", 7)],
)
def test_parse_count_accepts_whole_non_negative_numbers(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-1", "negative"),
        ("1.5", "not a whole number"),
        ("1e3", "not a whole number"),
        ("x", "not a number"),
        ("", "not a number"),
        ("9" * 14, "too large"),
    ],
)
def test_parse_count_refuses_the_rest(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_count(text)


def test_parse_period_reads_iso_and_dhis2_days_weeks_and_months():
    day = ("daily", date(2022, 5, 15))
    assert parse_period("2022-05-15") == parse_period("20220515") == day
    week = ("weekly", date(2022, 5, 16))  # ISO week 20 of 2022 starts on Monday 16 May
    assert parse_period("2022W20") == parse_period("2022-W20") == week
    assert parse_period("2020W53") == ("weekly", date(2020, 12, 28))
    assert parse_period("202205") == parse_period("2022-05") == ("monthly", date(2022, 5, 1))
    for bad, reason in (
        ("2022-5-15", "not a period"),
        ("2022-0515", "not a period"),
        ("20220230", "not a real date"),
        ("2022W53", "not a real ISO week"),
        ("2022W0", "not a real ISO week"),
        ("202213", "not a real month"),
        ("1899W52", "outside the years"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse_period(bad)


def test_seen_keys_find_every_duplicate_across_merges():
    seen = _SeenKeys()
    rng = np.random.default_rng(1)
    all_keys = rng.choice(10**9, size=50_000, replace=False).astype(np.int64)
    for chunk in np.array_split(all_keys, 37):
        assert not seen.contains(chunk).any()
        seen.add(chunk)
    probe = np.concatenate([all_keys[::101], np.array([10**9 + 1, 10**9 + 2], dtype=np.int64)])
    found = seen.contains(probe)
    assert found[:-2].all()
    assert not found[-2:].any()
    assert len(seen._runs) <= 17  # stays logarithmic


def test_progress_reports_every_byte_read(loaded, country):
    seen = []
    path = DEMO / "fever_by_region.csv"
    importer(loaded, country).run(path, progress=seen.append)
    assert sum(seen) == path.stat().st_size
    assert len(seen) == 690  # once per line


@pytest.mark.parametrize(
    ("stored", "rows", "why"),
    [
        ("", ["KP-01,2022-05-15,5", "KP-02,2022-05-15,6", "KP-01,2022-05-15,5"], "new value twice"),
        (
            "KP-01,2022-05-15,5",
            ["KP-01,2022-05-15,5", "KP-02,2022-05-15,1", "KP-01,2022-05-15,9"],
            "unchanged value, then a different one",
        ),
        (
            "KP-01,2022-05-15,5",
            ["KP-01,2022-05-15,7", "KP-02,2022-05-15,1", "KP-01,2022-05-15,7"],
            "the same correction twice",
        ),
    ],
)
def test_duplicates_across_batches_are_found(loaded, country, tmp_path, stored, rows, why):
    header = "org_unit,period,new_fever\n"
    if stored:
        importer(loaded, country).run(write(tmp_path, "stored.csv", header + stored + "\n"))
    before = fetch_values(loaded)
    path = write(tmp_path, "dup.csv", header + "\n".join(rows) + "\n")
    summary = Importer(loaded, country, user="x", now=WHEN, batch_size=2).run(path)
    assert summary.rejected == 1, why
    assert summary.rejections[0].line == 4
    assert "duplicate" in summary.rejections[0].reason
    assert fetch_values(loaded) == before  # nothing written


def test_batches_give_the_same_result_as_one(loaded, country):
    small = Importer(loaded, country, user="x", now=WHEN, batch_size=7).run(
        DEMO / "fever_by_region.csv"
    )
    assert (small.created, small.rejected) == (2756, 0)
    again = Importer(loaded, country, user="x", now=WHEN, batch_size=7).run(
        DEMO / "fever_by_region.csv"
    )
    assert (again.unchanged, again.rejected) == (2756, 0)


def test_a_duplicate_many_batches_later_is_found_in_the_database(loaded, country, tmp_path):
    rows = [
        "KP-01,2022-05-15,5",
        "KP-02,2022-05-15,6",
        "KP-03,2022-05-15,7",
        "KP-04,2022-05-15,8",
        "KP-01,2022-05-15,9",
    ]
    path = write(tmp_path, "late_dup.csv", "org_unit,period,new_fever\n" + "\n".join(rows) + "\n")
    summary = Importer(loaded, country, user="x", now=WHEN, batch_size=1).run(path)
    assert summary.rejected == 1
    assert summary.rejections[0].line == 6
    assert count(loaded) == 0
