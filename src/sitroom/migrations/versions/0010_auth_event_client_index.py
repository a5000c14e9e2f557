"""An index on the security audit by client address and time, for the rate limit

Every request with credentials counts its client's recent failures in
``auth_event`` (``sitroom.auth.throttle``); without this index a flood of
failures made each count scan the whole window.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_auth_event_client_time", "auth_event", ["client", "time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_auth_event_client_time", table_name="auth_event")
