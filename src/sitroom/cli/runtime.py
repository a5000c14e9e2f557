"""What every command needs: settings, the country, the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sitroom.config import Settings
from sitroom.country import Country, cached_country
from sitroom.db import create_db_engine, ensure_schema, session_factory
from sitroom.surveillance.periods import ReportingCalendar


@dataclass
class Runtime:
    settings: Settings
    _engine: Engine | None = field(default=None, init=False)

    @property
    def country(self) -> Country:
        return cached_country(Path(self.settings.country).resolve())

    @property
    def calendar(self) -> ReportingCalendar:
        return ReportingCalendar.from_config(self.country.reporting)

    @property
    def engine(self) -> Engine:
        """The database, created and migrated on first use."""
        if self._engine is None:
            self._engine = create_db_engine(self.settings.database_url)
            ensure_schema(self._engine)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_factory(self.engine)() as session:
            yield session
