"""Interactive commands start fast: what they import, not how long they take.

Times are the benchmark's business (bench/bench_startup.py); this checks the
cause: `sitroom --help` imports no database, numeric or migration library, and
a bulletin on a current schema does not import Alembic or scipy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sitroom.cli.options import FORMATS
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
    assert cli("demo").code == 0
    env = {**os.environ, "SITROOM_DATABASE_URL": db_url}
    loaded = _loaded("bulletin", "--period", "2022-05-15", env=env)
    assert "sqlalchemy" in loaded
    assert "alembic" not in loaded
    assert "scipy" not in loaded


def test_the_command_lines_formats_are_the_parsers():
    assert FORMATS == ingest.FORMATS
