"""The parsers' ordinary work: which values a file gives, from which line and field.

Hostile and broken files are in test_ingest_hardening.py; what the import
then checks (codes, periods, counts) in test_imports.py and the functional
tests of bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitroom.country import MappingConfig
from sitroom.errors import InputError
from sitroom.surveillance.ingest import (
    RawValue,
    Rejection,
    detect_format,
    find_mapping,
    parse_dhis2_json,
    parse_long_csv,
    parse_wide_csv,
    read_header,
)
from tests.conftest import DEMO

ELEMENTS = {"new_fever", "new_deaths"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(parse, path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        list(parse(path))
    return info.value


# Wide CSV -------------------------------------------------------------------


def test_wide_csv_gives_one_value_per_filled_cell_with_its_line_and_column(tmp_path):
    path = write(
        tmp_path,
        "wide.csv",
        "org_unit,period,new_fever,new_deaths,received_at,comment\n"
        " KP-01 , 2022-05-15 , 12 ,,2022-05-16T08:00, late fax \n"
        "\n"
        ",,,,,\n"
        'KP-02,2022-05-15,,3,,"two\nlines"\n'
        "KP-03,2022-05-15,5,0,,\n",
    )
    got = list(parse_wide_csv(path, ELEMENTS))
    received = "2022-05-16T08:00"
    assert got == [
        RawValue(
            line=2,
            element="new_fever",
            org_unit="KP-01",
            period="2022-05-15",
            value="12",
            field="new_fever",
            received=received,
            comment="late fax",
        ),
        RawValue(
            line=5,
            element="new_deaths",
            org_unit="KP-02",
            period="2022-05-15",
            value="3",
            field="new_deaths",
            comment="two\nlines",
        ),
        RawValue(
            line=7,
            element="new_fever",
            org_unit="KP-03",
            period="2022-05-15",
            value="5",
            field="new_fever",
        ),
        RawValue(
            line=7,
            element="new_deaths",
            org_unit="KP-03",
            period="2022-05-15",
            value="0",
            field="new_deaths",
        ),
    ]


def test_a_mapping_renames_ignores_and_fixes_the_org_unit(tmp_path):
    mapping = MappingConfig(
        period="period_end",
        org_unit=None,
        org_unit_constant="KP",
        received="report_date",
        ignore=["source"],
        rename={"fever": "new_fever"},
    )
    path = write(
        tmp_path,
        "national.csv",
        "report_date,period_end,fever,source\n2022-05-16,2022-05-15,392920,KCNA\n",
    )
    [got] = parse_wide_csv(path, ELEMENTS, mapping)
    assert got == RawValue(
        line=2,
        element="new_fever",
        org_unit="KP",
        period="2022-05-15",
        value="392920",
        field="new_fever",
        received="2022-05-16",
    )


@pytest.mark.parametrize(
    ("header", "field", "message"),
    [
        ("org_unit,period,new_fever,new_fever", "new_fever", "column appears twice in the header"),
        ("period,new_fever", "org_unit", "the header has no org unit column"),
        ("org_unit,period,comment", None, "the header names no data element"),
    ],
)
def test_a_wide_header_that_cannot_be_read_refuses_the_file(tmp_path, header, field, message):
    path = write(tmp_path, "bad.csv", f"{header}\nKP-01,2022-05-15,1,2\n")
    error = refused(lambda p: parse_wide_csv(p, ELEMENTS), path)
    assert (error.location.line, error.location.field) == (1, field)
    assert message in str(error)


# DHIS2 CSV ------------------------------------------------------------------


def test_long_csv_is_read_by_position_whatever_the_header_names(tmp_path):
    path = write(
        tmp_path,
        "long.csv",
        "de,pe,ou,coc,aoc,val\n"
        "new_fever,20220515,KP-01,,,7\n"
        " new_deaths , 20220515 , KP-02 , default ,, 1 , kim , 2022-05-16T01:00 , note \n",
    )
    assert list(parse_long_csv(path)) == [
        RawValue(line=2, element="new_fever", org_unit="KP-01", period="20220515", value="7"),
        RawValue(
            line=3,
            element="new_deaths",
            org_unit="KP-02",
            period="20220515",
            value="1",
            field="value",
            received="2022-05-16T01:00",
            stored_by="kim",
            comment="note",
            delete=False,
            combo="default",
        ),
    ]


def test_long_csv_a_row_without_a_value_deletes(tmp_path):
    path = write(
        tmp_path,
        "long.csv",
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value\n"
        "new_fever,20220515,KP-01,,,\n"
        "new_fever,20220515,KP-02,,, \n",
    )
    got = list(parse_long_csv(path))
    assert [(g.org_unit, g.value, g.delete) for g in got] == [
        ("KP-01", None, True),
        ("KP-02", None, True),
    ]


def test_long_csv_rows_of_the_wrong_width_are_rejected_alone(tmp_path):
    path = write(
        tmp_path,
        "long.csv",
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value\n"
        "new_fever,20220515,KP-01,,\n"
        "new_fever,20220515,KP-02,,,2,,,,,,extra\n"
        "new_fever,20220515,KP-03,,,3\n",
    )
    got = list(parse_long_csv(path))
    assert got[:2] == [
        Rejection(2, None, "has 5 fields; expected 6 to 11"),
        Rejection(3, None, "has 12 fields; expected 6 to 11"),
    ]
    assert isinstance(got[2], RawValue)
    assert (got[2].line, got[2].value) == (4, "3")


def test_long_csv_a_header_of_fewer_than_six_columns_refuses_the_file(tmp_path):
    path = write(tmp_path, "short.csv", "dataelement,period,orgunit,value\nnew_fever,1,KP,2\n")
    error = refused(parse_long_csv, path)
    assert error.location.line == 1
    assert "a long CSV needs at least the columns" in str(error)


# DHIS2 JSON -----------------------------------------------------------------


def payload(tmp_path: Path, values: list[dict[str, object]], **header: object) -> Path:
    lines = ",\n".join(json.dumps(v) for v in values)
    head = "".join(f"{json.dumps(k)}: {json.dumps(v)},\n" for k, v in header.items())
    return write(tmp_path, "values.json", "{\n" + head + '"dataValues": [\n' + lines + "\n]}\n")


def test_json_values_take_the_headers_period_and_org_unit_unless_they_give_their_own(tmp_path):
    path = payload(
        tmp_path,
        [
            {"dataElement": "new_fever", "value": "1"},
            {"dataElement": "new_fever", "orgUnit": "KP-02", "period": "20220514", "value": "2"},
        ],
        period="20220515",
        orgUnit="KP-01",
    )
    got = list(parse_dhis2_json(path))
    assert [(g.line, g.org_unit, g.period, g.value) for g in got] == [
        (5, "KP-01", "20220515", "1"),
        (6, "KP-02", "20220514", "2"),
    ]


def value(**fields: object) -> dict[str, object]:
    """A complete DHIS2 data value; ``fields`` add or replace keys."""
    return {
        "dataElement": "new_fever",
        "period": "20220515",
        "orgUnit": "KP-01",
        "value": "1",
    } | fields


def test_json_the_receipt_is_last_updated_else_created(tmp_path):
    path = payload(
        tmp_path,
        [
            value(created="2022-05-16T01:00", lastUpdated="2022-05-17T02:00"),
            value(created="2022-05-16T01:00"),
            value(),
        ],
    )
    got = list(parse_dhis2_json(path))
    assert [g.received for g in got] == ["2022-05-17T02:00", "2022-05-16T01:00", None]


def test_json_a_value_without_element_period_or_org_unit_is_rejected_alone(tmp_path):
    incomplete = [value(), value(), value(), value(dataElement=""), "new_fever", value()]
    for item, key in zip(incomplete, ("dataElement", "period", "orgUnit"), strict=False):
        del item[key]
    got = list(parse_dhis2_json(payload(tmp_path, incomplete)))
    assert got[:5] == [
        Rejection(3, "dataElement", "is missing"),
        Rejection(4, "period", "is missing"),
        Rejection(5, "orgUnit", "is missing"),
        Rejection(6, "dataElement", "is missing"),
        Rejection(7, "dataValues[4]", "is not an object"),
    ]
    assert isinstance(got[5], RawValue)
    assert got[5].line == 8


@pytest.mark.parametrize("combo", ["default", "HllvX50cXC0", "", None])
def test_json_the_default_attribute_option_combo_is_accepted(tmp_path, combo):
    header = {} if combo is None else {"attributeOptionCombo": combo}
    [got] = parse_dhis2_json(payload(tmp_path, [value()], **header))
    assert isinstance(got, RawValue)


def test_json_another_attribute_option_combo_rejects_the_values_it_covers(tmp_path):
    values = [value(), value(attributeOptionCombo="default"), value(orgUnit="KP-02")]
    got = list(parse_dhis2_json(payload(tmp_path, values, attributeOptionCombo="bRowv6yZOF2")))
    reason = "'bRowv6yZOF2': only the default combination is supported"
    assert got[0] == Rejection(4, "attributeOptionCombo", reason)
    assert isinstance(got[1], RawValue)  # its own combo wins over the header's
    assert got[2] == Rejection(6, "attributeOptionCombo", reason)


def test_json_codes_and_values_given_as_numbers_are_text(tmp_path):
    [got] = parse_dhis2_json(payload(tmp_path, [value(orgUnit=101, value=7)], period=20220515))
    assert (got.org_unit, got.period, got.value) == ("101", "20220515", "7")


# Format detection -----------------------------------------------------------


def test_the_format_is_known_by_the_suffix_or_the_first_column(tmp_path, country):
    wide = write(tmp_path, "a.csv", "org_unit,period,new_fever\nKP-01,2022-05-15,1\n")
    long_ = write(tmp_path, "b.csv", "DataElement,period,orgunit,coc,aoc,value\n")
    snake = write(tmp_path, "c.csv", "data_element,period,orgunit,coc,aoc,value\n")
    json_ = write(tmp_path, "d.JSON", "not even looked at")
    assert detect_format(wide, country) == ("csv-wide", None)
    assert detect_format(long_, country) == ("csv-long", None)
    assert detect_format(snake, country) == ("csv-long", None)
    assert detect_format(json_, country) == ("dhis2-json", None)


def test_the_real_files_find_their_mappings(country):
    assert detect_format(DEMO / "fever_national.csv", country) == ("csv-wide", "dprk_national")
    assert detect_format(DEMO / "fever_by_region.csv", country) == ("csv-wide", "dprk_regional")
    # Every detect column must be there.
    national = country.mappings["dprk_national"].detect
    assert find_mapping(national[:-1], country) is None
    assert find_mapping(["extra", *national], country) == "dprk_national"


def test_the_header_is_read_without_its_byte_order_mark(tmp_path, country):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffdataelement , period,orgunit\n".encode())
    assert read_header(path) == ["dataelement", "period", "orgunit"]
    assert detect_format(path, country) == ("csv-long", None)
