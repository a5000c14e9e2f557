"""CSV exports are safe to open in a spreadsheet (OWASP CSV injection)."""

import csv
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from sitroom.places.models import OrgUnit
from sitroom.surveillance.export import export_values, neutralise_formula
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.ingest import DHIS2_CSV_COLUMNS
from sitroom.surveillance.models import DataValue
from sitroom.surveillance.service import fetch_values

HEADER = list(DHIS2_CSV_COLUMNS)

# (element, storedBy, comment) for KP-01 on 2022-05-15; elements sort by id.
MALICIOUS = [
    ("new_fever", '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0"),
    ("new_recovered", "@SUM(1+1)", "-2+3"),
    ("new_deaths", "dr. kim", "fine"),
]
RECEIVED = datetime(2022, 5, 16, tzinfo=timezone(timedelta(hours=9)))


@pytest.fixture
def tainted(factories, db_session):
    """Three KP-01 values with hostile and benign text (rolled back after the test)."""
    kp01 = factories.OrgUnitFactory(code="KP-01", parent=factories.OrgUnitFactory(code="KP"))
    for element, by, comment in MALICIOUS:
        factories.DataValueFactory(
            element=factories.DataElementFactory(code=element),
            org_unit=kp01,
            period=date(2022, 5, 15),
            value=7,
            stored_by=by,
            comment=comment,
            received_at=RECEIVED,
        )
    return db_session


@pytest.fixture
def imported_tainted(loaded, country, tmp_path):
    """The DPRK setup plus the same three values, imported from a long CSV."""
    path = tmp_path / "tainted.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for element, by, comment in MALICIOUS:
            received = RECEIVED.isoformat()
            writer.writerow(
                [element, "20220515", "KP-01", "", "", "7", by, received, comment, "false", "false"]
            )
    summary = Importer(loaded, country, user="test").run(path)
    assert summary.ok, summary.rejections
    assert summary.created == 3
    return loaded


def _rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _text_cells(path):
    """(element, orgunit, storedby, comment) of each data row of a long CSV."""
    return [(r[0], r[2], r[6], r[8]) for r in _rows(path)[1:]]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("-2+3", "'-2+3"),
        ("\tx", "'\tx"),
        ("\r=1", "'\r=1"),
        ("KP-01", "KP-01"),
        ("dr. kim", "dr. kim"),
        ("fine", "fine"),
        ("a=b", "a=b"),
        ("'=1", "'=1"),
        ("", ""),
        (7, 7),
        (None, None),
    ],
)
def test_neutralise_formula_prefixes_only_formula_like_text(cell, expected):
    assert neutralise_formula(cell) == expected


def test_long_csv_export_neutralises_formula_cells_by_default(tainted, tmp_path):
    path = tmp_path / "out.csv"
    assert export_values(tainted, "csv-long", path) == 3
    assert _text_cells(path) == [
        ("new_fever", "KP-01", '\'=HYPERLINK("http://x","y")', "'+cmd|' /C calc'!A0"),
        ("new_recovered", "KP-01", "'@SUM(1+1)", "'-2+3"),
        ("new_deaths", "KP-01", "dr. kim", "fine"),
    ]
    assert _rows(path)[0] == HEADER
    assert [r[5] for r in _rows(path)[1:]] == ["7", "7", "7"]


def test_long_csv_export_keeps_cells_unchanged_when_neutralising_is_off(tainted, tmp_path):
    path = tmp_path / "raw.csv"
    assert export_values(tainted, "csv-long", path, neutralise_formulas=False) == 3
    assert _text_cells(path) == [
        ("new_fever", "KP-01", '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0"),
        ("new_recovered", "KP-01", "@SUM(1+1)", "-2+3"),
        ("new_deaths", "KP-01", "dr. kim", "fine"),
    ]


def test_leading_tab_and_carriage_return_are_neutralised(tainted, tmp_path):
    # The CSV importer strips cells, so set such values directly.
    benign = update(DataValue).where(DataValue.comment == "fine")
    tainted.execute(benign.values(stored_by="\tkim", comment="\rok"))
    tainted.commit()
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    export_values(tainted, "csv-long", safe)
    export_values(tainted, "csv-long", raw, neutralise_formulas=False)
    assert _text_cells(safe)[2] == ("new_deaths", "KP-01", "'\tkim", "'\rok")
    assert _text_cells(raw)[2] == ("new_deaths", "KP-01", "\tkim", "\rok")


def test_wide_csv_export_neutralises_text_cells(tainted, tmp_path):
    tainted.execute(update(OrgUnit).where(OrgUnit.code == "KP-01").values(code="=KP01"))
    tainted.commit()
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    assert export_values(tainted, "csv-wide", safe) == 3
    export_values(tainted, "csv-wide", raw, neutralise_formulas=False)
    header, row = _rows(safe)
    assert header[:2] == ["org_unit", "period"]
    assert row[:5] == ["'=KP01", "2022-05-15", "7", "7", "7"]
    assert _rows(raw)[1][:5] == ["=KP01", "2022-05-15", "7", "7", "7"]


def test_wide_csv_export_of_benign_cells_is_unchanged(tainted, tmp_path):
    path = tmp_path / "wide.csv"
    export_values(tainted, "csv-wide", path)
    header, row = _rows(path)
    assert header == ["org_unit", "period", *header[2:-1], "received_at"]
    assert row[0] == "KP-01"
    assert row[-1].startswith("2022-05-1")


def test_dhis2_json_export_is_never_changed(tainted, tmp_path):
    path = tmp_path / "out.json"
    export_values(tainted, "dhis2-json", path)
    items = json.loads(path.read_text(encoding="utf-8"))["dataValues"]
    assert [(i["storedBy"], i.get("comment")) for i in items] == [
        (by, comment) for _element, by, comment in MALICIOUS
    ]


def test_raw_export_round_trips_while_a_safe_one_stores_the_quote(
    imported_tainted, country, tmp_path
):
    def texts():
        rows = imported_tainted.execute(select(DataValue.stored_by, DataValue.comment))
        return sorted((by, comment) for by, comment in rows)

    before = texts()
    values = fetch_values(imported_tainted)
    raw, safe = tmp_path / "raw.csv", tmp_path / "safe.csv"
    export_values(imported_tainted, "csv-long", raw, neutralise_formulas=False)
    export_values(imported_tainted, "csv-long", safe)

    imported_tainted.query(DataValue).delete()
    imported_tainted.commit()
    assert Importer(imported_tainted, country, user="x").run(raw).created == 3
    assert texts() == before
    assert fetch_values(imported_tainted) == values

    imported_tainted.query(DataValue).delete()
    imported_tainted.commit()
    assert Importer(imported_tainted, country, user="x").run(safe).created == 3
    assert ("'@SUM(1+1)", "'-2+3") in texts()
