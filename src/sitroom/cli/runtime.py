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
    #: Settings given as command-line options (the rest came from elsewhere).
    from_command_line: set[str] = field(default_factory=set)
    _engine: Engine | None = field(default=None, init=False)
    _writer: bool = field(default=False, init=False)

    @property
    def country(self) -> Country:
        return cached_country(Path(self.settings.country).resolve())

    @property
    def calendar(self) -> ReportingCalendar:
        return ReportingCalendar.from_config(self.country.reporting)

    @property
    def engine(self) -> Engine:
        """The database, created (for writers) and migrated on first use.

        A reader is refused a SQLite file that does not exist: a mistyped
        path must not create folders and an empty database.
        """
        if self._engine is None:
            self._engine = create_db_engine(
                self.settings.database_url,
                lock_timeout=self.settings.lock_timeout,
                create=self._writer,
            )
            ensure_schema(self._engine, lock_timeout=self.settings.lock_timeout)
        return self._engine

    def destination(self) -> str | None:
        """Where a write goes and as whom, when that was not said on the command line.

        A ``.env`` file in the working folder or an environment variable can
        point writes at another database or user: say so, in one line.
        """
        db_origin = self.settings.origin("database_url", self.from_command_line)
        user_origin = self.settings.origin("user", self.from_command_line)
        if db_origin == "command line" and user_origin == "command line":
            return None
        from sqlalchemy.engine import make_url

        url = make_url(self.settings.database_url).render_as_string(hide_password=True)
        return f"writing to {url} ({db_origin}) as {self.settings.user} ({user_origin})"

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session; ``write=True`` for commands that change the database."""
        if write:
            self._writer = True
        with session_factory(self.engine)() as session:
            yield session
