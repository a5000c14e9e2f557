"""Bad input: a clear message naming file, line and field; non-zero exit; nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select

from sitroom.db import create_db_engine
from sitroom.surveillance.models import DataValue, ImportRun

GOOD_ROW = "KP-01,2022-05-15,100,50\n"
HEADER = "org_unit,period,new_fever,new_recovered\n"

CASES = {
    # name: (file name, bytes, expected fragments of the message)
    "malformed_csv": (
        "bad.csv",
        (HEADER + GOOD_ROW + 'KP-02,2022-05-15,"12,5\n').encode(),
        ["bad.csv", "line 3", "bad CSV"],
    ),
    "too_many_fields": (
        "fields.csv",
        (HEADER + GOOD_ROW + "KP-02,2022-05-15,1,2,3\n").encode(),
        ["fields.csv", "line 3", "has 5 fields, the header has 4"],
    ),
    "malformed_json": (
        "bad.json",
        b'{"dataValues": [\n  {"dataElement": "new_fever",\n   "value": "1"\n  \n}\n',
        ["bad.json", "line", "not valid JSON"],
    ),
    "json_not_a_payload": (
        "list.json",
        b"[1, 2, 3]\n",
        ["list.json", "dataValues", "not a DHIS2 dataValueSets payload"],
    ),
    "unknown_org_unit": (
        "ou.csv",
        (HEADER + GOOD_ROW + "Atlantis,2022-05-15,1,2\n").encode(),
        ["ou.csv", "line 3", "field 'org_unit'", "unknown org unit 'Atlantis'"],
    ),
    "unknown_element_column": (
        "el.csv",
        b"org_unit,period,new_fever,new_zombies\nKP-01,2022-05-15,1,2\n",
        ["el.csv", "line 1", "field 'new_zombies'", "not a data element"],
    ),
    "unknown_element_row": (
        "el_long.csv",
        b"dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value\n"
        b"new_fever,20220515,KP-01,,,5\nnew_zombies,20220515,KP-01,,,5\n",
        ["el_long.csv", "line 3", "field 'dataelement'", "unknown data element 'new_zombies'"],
    ),
    "impossible_date": (
        "date.csv",
        (HEADER + GOOD_ROW + "KP-02,2022-02-30,1,2\n").encode(),
        ["date.csv", "line 3", "field 'period'", "'2022-02-30' is not a real date"],
    ),
    "a_month_for_a_daily_element": (
        "month.csv",
        (HEADER + "KP-02,2022-05,1,2\n").encode(),
        [
            "month.csv",
            "line 2",
            "field 'period'",
            "'2022-05' is a month: new_fever is reported daily",
        ],
    ),
    "negative_count": (
        "neg.csv",
        (HEADER + GOOD_ROW + "KP-02,2022-05-15,-4,2\n").encode(),
        ["neg.csv", "line 3", "field 'new_fever'", "negative"],
    ),
    "non_integer_count": (
        "frac.csv",
        (HEADER + GOOD_ROW + "KP-02,2022-05-15,12.5,2\n").encode(),
        ["frac.csv", "line 3", "field 'new_fever'", "not a whole number"],
    ),
    "not_a_number": (
        "text.csv",
        (HEADER + GOOD_ROW + "KP-02,2022-05-15,many,2\n").encode(),
        ["text.csv", "line 3", "field 'new_fever'", "'many' is not a number"],
    ),
    "duplicate_rows": (
        "dup.csv",
        (HEADER + GOOD_ROW + "KP-02,2022-05-15,1,2\n" + GOOD_ROW).encode(),
        ["dup.csv", "line 4", "duplicate", "line 2"],
    ),
    "wrong_encoding": (
        "latin1.csv",
        (HEADER + GOOD_ROW).encode()
        + "KP-02,2022-05-15,1,2,Kaesŏng\n".encode("latin-1", "replace")
        + "Pyŏngyang,2022-05-15,1,2\n".encode("cp1252", "replace").replace(b"?", b"\xf6"),
        ["latin1.csv", "line 4", "not UTF-8"],
    ),
    "utf16": (
        "utf16.csv",
        (HEADER + GOOD_ROW).encode("utf-16"),
        ["utf16.csv", "line 1", "not UTF-8"],
    ),
    "empty_file": ("empty.csv", b"", ["empty.csv", "the file is empty"]),
    "header_only": ("header.csv", HEADER.encode(), ["header.csv", "no data rows"]),
    "missing_period_column": (
        "noperiod.csv",
        b"org_unit,new_fever\nKP-01,5\n",
        ["noperiod.csv", "line 1", "field 'period'", "no period column"],
    ),
    "bad_receipt_time": (
        "received.csv",
        b"org_unit,period,new_fever,received_at\nKP-01,2022-05-15,5,yesterday\n",
        ["received.csv", "line 2", "field 'received_at'", "'yesterday' is not a date"],
    ),
    "non_default_combo": (
        "combo.json",
        b'{"dataValues": [\n {"dataElement": "new_fever", "period": "20220515",'
        b' "orgUnit": "KP-01", "categoryOptionCombo": "bRowv6yZOF2", "value": "3"}\n]}\n',
        ["combo.json", "line 2", "field 'categoryOptionCombo'", "only the default"],
    ),
}


def _counts(db_url):
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        counts = (
            conn.scalar(select(func.count()).select_from(DataValue)),
            conn.scalar(select(func.count()).select_from(ImportRun)),
        )
    engine.dispose()
    return counts


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_with_a_clear_message(case, cli, db_url, tmp_path):
    assert cli("setup").code == 0
    # Something already stored must survive the failed import untouched.
    seed = tmp_path / "seed.csv"
    seed.write_text(HEADER + "KP-03,2022-05-14,7,3\n", encoding="utf-8")
    assert cli("import", str(seed)).code == 0
    before = _counts(db_url)

    name, content, fragments = CASES[case]
    path = tmp_path / name
    path.write_bytes(content)
    result = cli("import", str(path))

    assert result.code != 0
    message = result.err + result.out
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message
    assert _counts(db_url) == before


def test_an_invalid_value_anywhere_rolls_back_the_whole_file(cli, db_url, tmp_path):
    """Atomic per file: 2,000 good rows are not written because of one bad row at the end."""
    assert cli("setup").code == 0
    lines = [HEADER]
    for day in range(1, 29):
        for region in ("KP-01", "KP-02", "KP-03"):
            lines.append(f"{region},2022-02-{day:02d},{day},{day}\n")
    lines.append("KP-04,2022-02-29,1,1\n")  # 2022 is not a leap year
    path = tmp_path / "feb.csv"
    path.write_text("".join(lines), encoding="utf-8")
    result = cli("import", str(path))
    assert result.code == 1
    assert "line 86" in result.err
    assert "Nothing was imported" in result.err
    assert _counts(db_url) == (0, 0)


def test_a_missing_file_and_a_bad_option_give_messages(cli, tmp_path):
    for name in ("nowhere.csv", "nowhere.json"):
        result = cli("import", str(tmp_path / name))
        assert result.code == 1
        assert f"{name}: no such file" in result.err
    result = cli("import", str(tmp_path))
    assert result.code == 1
    assert "is a folder" in result.err
    result = cli("bulletin", "--period", "2022-13-01")
    assert result.code == 1
    assert "'2022-13-01' is not a real date" in result.err


def test_the_real_process_prints_no_traceback(db_url, tmp_path):
    path = tmp_path / "neg.csv"
    path.write_text(HEADER + "KP-02,2022-05-15,-4,2\n", encoding="utf-8")
    env = {"SITROOM_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    setup = subprocess.run(
        [sys.executable, "-m", "sitroom", "setup"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert setup.returncode == 0, setup.stderr
    done = subprocess.run(
        [sys.executable, "-m", "sitroom", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "neg.csv, line 2, field 'new_fever'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
