"""DHIS2-style uids for org units and data elements

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 03:45:00

Every org unit and data element gets an 11-character identifier, generated
once, so that DHIS2 tools identifying by uid (their default) work with
sitroom as well as those identifying by code.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sitroom.db import generate_uid

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("org_unit", "data_element")


def upgrade() -> None:
    conn = op.get_bind()
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("uid", sa.String(length=11), nullable=True))
        ids = conn.execute(sa.text(f"SELECT id FROM {table}")).scalars().all()
        for row_id in ids:
            conn.execute(
                sa.text(f"UPDATE {table} SET uid = :uid WHERE id = :id"),
                {"uid": generate_uid(), "id": row_id},
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("uid", existing_type=sa.String(length=11), nullable=False)
            batch_op.create_unique_constraint(batch_op.f(f"uq_{table}_uid"), ["uid"])


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_uid"), type_="unique")
            batch_op.drop_column("uid")
