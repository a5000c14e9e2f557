"""Settings: the only module that reads the environment.

Settings come from ``SITROOM_*`` environment variables (or a ``.env`` file);
command-line options override them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class Settings(BaseSettings):
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
    """

    model_config = SettingsConfigDict(env_prefix="SITROOM_", env_file=".env", extra="ignore")

    database_url: str = ""
    country: Path = DEFAULT_COUNTRY
    user: str = ""
    lock_timeout: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("database_url")
    @classmethod
    def _default_database(cls, value: str) -> str:
        if value:
            return value
        return f"sqlite:///{default_data_dir() / 'sitroom.db'}"

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
        variable = f"SITROOM_{name.upper()}"
        if os.environ.get(variable):
            return variable
        env_file = Path(".env")
        if env_file.is_file():
            from dotenv import dotenv_values

            found = {k.upper(): v for k, v in dotenv_values(env_file).items()}
            if found.get(variable):
                return f"{variable} in {env_file.resolve()}"
        return "login name" if name == "user" else "default"
