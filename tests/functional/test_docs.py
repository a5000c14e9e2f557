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


def test_every_test_that_security_md_names_exists():
    """The ASVS table and the server table cite tests: each must be a real test."""
    import re

    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "security.md").read_text("utf-8")
    cited = re.findall(r"`((?:unit/[\w/]+/)?test_\w+\.py)(?:::(test_\w+))?`", text)
    # "::name" after a cited file on the same cell refers to that file.
    follow = re.findall(r"`((?:unit/[\w/]+/)?test_\w+\.py)::\w+`((?:, `::\w+`)+)", text)
    for file, rest in follow:
        cited += [(file, name) for name in re.findall(r"::(\w+)", rest)]
    assert len(cited) > 40
    missing = []
    for file, name in cited:
        folder = "tests" if file.startswith("unit/") else "tests/functional"
        path = root / folder / file
        if not path.exists():
            missing.append(file)
        elif name and not re.search(rf"^(async )?def {name}\(", path.read_text("utf-8"), re.M):
            missing.append(f"{file}::{name}")
    assert not missing, f"docs/security.md cites tests that do not exist: {missing}"
