"""who changed a value beside who the file says entered it

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 02:40:00

``data_value.changed_by`` is the authenticated actor of the current value;
until now only the file's ``storedBy`` claim (or the actor when the file gave
none) was kept, so existing rows take ``stored_by`` as their best-known actor.
The audit keeps the replaced comment and actor and the new claim and comment,
so that a change of comment or storedBy alone is a recorded change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("data_value", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changed_by", sa.String(length=100), nullable=True))
    op.execute("UPDATE data_value SET changed_by = stored_by")
    with op.batch_alter_table("data_value", schema=None) as batch_op:
        batch_op.alter_column("changed_by", existing_type=sa.String(length=100), nullable=False)
    with op.batch_alter_table("data_value_audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("old_changed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("old_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("new_stored_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("new_comment", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_value_audit", schema=None) as batch_op:
        batch_op.drop_column("new_comment")
        batch_op.drop_column("new_stored_by")
        batch_op.drop_column("old_comment")
        batch_op.drop_column("old_changed_by")
    with op.batch_alter_table("data_value", schema=None) as batch_op:
        batch_op.drop_column("changed_by")
