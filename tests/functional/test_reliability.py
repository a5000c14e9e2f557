"""Reliability: busy is not a crash, who did it, nothing from data is markup, odd inputs.

Each test here is one finding of the outside audit (issue 6), checked through
the command line as a user meets it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from sitroom.db import create_db_engine, sqlite_path
from sitroom.surveillance.bulk import PERIOD_LOCK_SLOTS, PERIOD_LOCK_SPACE
from sitroom.surveillance.models import DataValue, DataValueAudit, ImportRun

LONG_HEADER = (
    "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,"
    "value,storedby,lastupdated,comment,followup,deleted\n"
)
WIDE_HEADER = "org_unit,period,new_fever\n"


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def _counts(db_url: str) -> tuple[int, int, int]:
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        got = tuple(
            conn.scalar(select(func.count()).select_from(t))
            for t in (DataValue, DataValueAudit, ImportRun)
        )
    engine.dispose()
    return got  # type: ignore[return-value]


def _one_line_error(err: str) -> str:
    """The one line of the error, beside the notice of where a write goes."""
    lines = [line for line in err.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("writing to ")]
    assert len(lines) == 1, err
    assert "unexpected" not in err
    assert "Traceback" not in err
    return lines[0]


# -- 2. Busy is not a crash ---------------------------------------------------


def test_an_import_that_waits_past_the_lock_timeout_says_busy(db_url, cli, tmp_path):
    """Another writer holds the lock: wait SITROOM_LOCK_TIMEOUT, then one line, exit 75."""
    assert cli("setup").code == 0
    path = _write(tmp_path, "day.csv", WIDE_HEADER + "KP-01,2022-05-15,10\n")
    env = {**os.environ, "SITROOM_DATABASE_URL": db_url, "SITROOM_LOCK_TIMEOUT": "1"}
    if db_url.startswith("sqlite"):
        holder = sqlite3.connect(sqlite_path(db_url), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        engine = create_db_engine(db_url, poolclass=NullPool)  # close() really closes
        holder = engine.connect()
        slot = date(2022, 5, 15).toordinal() % PERIOD_LOCK_SLOTS
        holder.execute(text(f"SELECT pg_advisory_lock({PERIOD_LOCK_SPACE}, {slot})"))

    def import_file() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sitroom", "import", str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    try:
        began = time.monotonic()
        done = import_file()
        waited = time.monotonic() - began
        # Readers are not held up by a writer (SQLite's WAL; PostgreSQL's MVCC).
        reader = subprocess.run(
            [sys.executable, "-m", "sitroom", "places", "tree"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        holder.close()
    assert done.returncode == 75, done.stderr
    assert waited >= 1.0  # it waited the lock timeout before giving up
    assert reader.returncode == 0, reader.stderr
    assert "KP-01 Pyongyang" in reader.stdout
    line = _one_line_error(done.stderr)
    assert "busy with another import" in line
    assert "try again" in line
    assert _counts(db_url)[0] == 0
    # Once the other writer is gone the same command goes through.
    again = import_file()
    assert again.returncode == 0, again.stderr
    assert _counts(db_url)[0] == 1


def test_a_full_disk_is_one_line(db_url, cli, tmp_path, monkeypatch):
    if not db_url.startswith("sqlite"):
        pytest.skip("a full disk is simulated with SQLite's max_page_count")
    assert cli("setup").code == 0
    rows = "".join(
        f"KP-{r:02d},2022-{m:02d}-{d:02d},{d}\n"
        for r in range(1, 11)
        for m in range(1, 13)
        for d in range(1, 29)
    )
    path = _write(tmp_path, "year.csv", WIDE_HEADER + rows)
    pages = sqlite3.connect(sqlite_path(db_url)).execute("PRAGMA page_count").fetchone()[0]

    def cap(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count={pages + 2}")

    event.listen(Engine, "connect", cap)
    try:
        result = cli("import", str(path))
    finally:
        event.remove(Engine, "connect", cap)
    assert result.code == 74, result.err
    line = _one_line_error(result.err)
    assert "no space left" in line
    assert "nothing was written" in line
    assert _counts(db_url)[0] == 0


# -- 4. Who did it ---------------------------------------------------------------


def test_history_shows_the_actor_beside_the_files_claim(cli, tmp_path):
    assert cli("setup").code == 0
    first = _write(
        tmp_path,
        "claim.csv",
        LONG_HEADER + "new_fever,2022-05-15,KP-01,,,100,minister,,first,,\n",
    )
    assert cli("--user", "alice", "import", str(first)).code == 0
    # Only the comment changes: a change, audited, not "No changes".
    comment = _write(
        tmp_path,
        "comment.csv",
        LONG_HEADER + "new_fever,2022-05-15,KP-01,,,100,minister,,checked by phone,,\n",
    )
    result = cli("--user", "bob", "import", str(comment))
    assert "updated 1" in result.out, result.out
    assert "No changes" not in result.out
    # Only the storedBy claim changes: a change too.
    claim = _write(
        tmp_path,
        "claim2.csv",
        LONG_HEADER + "new_fever,2022-05-15,KP-01,,,100,officer kim,,checked by phone,,\n",
    )
    assert "updated 1" in cli("--user", "carol", "import", str(claim)).out
    # The same content again: nothing to do.
    assert "No changes" in cli("--user", "dave", "import", str(claim)).out

    events = json.loads(cli("history", "new_fever", "KP-01", "2022-05-15", "--json").out)
    assert [(e["action"], e["value"], e["by"], e["stored_by"], e["comment"]) for e in events] == [
        ("created", 100, "alice", "minister", "first"),
        ("updated", 100, "bob", "minister", "checked by phone"),
        ("updated", 100, "carol", "officer kim", "checked by phone"),
    ]
    table = cli("history", "new_fever", "KP-01", "2022-05-15").out
    assert "alice" in table
    assert "minister" in table
    assert "stored by (file)" in table


def test_without_a_claim_the_actor_is_stored_by(cli, tmp_path):
    assert cli("setup").code == 0
    path = _write(tmp_path, "day.csv", WIDE_HEADER + "KP-01,2022-05-15,10\n")
    assert cli("--user", "alice", "import", str(path)).code == 0
    events = json.loads(cli("history", "new_fever", "KP-01", "2022-05-15", "--json").out)
    assert [(e["by"], e["stored_by"]) for e in events] == [("alice", "alice")]


# -- 5. Nothing from a file is markup -------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "shown"),
    [
        ("header.csv", "org_unit,period,[/]\nKP-01,2022-05-15,1\n", "unknown column '[/]'"),
        ("unit.csv", WIDE_HEADER + "[/x],2022-05-15,1\n", "'[/x]'"),
        ("red.csv", WIDE_HEADER + "[red]KP-04,2022-05-15,1\n", "'[red]KP-04'"),
        ("report[final].csv", WIDE_HEADER + "KP-99,2022-05-15,1\n", "report[final].csv"),
    ],
)
def test_text_from_files_is_shown_as_it_is(cli, tmp_path, name, body, shown):
    assert cli("setup").code == 0
    path = _write(tmp_path, name, body)
    result = cli("import", str(path))
    assert result.code == 1
    assert shown in result.err
    assert "unexpected" not in result.err


def test_a_path_with_brackets_is_not_markup(cli, tmp_path):
    assert cli("setup").code == 0
    folder = tmp_path / "[/x]"
    folder.mkdir(parents=True)
    path = _write(folder, "day.csv", WIDE_HEADER + "KP-01,2022-05-15,1\n")
    result = cli("import", str(path))
    assert result.code == 0, result.err
    assert "[/x]/day.csv" in result.out
    missing = cli("import", str(folder / "[bold]none.csv"))
    assert missing.code == 1
    assert "[/x]/[bold]none.csv: no such file" in missing.err


def test_control_characters_never_reach_the_terminal(cli, tmp_path):
    assert cli("setup").code == 0
    body = LONG_HEADER + "new_fever,2022-05-15,KP-01,,,5,\x1b[31mevil\x1b[0m,,\x07ring,,\n"
    path = _write(tmp_path, "esc.csv", body)
    assert cli("import", str(path)).code == 0
    table = cli("history", "new_fever", "KP-01", "2022-05-15")
    assert "\x1b" not in table.out
    assert "\x07" not in table.out
    assert "\\x1b[31mevil" in table.out
    # JSON keeps the value exactly (escaped by JSON itself).
    events = json.loads(cli("history", "new_fever", "KP-01", "2022-05-15", "--json").out)
    assert events[0]["stored_by"] == "\x1b[31mevil\x1b[0m"


def test_very_long_values_are_cut_in_messages(cli, tmp_path):
    assert cli("setup").code == 0
    path = _write(tmp_path, "long.csv", WIDE_HEADER + "K" * 5000 + ",2022-05-15,1\n")
    result = cli("import", str(path))
    assert result.code == 1
    assert "characters)" in result.err
    assert len(max(result.err.splitlines(), key=len)) < 700


# -- 7. Input a user can send is never "unexpected" ------------------------------


@pytest.mark.parametrize(
    ("name", "body", "fragments"),
    [
        (
            "year1.json",
            '{"dataValues": [{"dataElement": "new_fever", "period": "00010101",'
            ' "orgUnit": "KP-01", "value": "1"}]}',
            ["line 1", "field 'period'", "outside the years"],
        ),
        (
            "early.json",
            '{"dataValues": [{"dataElement": "new_fever", "period": "20220515",'
            ' "orgUnit": "KP-01", "value": "1", "lastUpdated": "0001-01-01T00:00"}]}',
            ["field 'lastUpdated'", "outside the years"],
        ),
        (
            "late.json",
            '{"dataValues": [{"dataElement": "new_fever", "period": "20220515",'
            ' "orgUnit": "KP-01", "value": "1", "lastUpdated": "9999-12-31T23:59:59-12:00"}]}',
            ["field 'lastUpdated'", "outside the years"],
        ),
        (
            "long_by.csv",
            LONG_HEADER + "new_fever,2022-05-15,KP-01,,,1," + "x" * 101 + ",,,,\n",
            ["line 2", "storedby", "longer than 100"],
        ),
        (
            "plus.csv",
            WIDE_HEADER + "KP-01,2022-05-15,+5\n",
            ["line 2", "has a sign"],
        ),
        (
            "arabic.csv",
            WIDE_HEADER + "KP-01,2022-05-15,\u0665\n",
            ["line 2", "digits other than 0-9"],
        ),
    ],
)
def test_odd_values_get_one_line_with_file_line_and_field(
    cli, db_url, tmp_path, name, body, fragments
):
    assert cli("setup").code == 0
    path = _write(tmp_path, name, body)
    result = cli("import", str(path))
    assert result.code == 1, result.out
    assert "unexpected" not in result.err
    for fragment in fragments:
        assert fragment in result.err, result.err
    assert _counts(db_url)[0] == 0


def test_a_user_name_over_100_characters_is_refused(cli, db_url, tmp_path):
    assert cli("setup").code == 0
    path = _write(tmp_path, "day.csv", WIDE_HEADER + "KP-01,2022-05-15,1\n")
    result = cli("--user", "u" * 101, "import", str(path))
    assert result.code == 1
    line = _one_line_error(result.err)
    assert "user" in line
    assert "longer than 100" in line
    assert _counts(db_url)[0] == 0


# -- 9. Smaller findings -------------------------------------------------------------


def test_a_write_says_where_it_goes_when_the_command_line_did_not(cli, db_url, tmp_path):
    assert cli("setup").code == 0
    path = _write(tmp_path, "day.csv", WIDE_HEADER + "KP-01,2022-05-15,1\n")
    result = cli("import", str(path))
    # The test's environment sets SITROOM_DATABASE_URL and SITROOM_USER.
    assert "(SITROOM_DATABASE_URL) as tester (SITROOM_USER)" in result.err
    quiet = cli("--db", db_url, "--user", "ann", "import", str(path))
    assert "writing to" not in quiet.err


def test_a_dotenv_file_is_named(db_url, tmp_path):
    """A .env in the working folder that redirects writes is named on stderr."""
    (tmp_path / ".env").write_text(f"SITROOM_DATABASE_URL={db_url}\nSITROOM_USER=mallory\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITROOM_")}
    done = subprocess.run(
        [sys.executable, "-m", "sitroom", "setup"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"SITROOM_DATABASE_URL in {tmp_path / '.env'}" in done.stderr
    assert "as mallory (SITROOM_USER in" in done.stderr


def test_a_reader_refuses_a_missing_database(cli, tmp_path):
    wrong = tmp_path / "no" / "such" / "sitroom.db"
    result = cli("--db", f"sqlite:///{wrong}", "bulletin")
    assert result.code == 1
    assert f"no database at {wrong}" in _one_line_error(result.err)
    assert not (tmp_path / "no").exists()


def test_an_ambiguous_local_receipt_time_is_imported_with_a_warning(cli, tmp_path):
    assert cli("setup").code == 0
    body = "org_unit,period,new_fever,received_at\nKP-01,2015-08-14,7,2015-08-14T23:45\n"
    path = _write(tmp_path, "dst.csv", body)
    result = cli("import", str(path))
    assert result.code == 0, result.err
    assert "created 1" in result.out
    assert "warning" in result.err
    assert "dst.csv, line 2, field 'received_at'" in result.err
    assert "occurs twice in Asia/Pyongyang" in result.err
    data = json.loads(cli("import", str(path), "--json").out)
    assert data["warnings"][0]["line"] == 2


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ("KP-01,2030-01-01,1,", "2030-01-01 has not begun yet"),
        ("KP-01,1899-01-01,1,", "outside the years"),
        ("KP-01,1999-12-31,1,", "before the first period 2000-01-01"),
        ("KP-01,2022-05-15,1,2031-01-01T00:00", "is in the future"),
        ("KP-01,2022-05-15,1,2022-05-01T00:00", "is before the period 2022-05-15 began"),
    ],
)
def test_impossible_periods_and_receipt_times_are_refused(cli, db_url, tmp_path, row, fragment):
    assert cli("setup").code == 0
    path = _write(tmp_path, "when.csv", "org_unit,period,new_fever,received_at\n" + row + "\n")
    result = cli("import", str(path))
    assert result.code == 1
    assert "when.csv, line 2" in result.err
    assert fragment in result.err, result.err
    assert _counts(db_url)[0] == 0


# -- Findings of the outside test of the fixes (a second audit) --------------------


def test_an_export_never_replaces_what_is_not_a_regular_file(cli, tmp_path):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere.csv")
    folder = tmp_path / "folder"
    folder.mkdir()
    for target, fragment in (
        (fifo, "is not a regular file"),
        (link, "is a symbolic link"),
        (folder, "is a folder"),
    ):
        result = cli("export", "-o", str(target), "--org-unit", "KP-01")
        assert result.code == 1, target
        assert fragment in _one_line_error(result.err)
    assert fifo.is_fifo()
    assert link.is_symlink()
    assert not (tmp_path / "elsewhere.csv").exists()
    to_stdout = cli("export", "-o", "-", "--org-unit", "KP-01")
    assert to_stdout.code == 0
    assert to_stdout.out.startswith("dataelement,period,orgunit")
    assert not (tmp_path / "-").exists()


def test_analysis_files_are_checked_as_imports_are(cli, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    wide = tmp_path / "wide.csv"
    wide.write_text("date,cases\n2022-05-01," + "1" * 200_000 + "\n", encoding="utf-8")
    cases = ["analyze", "rt", "--column", "cases", "--input"]
    for args, fragment in (
        ([*cases, str(fifo)], "is not a regular file"),
        ([*cases, str(tmp_path)], "is a folder"),
        ([*cases, str(wide)], "field larger than field limit"),
        (["analyze", "rt", "--si-file", str(fifo)], "is not a regular file"),
    ):
        result = cli(*args)
        assert result.code == 1, args
        assert fragment in _one_line_error(result.err)


@pytest.mark.parametrize(
    "args",
    [
        ["bulletin", "--period", "0001-01-01"],
        ["validate", "--period", "00010101"],
        ["completeness", "--start", "0001-01-01", "--end", "2022-05-20"],
    ],
)
def test_command_line_dates_keep_to_the_years_imports_do(cli, args):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    result = cli(*args)
    assert result.code == 1
    assert "outside the years 1900-2199" in _one_line_error(result.err)


def test_a_dry_run_creates_no_database(cli, tmp_path):
    path = _write(tmp_path, "day.csv", WIDE_HEADER + "KP-01,2022-05-15,1\n")
    missing = tmp_path / "typo.db"
    result = cli("--db", f"sqlite:///{missing}", "import", str(path), "--dry-run")
    assert result.code == 1
    assert "no database at" in _one_line_error(result.err)
    assert not missing.exists()


def test_json_output_escapes_what_steers_a_terminal(cli, tmp_path):
    assert cli("setup").code == 0
    steering = "a\u009b31m\u202eb\u2028c\u0085d"
    body = LONG_HEADER + f"new_fever,2022-05-15,KP-01,,,5,{steering},,,,\n"
    assert cli("import", str(_write(tmp_path, "c1.csv", body))).code == 0
    out = cli("history", "new_fever", "KP-01", "2022-05-15", "--json").out
    assert not any(ch in out for ch in "\u009b\u202e\u2028\u0085")
    assert json.loads(out)[0]["stored_by"] == steering  # the same data, escaped


def test_more_odd_values(cli, db_url, tmp_path):
    assert cli("setup").code == 0
    digits = _write(tmp_path, "digits.csv", WIDE_HEADER + "KP-01,2022-05-15," + "7" * 5000 + "\n")
    result = cli("import", str(digits))
    assert result.code == 1
    assert "(5000 digits) is too large for a count" in result.err
    for user in ("   ", " ann"):
        blank = cli("--user", user, "import", str(digits))
        assert blank.code == 1
        assert "user" in _one_line_error(blank.err)
    same = cli("analyze", "cfr", "--cases", "new_fever", "--deaths", "new_fever")
    assert same.code == 1
    assert "name the same series" in same.err
    assert _counts(db_url)[0] == 0
