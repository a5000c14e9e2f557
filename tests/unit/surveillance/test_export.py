import json
import os
import stat
from datetime import date

import pytest

from sitroom.errors import NotFoundError, SitroomError
from sitroom.surveillance.export import export_values
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.service import fetch_values


@pytest.fixture
def few_values(factories, db_session):
    """KP-01 with two elements on three days, and one value of KP-02 (rolled back after)."""
    kp = factories.OrgUnitFactory(code="KP")
    kp01 = factories.OrgUnitFactory(code="KP-01", parent=kp)
    kp02 = factories.OrgUnitFactory(code="KP-02", parent=kp)
    elements = [factories.DataElementFactory(code=c) for c in ("new_fever", "new_deaths")]
    for day in (10, 11, 12):
        for element in elements:
            factories.DataValueFactory(element=element, org_unit=kp01, period=date(2022, 5, day))
    factories.DataValueFactory(element=elements[0], org_unit=kp02, period=date(2022, 5, 10))
    return db_session


@pytest.mark.parametrize("fmt", ["csv-wide", "csv-long", "dhis2-json"])
def test_export_then_import_gives_back_the_same_values(outbreak, country, fmt, tmp_path):
    suffix = ".json" if fmt == "dhis2-json" else ".csv"
    path = tmp_path / f"all{suffix}"
    assert export_values(outbreak, fmt, path) == 548 + 2_756
    before = fetch_values(outbreak)

    # Into the same database: nothing changes.
    again = Importer(outbreak, country, user="x").run(path)
    assert again.ok, again.rejections
    assert (again.format, again.created, again.updated, again.unchanged) == (fmt, 0, 0, 3304)

    # Into an empty one: the same values come back.
    from sitroom.surveillance.models import DataValue

    outbreak.query(DataValue).delete()
    outbreak.commit()
    fresh = Importer(outbreak, country, user="x").run(path)
    assert fresh.created == 3304
    assert fetch_values(outbreak) == before


def test_dhis2_json_export_uses_codes_and_daily_periods(outbreak_session, tmp_path):
    path = tmp_path / "kp.json"
    export_values(outbreak_session, "dhis2-json", path, org_units=["KP"], elements=["new_fever"])
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["idScheme"] == "CODE"
    first = payload["dataValues"][0]
    assert (first["dataElement"], first["orgUnit"], first["period"], first["value"]) == (
        "new_fever",
        "KP",
        "20220512",
        "18000",
    )


def test_long_csv_export_has_the_dhis2_header(outbreak_session, tmp_path):
    path = tmp_path / "kp.csv"
    export_values(outbreak_session, "csv-long", path, org_units=["KP-04"])
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header == (
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,"
        "value,storedby,lastupdated,comment,followup,deleted"
    )


def test_a_failed_export_leaves_no_file(few_values, tmp_path, monkeypatch):
    folder = tmp_path / "exports"
    folder.mkdir()
    path = folder / "out.csv"

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("sitroom.surveillance.export._write_wide", boom)
    with pytest.raises(RuntimeError):
        export_values(few_values, "csv-wide", path)
    assert list(folder.iterdir()) == []


def test_an_export_takes_the_mode_new_files_get(few_values, tmp_path):
    old = os.umask(0o027)
    try:
        export_values(few_values, "csv-long", tmp_path / "out.csv", org_units=["KP-01"])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o640


def test_an_export_refuses_a_missing_folder_unknown_codes_and_inverted_ranges(few_values, tmp_path):
    with pytest.raises(SitroomError, match="no such folder"):
        export_values(few_values, "csv-long", tmp_path / "none" / "out.csv")
    assert not (tmp_path / "none").exists()
    with pytest.raises(NotFoundError, match="unknown org unit 'KP-99'"):
        export_values(few_values, "csv-long", tmp_path / "a.csv", org_units=["KP-01", "KP-99"])
    with pytest.raises(NotFoundError, match="unknown data element 'fever'"):
        export_values(few_values, "csv-long", tmp_path / "a.csv", elements=["fever"])
    with pytest.raises(SitroomError, match="inverted"):
        export_values(
            few_values,
            "csv-long",
            tmp_path / "a.csv",
            start=date(2022, 6, 10),
            end=date(2022, 6, 1),
        )
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith("sitroom.db")]


def test_uids_are_dhis2_style_generated_once_and_round_trip(outbreak, country, tmp_path):
    """An export by uid (DHIS2's default scheme) imports back as the same values."""
    import re

    from sqlalchemy import select

    from sitroom.places.models import OrgUnit
    from sitroom.setup import setup_country
    from sitroom.surveillance.models import DataElement

    uids = dict(outbreak.execute(select(OrgUnit.code, OrgUnit.uid)).all())
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]{10}", u) for u in uids.values())
    assert len(set(uids.values())) == len(uids)
    setup_country(outbreak, country)  # loading again keeps them
    assert dict(outbreak.execute(select(OrgUnit.code, OrgUnit.uid)).all()) == uids
    path = tmp_path / "by_uid.json"
    export_values(outbreak, "dhis2-json", path, org_units=["KP-04"], id_scheme="uid")
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["idScheme"] == "UID"
    first = payload["dataValues"][0]
    assert first["orgUnit"] == uids["KP-04"]
    element_uids = set(outbreak.scalars(select(DataElement.uid)))
    assert first["dataElement"] in element_uids
    summary = Importer(outbreak, country, user="dhis2").run(path)
    assert summary.ok, summary.rejections
    assert summary.changed == 0
    assert summary.unchanged == len(payload["dataValues"])


def test_an_export_writes_to_any_stream(few_values, tmp_path):
    """The API will stream an export into a response: a text stream is enough."""
    import io

    buffer = io.StringIO()
    count = export_values(few_values, "csv-long", buffer, org_units=["KP-01"])
    lines = buffer.getvalue().splitlines()
    assert count == len(lines) - 1 == 6
    export_values(few_values, "csv-long", tmp_path / "same.csv", org_units=["KP-01"])
    assert (tmp_path / "same.csv").read_text(encoding="utf-8").splitlines() == lines
