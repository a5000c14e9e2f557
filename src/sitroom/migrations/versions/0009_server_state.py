"""Server state: web sessions, idempotency records, and where each write came from

Adds the tables a stateless server keeps in the database (so that several
workers or machines share them): ``web_session`` for browser sign-in with its
CSRF secret, and ``idempotency_record`` for batch POSTs retried with the same
``Idempotency-Key``. Imports and approvals now record their channel (api, web,
cli, file) and the client address; the security audit gains the events of
web sign-out, a user's own password change and rate limiting.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sitroom.db import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration keeps the rules of its day.
_OLD_EVENTS = (
    "'login_ok', 'login_failed', 'locked', 'token_created', 'token_revoked',"
    " 'token_failed', 'user_created', 'user_disabled', 'user_enabled', 'password_set',"
    " 'role_set', 'scope_granted', 'scope_revoked'"
)
_NEW_EVENTS = _OLD_EVENTS + ", 'logout', 'password_changed', 'rate_limited'"
CHANNEL_CHECK = "channel IN ('api', 'web', 'cli', 'file')"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MESSAGE = "auth_event is append-only: its rows are never changed or removed"


def _set_event_check(events: str) -> None:
    """Replace auth_event's check of event names (SQLite: a table rebuild)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE auth_event DROP CONSTRAINT ck_auth_event_event")
        op.execute(
            f"ALTER TABLE auth_event ADD CONSTRAINT ck_auth_event_event CHECK (event IN ({events}))"
        )
        return
    # The rebuild copies the rows into a new table and drops the old one, and
    # with it the append-only triggers; they are created again on the new table.
    op.execute("DROP TRIGGER IF EXISTS auth_event_no_update")
    op.execute("DROP TRIGGER IF EXISTS auth_event_no_delete")
    with op.batch_alter_table("auth_event", recreate="always") as batch_op:
        batch_op.drop_constraint(op.f("ck_auth_event_event"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_auth_event_event"), sa.text(f"event IN ({events})")
        )
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER auth_event_no_{event.lower()} BEFORE {event}"
            f" ON auth_event BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("client", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_web_session_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_session_token_hash")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"], unique=False)

    op.create_table(
        "idempotency_record",
        sa.Column("id", _ID, nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("username", "key", name=op.f("uq_idempotency_record_username_key")),
    )
    op.create_index(
        op.f("ix_idempotency_record_created_at"),
        "idempotency_record",
        ["created_at"],
        unique=False,
    )

    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=8), server_default="file", nullable=False)
        )
        batch_op.add_column(sa.Column("client", sa.String(length=200), nullable=True))
        batch_op.create_check_constraint(op.f("ck_import_run_channel"), sa.text(CHANNEL_CHECK))

    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approved_via", sa.String(length=8), server_default="cli", nullable=False)
        )
        batch_op.add_column(sa.Column("approved_client", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("revoked_via", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("revoked_client", sa.String(length=200), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_approval_via"),
            sa.text(
                "approved_via IN ('api', 'web', 'cli', 'file')"
                " AND (revoked_via IS NULL OR revoked_via IN ('api', 'web', 'cli', 'file'))"
            ),
        )

    _set_event_check(_NEW_EVENTS)


def downgrade() -> None:
    _set_event_check(_OLD_EVENTS)
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_approval_via"), type_="check")
        batch_op.drop_column("revoked_client")
        batch_op.drop_column("revoked_via")
        batch_op.drop_column("approved_client")
        batch_op.drop_column("approved_via")
    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_import_run_channel"), type_="check")
        batch_op.drop_column("client")
        batch_op.drop_column("channel")
    op.drop_index(op.f("ix_idempotency_record_created_at"), table_name="idempotency_record")
    op.drop_table("idempotency_record")
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_table("web_session")
