"""Loading the org-unit hierarchy from the country configuration, and finding units."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import Country, PlaceFile
from sitroom.errors import ConfigError, InputError, Location, NotFoundError
from sitroom.places.models import LEVELS, OrgUnit


@dataclass(frozen=True, slots=True)
class PlaceRecord:
    """One org unit as the configuration describes it."""

    code: str
    name: str
    level: int
    kind: str
    parent_code: str | None
    name_local: str | None = None
    population: int | None = None
    source: str | None = None


@dataclass(slots=True)
class LoadSummary:
    """What loading configuration did: counts, and which fields of what changed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: list[str] = field(default_factory=list)

    def update(self, code: str, row: object, wanted: Mapping[str, object]) -> None:
        """Bring an existing ``row`` to ``wanted``, counting and naming what changed."""
        changed = [key for key, value in wanted.items() if getattr(row, key) != value]
        for key in changed:
            setattr(row, key, wanted[key])
        if changed:
            self.updated += 1
            self.changes.append(f"{code}: {', '.join(changed)}")
        else:
            self.unchanged += 1


def slug(name: str) -> str:
    """An ASCII code fragment from a romanised name: ``"Ch'ŏllima"`` -> ``"CHOLLIMA"``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    plain = plain.replace("'", "")
    return re.sub(r"[^A-Za-z0-9]+", "-", plain).strip("-").upper()


def _int_or_none(text: str | None, where: Location) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        number = int(text.strip())
    except ValueError as exc:
        raise InputError(where, f"population {text!r} is not a whole number") from exc
    if number < 0:
        raise InputError(where, "population cannot be negative")
    return number


def _read_place_file(country: Country, spec: PlaceFile) -> list[PlaceRecord]:
    path = country.folder / spec.file
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: place file not found") from exc
    except UnicodeDecodeError as exc:
        raise InputError(Location(str(path)), f"not UTF-8 text: {exc.reason}") from exc
    reader = csv.DictReader(text.splitlines())
    columns = [spec.name, spec.code, spec.parent, spec.name_local, spec.kind, spec.population]
    missing = [c for c in columns if c and c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(Location(str(path), 1), f"missing column(s): {', '.join(missing)}")
    records = []
    for row in reader:
        line = reader.line_num

        def get(column: str | None, row: dict[str, str] = row) -> str | None:
            return (row.get(column) or "").strip() or None if column else None

        name = get(spec.name)
        if not name:
            raise InputError(Location(str(path), line, spec.name), "name is empty")
        parent = get(spec.parent) if spec.parent else country.country.code
        if spec.code:
            code = get(spec.code)
        else:
            assert spec.code_template is not None
            code = spec.code_template.format(parent=parent, name=name, name_slug=slug(name))
        if not code:
            raise InputError(Location(str(path), line, spec.code), "code is empty")
        records.append(
            PlaceRecord(
                code=code,
                name=name,
                level=spec.level,
                kind=get(spec.kind) or LEVELS[spec.level],
                parent_code=parent,
                name_local=get(spec.name_local),
                population=_int_or_none(
                    get(spec.population), Location(str(path), line, spec.population)
                ),
                source=get(spec.source),
            )
        )
    return records


def read_places(country: Country) -> list[PlaceRecord]:
    """Every org unit of the configuration, parents before children.

    Populations of units that a census counted inside another unit (say, a
    city inside its province) are subtracted from that unit, as
    ``places.population_within`` says.
    """
    info = country.country
    records = [PlaceRecord(info.code, info.name, 1, "country", None, info.name_local)]
    for spec in sorted(country.places.files, key=lambda s: s.level):
        records.extend(_read_place_file(country, spec))

    by_code: dict[str, PlaceRecord] = {}
    for record in records:
        if record.code in by_code:
            raise ConfigError(f"org unit code {record.code!r} is used twice")
        if record.parent_code is not None and record.parent_code not in by_code:
            raise ConfigError(f"org unit {record.code!r}: unknown parent {record.parent_code!r}")
        by_code[record.code] = record

    for inner, outer in country.places.population_within.items():
        if inner not in by_code or outer not in by_code:
            raise ConfigError(f"population_within names an unknown unit: {inner} in {outer}")
        a, b = by_code[inner], by_code[outer]
        if a.population is not None and b.population is not None:
            by_code[outer] = replace(b, population=b.population - a.population)

    # The country's population is the sum of its regions where all are known.
    regions = [r for r in by_code.values() if r.level == 2]
    if regions and all(r.population is not None for r in regions):
        total = sum(r.population or 0 for r in regions)
        by_code[info.code] = replace(by_code[info.code], population=total)
    return list(by_code.values())


def load_places(session: Session, country: Country) -> LoadSummary:
    """Create or update the org units of ``country``; never deletes one.

    Running it again with the same configuration changes nothing.
    """
    records = read_places(country)
    existing = {unit.code: unit for unit in session.scalars(select(OrgUnit))}
    summary = LoadSummary()
    year = country.places.population_year
    for record in records:
        if record.parent_code and existing[record.parent_code].id is None:
            session.flush()  # the parent is new: its id, once per level rather than per unit
        parent_id = existing[record.parent_code].id if record.parent_code else None
        wanted = {
            "name": record.name,
            "name_local": record.name_local,
            "level": record.level,
            "kind": record.kind,
            "parent_id": parent_id,
            "population": record.population,
            "population_year": year if record.population is not None else None,
            "source": record.source,
        }
        unit = existing.get(record.code)
        if unit is None:
            parent = existing[record.parent_code] if record.parent_code else None
            unit = OrgUnit(code=record.code, path=unit_path(parent, record.code), **wanted)
            session.add(unit)
            existing[record.code] = unit
            summary.created += 1
            continue
        summary.update(record.code, unit, wanted)
    _repath(existing.values())
    session.flush()
    return summary


def unit_path(parent: OrgUnit | None, code: str) -> str:
    """The materialised path of a unit: its ancestors' codes and its own, slash-framed."""
    return f"{parent.path if parent else '/'}{code}/"


def _repath(units: Iterable[OrgUnit]) -> None:
    """Set every unit's path from its parent's (after a move, descendants follow)."""
    by_id = {u.id: u for u in units}
    done: dict[int, str] = {}

    def path_of(unit: OrgUnit) -> str:
        if unit.id not in done:
            parent = by_id.get(unit.parent_id) if unit.parent_id else None
            done[unit.id] = f"{path_of(parent) if parent else '/'}{unit.code}/"
        return done[unit.id]

    for unit in by_id.values():
        wanted = path_of(unit)
        if unit.path != wanted:
            unit.path = wanted


def subtree_codes(session: Session, code: str) -> list[str]:
    """``code`` and every unit below it: one indexed prefix query on the path."""
    path = session.scalar(select(OrgUnit.path).where(OrgUnit.code == code))
    if path is None:
        raise NotFoundError(f"unknown org unit {code!r}")
    return list(
        session.scalars(select(OrgUnit.code).where(OrgUnit.path.startswith(path, autoescape=True)))
    )


@dataclass(frozen=True, slots=True)
class UnitRef:
    """What finding and checking an org unit needs of it, read as plain columns.

    Building ORM objects for every unit cost a small import (one value from
    the API) a fifth of its time; these rows cost a few tenths of a millisecond.
    """

    id: int
    code: str
    uid: str
    name: str
    name_local: str | None
    level: int
    parent_id: int | None
    path: str


#: The columns of :class:`UnitRef`, in its order.
_UNIT_COLUMNS = (
    OrgUnit.id,
    OrgUnit.code,
    OrgUnit.uid,
    OrgUnit.name,
    OrgUnit.name_local,
    OrgUnit.level,
    OrgUnit.parent_id,
    OrgUnit.path,
)


class OrgUnitResolver:
    """Finds org units by code, DHIS2 uid, name, local name or alias (names case-insensitive)."""

    def __init__(self, units: Iterable[UnitRef], aliases: dict[str, str] | None = None) -> None:
        self.by_id: dict[int, UnitRef] = {}
        self.by_code: dict[str, UnitRef] = {}
        names: dict[str, set[str]] = {}
        self.by_uid: dict[str, UnitRef] = {}
        for unit in units:
            self.by_id[unit.id] = unit
            self.by_code[unit.code] = unit
            self.by_uid[unit.uid] = unit
            for label in (unit.code, unit.name, unit.name_local):
                if label:
                    names.setdefault(label.casefold(), set()).add(unit.code)
        for alias, code in (aliases or {}).items():
            names.setdefault(alias.casefold(), set()).add(code)
        self._names = names

    @classmethod
    def from_session(cls, session: Session, country: Country | None = None) -> OrgUnitResolver:
        aliases = country.places.aliases if country else None
        rows = session.execute(select(*_UNIT_COLUMNS))
        return cls((UnitRef(*row) for row in rows), aliases)

    def resolve(self, label: str, level: int | None = None) -> UnitRef:
        """The unit named ``label`` (at ``level`` if given); NotFoundError if none or several."""
        exact = self.by_code.get(label) or self.by_uid.get(label)
        if exact is not None and (level is None or exact.level == level):
            return exact
        codes = self._names.get(label.strip().casefold(), set())
        if level is not None:
            codes = {c for c in codes if c in self.by_code and self.by_code[c].level == level}
        if len(codes) == 1:
            (code,) = codes
            if code in self.by_code:
                return self.by_code[code]
        if len(codes) > 1:
            raise NotFoundError(
                f"org unit {label!r} is ambiguous: {', '.join(sorted(codes))}; use a code"
            )
        at = f" at level {level}" if level is not None else ""
        raise NotFoundError(f"unknown org unit {label!r}{at}")

    def children(self, unit: UnitRef) -> list[UnitRef]:
        return [u for u in self.by_id.values() if u.parent_id == unit.id]


def org_unit_code(session: Session, country: Country, label: str | None) -> str:
    """The code of the unit a user named (code, name, local name or alias); the country's if None.

    Every command that takes an org unit resolves it here, as the import does.
    """
    if label is None:
        return country.country.code
    found = session.scalar(select(OrgUnit.code).where(OrgUnit.code == label))
    if found is not None:
        return found
    return OrgUnitResolver.from_session(session, country).resolve(label).code
