"""The situation report as a typed context: what every format renders.

A report is a list of :class:`Section`, one per feature (the headline, the
regions, transmission, ... and later the supply chain and aid), each made by
its own builder (see :mod:`sitroom.sitrep.sections`). A section is made of a
few kinds of blocks that every renderer knows: facts (a labelled number),
sentences, tables and charts. Numbers are kept raw here, with their
:data:`Kind`; the renderers format them for people through
:mod:`sitroom.sitrep.formatting`, so the JSON keeps full precision and a
table's number and its text never disagree.

The models are pydantic: ``Report.model_dump_json()`` is the JSON format and
``Report.model_validate_json()`` reads it back to the same context.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: How a number is shown: a count (392,920), a percentage of a ratio (0.0016 %),
#: a rate per 100,000, a plain ratio (R 1.09), days, a signed relative change
#: (+12 %), a date, or text as it is.
Kind = Literal["count", "percent", "per100k", "ratio", "days", "change", "date", "text"]

#: How much a sentence matters: ``ok`` (a check passed), ``info``, ``warning``, ``error``.
Severity = Literal["ok", "info", "warning", "error"]

Value = int | float | str | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Fact(_Model):
    """One labelled figure: "New fever cases: 392,920 (+96,740 on the day before)"."""

    label: str
    value: Value
    kind: Kind = "count"
    #: The 95 % interval (or another stated range), when the figure has one.
    low: Value = None
    high: Value = None
    #: A short note after the figure (its change, what it counts).
    note: str | None = None


class Sentence(_Model):
    """A finding in plain words, with how much it matters."""

    text: str
    severity: Severity = "info"


class Column(_Model):
    key: str
    label: str
    kind: Kind = "count"


class Table(_Model):
    """Rows of raw values, with their columns' kinds; a caption says what they are."""

    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Value]]
    caption: str = ""
    #: A row of totals shown after the rows (the national line).
    total: dict[str, Value] | None = None


class Chart(_Model):
    """A Vega-Lite chart: its spec (``sitroom.sitrep.charts``) and how to read it."""

    key: str
    title: str
    #: One line: what it shows and how to read it.
    caption: str
    spec: dict[str, Any]
    #: Whether the chart has a time axis (events are drawn on it).
    time: bool = False
    #: A credit line the chart's data requires (the map's boundaries).
    attribution: str | None = None


class Section(_Model):
    """One feature's part of the report."""

    key: str
    title: str
    intro: str | None = None
    facts: list[Fact] = Field(default_factory=list)
    sentences: list[Sentence] = Field(default_factory=list)
    charts: list[Chart] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    #: Why parts of the section are missing (too few days for a forecast...).
    notes: list[str] = Field(default_factory=list)
    #: The section's results as the services gave them, for programs (JSON).
    data: dict[str, Any] = Field(default_factory=dict)


class EventMark(_Model):
    """A dated event, drawn on every time chart."""

    day: date
    title: str
    org_unit: str
    kind: str
    #: R after the event / R before it, median and 95 % interval (None: no estimate).
    change: float | None = None
    change_low: float | None = None
    change_high: float | None = None


class Report(_Model):
    """The situation report of one period."""

    country: str
    country_code: str
    country_local: str | None = None
    period: date
    period_label: str
    period_type: str
    window_start: datetime
    window_end: datetime
    generated_at: datetime
    events: list[EventMark] = Field(default_factory=list)
    sections: list[Section]
    #: Credit lines the report must print (the map's boundaries, the fonts).
    attributions: list[str] = Field(default_factory=list)

    def section(self, key: str) -> Section:
        """The section called ``key`` (KeyError if the report has none)."""
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)

    def charts(self) -> list[Chart]:
        return [chart for section in self.sections for chart in section.charts]
