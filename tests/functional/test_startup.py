"""Interactive commands start fast: what they import, not how long they take.

Times are the benchmark's business (bench/bench_startup.py); this checks the
cause: `sitroom --help` imports no database, numeric or migration library, and
a bulletin on a current schema does not import Alembic or scipy. The program
keeps the garbage collector out of its start-up only: the command's work is
collected, and its database is closed without the collector's help.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest

from sitroom.cli.app import resume_collector
from sitroom.cli.options import FORMATS
from sitroom.db import sqlite_path
from sitroom.surveillance import ingest

HEAVY = ("sqlalchemy", "numpy", "scipy", "alembic", "pydantic_settings")

PROBE = (
    "import json, sys\n"
    "sys.argv = ['sitroom', *sys.argv[1:]]\n"
    "from sitroom.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "loaded = sorted({m.split('.')[0] for m in sys.modules})\n"
    "print(json.dumps(loaded), file=sys.stderr)\n"
)


def _loaded(*args: str, env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_nothing_heavy():
    loaded = _loaded("--help")
    assert "typer" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_a_bulletin_on_a_current_schema_needs_no_alembic_or_scipy(cli, db_url):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    env = {**os.environ, "SITROOM_DATABASE_URL": db_url}
    loaded = _loaded("bulletin", "--period", "2022-05-15", env=env)
    assert "sqlalchemy" in loaded
    assert "alembic" not in loaded
    assert "scipy" not in loaded


def test_the_command_lines_formats_are_the_parsers():
    assert FORMATS == ingest.FORMATS


#: The program's own entry point; reports the collector's state once the command is over.
ENTRY_PROBE = (
    "import gc, json, sys\n"
    "sys.argv = ['sitroom', *sys.argv[1:]]\n"
    "from sitroom.cli import entry\n"
    "try:\n"
    "    entry()\n"
    "except SystemExit:\n"
    "    pass\n"
    "state = {'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count()}\n"
    "print(json.dumps(state), file=sys.stderr)\n"
)


def test_the_program_collects_again_once_the_command_works(cli, db_url):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    env = {**os.environ, "SITROOM_DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_PROBE, "bulletin", "--period", "2022-05-15"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    state = json.loads(done.stderr.strip().splitlines()[-1])
    assert "New fever cases" in done.stdout
    # Start-up's objects were set aside, and the collector is on for the work.
    assert state["enabled"] is True
    assert state["frozen"] > 10_000


def test_the_program_closes_the_database(cli, db_url):
    """Frozen objects are never collected: the connection must be closed explicitly.

    An SQLite connection left open at exit leaves its write-ahead log beside
    the file; the last one closed checkpoints it and removes it.
    """
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    path = sqlite_path(db_url)
    if path is None:
        pytest.skip("an SQLite file's write-ahead log; PostgreSQL has none")
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists()
    env = {**os.environ, "SITROOM_DATABASE_URL": db_url}
    for command in (["bulletin"], ["validate", "--exit-zero"], ["db", "current"]):
        done = subprocess.run(
            [sys.executable, "-m", "sitroom", *command], env=env, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert not wal.exists(), command


def test_resuming_the_collector_does_nothing_in_process():
    """In-process callers (the tests, a server) keep their collector as it was."""
    frozen = gc.get_freeze_count()
    resume_collector()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
