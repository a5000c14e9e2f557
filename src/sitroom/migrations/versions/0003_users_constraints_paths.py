"""users, domain checks, indexes on foreign keys, org-unit paths, an append-only audit

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 03:20:00

- ``app_user``: every name in ``import_run.user`` and the ``changed_by``
  columns becomes a registered user (foreign keys); existing names are
  registered by this migration.
- Check constraints where the domain has rules: counts are not negative,
  periods lie in 1900-2199, kinds, actions and levels take their few values.
- An index on every foreign key.
- ``org_unit.path``: the materialised path ("/KP/KP-04/"), for subtree queries.
- ``data_value_audit`` refuses UPDATE and DELETE (a trigger on both databases).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sitroom.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_FK = ("app_user", ["username"])

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION sitroom_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'data_value_audit is append-only: its rows are never changed or removed';
END
$$ LANGUAGE plpgsql
"""


def _register_users() -> None:
    conn = op.get_bind()
    names: set[str] = set()
    for sql in (
        'SELECT DISTINCT "user" FROM import_run',
        "SELECT DISTINCT changed_by FROM data_value",
        "SELECT DISTINCT changed_by FROM data_value_audit",
        "SELECT DISTINCT old_changed_by FROM data_value_audit WHERE old_changed_by IS NOT NULL",
    ):
        names.update(row[0] for row in conn.execute(sa.text(sql)))
    if names:
        table = sa.table(
            "app_user",
            sa.column("username", sa.String),
            sa.column("created_at", sitroom.db.UTCDateTime()),
        )
        now = sitroom.db.utcnow()
        op.bulk_insert(table, [{"username": n, "created_at": now} for n in sorted(names)])


def _paths() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, code, parent_id FROM org_unit")).all()
    by_id = {r.id: r for r in rows}
    done: dict[int, str] = {}

    def path_of(unit_id: int) -> str:
        if unit_id not in done:
            row = by_id[unit_id]
            above = path_of(row.parent_id) if row.parent_id else "/"
            done[unit_id] = f"{above}{row.code}/"
        return done[unit_id]

    for row in rows:
        conn.execute(
            sa.text("UPDATE org_unit SET path = :path WHERE id = :id"),
            {"path": path_of(row.id), "id": row.id},
        )


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    _register_users()

    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("path", sa.String(length=1000), nullable=True))
    _paths()
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.alter_column("path", existing_type=sa.String(length=1000), nullable=False)
        batch_op.create_index(batch_op.f("ix_org_unit_path"), ["path"], unique=False)
        batch_op.create_check_constraint("level", "level BETWEEN 1 AND 4")

    with op.batch_alter_table("data_element", schema=None) as batch_op:
        batch_op.create_check_constraint("kind", "kind IN ('flow', 'stock')")

    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_run_user"), ["user"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_import_run_user_app_user"), *USER_FK[:1], ["user"], USER_FK[1]
        )

    with op.batch_alter_table("data_value", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_value_org_unit_id"), ["org_unit_id"])
        batch_op.create_index(batch_op.f("ix_data_value_import_id"), ["import_id"])
        batch_op.create_index(batch_op.f("ix_data_value_changed_by"), ["changed_by"])
        batch_op.create_foreign_key(
            batch_op.f("fk_data_value_changed_by_app_user"),
            *USER_FK[:1],
            ["changed_by"],
            USER_FK[1],
        )
        batch_op.create_check_constraint("value_not_negative", "value >= 0")
        batch_op.create_check_constraint(
            "period_in_range", "period >= '1900-01-01' AND period < '2200-01-01'"
        )

    with op.batch_alter_table("data_value_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_value_audit_org_unit_id"), ["org_unit_id"])
        batch_op.create_index(batch_op.f("ix_data_value_audit_import_id"), ["import_id"])
        batch_op.create_index(batch_op.f("ix_data_value_audit_changed_by"), ["changed_by"])
        batch_op.create_index(batch_op.f("ix_data_value_audit_old_changed_by"), ["old_changed_by"])
        batch_op.create_foreign_key(
            batch_op.f("fk_data_value_audit_changed_by_app_user"),
            *USER_FK[:1],
            ["changed_by"],
            USER_FK[1],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_data_value_audit_old_changed_by_app_user"),
            *USER_FK[:1],
            ["old_changed_by"],
            USER_FK[1],
        )
        batch_op.create_check_constraint("action", "action IN ('update', 'delete')")
        batch_op.create_check_constraint(
            "values_not_negative", "old_value >= 0 AND (new_value IS NULL OR new_value >= 0)"
        )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER data_value_audit_append_only BEFORE UPDATE OR DELETE"
            " ON data_value_audit FOR EACH ROW EXECUTE FUNCTION sitroom_audit_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER data_value_audit_no_{event.lower()} BEFORE {event}"
                " ON data_value_audit BEGIN SELECT RAISE(ABORT, 'data_value_audit is"
                " append-only: its rows are never changed or removed'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS data_value_audit_append_only ON data_value_audit")
        op.execute("DROP FUNCTION IF EXISTS sitroom_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS data_value_audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS data_value_audit_no_delete")
    with op.batch_alter_table("data_value_audit", schema=None) as batch_op:
        batch_op.drop_constraint("values_not_negative", type_="check")
        batch_op.drop_constraint("action", type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_data_value_audit_old_changed_by_app_user"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_data_value_audit_changed_by_app_user"), type_="foreignkey"
        )
        for column in ("old_changed_by", "changed_by", "import_id", "org_unit_id"):
            batch_op.drop_index(batch_op.f(f"ix_data_value_audit_{column}"))
    with op.batch_alter_table("data_value", schema=None) as batch_op:
        batch_op.drop_constraint("period_in_range", type_="check")
        batch_op.drop_constraint("value_not_negative", type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_data_value_changed_by_app_user"), type_="foreignkey"
        )
        for column in ("changed_by", "import_id", "org_unit_id"):
            batch_op.drop_index(batch_op.f(f"ix_data_value_{column}"))
    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_import_run_user_app_user"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_import_run_user"))
    with op.batch_alter_table("data_element", schema=None) as batch_op:
        batch_op.drop_constraint("kind", type_="check")
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.drop_constraint("level", type_="check")
        batch_op.drop_index(batch_op.f("ix_org_unit_path"))
        batch_op.drop_column("path")
    op.drop_table("app_user")
