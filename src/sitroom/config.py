"""Settings: the only module that reads the environment.

Settings come from ``SITROOM_*`` environment variables (or a ``.env`` file);
command-line options override them.
"""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

PACKAGE_DATA = Path(__file__).parent / "data"
DEFAULT_COUNTRY = PACKAGE_DATA / "countries" / "kp" / "country.toml"
#: Longest user name kept in the audit trail (the database columns' size).
MAX_USER_CHARS = 100


def default_data_dir() -> Path:
    """Where the embedded SQLite database lives by default.

    ``$XDG_DATA_HOME/sitroom`` (``~/.local/share/sitroom`` when unset), as the
    XDG base-directory convention asks of user data.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sitroom"


#: Prefix of the settings' environment variables (any case, as ``sitroom_user``).
ENV_PREFIX = "SITROOM_"
#: The file of settings in the working folder, read when it exists.
ENV_FILE = Path(".env")


def _prefixed(variables: dict[str, str | None]) -> dict[str, str]:
    """``{"user": "ann"}`` from ``{"SITROOM_USER": "ann"}``: any case, no value is no setting."""
    prefix = ENV_PREFIX.lower()
    found = {name.lower(): value for name, value in variables.items()}
    return {
        name.removeprefix(prefix): value
        for name, value in found.items()
        if name.startswith(prefix) and value is not None
    }


def environment_settings() -> dict[str, str]:
    """The settings the environment gives, by field name: variables over the ``.env`` file.

    The rules of pydantic-settings, which sitroom used before (its import cost
    every command about 0.03 s): ``SITROOM_`` and the field's name, in any
    case; a variable wins over the same line of ``.env`` in the working
    folder; a line without a value (``SITROOM_USER``) sets nothing.
    """
    given: dict[str, str] = {}
    if ENV_FILE.is_file():
        from dotenv import dotenv_values

        given.update(_prefixed(dotenv_values(ENV_FILE, encoding="utf-8")))
    given.update(_prefixed(dict(os.environ)))
    return given


def parse_publish_at(text: str) -> time | None:
    """``publish_at`` (``"09:00"``) as a time of day; None for ``off`` (no schedule).

    ValueError saying what is wrong otherwise.
    """
    value = text.strip().lower()
    if value in ("off", "no", "false", "none", ""):
        return None
    hours, sep, minutes = value.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"{text!r} is not a time of day (HH:MM, such as 09:00) or off")
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day (HH:MM, such as 09:00) or off") from None


class Settings(BaseModel):
    """Deployment settings.

    Attributes
    ----------
    database_url:
        SQLAlchemy URL. Default: a SQLite file ``sitroom.db`` in :func:`default_data_dir`.
        PostgreSQL: ``postgresql+psycopg://user@host/dbname``.
    country:
        Path to the country configuration (TOML). Default: the DPRK configuration
        shipped with sitroom.
    user:
        Who is acting, recorded in the audit trail (default: the login name);
        at most 100 characters, no control characters.
    lock_timeout:
        Seconds a write waits for another writer (an import) to finish before
        it gives up with "the database is busy" (exit 75). Default 60.
    secret_key:
        The server's secret (signs web sessions and CSRF tokens): at least 32
        random characters. ``sitroom serve`` refuses to start without one,
        except for the embedded demo (``sitroom demo``), which makes its own.
    max_body_bytes:
        Largest request body the server reads (default 64 MiB); more is 413.
    behind_tls:
        The server is reached over HTTPS (through a reverse proxy): cookies are
        marked Secure and responses carry Strict-Transport-Security.
    session_idle_minutes:
        A web session unused for this long ends (default 30, ASVS level 2).
    session_max_hours:
        A web session ends this long after sign-in however much it is used
        (default 12, ASVS level 2).
    auth_failures_per_client:
        Failed sign-ins and refused credentials from one client address within
        ``auth_failure_window_minutes`` after which that address is answered 429
        (default 20).
    auth_failure_window_minutes:
        The window of the count above, in minutes (default 15).
    auth_failure_delay:
        Seconds added to the answer of a failed sign-in for each failure from the
        same address in the window (default 0.25) ...
    auth_failure_delay_max:
        ... up to this many seconds (default 3).
    publish_at:
        The local time of day (``HH:MM``, in the country's time zone) at which
        ``sitroom serve`` publishes the situation report of the latest closed
        period, one edition a day however many workers run; ``off`` turns the
        schedule off. Default ``09:00``.
    public_reports:
        Published reports (``/reports``, the editions under ``/api/v1/editions``)
        are readable without signing in, for partners and the public. Default
        false: they need ``data.read`` over the country.
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)

    database_url: str = ""
    country: Path = DEFAULT_COUNTRY
    user: str = ""
    lock_timeout: float = Field(default=60.0, gt=0, le=3600)
    secret_key: str = ""
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    behind_tls: bool = False
    session_idle_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=366 * 24)
    auth_failures_per_client: int = Field(default=20, ge=1, le=100_000)
    auth_failure_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    auth_failure_delay: float = Field(default=0.25, ge=0, le=10)
    auth_failure_delay_max: float = Field(default=3.0, ge=0, le=60)
    publish_at: str = "09:00"
    public_reports: bool = False

    def __init__(self, **values: Any) -> None:
        """The environment's settings (:func:`environment_settings`), with ``values`` on top."""
        super().__init__(**{**environment_settings(), **values})

    @field_validator("database_url")
    @classmethod
    def _default_database(cls, value: str) -> str:
        if value:
            return value
        return f"sqlite:///{default_data_dir() / 'sitroom.db'}"

    @field_validator("publish_at")
    @classmethod
    def _check_publish_at(cls, value: str) -> str:
        parse_publish_at(value)  # a ValueError saying what is wrong
        return value

    @field_validator("user")
    @classmethod
    def _default_user(cls, value: str) -> str:
        if value:
            return value
        import getpass

        try:
            return getpass.getuser()  # USER, LOGNAME..., then the account database
        except (OSError, KeyError):
            return "unknown"

    @field_validator("user", mode="after")
    @classmethod
    def _check_user(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank: name who acts")
        if value != value.strip():
            raise ValueError("has spaces at its start or end")
        if len(value) > MAX_USER_CHARS:
            raise ValueError(f"is longer than {MAX_USER_CHARS} characters")
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            raise ValueError("contains a control character")
        return value

    def origin(self, name: str, from_command_line: set[str]) -> str:
        """Where setting ``name`` came from: an option, the environment, .env, or the default."""
        if name in from_command_line:
            return "command line"
        variable = f"{ENV_PREFIX}{name.upper()}"
        # Variables are read in any case (sitroom_user too): name the one that was.
        given = {k.upper(): k for k, v in os.environ.items() if v}
        if variable in given:
            return given[variable]
        if ENV_FILE.is_file():
            from dotenv import dotenv_values

            found = {k.upper(): v for k, v in dotenv_values(ENV_FILE).items()}
            if found.get(variable):
                return f"{variable} in {ENV_FILE.resolve()}"
        return "login name" if name == "user" else "default"
