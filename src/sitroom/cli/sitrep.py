"""``sitroom sitrep``: the situation report of a period, in HTML, PDF, Markdown or JSON.

A group that renders when called alone, so that ``sitroom sitrep publish``
(storing editions) can join it later. The report is built by
``sitroom.sitrep`` from the same services as the other commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitroom.cli.app import app, app_context, check_access, console
from sitroom.cli.options import PeriodOpt
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
