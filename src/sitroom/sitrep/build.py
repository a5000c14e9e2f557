"""Building the situation report of a period from the services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sitroom.errors import SitroomError
from sitroom.sitrep.fonts import CREDIT
from sitroom.sitrep.model import Report, Section
from sitroom.sitrep.sections import Inputs, registered

if TYPE_CHECKING:
    from collections.abc import Collection

    from sitroom.context import AppContext


def build_report(
    context: AppContext, period: str | None = None, *, only: Collection[str] | None = None
) -> Report:
    """The report of ``period`` as written (``2022-05-20``); by default the latest one.

    Refuses (NotFoundError, a SitroomError) a period without national figures.
    Each section comes from its registered builder; a builder's SitroomError
    leaves its section with a note saying why it is empty. ``only``: the keys of
    the sections to build (the dashboard's overview shows some of them), all by
    default.
    """
    from sitroom.events.service import list_events
    from sitroom.sitrep.epi_sections import events_with_change
    from sitroom.surveillance.bulletin import bulletin_for

    country = context.country
    with context.session() as session:
        bulletin = bulletin_for(session, country, period)
        recorded = list_events(session, country.country.code, end=bulletin.period)
    inputs = Inputs(context=context, period=bulletin.period, bulletin=bulletin)
    inputs.events, event_notes = events_with_change(inputs, recorded)
    sections: list[Section] = []
    for spec in registered():
        if only is not None and spec.key not in only:
            continue
        try:
            made = spec.build(inputs)
        except SitroomError as exc:
            made = Section(key=spec.key, title=spec.title, notes=[f"not available: {exc}"])
        if made is not None:
            if made.key == "events":
                made.notes += event_notes
            sections.append(made)
    attributions = [country.map.attribution] if country.map is not None else []
    return Report(
        country=country.country.name,
        country_code=country.country.code,
        country_local=country.country.name_local,
        period=bulletin.period,
        period_label=bulletin.period_label,
        period_type=bulletin.period_type,
        window_start=bulletin.window_start,
        window_end=bulletin.window_end,
        generated_at=datetime.now(UTC).replace(microsecond=0),
        events=inputs.events,
        sections=sections,
        attributions=[*attributions, CREDIT],
    )
