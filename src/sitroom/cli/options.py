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
    typer.Option("--period", help="Period (YYYY-MM-DD): the date whose cut-off closes it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def parse_date(text: str, what: str = "period") -> date:
    """A date given on the command line, in the years sitroom accepts (as imports do)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise SitroomError(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None
    if not 1900 <= day.year <= 2199:
        raise SitroomError(f"{what} {text!r} is outside the years 1900-2199")
    return day
