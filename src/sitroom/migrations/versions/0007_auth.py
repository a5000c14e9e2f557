"""Sign-in: roles and passwords of users, scopes, API tokens, an append-only security audit

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 07:00:00

- ``app_user`` gains a role (NULL for users registered by ``--user``, who
  cannot sign in), a password hash, ``disabled``, the lock-out counters and
  ``password_changed_at``.
- ``user_scope``: the org units whose subtrees a user acts in.
- ``api_token``: bearer tokens, stored as their SHA-256.
- ``auth_event``: the security audit, which refuses UPDATE and DELETE (a
  trigger on both databases, as ``data_value_audit`` since 0003).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sitroom.db import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration keeps the rules of its day.
ROLE_CHECK = (
    "role IS NULL OR role IN ('admin', 'epidemiologist', 'reporter', 'logistician',"
    " 'pharmacist', 'coordinator', 'viewer')"
)
EVENT_CHECK = (
    "event IN ('login_ok', 'login_failed', 'locked', 'token_created', 'token_revoked',"
    " 'token_failed', 'user_created', 'user_disabled', 'user_enabled', 'password_set',"
    " 'role_set', 'scope_granted', 'scope_revoked')"
)

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_MESSAGE = "auth_event is append-only: its rows are never changed or removed"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION sitroom_auth_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{_MESSAGE}';
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("password_changed_at", UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_check_constraint("role", ROLE_CHECK)
        batch_op.create_check_constraint("failed_logins_not_negative", "failed_logins >= 0")

    op.create_table(
        "user_scope",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_user_scope_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_user_scope_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_scope")),
        sa.UniqueConstraint(
            "user_id", "org_unit_id", name=op.f("uq_user_scope_user_id_org_unit_id")
        ),
    )
    op.create_index(op.f("ix_user_scope_user_id"), "user_scope", ["user_id"], unique=False)
    op.create_index(op.f("ix_user_scope_org_unit_id"), "user_scope", ["org_unit_id"], unique=False)

    op.create_table(
        "api_token",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_api_token_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"], unique=False)

    op.create_table(
        "auth_event",
        sa.Column("id", _ID, nullable=False),
        sa.Column("time", UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("client", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(EVENT_CHECK, name=op.f("ck_auth_event_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_event")),
    )
    op.create_index(op.f("ix_auth_event_time"), "auth_event", ["time"], unique=False)
    op.create_index("ix_auth_event_username_time", "auth_event", ["username", "time"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER auth_event_append_only BEFORE UPDATE OR DELETE"
            " ON auth_event FOR EACH ROW EXECUTE FUNCTION sitroom_auth_event_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER auth_event_no_{event.lower()} BEFORE {event}"
                f" ON auth_event BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS auth_event_append_only ON auth_event")
        op.execute("DROP FUNCTION IF EXISTS sitroom_auth_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS auth_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS auth_event_no_delete")
    op.drop_index("ix_auth_event_username_time", table_name="auth_event")
    op.drop_index(op.f("ix_auth_event_time"), table_name="auth_event")
    op.drop_table("auth_event")
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_index(op.f("ix_user_scope_org_unit_id"), table_name="user_scope")
    op.drop_index(op.f("ix_user_scope_user_id"), table_name="user_scope")
    op.drop_table("user_scope")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_constraint("failed_logins_not_negative", type_="check")
        batch_op.drop_constraint("role", type_="check")
        for column in (
            "password_changed_at",
            "locked_until",
            "failed_logins",
            "disabled",
            "password_hash",
            "role",
        ):
            batch_op.drop_column(column)
