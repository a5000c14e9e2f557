"""Alembic environment: the engine comes from sitroom, never from an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import sitroom.models  # noqa: F401  (registers every table on the metadata)
from sitroom.db import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # Batch mode rebuilds tables on SQLite, which cannot ALTER constraints.
        render_as_batch=True,
        compare_type=True,
        # SQLite can roll DDL back too: one transaction for the whole upgrade.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # sitroom.db.upgrade hands over a connection holding the migration lock,
    # in its transaction; it commits. Other callers get one of their own.
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = config.attributes["engine"]
    with engine.connect() as own:
        _run(own)
        own.commit()


run_migrations_online()
