"""``sitroom sitrep``: the situation report of a period, in HTML, PDF, Markdown or JSON.

A group that renders when called alone; ``publish`` stores an edition,
``editions`` lists them and ``get`` writes one out (``sitroom.publication``).
The report is built by ``sitroom.sitrep`` from the same services as the
other commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sitroom.cli.app import app, app_context, check_access, console, print_json
from sitroom.cli.options import JsonOpt, PeriodOpt
from sitroom.errors import SitroomError

#: The formats (``sitroom.sitrep.render.FORMATS``, which a test keeps equal;
#: written out so that ``sitroom --help`` imports nothing of the report).
SITREP_FORMATS = ("html", "pdf", "md", "json")

sitrep_app = typer.Typer(
    help="The situation report of a period: headline, tables, curve, map, Rt, forecast,"
    " reporting, data quality, alerts and events.",
    invoke_without_command=True,
)
app.add_typer(sitrep_app, name="sitrep")


@sitrep_app.callback()
def sitrep_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help=f"One of {', '.join(SITREP_FORMATS)}.")
    ] = "html",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write (default: sitrep-PERIOD.FORMAT in the current folder)."
            " Markdown writes its charts beside it as FILE-STEM-CHART.svg.",
        ),
    ] = None,
) -> None:
    """Write the situation report of --period (default: the latest with national figures).

    Self-contained HTML (opens with no network), PDF, Markdown with SVG charts
    beside it, or JSON (the report's context). A file is written whole or not
    at all.
    """
    if ctx.invoked_subcommand is not None:
        return
    if fmt not in SITREP_FORMATS:
        raise SitroomError(f"unknown format {fmt!r}; choose one of {', '.join(SITREP_FORMATS)}")
    if output is not None and output.is_dir():
        raise SitroomError(f"{output}: is a folder; give a file name")
    if fmt != "json":
        from sitroom.sitrep.charts import warm_up

        warm_up()  # the chart engine starts while the report is built
    from sitroom.sitrep.build import build_report
    from sitroom.sitrep.render import write

    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "data.read")
    report = build_report(rt, period)
    target = output or Path(f"sitrep-{report.period_label}.{fmt}")
    written = write(report, fmt, target)
    for path in written:
        console.print(f"wrote {path} ({path.stat().st_size:,} bytes)")


def _edition_lines(edition: Any) -> list[str]:
    """An edition as the command line tells it: number, when, who, what changed."""
    from sitroom.cli.text import clean

    lines = [
        f"{edition.period_label} edition {edition.number}: built {edition.built_at:%Y-%m-%d %H:%M}"
        f" UTC by {clean(edition.built_by)} ({edition.channel});"
        f" values sha256 {edition.values_sha256[:12]}...",
        f"  {clean(edition.summary)}",
    ]
    lines += [f"  - {clean(change.sentence())}" for change in edition.changes]
    return lines


@sitrep_app.command("publish")
def publish_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Store a new edition even when no value changed since the period's last one.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the report of --period (default: the latest) and store it as a new edition.

    The edition keeps the report in HTML, PDF, Markdown and JSON, the SHA-256
    of the values it was built from, the time, the user and what changed since
    the period's previous edition. When no value changed since then, nothing is
    stored and the previous edition is named (--force stores one anyway).
    Needs report.publish over the country for a --user with a role.
    """
    from sitroom.publication.service import publish

    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "report.publish")
    done = publish(rt, period, user=rt.settings.user, channel="cli", force=force)
    if as_json:
        print_json({"published": done.new, **done.edition.to_dict()})
        return
    edition = done.edition
    if done.new:
        console.print(f"published edition {edition.number} of {edition.period_label}")
    else:
        console.print(
            f"no data changed since edition {edition.number} of {edition.period_label}:"
            " nothing published (--force publishes anyway)"
        )
    for line in _edition_lines(edition):
        console.print(line)


@sitrep_app.command("editions")
def editions_cmd(ctx: typer.Context, period: PeriodOpt = None, as_json: JsonOpt = False) -> None:
    """List the published editions (of --period), newest first, with what changed in each."""
    from sitroom.publication.service import list_editions

    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "data.read")
        found = list_editions(session, period)
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    if not found:
        where = f" of {period}" if period else ""
        console.print(f"no editions{where} have been published (sitroom sitrep publish)")
        return
    for edition in found:
        for line in _edition_lines(edition):
            console.print(line)
        sizes = ", ".join(f"{f.format} {f.size:,} bytes" for f in edition.files)
        console.print(f"  files: {sizes}")


@sitrep_app.command("get")
def get_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    number: Annotated[
        int | None,
        typer.Option("--edition", min=1, help="Edition number (default: the period's latest)."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help=f"One of {', '.join(SITREP_FORMATS)}.")
    ] = "pdf",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write (default: sitrep-PERIOD-edition-N.FORMAT in the current folder).",
        ),
    ] = None,
) -> None:
    """Write a published edition's file exactly as it was stored (default: the latest edition).

    Markdown editions hold the text and tables; their charts are in the HTML
    and PDF files.
    """
    if fmt not in SITREP_FORMATS:
        raise SitroomError(f"unknown format {fmt!r}; choose one of {', '.join(SITREP_FORMATS)}")
    if output is not None and output.is_dir():
        raise SitroomError(f"{output}: is a folder; give a file name")
    from sitroom.publication.service import edition_file
    from sitroom.sitrep.render import write_file

    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "data.read")
        edition, stored = edition_file(session, period, number, fmt)
    target = output or Path(stored.name)
    write_file(target, stored.content)
    console.print(
        f"wrote {target} ({len(stored.content):,} bytes): edition {edition.number}"
        f" of {edition.period_label}, sha256 {stored.sha256}"
    )
