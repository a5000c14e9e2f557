"""The country configuration: everything that differs from one deployment to another.

A country is one TOML file (see ``data/countries/kp/country.toml``) with the
reporting window, the place files, the data elements, validation rules and
the column mappings of the files the authority publishes. Paths in it are
relative to the file.
"""

from __future__ import annotations

import re
import stat
import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sitroom.errors import ConfigError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CountryInfo(_Model):
    code: str
    name: str
    name_local: str | None = None


class ReportingConfig(_Model):
    time_zone: str
    cutoff: str = "24:00"
    grace_minutes: int = Field(default=0, ge=0)
    reporting_level: int = Field(default=2, ge=1, le=4)
    required_elements: list[str] = Field(default_factory=list)
    #: No value may be for a period before this one (a typo such as 1899 or 2202).
    first_period: date | None = None
    #: Periods after the open one (today's) that may already hold values.
    days_ahead: int = Field(default=0, ge=0, le=366)

    @field_validator("cutoff")
    @classmethod
    def _check_cutoff(cls, value: str) -> str:
        hours, sep, minutes = value.partition(":")
        if not (sep and hours.isdigit() and minutes.isdigit()):
            raise ValueError("cutoff must be HH:MM")
        total = int(hours) * 60 + int(minutes)
        if int(minutes) >= 60 or not 0 < total <= 24 * 60:
            raise ValueError("cutoff must be between 00:01 and 24:00")
        return value

    @property
    def cutoff_minutes(self) -> int:
        hours, _, minutes = self.cutoff.partition(":")
        return int(hours) * 60 + int(minutes)


class PlaceFile(_Model):
    file: str
    level: int = Field(ge=2, le=4)
    name: str
    code: str | None = None
    code_template: str | None = None
    parent: str | None = None
    name_local: str | None = None
    kind: str | None = None
    population: str | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _code_or_template(self) -> PlaceFile:
        if not (self.code or self.code_template):
            raise ValueError(f"{self.file}: give either code or code_template")
        return self


class PlacesConfig(_Model):
    files: list[PlaceFile]
    population_year: int | None = None
    population_within: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)


class ElementConfig(_Model):
    code: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    name: str
    kind: Literal["flow", "stock"]
    unit: str = "persons"
    description: str | None = None


#: How often a data set is reported: every day, every ISO week, every month.
PeriodType = Literal["daily", "weekly", "monthly"]


class DataSetConfig(_Model):
    """Elements reported together, at one frequency (DHIS2's data set).

    An element belongs to one data set, so that its period type is never in
    doubt (DHIS2 allows several and then takes the data set's from the form).
    """

    code: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    name: str
    period_type: PeriodType = "daily"
    elements: list[str] = Field(min_length=1)


class RuleConfig(_Model):
    code: str
    name: str
    expression: str
    tolerance: float = Field(default=0, ge=0)
    relative: float = Field(default=0, ge=0)
    severity: Literal["error", "warning", "info"] = "error"


class OutlierConfig(_Model):
    elements: list[str] = Field(default_factory=list)
    window: int = Field(default=14, ge=3)
    min_history: int = Field(default=7, ge=3)
    threshold: float = Field(default=6.0, gt=0)
    min_count: int = Field(default=20, ge=0)
    min_spread: float = Field(default=0.15, ge=0)
    severity: Literal["error", "warning", "info"] = "warning"


class MappingConfig(_Model):
    """How to read a wide CSV whose columns are not sitroom's own names."""

    description: str = ""
    detect: list[str] = Field(default_factory=list)
    period: str = "period"
    org_unit: str | None = None
    org_unit_constant: str | None = None
    org_unit_level: int | None = Field(default=None, ge=1, le=4)
    received: str | None = None
    ignore: list[str] = Field(default_factory=list)
    rename: dict[str, str] = Field(default_factory=dict)


class RolesConfig(_Model):
    """Which element plays which part in the bulletin and the analyses.

    The code knows parts (the new cases, the deaths...), the country names the
    elements that play them: the DPRK's cases are ``new_fever``, another
    country's may be ``cholera_cases``. A part left out is simply not shown.
    """

    cases: str
    deaths: str | None = None
    recovered: str | None = None
    active: str | None = None
    cumulative_cases: str | None = None
    cumulative_recovered: str | None = None
    cumulative_deaths: str | None = None
    tested: str | None = None
    confirmed: str | None = None

    def named(self) -> dict[str, str]:
        """The parts that are played, by part."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class MapConfig(_Model):
    """The regions' boundaries for maps: a GeoJSON file beside the configuration.

    Each feature's property ``key`` holds an org unit's code. The boundaries'
    licence usually asks for an attribution: every map prints ``attribution``.
    """

    boundaries: str
    key: str = "code"
    attribution: str = Field(min_length=1)

    def path(self, folder: Path) -> Path:
        """The GeoJSON file, relative to the configuration's folder."""
        return folder / self.boundaries


class ProtocolConfig(_Model):
    """A treatment protocol: the units of each item one treated patient needs.

    ``share`` is the part of the counted cases treated this way (the shares of a
    country's protocols add up to at most 1).
    """

    code: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    share: float = Field(default=1.0, ge=0, le=1)
    items: dict[str, float]
    source: str | None = None

    @field_validator("items")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("a protocol names at least one item")
        for code, units in value.items():
            if not units > 0:
                raise ValueError(f"item {code}: units per patient must be more than 0")
        return value


#: Days of stock below which a facility is alerted, by facility type (see
#: :class:`ThresholdConfig`): pharmacies and hospitals restock from a store within
#: days, stores and warehouses need longer to be resupplied.
DEFAULT_MIN_DAYS = {
    "stockpile": 60.0,
    "warehouse": 30.0,
    "store": 14.0,
    "hospital": 7.0,
    "pharmacy": 7.0,
}


class ThresholdConfig(_Model):
    """When the supply indicators alert (``[supply.thresholds]``).

    ``min_days``: days of stock below which a facility of that type is alerted;
    ``items``: the same per item, overriding the type's figure (``items.NMV-R =
    { pharmacy = 14 }``); ``expiring_days``: stock expiring within this many days
    is reported; ``window_days``: the days over which consumption is averaged.
    """

    window_days: int = Field(default=28, ge=1, le=366)
    expiring_days: int = Field(default=30, ge=0, le=3660)
    min_days: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MIN_DAYS))
    items: dict[str, dict[str, float]] = Field(default_factory=dict)

    @field_validator("min_days")
    @classmethod
    def _types(cls, value: dict[str, float]) -> dict[str, float]:
        return {**DEFAULT_MIN_DAYS, **_checked_days(value)}

    @field_validator("items")
    @classmethod
    def _items(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        return {item: _checked_days(days) for item, days in value.items()}

    def minimum(self, item: str, facility_type: str) -> float:
        """Days of stock below which ``item`` alerts at a facility of ``facility_type``."""
        return self.items.get(item, {}).get(facility_type, self.min_days[facility_type])


def _checked_days(value: dict[str, float]) -> dict[str, float]:
    types = tuple(DEFAULT_MIN_DAYS)
    for kind, days in value.items():
        if kind not in types:
            raise ValueError(f"unknown facility type {kind!r}; choose one of {', '.join(types)}")
        if not days >= 0:
            raise ValueError(f"{kind}: days of stock must be 0 or more")
    return dict(value)


class SupplyConfig(_Model):
    """The supply chain's catalogue and network: CSV files beside the configuration.

    ``items``: ``code,name,unit,category,source``; ``facilities``:
    ``code,name,type,org_unit,supplier`` (see ``sitroom.supply.catalogue``).
    """

    items: str
    facilities: str | None = None
    protocols: list[ProtocolConfig] = Field(default_factory=list)
    thresholds: ThresholdConfig = ThresholdConfig()

    @model_validator(mode="after")
    def _shares(self) -> SupplyConfig:
        codes = [p.code for p in self.protocols]
        if len(set(codes)) != len(codes):
            raise ValueError("protocol codes must be unique")
        if sum(p.share for p in self.protocols) > 1 + 1e-9:
            raise ValueError("the protocols' shares add up to more than 1")
        return self


class AidConfig(_Model):
    """Aid coordination's settings (``[aid]``; issue #12).

    ``answer_hours``: a message sent that waits for an answer is overdue this many
    hours after it was sent, unless it names its own due time (an offer's
    deadline is its own). ``horizon``: the days of need the gap looks ahead.
    ``reliability_prior``: the pseudo-lines of a partner with no history, half
    delivered and half not, that keep one good or bad delivery from deciding
    its reliability (see docs/aid.md, "The gap").
    """

    answer_hours: int = Field(default=24, ge=1, le=24 * 90)
    horizon: int = Field(default=28, ge=1, le=28)
    reliability_prior: float = Field(default=2.0, gt=0, le=100)


class Country(_Model):
    """A whole country configuration, with the folder its files are relative to."""

    country: CountryInfo
    reporting: ReportingConfig
    places: PlacesConfig
    elements: list[ElementConfig]
    data_sets: list[DataSetConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    outliers: OutlierConfig = OutlierConfig()
    mappings: dict[str, MappingConfig] = Field(default_factory=dict)
    roles: RolesConfig
    #: Boundaries for maps (none: reports show no map).
    map: MapConfig | None = None
    #: The supply chain's items, protocols and facilities (none: no supply chain).
    supply: SupplyConfig | None = None
    #: Aid coordination's settings (defaults when the section is absent).
    aid: AidConfig = AidConfig()
    folder: Path = Path()

    @model_validator(mode="after")
    def _check_references(self) -> Country:
        codes = {e.code for e in self.elements}
        if len(codes) != len(self.elements):
            raise ValueError("element codes must be unique")
        unknown = [c for c in self.reporting.required_elements if c not in codes]
        unknown += [c for c in self.outliers.elements if c not in codes]
        unknown += [c for c in self.roles.named().values() if c not in codes]
        for data_set in self.data_sets:
            unknown += [c for c in data_set.elements if c not in codes]
        if unknown:
            raise ValueError(f"unknown element codes: {', '.join(unknown)}")
        self._check_data_sets(codes)
        return self

    def _check_data_sets(self, codes: set[str]) -> None:
        if not self.data_sets:
            return
        owner: dict[str, str] = {}
        for data_set in self.data_sets:
            for code in data_set.elements:
                if code in owner:
                    raise ValueError(
                        f"element {code} is in two data sets ({owner[code]} and"
                        f" {data_set.code}): an element has one period type"
                    )
                owner[code] = data_set.code
        if missing := sorted(codes - owner.keys()):
            raise ValueError(f"elements in no data set: {', '.join(missing)}")
        if len({d.code for d in self.data_sets}) != len(self.data_sets):
            raise ValueError("data set codes must be unique")
        required = {self.period_type(c) for c in self.reporting.required_elements}
        if len(required) > 1:
            raise ValueError(
                "reporting.required_elements mix period types ("
                + ", ".join(sorted(required))
                + "): completeness counts the reports of one data set"
            )
        cases = self.period_type(self.roles.cases)
        if required and required != {cases}:
            raise ValueError(
                f"reporting.required_elements are {required.pop()} but the cases"
                f" ({self.roles.cases}) are {cases}: completeness counts the cases' periods"
            )
        for part, code in self.roles.named().items():
            if self.period_type(code) != cases:
                raise ValueError(
                    f"roles.{part} ({code}) is reported {self.period_type(code)} but the cases"
                    f" ({self.roles.cases}) {cases}: the analyses set them side by side"
                )
        for rule in self.rules:
            named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rule.expression)) & codes
            kinds = {self.period_type(c) for c in named}
            if len(kinds) > 1:
                raise ValueError(
                    f"rule {rule.code} mixes period types ({', '.join(sorted(kinds))}):"
                    " a rule compares values of the same periods"
                )

    @property
    def all_data_sets(self) -> list[DataSetConfig]:
        """The data sets; without any in the file, one daily set of every element."""
        if self.data_sets:
            return self.data_sets
        return [
            DataSetConfig(
                code=self.country.code,
                name=f"{self.country.name} daily report",
                elements=[e.code for e in self.elements],
            )
        ]

    def data_set_of(self, element: str) -> DataSetConfig:
        for data_set in self.all_data_sets:
            if element in data_set.elements:
                return data_set
        raise KeyError(element)

    def period_type(self, element: str) -> PeriodType:
        """How often ``element`` is reported (daily for an unknown element)."""
        for data_set in self.data_sets:
            if element in data_set.elements:
                return data_set.period_type
        return "daily"

    def element(self, code: str) -> ElementConfig:
        for element in self.elements:
            if element.code == code:
                return element
        raise KeyError(code)


#: Largest country configuration file read, in bytes.
MAX_COUNTRY_BYTES = 10 * 1024 * 1024


def load_country(path: Path) -> Country:
    """Read and check a country configuration file.

    Only a regular file of at most :data:`MAX_COUNTRY_BYTES` is read, checked
    before opening it: ``/dev/zero`` would be read until memory runs out, a
    pipe would block.
    """
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{path}: is a folder, not a country configuration file")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"{path}: not a regular file (a pipe, device or socket);"
                " the country configuration must be a file"
            )
        if info.st_size > MAX_COUNTRY_BYTES:
            raise ConfigError(
                f"{path}: the country configuration has {info.st_size:,} bytes,"
                f" more than the limit of {MAX_COUNTRY_BYTES // (1024 * 1024)} MiB"
            )
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_COUNTRY_BYTES + 1)  # bounded even if the file has grown
        if len(text) > MAX_COUNTRY_BYTES:
            raise ConfigError(
                f"{path}: the country configuration has more than the limit of"
                f" {MAX_COUNTRY_BYTES // (1024 * 1024)} MiB"
            )
        raw = tomllib.loads(text)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: country configuration not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML file: {exc}") from exc
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the country configuration: {exc.strerror or exc}"
        ) from exc
    raw["folder"] = path.resolve().parent
    try:
        return Country.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


@lru_cache(maxsize=8)
def cached_country(path: Path) -> Country:
    return load_country(path)
