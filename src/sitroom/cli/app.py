"""The Typer application and its global options."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from sitroom.cli.runtime import Runtime
from sitroom.config import Settings
from sitroom.errors import ConfigError

# Markup is off: nothing from data is ever read as styling (see cli/text.py).
console = Console(highlight=False, markup=False)
# Messages are never wrapped: a file path or a reason must stay on one line for grep.
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

app = typer.Typer(
    name="sitroom",
    help="sitroom: an outbreak situation room. Daily surveillance from import to bulletin.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default: SITROOM_DATABASE_URL or the SQLite file)."
        ),
    ] = None,
    country: Annotated[
        Path | None,
        typer.Option("--country", help="Country configuration file (default: the DPRK one)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Who is acting, for the audit trail.")
    ] = None,
) -> None:
    overrides: dict[str, Any] = {}
    if db:
        overrides["database_url"] = db
    if country:
        overrides["country"] = country
    if user is not None:
        overrides["user"] = user
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"bad setting: {problems}") from None
    ctx.obj = Runtime(settings, set(overrides))


def runtime(ctx: typer.Context) -> Runtime:
    obj = ctx.find_root().obj
    assert isinstance(obj, Runtime)
    return obj


def print_json(data: Any) -> None:
    """JSON on standard output, unstyled, for scripts."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


# Register the commands (each module adds its own to ``app``).
from sitroom.cli import analyze as _analyze  # noqa: E402,F401
from sitroom.cli import commands as _commands  # noqa: E402,F401
from sitroom.cli import reports as _reports  # noqa: E402,F401
