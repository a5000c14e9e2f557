"""Events: dated interventions and changes an epidemiologist records

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sitroom.db import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('intervention', 'case_definition', 'reporting', 'other')",
            name=op.f("ck_event_kind"),
        ),
        sa.CheckConstraint(
            "day >= '1900-01-01' AND day < '2200-01-01'", name=op.f("ck_event_day_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["app_user.username"], name=op.f("fk_event_created_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_event_org_unit_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    op.create_index(op.f("ix_event_created_by"), "event", ["created_by"], unique=False)
    op.create_index("ix_event_org_unit_day", "event", ["org_unit_id", "day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_org_unit_day", table_name="event")
    op.drop_index(op.f("ix_event_created_by"), table_name="event")
    op.drop_table("event")
