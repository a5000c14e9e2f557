"""Database plumbing: metadata, engines, sessions and migrations.

One schema serves SQLite (the embedded default) and PostgreSQL (production).
Constraint names come from a naming convention so that Alembic's batch mode
can alter SQLite tables and both databases name constraints alike.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Engine, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from sitroom.errors import BusyError, ConfigError, SitroomError, StorageFullError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    metadata = metadata


#: 64-bit keys on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")

_UID_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_UID_REST = _UID_FIRST + "0123456789"


def generate_uid() -> str:
    """A DHIS2-style identifier: 11 characters, a letter then letters and digits.

    Generated once per org unit and data element and kept, so that DHIS2 tools
    that identify by uid (their default) can exchange data with sitroom.
    """
    import secrets

    return secrets.choice(_UID_FIRST) + "".join(secrets.choice(_UID_REST) for _ in range(10))


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    SQLite has no time zones: values are stored as naive UTC and given their
    zone back on the way out. Naive datetimes are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: Seconds a writer waits for another writer's lock before giving up (busy).
DEFAULT_LOCK_TIMEOUT = 60.0


def _milliseconds(seconds: float) -> int:
    """A wait in whole milliseconds, never 0 (which PostgreSQL reads as "forever")."""
    return max(1, math.ceil(seconds * 1000))


def _switch_to_wal(cursor: Any, lock_timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, patient with another process doing the same.

    Two processes opening a new file at once both try to switch it to WAL;
    SQLite resolves the lock deadlock by failing one at once, without its busy
    handler ("database is locked"). The other will have switched it: try again.
    """
    import sqlite3

    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_pragmas(lock_timeout: float) -> Any:
    def connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # First: switching a new file to WAL needs a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout={_milliseconds(lock_timeout)}")
        # WAL lets readers (the dashboard) work while an import writes.
        _switch_to_wal(cursor, lock_timeout)
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL is durable across application crashes in WAL mode and much faster than FULL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return connect


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def create_db_engine(
    url: str,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    create: bool = True,
    make_folder: bool = True,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``.

    A SQLite file's folder is created on first use when ``create`` is true; a
    reader (``create=False``) is refused a SQLite file that does not exist, so
    a mistyped path is an error rather than a new empty database.
    ``lock_timeout`` is how long a writer waits for another's lock (seconds).
    ``make_folder=False`` refuses a SQLite path whose folder does not exist
    (only the default data folder is created; a mistyped path is an error).
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            if not create and not path.is_file():
                raise ConfigError(
                    f"no database at {path}: check --db or SITROOM_DATABASE_URL,"
                    " or create it with `sitroom setup` (or `sitroom demo`)"
                )
            if not make_folder and not path.parent.is_dir():
                raise ConfigError(
                    f"no folder {path.parent} for the database {path.name}: check the path,"
                    " or create the folder first"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(lock_timeout))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # psycopg 3 is the driver we ship; accept plain postgresql:// URLs.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "postgresql":
        # The import's period locks rely on each statement seeing what was
        # committed before it: READ COMMITTED, whatever the server's default.
        kwargs.setdefault("isolation_level", "READ COMMITTED")
    try:
        return create_engine(parsed, **kwargs)
    except Exception as exc:  # unknown driver, bad options
        raise ConfigError(f"cannot use database {parsed.render_as_string()}: {exc}") from exc


def begin_write(session: Session, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
    """Start ``session``'s transaction as a writer that waits at most ``lock_timeout`` s.

    On SQLite the transaction takes the database's write lock now
    (``BEGIN IMMEDIATE``), so everything it reads afterwards is what it will
    write over: writers are serialised, and a second one waits up to the busy
    timeout. On PostgreSQL the wait for any lock taken in the transaction is
    bounded by ``lock_timeout``; what to lock is the caller's business (the
    import locks the periods it touches, see ``surveillance.imports``).
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if driver is not None and not driver.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {_milliseconds(lock_timeout)}")


#: First keys of PostgreSQL advisory locks, one per kind of guarded data.
LOCK_SPACE_CONFIGURATION = 0x5170


def advisory_lock(session: Session, space: int, key: int) -> None:
    """Hold PostgreSQL advisory lock (``space``, ``key``) until the transaction ends.

    A no-op on SQLite, where :func:`begin_write` already holds the database.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(space)}, {int(key)})")


#: PostgreSQL SQLSTATEs after which the whole transaction may simply be run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None)


def is_db_error(exc: BaseException) -> bool:
    """True for an error of the database, wrapped by SQLAlchemy or raw from the driver.

    The import's hot path talks to the DBAPI cursor directly (see
    ``surveillance.bulk``), so its errors arrive unwrapped.
    """
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError | sqlite3.Error):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, psycopg.Error)


def is_retryable(exc: BaseException) -> bool:
    """True for a conflict between concurrent transactions that a retry resolves."""
    return _sqlstate(exc) in RETRYABLE_SQLSTATES


def translate_db_error(exc: BaseException, what: str = "the database") -> SitroomError | None:
    """The user's error for a database failure they can act on, or None.

    Busy (another writer holds the lock past the wait) and full storage are
    not bugs: they get one line and their own exit codes.
    """
    state = _sqlstate(exc)
    text = str(getattr(exc, "orig", exc)).lower()
    if state == "55P03" or "database is locked" in text or "database is busy" in text:
        return BusyError(
            f"{what} is busy with another import or change: nothing was written;"
            " try again in a moment"
        )
    lost = (state or "").startswith("08") or state in ("57P01", "57P02", "57P03")
    if lost or "server closed the connection" in text:
        return BusyError(
            f"the connection to {what} was lost: nothing was committed;"
            " check that the database server is running and try again"
        )
    if state in ("53100", "53200") or "database or disk is full" in text:
        return StorageFullError(
            f"{what} has no space left (disk full): nothing was written;"
            " free some space and try again"
        )
    return None


_T = TypeVar("_T")

#: How often :func:`run_write` runs a transaction that met a conflict.
MAX_WRITE_ATTEMPTS = 5


def run_write(
    session: Session,
    step: Callable[[], _T],
    *,
    what: str,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    lock: tuple[int, int] | None = None,
) -> _T:
    """Run ``step`` in a write transaction of its own and commit it: all or nothing.

    Any error rolls everything back; a user's error (a :class:`SitroomError`)
    passes through, a database error the user can act on becomes one
    (:func:`translate_db_error`), and a deadlock or serialisation failure runs
    ``step`` again from the start (it must read what it needs afresh). ``lock``
    is a PostgreSQL advisory lock (space, key) taken first; ``what`` names the
    change in the message when the conflicts do not stop.
    """
    for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
        try:
            begin_write(session, lock_timeout)
            if lock is not None:
                advisory_lock(session, *lock)
            result = step()
            session.commit()
        except BaseException as exc:
            session.rollback()
            if not is_db_error(exc):
                raise
            if not is_retryable(exc):
                known = translate_db_error(exc)
                if known is None:
                    raise
                raise known from exc
            logging.getLogger(__name__).warning(
                "%s conflicted (%s); attempt %d", what, exc, attempt
            )
            time.sleep(random.uniform(0.05, 0.25) * attempt)
        else:
            return result
    raise BusyError(
        f"{what} conflicted with concurrent changes {MAX_WRITE_ATTEMPTS} times: nothing was"
        " written; try again in a moment"
    )


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(
    engine: Engine, revision: str = "head", *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> None:
    """Apply the migrations up to ``revision``, in one transaction, one migrator at a time.

    Two processes starting on a new database at once would both migrate: the
    migrator takes the write lock (SQLite's ``BEGIN IMMEDIATE``, a PostgreSQL
    advisory lock), reads the revision again and migrates only if still
    needed. The migration runs inside that transaction (DDL is transactional
    on both databases), so a failure leaves the schema as it was.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite's way to alter tables others refer to: foreign keys off (only
            # possible outside a transaction), rebuild, check, foreign keys on.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {_milliseconds(lock_timeout)}")
            connection.exec_driver_sql(
                f"SELECT pg_advisory_xact_lock({LOCK_SPACE_CONFIGURATION}, -1)"
            )
        current = MigrationContext.configure(connection).get_current_revision()
        if revision != "head" or current != head_revision(engine):
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                connection.rollback()
                raise SitroomError(f"the migration would break foreign keys: {broken[:3]}")
        connection.commit()
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


#: The newest migration; a test keeps it equal to Alembic's head. Knowing it here
#: lets every command check the schema without importing Alembic.
HEAD_REVISION = "0016"


def stored_revision(engine: Engine) -> str | None:
    """The database's migration revision, read without Alembic (None when unmigrated)."""
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
    """Create or upgrade the schema, so the database is ready on first use."""
    where = f"database {engine.url.render_as_string(hide_password=True)}"
    try:
        if stored_revision(engine) != HEAD_REVISION:
            upgrade(engine, lock_timeout=lock_timeout)
    except Exception as exc:
        if not is_db_error(exc):
            raise
        known = translate_db_error(exc, f"the {where}")
        if known is not None:
            raise known from exc
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise SitroomError(f"cannot open {where}: {reason[0] if reason else exc}") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
