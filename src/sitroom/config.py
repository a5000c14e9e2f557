"""Settings: the only module that reads the environment.

Settings come from ``SITROOM_*`` environment variables (or a ``.env`` file);
command-line options override them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DATA = Path(__file__).parent / "data"
DEFAULT_COUNTRY = PACKAGE_DATA / "countries" / "kp" / "country.toml"


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
        Who is acting, recorded in the audit trail (default: the login name).
    """

    model_config = SettingsConfigDict(env_prefix="SITROOM_", env_file=".env", extra="ignore")

    database_url: str = ""
    country: Path = DEFAULT_COUNTRY
    user: str = ""

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
        return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
