"""Options and argument parsers shared by the commands."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from sitroom.errors import SitroomError

#: The file formats (``sitroom.surveillance.ingest.FORMATS``, which a test keeps equal;
#: written out here so that the command line starts without importing the parsers).
FORMATS = ("csv-wide", "csv-long", "dhis2-json")

PeriodOpt = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="Period: a day (YYYY-MM-DD, the date whose cut-off closes it),"
        " an ISO week (2022W20) or a month (202205).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def parse_date(text: str, what: str = "period", *, last: bool = False) -> date:
    """A day given on the command line, in the years sitroom accepts (as imports do).

    A week (``2023W9``) or a month (``202303``, ``2023-03``) stands for its
    first day, or its last with ``last`` (the end of a range).
    """
    from sitroom.surveillance.periods import last_day, parse_period

    try:
        period_type, day = parse_period(text)
    except ValueError as exc:
        raise SitroomError(f"{what}: {exc}") from None
    return last_day(day, period_type) if last else day
