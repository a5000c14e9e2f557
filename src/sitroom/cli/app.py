"""The Typer application, its consoles and its global options.

The command modules register themselves on ``app``; ``sitroom.cli`` imports
them. Nothing heavy is imported here: each command imports what it uses.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sitroom.context import AppContext

#: Output to a pipe or file is not wrapped at 80 columns: tables keep their width.
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 250

# Markup is off: nothing from data is ever read as styling (see cli/text.py).
console = Console(highlight=False, markup=False, width=_PIPED_WIDTH)
# Messages are never wrapped: a file path or a reason must stay on one line for grep.
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

app = typer.Typer(
    name="sitroom",
    help="sitroom: an outbreak situation room. Daily surveillance from import to bulletin.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"sitroom {version('sitroom')}")
        raise typer.Exit()


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
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    # The context is built on first use: `sitroom --help` reads no settings.
    ctx.obj = {"database_url": db or None, "country": country, "user": user}


#: True while :func:`pause_collector` holds the collector and the command has not started.
_collector_paused = False


def pause_collector() -> None:
    """Keep the cyclic garbage collector out of start-up (the ``sitroom`` program only).

    Start-up is imports: tens of thousands of modules, classes and functions
    that live as long as the process. The collector would walk them again and
    again for garbage that is not there (a tenth of a bulletin's time), and
    the interpreter would take them apart one by one at exit (another tenth).
    :func:`resume_collector` turns it back on when the command starts its work.
    Not for in-process callers (the tests): see :func:`resume_collector`.
    """
    global _collector_paused  # noqa: PLW0603  (one switch for the process)
    if gc.isenabled():
        gc.disable()
        _collector_paused = True


def resume_collector() -> None:
    """Start-up is over: set what it built aside for good, and collect again.

    What exists now is frozen (:func:`gc.freeze`): never scanned again and
    never collected, not even at exit, which is what makes the exit quick. So
    nothing frozen may count on the collector to be closed: the context's
    database connections are closed when the command ends (see
    :func:`app_context`). A no-op unless :func:`pause_collector` paused it.
    """
    global _collector_paused  # noqa: PLW0603
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


def app_context(ctx: typer.Context) -> AppContext:
    """The command's application context, built from the global options once.

    Its database connections are closed when the command ends. Every command
    that works on data asks for it, after importing what it uses: start-up
    ends here (:func:`resume_collector`).
    """
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext.from_overrides(**(root.obj or {}))
        root.call_on_close(root.obj.close)
        resume_collector()
    return root.obj


def print_json(data: Any) -> None:
    """JSON on standard output, unstyled, for scripts.

    Text stays readable (Hangul as Hangul), but characters that steer a
    terminal (C1 controls such as CSI, line separators, bidirectional
    overrides) are written as JSON escapes: the same data, nothing raw.
    """
    from sitroom.cli.text import json_escape_controls

    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(json_escape_controls(text) + "\n")


def check_access(
    rt: AppContext,
    session: Any,
    permission: str,
    org_unit: str | None = None,
    *,
    scoped: bool = True,
) -> None:
    """Refuse (ForbiddenError) when ``--user`` names a user whose role or scopes forbid it.

    ``org_unit`` is the unit the command reads or writes (the country when
    None). The same check as the server's (``sitroom.auth.access``); a name
    without a role is the local operator and is not restricted.
    """
    from sitroom.auth.access import check_acting_user

    check_acting_user(session, rt.country, rt.settings.user, permission, org_unit, scoped=scoped)
