"""The command-line reference, generated from the commands themselves.

``python -m sitroom.cli.reference > docs/cli.md`` (or ``make docs``) writes
it; a test fails when docs/cli.md and the commands disagree, so the
reference cannot drift from the code (as Datasette does with cog).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

WIDTH = "100"


def _commands(group: Any, path: list[str]) -> Iterator[list[str]]:
    """Paths of every command under ``group`` (a Typer/click group), depth first."""
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        yield [*path, name]
        if hasattr(command, "list_commands"):
            yield from _commands(command, [*path, name])


def render() -> str:
    """docs/cli.md: every command's --help, in order."""
    from sitroom.cli import app

    root = typer.main.get_command(app)
    runner = CliRunner()
    env = {"COLUMNS": WIDTH, "TERM": "dumb", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    parts = [
        "# Command-line reference\n",
        "Generated from the commands by `make docs` (`python -m sitroom.cli.reference`);"
        " a test fails when this page and the commands disagree.\n",
    ]
    for path in [[], *_commands(root, [])]:
        result = runner.invoke(app, [*path, "--help"], env=env, prog_name="sitroom")
        title = " ".join(["sitroom", *path])
        text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
        parts.append(f"## `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover - the test calls render()
    os.environ.setdefault("COLUMNS", WIDTH)
    print(render(), end="")
