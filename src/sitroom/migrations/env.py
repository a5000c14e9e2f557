"""Alembic environment: the engine comes from sitroom, never from an ini file."""

from __future__ import annotations

from alembic import context

import sitroom.models  # noqa: F401  (registers every table on the metadata)
from sitroom.db import metadata

config = context.config


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # Batch mode rebuilds tables on SQLite, which cannot ALTER constraints.
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
