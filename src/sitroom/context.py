"""The application context: settings, the country, the database.

One object that every entry point builds the same way, the command line
today and the web API next: it reads the settings (environment, ``.env``,
explicit overrides), loads the country configuration, and opens the database
(created for writers, migrated on first use). Heavy libraries are imported
when first needed, so that building a context costs nothing until it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitroom.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from sitroom.config import Settings
    from sitroom.country import Country
    from sitroom.surveillance.periods import ReportingCalendar


@dataclass
class AppContext:
    """What every command and request needs.

    Parameters
    ----------
    settings:
        The deployment settings.
    from_command_line:
        Names of the settings given explicitly (the rest came from the
        environment, a ``.env`` file or the defaults).
    """

    settings: Settings
    from_command_line: set[str] = field(default_factory=set)
    _engine: Engine | None = field(default=None, init=False)
    _writer: bool = field(default=False, init=False)

    @classmethod
    def from_overrides(cls, **overrides: Any) -> AppContext:
        """A context whose settings are the environment's, with ``overrides`` on top."""
        from pydantic import ValidationError

        from sitroom.config import Settings

        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            settings = Settings(**given)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"bad setting: {problems}") from None
        return cls(settings, set(given))

    @property
    def country(self) -> Country:
        from sitroom.country import cached_country

        return cached_country(Path(self.settings.country).resolve())

    @property
    def calendar(self) -> ReportingCalendar:
        from sitroom.surveillance.periods import ReportingCalendar

        return ReportingCalendar.from_config(self.country.reporting)

    @property
    def engine(self) -> Engine:
        """The database, created (for writers) and migrated on first use.

        A reader is refused a SQLite file that does not exist: a mistyped
        path must not create folders and an empty database.
        """
        if self._engine is None:
            from sitroom.db import create_db_engine, ensure_schema

            self._engine = create_db_engine(
                self.settings.database_url,
                lock_timeout=self.settings.lock_timeout,
                create=self._writer,
                make_folder=self.settings.origin("database_url", self.from_command_line)
                == "default",
            )
            ensure_schema(self._engine, lock_timeout=self.settings.lock_timeout)
        return self._engine

    def destination(self) -> str | None:
        """Where a write goes and as whom, when that was not said explicitly.

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

    def close(self) -> None:
        """Close the database's connections (a later use opens them again)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session; ``write=True`` for work that changes the database."""
        from sitroom.db import session_factory

        if write:
            self._writer = True
        with session_factory(self.engine)() as session:
            yield session
