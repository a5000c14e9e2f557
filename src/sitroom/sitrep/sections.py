"""The registry of the report's sections, and the inputs every builder shares.

A feature adds its part of the report with a builder, a function from
:class:`Inputs` to a :class:`~sitroom.sitrep.model.Section` (or None to
leave it out), registered under a key and an order::

    from sitroom.sitrep.sections import Inputs, section
    from sitroom.sitrep.model import Section

    @section("supply", "Medicines in stock", order=900)
    def supply(inputs: Inputs) -> Section:
        ...  # call the supply chain's services, never SQL

and lists its module in :data:`MODULES`, which :func:`registered` imports.
A builder that meets a :class:`~sitroom.errors.SitroomError` (too few days
for a forecast, no events recorded) does not stop the report: its section
says why it is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sitroom.context import AppContext
    from sitroom.country import Country
    from sitroom.events.service import EventRecord
    from sitroom.places.service import PlaceRecord
    from sitroom.sitrep.model import EventMark, Section
    from sitroom.surveillance.bulletin import Bulletin
    from sitroom.surveillance.service import ValueTable

#: The modules whose builders make the report, imported by :func:`registered`.
MODULES = (
    "sitroom.sitrep.builders",
    "sitroom.sitrep.epi_sections",
    "sitroom.supply.report",
    "sitroom.aid.report",
)


@dataclass
class Inputs:
    """What the builders share: the period, the bulletin, the values, the places, the events.

    Each is read once, through the services, when a builder first asks.
    """

    context: AppContext
    period: date
    bulletin: Bulletin
    #: Set by the report's build: the events with the change of R across each.
    events: list[EventMark] = field(default_factory=list)

    @property
    def country(self) -> Country:
        return self.context.country

    @property
    def cases(self) -> str:
        return self.country.roles.cases

    @cached_property
    def places(self) -> list[PlaceRecord]:
        """The country and the reporting units (code, names, population): the places service."""
        from sitroom.places.service import read_places

        level = self.country.reporting.reporting_level
        return [p for p in read_places(self.country) if p.level in (1, level)]

    @cached_property
    def reporters(self) -> list[PlaceRecord]:
        level = self.country.reporting.reporting_level
        return [p for p in self.places if p.level == level]

    @cached_property
    def population(self) -> int | None:
        """The country's population (the sum of its regions', as loaded), if known."""
        return next((p.population for p in self.places if p.level == 1), None)

    @cached_property
    def names(self) -> dict[str, str]:
        return {p.code: p.name for p in self.places}

    @cached_property
    def values(self) -> ValueTable:
        """The country's and the reporting units' daily values up to the period."""
        from sitroom.surveillance.service import fetch_values

        roles = self.country.roles.named()
        elements = [roles[p] for p in ("cases", "deaths", "active") if p in roles]
        codes = [self.bulletin.country_code, *(p.code for p in self.reporters)]
        with self.context.session() as session:
            return fetch_values(session, end=self.period, org_units=codes, elements=elements)

    @cached_property
    def by_unit(self) -> dict[str, dict[date, dict[str, int]]]:
        """:attr:`values` by org unit, then period."""
        table: dict[str, dict[date, dict[str, int]]] = {}
        for (unit, period), row in self.values.items():
            table.setdefault(unit, {})[period] = row
        return table

    def series(self, org_unit: str, element: str) -> dict[date, int]:
        """``element`` of ``org_unit`` by period, up to the report's (from :attr:`values`)."""
        rows = self.by_unit.get(org_unit, {})
        return {period: row[element] for period, row in sorted(rows.items()) if element in row}

    def event_marks(self) -> list[dict[str, Any]]:
        """The events as the charts draw them: numbered, with their titles."""
        from sitroom.sitrep.charts import event_marks

        return event_marks(self.events)

    def caption(self, text: str, spec: dict[str, Any]) -> str:
        """``text``, then the events the time chart ``spec`` draws, by number."""
        from sitroom.sitrep.charts import with_events

        return with_events(text, spec, self.event_marks())


Builder = Callable[[Inputs], "Section | None"]


@dataclass(frozen=True)
class SectionSpec:
    key: str
    title: str
    order: int
    build: Builder


_REGISTRY: dict[str, SectionSpec] = {}


def section(key: str, title: str, *, order: int) -> Callable[[Builder], Builder]:
    """Register ``build`` as the builder of the section ``key`` (sections sort by ``order``)."""

    def register(build: Builder) -> Builder:
        _REGISTRY[key] = SectionSpec(key, title, order, build)
        return build

    return register


def registered() -> list[SectionSpec]:
    """Every section's builder, in the report's order."""
    for module in MODULES:
        import_module(module)
    return sorted(_REGISTRY.values(), key=lambda s: (s.order, s.key))


__all__ = ["MODULES", "Inputs", "SectionSpec", "registered", "section"]


def record_events(records: list[EventRecord]) -> list[EventMark]:
    from sitroom.sitrep.model import EventMark

    return [EventMark(day=e.day, title=e.title, org_unit=e.org_unit, kind=e.kind) for e in records]
