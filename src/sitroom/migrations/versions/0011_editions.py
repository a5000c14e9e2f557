"""Published situation reports: editions, their files, the schedule's daily claims

- ``edition``: one published report of a period, numbered 1, 2, ... per
  period, with the SHA-256 of the values it was built from, who built it,
  when and through which channel, and what changed against the previous one.
- ``edition_file``: its HTML, PDF, Markdown and JSON, stored in the database
  so that every server of a deployment has them.
- ``publication_claim``: the scheduled publication's claim on a day, unique,
  so that with several workers one publishes.

Editions and their files are append-only: a trigger on both databases refuses
UPDATE and DELETE, as on ``auth_event`` (0007).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sitroom.db import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration keeps the rules of its day.
CHANNEL_CHECK = "channel IN ('cli', 'web', 'api', 'schedule')"
FORMAT_CHECK = "format IN ('html', 'pdf', 'md', 'json')"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_APPEND_ONLY = ("edition", "edition_file")


def _message(table: str) -> str:
    return f"{table} is append-only: published editions are never changed or removed"


def _pg_function(table: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION sitroom_{table}_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{_message(table)}';
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "edition",
        sa.Column("id", _ID, nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("period_label", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("values_sha256", sa.String(length=64), nullable=False),
        sa.Column("built_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("built_by", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.CheckConstraint("number >= 1", name=op.f("ck_edition_number_positive")),
        sa.CheckConstraint(CHANNEL_CHECK, name=op.f("ck_edition_channel")),
        sa.ForeignKeyConstraint(
            ["built_by"], ["app_user.username"], name=op.f("fk_edition_built_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edition")),
        sa.UniqueConstraint("period", "number", name=op.f("uq_edition_period_number")),
    )
    op.create_index(op.f("ix_edition_built_at"), "edition", ["built_at"], unique=False)
    op.create_index(op.f("ix_edition_built_by"), "edition", ["built_by"], unique=False)

    op.create_table(
        "edition_file",
        sa.Column("id", _ID, nullable=False),
        sa.Column("edition_id", _ID, nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(FORMAT_CHECK, name=op.f("ck_edition_file_format")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_edition_file_size_not_negative")),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_edition_file_edition_id_edition")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edition_file")),
        sa.UniqueConstraint("edition_id", "format", name=op.f("uq_edition_file_edition_id_format")),
    )
    op.create_index(
        op.f("ix_edition_file_edition_id"), "edition_file", ["edition_id"], unique=False
    )

    op.create_table(
        "publication_claim",
        sa.Column("id", _ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("edition_id", _ID, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["edition.id"], name=op.f("fk_publication_claim_edition_id_edition")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_claim")),
        sa.UniqueConstraint("day", name=op.f("uq_publication_claim_day")),
    )
    op.create_index(
        op.f("ix_publication_claim_edition_id"), "publication_claim", ["edition_id"], unique=False
    )

    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _APPEND_ONLY:
        if postgres:
            op.execute(_pg_function(table))
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE"
                f" ON {table} FOR EACH ROW EXECUTE FUNCTION sitroom_{table}_append_only()"
            )
        else:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event}"
                    f" ON {table} BEGIN SELECT RAISE(ABORT, '{_message(table)}'); END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS sitroom_{table}_append_only()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_index(op.f("ix_publication_claim_edition_id"), table_name="publication_claim")
    op.drop_table("publication_claim")
    op.drop_index(op.f("ix_edition_file_edition_id"), table_name="edition_file")
    op.drop_table("edition_file")
    op.drop_index(op.f("ix_edition_built_by"), table_name="edition")
    op.drop_index(op.f("ix_edition_built_at"), table_name="edition")
    op.drop_table("edition")
