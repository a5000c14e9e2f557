"""The README's tour runs as written: every line, on the demo database."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

#: Commands that exit 1 by design on the demo data (validate finds errors).
EXITS_1 = ("validate",)


def tour() -> list[str]:
    """The lines of the README's "A tour of the command line" console block."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A tour of the command line") :]
    block = section[section.index("```console") + len("```console") : section.index("```\n", 10)]
    return [line for line in block.strip().splitlines() if line.startswith("sitroom ")]


def test_the_tour_is_found():
    lines = tour()
    assert len(lines) >= 25
    assert lines[0].startswith("sitroom bulletin")


@pytest.fixture
def demo_folder(cli, tmp_path, monkeypatch):
    """The demo loaded, and a working folder holding the examples, as in a clone.

    The demo's simulated supply history covers the whole network (about a minute);
    here one region's (Chagang's) stands in for it, so that the supply lines run.
    """
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    assert cli("simulate", "supply", "--within", "KP-04").code == 0
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_line_of_the_tour_runs(cli, demo_folder):
    for line in tour():
        args = shlex.split(line, comments=True)[1:]
        command = shlex.join(["sitroom", *args])
        result = cli(*args)
        allowed = (0, 1) if args[0] in EXITS_1 else (0,)
        assert result.code in allowed, f"{command}\n{result.err}"
        assert "unexpected" not in result.err, command
        assert "Traceback" not in result.err, command
