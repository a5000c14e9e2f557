"""The commands. Each parses options, calls a service, and prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sitroom.cli.app import app, app_context, check_access, console, err_console, print_json
from sitroom.cli.options import JsonOpt, parse_date
from sitroom.cli.text import clean, styled

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from sitroom.context import AppContext
    from sitroom.places.service import UnitRef
    from sitroom.surveillance.imports import ImportSummary

db_app = typer.Typer(help="Database schema: upgrade and inspect migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Option("--revision", help="Migrate up to this revision (default: the newest).")
    ] = "head",
) -> None:
    """Apply the database migrations (the database is created if missing)."""
    from sitroom.db import create_db_engine, current_revision, upgrade

    rt = app_context(ctx)
    announce_write(rt)
    default = rt.settings.origin("database_url", rt.from_command_line) == "default"
    engine = create_db_engine(rt.settings.database_url, make_folder=default)
    try:
        upgrade(engine, revision)
        console.print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the database's migration revision and the newest one."""
    from sitroom.db import create_db_engine, current_revision, head_revision

    engine = create_db_engine(app_context(ctx).settings.database_url, create=False)
    try:
        current = current_revision(engine)
        console.print(f"current: {current or 'empty'}; head: {head_revision(engine)}")
    finally:
        engine.dispose()


@app.command()
def setup(ctx: typer.Context) -> None:
    """Load the country configuration (org units, data elements, supply items and facilities)."""
    from sitroom.setup import setup_country

    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        places, elements = setup_country(session, rt.country, lock_timeout=rt.settings.lock_timeout)
        supply = session.info.pop("supply_summary", None)
    console.print(
        f"org units: {places.created} created, {places.updated} updated,"
        f" {places.unchanged} unchanged"
    )
    console.print(
        f"data elements: {elements.created} created, {elements.updated} updated,"
        f" {elements.unchanged} unchanged"
    )
    if supply is not None:
        console.print(
            f"supply items and facilities: {supply.created} created, {supply.updated} updated,"
            f" {supply.unchanged} unchanged"
        )
    for change in places.changes + elements.changes + (supply.changes if supply else []):
        console.print(f"  changed {change}")


def announce_write(rt: AppContext) -> None:
    """Say on stderr where a write goes, unless the command line said it all."""
    where = rt.destination()
    if where is not None:
        err_console.print(clean(where, 500))


#: Rejections printed by ``import`` (``--json`` gives every one).
MAX_SHOWN = 20


def _print_summary(summary: ImportSummary) -> None:
    mapping = f", mapping {summary.mapping}" if summary.mapping else ""
    console.print(styled("[bold]{}[/] ({})", summary.file, f"{summary.format}{mapping}"))
    console.print(
        f"  created {summary.created}, updated {summary.updated}, deleted {summary.deleted},"
        f" unchanged {summary.unchanged}, rejected {summary.rejected}"
    )
    shown = summary.rejections[:MAX_SHOWN]
    for rejection in shown:
        err_console.print(
            styled("  [red]rejected[/] {}: {}", rejection.location(summary.file), rejection.reason)
        )
    for warning in summary.warnings[:MAX_SHOWN]:
        err_console.print(
            styled("  [yellow]warning[/] {}: {}", warning.location(summary.file), warning.reason)
        )
    if summary.rejected > len(shown):
        err_console.print(
            f"  ... and {summary.rejected - len(shown)} more rejections (--json lists them all)"
        )
    if not summary.ok:
        err_console.print(
            styled("[bold red]Nothing was imported[/]: fix the rejected rows and import again.")
        )
    elif summary.dry_run:
        console.print("Dry run: nothing was written.")
    elif summary.changed == 0:
        when = summary.previously_imported
        before = f" (this file was imported before, on {when:%Y-%m-%d %H:%M} UTC)" if when else ""
        console.print(f"No changes: every value was already stored{before}.")


def _scope_of_user(session: Session, username: str) -> Callable[[UnitRef], str | None] | None:
    """The importer's per-unit check when ``--user`` names a user with a role."""
    from sitroom.auth.permissions import refusal
    from sitroom.auth.service import acting_principal

    who = acting_principal(session, username)
    if who is None:
        return None
    return lambda unit: refusal(who, "data.write", unit.path)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="CSV (wide or long/DHIS2) or DHIS2 JSON file; - reads standard input."),
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv-wide, csv-long or dhis2-json (default: detect)."),
    ] = None,
    mapping: Annotated[
        str | None, typer.Option("--mapping", help="Column mapping of the country for wide CSV.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count; write nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a file of values: atomic, idempotent, audited."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from sitroom.surveillance.imports import Importer

    rt = app_context(ctx)
    if not dry_run:
        announce_write(rt)
    size = file.stat().st_size if file.is_file() else 0
    with (
        # A dry run writes nothing: not even a new database for a mistyped path.
        rt.session(write=not dry_run) as session,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=size < 2_000_000 or not err_console.is_terminal,
        ) as bar,
    ):
        task = bar.add_task(f"importing {file.name}", total=size)
        importer = Importer(
            session,
            rt.country,
            user=rt.settings.user,
            lock_timeout=rt.settings.lock_timeout,
            authorize_unit=_scope_of_user(session, rt.settings.user),
        )
        stdin = str(file) == "-"
        summary = importer.run(
            sys.stdin.buffer if stdin else file,
            name="standard input" if stdin else None,
            fmt=fmt,
            mapping=mapping,
            dry_run=dry_run,
            progress=lambda n: bar.advance(task, n),
        )
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


@app.command()
def history(
    ctx: typer.Context,
    element: Annotated[str, typer.Argument(help="Data element code, e.g. new_fever.")],
    org_unit: Annotated[
        str, typer.Argument(help="Org unit: code, name or alias, e.g. KP-04, Chagang, 자강.")
    ],
    period: Annotated[
        str,
        typer.Argument(help="Period: a day (YYYY-MM-DD), a week (2022W20) or a month (202205)."),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Show every value a (data element, org unit, period) has had, and who set it."""
    from rich.table import Table

    from sitroom.surveillance.service import history_key, value_history

    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "data.read", org_unit)
        key = history_key(session, rt.country, element, org_unit, period)
        events = value_history(session, *key)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    if not events:
        console.print(f"No value was ever stored for {element} / {org_unit} / {period}.")
        return
    table = Table(
        "when (UTC)", "what", "value", "by", "stored by (file)", "source", "via", "comment"
    )
    for event in events:
        table.add_row(
            f"{event.at:%Y-%m-%d %H:%M:%S}",
            event.action,
            "" if event.value is None else f"{event.value:,}",
            clean(event.by),
            clean(event.stored_by or ""),
            clean(event.source),
            clean(" ".join(filter(None, (event.channel, event.client)))),
            clean(event.comment or ""),
        )
    console.print(table)
    console.print(
        "by: who made the change (the signed-in or --user actor);"
        " stored by: who the file says entered the value."
    )


events_app = typer.Typer(
    help="Dated events (interventions, case definitions, reporting) to read the curves by.",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events")


@events_app.command("add")
def events_add(
    ctx: typer.Context,
    org_unit: Annotated[str, typer.Argument(help="Org unit: code, name or alias.")],
    day: Annotated[str, typer.Argument(help="The day it took effect (YYYY-MM-DD).")],
    title: Annotated[str, typer.Argument(help="What happened, in a few words.")],
    kind: Annotated[
        str,
        typer.Option("--kind", help="intervention, case_definition, reporting or other."),
    ] = "intervention",
    description: Annotated[
        str | None, typer.Option("--description", help="More detail, a source.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record an event of an org unit (it applies to the units below it too)."""
    from sitroom.events.service import add_event
    from sitroom.places.service import org_unit_code

    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        check_access(rt, session, "events.write", org_unit)
        code = org_unit_code(session, rt.country, org_unit)
        event = add_event(
            session,
            code,
            parse_date(day, "day"),
            title,
            user=rt.settings.user,
            kind=kind,
            description=description,
            lock_timeout=rt.settings.lock_timeout,
        )
    if as_json:
        print_json(event.to_dict())
        return
    console.print(clean(f"recorded event {event.id}: {event.day} {event.org_unit} {event.title}"))


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    org_unit: Annotated[
        str | None,
        typer.Option("--org-unit", help="Its events and its parents' (default: all)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The recorded events, by day."""
    from rich.table import Table

    from sitroom.events.service import list_events
    from sitroom.places.service import org_unit_code

    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "data.read", org_unit)
        code = org_unit_code(session, rt.country, org_unit) if org_unit else None
        found = list_events(session, code)
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    table = Table("day", "org unit", "kind", "title", "by")
    for e in found:
        table.add_row(e.day.isoformat(), e.org_unit, e.kind, clean(e.title), clean(e.created_by))
    console.print(table)
