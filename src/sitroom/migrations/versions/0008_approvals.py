"""Data approval: periods approved for an org-unit subtree, locked against change

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sitroom.db import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approval",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("period_type", sa.String(length=16), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=False),
        sa.Column("approved_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "period_type IN ('daily', 'weekly', 'monthly')", name=op.f("ck_approval_period_type")
        ),
        sa.CheckConstraint(
            "(revoked_at IS NULL AND revoked_by IS NULL AND revoke_reason IS NULL)"
            " OR (revoked_at IS NOT NULL AND revoked_by IS NOT NULL"
            " AND revoke_reason IS NOT NULL)",
            name=op.f("ck_approval_revoked_together"),
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_approval_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["app_user.username"], name=op.f("fk_approval_approved_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["app_user.username"], name=op.f("fk_approval_revoked_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval")),
    )
    op.create_index(op.f("ix_approval_org_unit_id"), "approval", ["org_unit_id"], unique=False)
    op.create_index(op.f("ix_approval_approved_by"), "approval", ["approved_by"], unique=False)
    op.create_index(op.f("ix_approval_revoked_by"), "approval", ["revoked_by"], unique=False)
    op.create_index("ix_approval_period", "approval", ["period"], unique=False)
    op.create_index(
        "ux_approval_active",
        "approval",
        ["org_unit_id", "period_type", "period"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_approval_active", table_name="approval")
    op.drop_index("ix_approval_period", table_name="approval")
    op.drop_index(op.f("ix_approval_revoked_by"), table_name="approval")
    op.drop_index(op.f("ix_approval_approved_by"), table_name="approval")
    op.drop_index(op.f("ix_approval_org_unit_id"), table_name="approval")
    op.drop_table("approval")
