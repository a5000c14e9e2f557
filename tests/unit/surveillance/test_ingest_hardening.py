"""The parsers against hostile or broken files: each fault fails where it is, and only there."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from sitroom.errors import InputError
from sitroom.surveillance import ingest
from sitroom.surveillance.ingest import (
    MAX_COMMENT,
    MAX_STORED_BY,
    RawValue,
    Rejection,
    check_readable,
    parse_dhis2_json,
    parse_long_csv,
    parse_wide_csv,
    read_header,
)

LONG_HEADER = ",".join(ingest.DHIS2_CSV_COLUMNS) + "\n"
ELEMENTS = {"new_fever", "new_deaths"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def value(**fields: object) -> dict[str, object]:
    """A DHIS2 data value with every required key; ``fields`` override or add keys."""
    base: dict[str, object] = {
        "dataElement": "new_fever",
        "period": "20220515",
        "orgUnit": "KP-01",
        "value": "5",
    }
    base.update(fields)
    return base


def payload_file(tmp_path: Path, *values: dict[str, object]) -> Path:
    """One value per line: the first value is on line 2, the next on line 3, ..."""
    lines = ",\n".join(json.dumps(v) for v in values)
    return write(tmp_path, "values.json", '{"dataValues": [\n' + lines + "\n]}\n")


def parse_json(path: Path) -> list[RawValue | Rejection]:
    return list(parse_dhis2_json(path))


def long_csv(tmp_path: Path, *rows: str) -> list[RawValue | Rejection]:
    return list(parse_long_csv(write(tmp_path, "long.csv", LONG_HEADER + "\n".join(rows) + "\n")))


def refused(path: Path, parse=parse_json) -> InputError:
    with pytest.raises(InputError) as info:
        parse(path)
    return info.value


# 1. Booleans ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "deleted"),
    [
        ("false", False),
        ("FALSE", False),
        (" False ", False),
        (False, False),
        (None, False),
        ("true", True),
        ("True", True),
        (True, True),
    ],
)
def test_json_deleted_is_read_as_dhis2_reads_it(tmp_path, given, deleted):
    [got] = parse_json(payload_file(tmp_path, value(deleted=given, followup=given)))
    assert isinstance(got, RawValue)
    assert (got.line, got.value, got.delete) == (2, "5", deleted)


@pytest.mark.parametrize("key", ["deleted", "followup"])
@pytest.mark.parametrize(
    ("given", "shown"),
    [("yes", "'yes'"), ("", "''"), ("0", "'0'"), (1, "1"), (0, "0"), ([], "[]"), ({}, "{}")],
)
def test_json_booleans_that_are_not_true_or_false_are_rejected(tmp_path, key, given, shown):
    path = payload_file(tmp_path, value(), value(**{key: given}), value(orgUnit="KP-02"))
    first, bad, last = parse_json(path)
    assert bad == Rejection(3, key, f"{shown}: must be true or false")
    assert isinstance(first, RawValue)
    assert isinstance(last, RawValue)
    assert (first.line, last.line, last.org_unit) == (2, 4, "KP-02")


def test_json_a_value_without_value_still_deletes_whatever_deleted_says(tmp_path):
    values = [value(deleted="false"), value(deleted=False), value(value="", deleted="FALSE")]
    for v in values[:2]:
        del v["value"]
    got = parse_json(payload_file(tmp_path, *values))
    assert [(g.line, g.delete, g.value) for g in got] == [
        (2, True, None),
        (3, True, None),
        (4, True, None),
    ]


def test_long_csv_followup_and_deleted_accept_true_false_in_any_case_or_empty(tmp_path):
    got = long_csv(
        tmp_path,
        "new_fever,20220515,KP-01,,,1,,,,,",
        "new_fever,20220515,KP-02,,,2,,,, TRUE ,False",
        "new_fever,20220515,KP-03,,,3,,,,false,TRUE",
        "new_fever,20220515,KP-04,,,4",
    )
    assert all(isinstance(g, RawValue) for g in got)
    assert [(g.line, g.org_unit, g.delete) for g in got] == [
        (2, "KP-01", False),
        (3, "KP-02", False),
        (4, "KP-03", True),
        (5, "KP-04", False),
    ]


def test_long_csv_other_booleans_are_rejected_with_line_and_column(tmp_path):
    got = long_csv(
        tmp_path,
        "new_fever,20220515,KP-01,,,1,,,,,yes",
        "new_fever,20220515,KP-02,,,2,,,,1,",
        "new_fever,20220515,KP-03,,,3,,,,,false",
    )
    assert got[:2] == [
        Rejection(2, "deleted", "'yes': must be true or false"),
        Rejection(3, "followup", "'1': must be true or false"),
    ]
    assert isinstance(got[2], RawValue)
    assert (got[2].line, got[2].delete) == (4, False)


# 2. Types ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "given", "kind"),
    [
        ("lastUpdated", 20220515, "a number"),
        ("lastUpdated", ["2022-05-15"], "a list"),
        ("lastUpdated", {"date": "2022-05-15"}, "an object"),
        ("created", 1.5, "a number"),
        ("created", True, "true or false"),
        ("categoryOptionCombo", 1, "a number"),
        ("attributeOptionCombo", ["default"], "a list"),
        ("storedBy", 7, "a number"),
        ("comment", 7, "a number"),
        ("comment", {"text": "x"}, "an object"),
        ("value", 1.5, "a number"),
        ("value", True, "true or false"),
        ("dataElement", ["new_fever"], "a list"),
        ("period", {"p": 1}, "an object"),
        ("orgUnit", False, "true or false"),
    ],
)
def test_json_fields_of_the_wrong_type_are_rejected(tmp_path, key, given, kind):
    path = payload_file(tmp_path, value(), value(**{key: given}))
    good, bad = parse_json(path)
    assert bad == Rejection(3, key, f"must be a string, not {kind}")
    assert isinstance(good, RawValue)


def test_json_integers_are_still_accepted_for_codes_and_values(tmp_path):
    [got] = parse_json(payload_file(tmp_path, value(value=12, period=20220515, orgUnit=7)))
    assert isinstance(got, RawValue)
    assert (got.value, got.period, got.org_unit) == ("12", "20220515", "7")


def test_json_null_text_fields_are_absent(tmp_path):
    nulls = dict.fromkeys(
        ("lastUpdated", "created", "storedBy", "comment", "categoryOptionCombo"), None
    )
    [got] = parse_json(payload_file(tmp_path, value(**nulls)))
    assert isinstance(got, RawValue)
    assert (got.received, got.stored_by, got.comment, got.combo) == (None, None, None, "")


def test_json_an_integer_too_long_for_python_is_a_value_not_a_crash(tmp_path):
    digits = "9" * 5000  # int() refuses more than 4,300 digits
    path = write(
        tmp_path,
        "big.json",
        '{"dataValues": [{"dataElement": "new_fever",'
        ' "period": "20220515", "orgUnit": "KP-01", "value": ' + digits + "}]}",
    )
    [got] = parse_json(path)
    assert isinstance(got, RawValue)
    assert got.value == digits  # the importer rejects it as too large


def test_json_a_header_of_the_wrong_type_refuses_the_file(tmp_path):
    path = write(
        tmp_path, "h.json", '{"dataValues": [\n' + json.dumps(value()) + '\n],\n"period": [1]}'
    )
    error = refused(path)
    assert (error.location.line, error.location.field) == (4, "period")
    assert error.reason == "must be a string, not a list"


# 3. Text limits and NUL -----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "text", "reason"),
    [
        ("storedBy", "ann\x00", "contains a NUL character"),
        ("comment", "see\x00note", "contains a NUL character"),
        ("storedBy", "x" * (MAX_STORED_BY + 1), "is longer than 100 characters"),
        ("comment", "x" * (MAX_COMMENT + 1), "is longer than 50,000 characters"),
        (
            "comment",
            "\ud800",
            "contains an unpaired surrogate (\\ud800-\\udfff), which is not text",
        ),
    ],
)
def test_json_text_that_cannot_be_stored_is_rejected(tmp_path, key, text, reason):
    path = payload_file(tmp_path, value(**{key: text}), value(orgUnit="KP-02"))
    bad, good = parse_json(path)
    assert bad == Rejection(2, key, reason)
    assert isinstance(good, RawValue)
    assert good.line == 3


def test_text_at_the_limits_is_kept(tmp_path):
    name, note = "n" * MAX_STORED_BY, "c" * MAX_COMMENT
    [got] = parse_json(payload_file(tmp_path, value(storedBy=name, comment=note)))
    assert isinstance(got, RawValue)
    assert (got.stored_by, got.comment) == (name, note)
    [row] = long_csv(tmp_path, f"new_fever,20220515,KP-01,,,1,{name},,{note}")
    assert isinstance(row, RawValue)
    assert (row.stored_by, row.comment) == (name, note)


def test_limits_are_exported_with_their_values():
    assert (ingest.MAX_STORED_BY, ingest.MAX_COMMENT) == (100, 50_000)
    assert (ingest.MAX_LINE_BYTES, ingest.MAX_JSON_BYTES) == (1_048_576, 1_073_741_824)


@pytest.mark.parametrize(
    ("cells", "field", "reason"),
    [
        ("ann\x00,,", "storedby", "contains a NUL character"),
        (",,a\x00b", "comment", "contains a NUL character"),
        ("x" * 101 + ",,", "storedby", "is longer than 100 characters"),
        (",," + "x" * 50_001, "comment", "is longer than 50,000 characters"),
    ],
)
def test_long_csv_text_that_cannot_be_stored_is_rejected(tmp_path, cells, field, reason):
    got = long_csv(
        tmp_path, f"new_fever,20220515,KP-01,,,1,{cells}", "new_fever,20220515,KP-02,,,2"
    )
    assert got[0] == Rejection(2, field, reason)
    assert isinstance(got[1], RawValue)
    assert len(got) == 2


def test_wide_csv_comment_with_nul_rejects_its_row_only(tmp_path):
    path = write(
        tmp_path,
        "wide.csv",
        "org_unit,period,new_fever,new_deaths,comment\n"
        "KP-01,2022-05-15,1,2,ok\n"
        "KP-02,2022-05-15,3,4,bad\x00note\n"
        f"KP-03,2022-05-15,5,6,{'x' * 50_001}\n",
    )
    got = list(parse_wide_csv(path, ELEMENTS))
    assert got[2:] == [
        Rejection(3, "comment", "contains a NUL character"),
        Rejection(4, "comment", "is longer than 50,000 characters"),
    ]
    assert [(g.line, g.element) for g in got[:2]] == [
        (2, "new_fever"),
        (2, "new_deaths"),
    ]


# 4. Linear time, right line numbers -----------------------------------------


def test_json_every_value_gets_its_own_line(tmp_path):
    # Values spread over lines irregularly; a comment with an escaped newline does not count.
    text = (
        '{\n  "period": "20220515",\n  "dataValues": [\n'
        '    {"dataElement": "new_fever", "orgUnit": "KP-01", "value": "1",'
        ' "comment": "two\\nlines"},\n'
        '\n\n    {"dataElement": "new_fever",\n     "orgUnit": "KP-02", "value": "2"},'
        ' {"dataElement": "new_fever", "orgUnit": "KP-03", "value": "3"},\n'
        '    {"dataElement": "new_fever", "orgUnit": "KP-04", "value": "4", "value": "5"}\n'
        "  ]\n}\n"
    )
    got = parse_json(write(tmp_path, "lines.json", text))
    assert [(g.line, getattr(g, "org_unit", None)) for g in got] == [
        (4, "KP-01"),
        (7, "KP-02"),
        (8, "KP-03"),
        (9, None),
    ]
    assert got[3] == Rejection(9, "value", "appears twice in this value")


def test_json_line_numbers_hold_over_a_large_file(tmp_path):
    """Every one of 80,000 values gets its own line (counted incrementally, in one pass).

    Speed is the benchmark's business (bench/bench_import.py --format dhis2-json):
    the quadratic version took 59 s for 40,000 values; tests assert no times.
    """
    n = 80_000
    path = tmp_path / f"{n}.json"
    values = [value(orgUnit=f"KP-{i:06d}") for i in range(n)]
    path.write_text(json.dumps({"dataValues": values}, indent=2), encoding="utf-8")
    got = parse_json(path)
    assert len(got) == n
    # "{", "dataValues": [, then 6 lines per value.
    assert [v.line for v in got[:3]] == [3, 9, 15]
    assert got[-1].line == 3 + 6 * (n - 1)


def test_json_header_keys_after_the_values_apply_to_them(tmp_path):
    text = (
        '{"dataValues": [\n{"dataElement": "new_fever", "value": "1"}\n],\n'
        '"orgUnit": "KP-05", "period": "20220515", "attributeOptionCombo": "default"}'
    )
    [got] = parse_json(write(tmp_path, "after.json", text))
    assert isinstance(got, RawValue)
    assert (got.line, got.org_unit, got.period) == (2, "KP-05", "20220515")


def test_json_an_unsupported_id_scheme_after_the_values_refuses_the_file(tmp_path):
    text = '{"dataValues": [\n' + json.dumps(value()) + '\n],\n"idScheme": "ATTRIBUTE:x"}'
    error = refused(write(tmp_path, "uid.json", text))
    assert (error.location.line, error.location.field) == (4, "idScheme")
    assert "identifier scheme 'ATTRIBUTE:x' is not supported" in error.reason


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"dataValues": [\n{"value": "1"},\n{"value": "2"\n\n]}', 5, "Expecting ',' delimiter"),
        ('{"dataValues": [\n{"value": "1"},\n]}', 3, "Expecting value"),
        ('{"dataValues": [\n{"value": "1"}\n]}\n\nnot json', 5, "Extra data"),
        ('{"dataValues": [\n{"value": "1"}\n]}}', 3, "Extra data"),
        ('{"dataValues": [\n{"value": "1"}\n],\n}', 4, "Expecting property name"),
        ('{"dataValues": [\n{"value": "1"}\n]\n"period": "x"}', 4, "Expecting ',' delimiter"),
        ('{"dataValues": [\n{"value": "1"}\n], "period": "x"\n', 4, "Expecting ',' delimiter"),
        ('{"dataValues" [{"value": "1"}]}', 1, "Expecting ':' delimiter"),
        ('\n\n{"dataValues": [{"value": "unterminated}]}', 3, "Unterminated string"),
    ],
)
def test_invalid_json_anywhere_is_refused_at_its_line(tmp_path, text, line, message):
    error = refused(write(tmp_path, "bad.json", text))
    assert error.location.line == line
    assert error.reason.startswith(f"not valid JSON: {message}")


def test_json_the_existing_payload_errors_keep_their_messages(tmp_path):
    for text, field, reason in [
        ("[1, 2]", "dataValues", "not a DHIS2 dataValueSets payload"),
        ('{"period": "x"}', "dataValues", "not a DHIS2 dataValueSets payload"),
        ('{"dataValues": {"a": 1}}', "dataValues", "not a DHIS2 dataValueSets payload"),
        ('{"dataValues": []}', "dataValues", "the dataValues list is empty"),
    ]:
        error = refused(write(tmp_path, "p.json", text))
        assert error.location.field == field
        assert error.reason.startswith(reason)


def test_json_progress_reports_every_byte(tmp_path):
    path = payload_file(tmp_path, *(value(orgUnit=f"KP-{i}") for i in range(1000)))
    seen: list[int] = []
    assert len(list(parse_dhis2_json(path, seen.append))) == 1000
    assert sum(seen) == path.stat().st_size
    assert len(seen) > 2  # reported along the way, not only at the end
    assert min(seen) >= 0


# 5. Duplicated keys ---------------------------------------------------------


def test_json_a_duplicated_data_values_key_refuses_the_file(tmp_path):
    text = '{"dataValues": [\n' + json.dumps(value()) + '\n],\n "dataValues": []}'
    error = refused(write(tmp_path, "twice.json", text))
    assert (error.location.line, error.location.field) == (4, "dataValues")
    assert error.reason == "the key appears twice in the payload (first on line 1)"


def test_json_any_duplicated_top_level_key_refuses_the_file(tmp_path):
    text = '{"period": "20220515",\n"dataValues": [' + json.dumps(value()) + '],\n"period": "x"}'
    error = refused(write(tmp_path, "twice.json", text))
    assert (error.location.line, error.location.field) == (3, "period")


def test_json_a_key_twice_in_one_value_rejects_that_value(tmp_path):
    doubled = json.dumps(value())[:-1] + ', "value": "7"}'
    nested = json.dumps(value())[:-1] + ', "extra": {"a": 1, "b": {"c": 1, "c": 2}}}'
    path = write(
        tmp_path,
        "dup.json",
        '{"dataValues": [\n'
        + json.dumps(value(orgUnit="KP-01"))
        + ",\n"
        + doubled
        + ",\n"
        + nested
        + ",\n"
        + json.dumps(value(orgUnit="KP-09"))
        + "\n]}",
    )
    first, twice, deep, last = parse_json(path)
    assert twice == Rejection(3, "value", "appears twice in this value")
    assert deep == Rejection(4, "c", "appears twice in this value")
    assert isinstance(first, RawValue)
    assert isinstance(last, RawValue)
    assert (first.org_unit, last.org_unit, last.line) == ("KP-01", "KP-09", 5)


# 6. Deep nesting ------------------------------------------------------------


def test_json_values_nested_100000_deep_refuse_the_file(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    text = '{"dataValues": [\n' + json.dumps(value()) + ",\n" + deep + "\n]}"
    error = refused(write(tmp_path, "deep.json", text))
    assert error.location.line == 3
    assert error.reason.startswith("nested too deeply")


def test_json_a_top_level_nested_100000_deep_refuses_the_file(tmp_path):
    for text in ("[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a": ' * 100_000):
        error = refused(write(tmp_path, "deep.json", text))
        assert error.location.line == 1
        assert error.reason.startswith("nested too deeply")


def test_json_a_header_nested_too_deep_refuses_the_file(tmp_path):
    text = '{"dataValues": [' + json.dumps(value()) + '],\n"period": ' + "[" * 50_000 + "}"
    error = refused(write(tmp_path, "deep.json", text))
    assert error.location.line == 2
    assert error.reason.startswith("nested too deeply")


def test_json_a_value_nested_deeper_than_the_limit_is_rejected(tmp_path):
    limit = ingest.MAX_NESTING  # the value's own object is level 1
    fits = value(extra=json.loads("[" * (limit - 1) + "]" * (limit - 1)))
    too_deep = value(extra=json.loads("[" * limit + "]" * limit))
    too_deep_objects = value(extra=json.loads('{"a": ' * limit + "1" + "}" * limit))
    got = parse_json(payload_file(tmp_path, fits, too_deep, too_deep_objects))
    assert isinstance(got[0], RawValue)
    reason = f"nested too deeply (more than {limit} levels of arrays and objects)"
    assert got[1:] == [Rejection(3, "extra", reason), Rejection(4, "extra", reason)]


# 7. Bounded resources ---------------------------------------------------------


@pytest.mark.parametrize(
    "read",
    [
        check_readable,
        read_header,
        lambda p: list(parse_wide_csv(p, ELEMENTS)),
        lambda p: list(parse_long_csv(p)),
        parse_json,
    ],
)
def test_a_pipe_is_refused_without_opening_it(tmp_path, alarm, read):
    fifo = tmp_path / "values.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as info:
        read(fifo)
    assert info.value.reason == (
        "is not a regular file (a pipe, device or socket); save the data to a file first"
    )
    assert info.value.location.line is None


def test_a_device_is_refused_and_a_folder_keeps_its_message(tmp_path):
    with pytest.raises(InputError, match=r"is not a regular file \(a pipe, device or socket\)"):
        check_readable(Path("/dev/zero"))
    with pytest.raises(InputError, match="is a folder, not a file"):
        check_readable(tmp_path)


def test_a_csv_line_over_the_limit_stops_there_without_reading_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_LINE_BYTES", 64 * 1024)
    path = tmp_path / "flat.csv"
    with path.open("wb") as handle:
        handle.write(b"org_unit,period,new_fever\nKP-01,2022-05-15,1\n")
        handle.write(b"x" * (16 * 1024 * 1024))  # 16 MiB, no line break
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as info:
            list(parse_wide_csv(path, ELEMENTS))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.location.line == 3
    assert info.value.reason == (
        "line is longer than 65,536 bytes, the limit for one line; is this really a CSV file?"
    )
    assert peak < 2 * 1024 * 1024  # not the 16 MiB line


def test_a_file_without_line_breaks_is_refused_at_the_real_limit(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"dataelement," + b"y" * (3 * 1024 * 1024))
    for read in (read_header, lambda p: list(parse_long_csv(p))):
        with pytest.raises(InputError) as info:
            read(path)
        assert info.value.location.line == 1
        assert info.value.reason.startswith("line is longer than 1 MiB")


def test_a_csv_field_over_the_csv_module_limit_is_bad_csv_at_its_line(tmp_path):
    path = write(
        tmp_path,
        "field.csv",
        "org_unit,period,new_fever,comment\nKP-01,2022-05-15,1,ok\n"
        f'KP-02,2022-05-15,2,"{"z" * 200_000}"\n',
    )
    with pytest.raises(InputError) as info:
        list(parse_wide_csv(path, ELEMENTS))
    assert info.value.location.line == 3
    assert info.value.reason.startswith("bad CSV: field larger than field limit (131072)")


def test_json_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_JSON_BYTES", 1000)
    path = payload_file(tmp_path, *(value() for _ in range(50)))
    size = path.stat().st_size
    opened: list[Path] = []
    real_open = Path.open

    def spy(self, mode="r", *args, **kwargs):
        if "b" in mode and self == path:
            opened.append(self)
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    error = refused(path)
    assert error.reason == (
        f"the file has {size:,} bytes, more than 1,000 bytes, the limit for a JSON file;"
        " split its dataValues into several files"
    )
    assert len(opened) == 1  # the emptiness check reads 4 KiB; the file itself is not read


def test_json_may_be_one_line_longer_than_the_csv_line_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_LINE_BYTES", 1000)
    values = [value(orgUnit=f"KP-{i}") for i in range(200)]
    path = write(tmp_path, "min.json", json.dumps({"dataValues": values}, separators=(",", ":")))
    got = parse_json(path)
    assert len(got) == 200
    assert {g.line for g in got} == {1}


def test_json_not_utf8_is_refused_at_its_line(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"dataValues": [\n{"comment": "Kaes\xf6ng"}]}')
    error = refused(path)
    assert error.location.line == 2
    assert error.reason == "not UTF-8 text (byte 0xf6 at column 18); save the file as UTF-8"
