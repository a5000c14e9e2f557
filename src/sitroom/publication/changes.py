"""What changed between two editions of a period: the headline and the regions' figures.

An edition keeps its :func:`figures` (JSON in ``edition.figures``): the facts
of the headline, transmission, curve and reporting sections by label, and
each region's line of the regional table (new, cumulative, under treatment,
deaths, cumulative deaths, report status). A new edition of the period is
compared with the previous one's figures; each figure that differs is a
:class:`Change` with both values formatted for people.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sitroom.sitrep.model import Report

#: The sections whose facts are compared, in the report's order.
FACT_SECTIONS = ("headline", "curve", "transmission", "reporting")
#: The regional table's columns compared, with their kinds.
REGION_COLUMNS = {
    "new": "count",
    "cumulative": "count",
    "active": "count",
    "deaths": "count",
    "cumulative_deaths": "count",
    "status": "text",
}
NO_DATA_CHANGED = "No data changed since the previous edition."
FIRST_EDITION = "First edition of this period."


@dataclass(frozen=True, slots=True)
class Change:
    """One figure that differs: where (``Headline`` or a region), what, before and after."""

    where: str
    what: str
    before: str
    after: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def sentence(self) -> str:
        return f"{self.where}, {self.what}: {self.before} → {self.after}"


def figures(report: Report) -> dict[str, Any]:
    """The figures of ``report`` that later editions are compared with (JSON-ready)."""
    facts: dict[str, dict[str, Any]] = {}
    regions: dict[str, dict[str, Any]] = {}
    for section in report.sections:
        if section.key in FACT_SECTIONS:
            for fact in section.facts:
                facts[f"{section.title}\x1f{fact.label}"] = {"value": fact.value, "kind": fact.kind}
        for table in section.tables:
            if table.key != "regional":
                continue
            for row in table.rows:
                code = str(row.get("code") or row.get("name"))
                regions[code] = {
                    "name": row.get("name"),
                    **{key: row.get(key) for key in REGION_COLUMNS},
                }
    return {"facts": facts, "regions": regions}


def _shown(value: Any, kind: str) -> str:
    from sitroom.sitrep.formatting import show

    if value is None:
        return "none"
    return show(value, kind)  # type: ignore[arg-type]


def _differs(before: Any, after: Any) -> bool:
    if isinstance(before, float) and isinstance(after, float):
        return abs(before - after) > 1e-9 * max(1.0, abs(before), abs(after))
    return bool(before != after)


def what_changed(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """The figures of ``after`` that differ from ``before`` (both from :func:`figures`)."""
    changes = []
    old_facts, new_facts = before.get("facts", {}), after.get("facts", {})
    for key in [*new_facts, *(k for k in old_facts if k not in new_facts)]:
        old, new = old_facts.get(key), new_facts.get(key)
        old_value = old["value"] if old else None
        new_value = new["value"] if new else None
        if _differs(old_value, new_value):
            where, _, label = key.partition("\x1f")
            kind = (new or old or {}).get("kind", "count")
            changes.append(Change(where, label, _shown(old_value, kind), _shown(new_value, kind)))
    old_regions, new_regions = before.get("regions", {}), after.get("regions", {})
    for code in sorted({*old_regions, *new_regions}):
        old_row, new_row = old_regions.get(code, {}), new_regions.get(code, {})
        name = new_row.get("name") or old_row.get("name") or code
        for column, kind in REGION_COLUMNS.items():
            if _differs(old_row.get(column), new_row.get(column)):
                changes.append(
                    Change(
                        f"{name} ({code})",
                        column.replace("_", " "),
                        _shown(old_row.get(column), kind),
                        _shown(new_row.get(column), kind),
                    )
                )
    return changes


def summary(changes: list[Change], *, first: bool, same_values: bool) -> str:
    """One sentence for the listing: first edition, no data changed, or how many figures."""
    if first:
        return FIRST_EDITION
    if same_values:
        return NO_DATA_CHANGED
    if not changes:
        return (
            "The data changed since the previous edition, but none of the headline"
            " or regional figures did."
        )
    n = len(changes)
    return f"{n} figure{'' if n == 1 else 's'} changed since the previous edition."
