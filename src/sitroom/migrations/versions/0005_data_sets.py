"""Data sets: elements reported together, daily, weekly or monthly

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 05:00:00

A data set names the period type of its elements (DHIS2's data set, with a
uid). Existing elements get theirs at the next ``sitroom setup``; until then
the country configuration says it (daily when it names no data sets).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("uid", sa.String(length=11), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("period_type", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "period_type IN ('daily', 'weekly', 'monthly')", name=op.f("ck_data_set_period_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_set")),
        sa.UniqueConstraint("code", name=op.f("uq_data_set_code")),
        sa.UniqueConstraint("uid", name=op.f("uq_data_set_uid")),
    )
    with op.batch_alter_table("data_element", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_set_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_data_element_data_set_id"), ["data_set_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_data_element_data_set_id_data_set"), "data_set", ["data_set_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("data_element", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_data_element_data_set_id_data_set"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_data_element_data_set_id"))
        batch_op.drop_column("data_set_id")
    op.drop_table("data_set")
