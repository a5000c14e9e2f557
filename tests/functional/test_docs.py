"""Documentation that cannot drift: the CLI reference is the commands' own help."""

from __future__ import annotations

from pathlib import Path

from sitroom.cli.reference import render

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_reference_matches_the_commands():
    written = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert written == render(), "docs/cli.md is out of date: run `make docs`"


def test_the_reference_covers_every_command():
    text = render()
    for command in (
        "sitroom import",
        "sitroom analyze rt",
        "sitroom db upgrade",
        "sitroom places tree",
    ):
        assert f"## `{command}`" in text


def test_every_option_says_what_it_does():
    """An option line with nothing after its name and type has no help."""
    import re

    bare = re.compile(r"^  (--[a-z-]+)( <[a-z]+>)?\s*(\[default: [^]]*\])?$")
    missing = [line.strip() for line in render().splitlines() if bare.match(line)]
    assert missing == []
