"""Pharmacy inspections and investigation cases (issue #11, item 9)

- ``supply_inspection``: a named inspector's visit, its checklist, counts
  (posted as stocktakes), findings and photos' file names; append-only.
- ``supply_case``: an investigation of a facility, its evidence frozen when it
  was opened (a trigger refuses to change ``evidence`` or its SHA-256).
- ``supply_case_note``: each case's history (notes, assignments, statuses);
  append-only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sitroom.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY = ("supply_inspection", "supply_case_note")
_FROZEN = "supply_case evidence is frozen: it is kept as it was when the case was opened"


def _message(table: str) -> str:
    return f"{table} is append-only: its rows are never changed or removed"


def _pg_function(name: str, message: str, condition: str = "TRUE") -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    IF {condition} THEN
        RAISE EXCEPTION '{message}';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "supply_inspection",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("inspector", sa.String(length=200), nullable=False),
        sa.Column("inspected_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checklist", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("photos", sa.Text(), nullable=False),
        sa.Column(
            "stock_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("missing", sa.BigInteger(), nullable=False),
        sa.Column("surplus", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["supply_facility.id"],
            name=op.f("fk_supply_inspection_facility_id_supply_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["stock_batch_id"],
            ["stock_batch.id"],
            name=op.f("fk_supply_inspection_stock_batch_id_stock_batch"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_inspection")),
    )
    with op.batch_alter_table("supply_inspection", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supply_inspection_facility_id"), ["facility_id"], unique=False
        )

    op.create_table(
        "supply_case",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "inspection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assigned_to", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("opened_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "source IN ('detection', 'inspection', 'report')", name=op.f("ck_supply_case_source")
        ),
        sa.CheckConstraint(
            "status <> 'closed' OR outcome IS NOT NULL",
            name=op.f("ck_supply_case_closed_with_outcome"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'investigating', 'closed')", name=op.f("ck_supply_case_status")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["supply_facility.id"],
            name=op.f("fk_supply_case_facility_id_supply_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["supply_inspection.id"],
            name=op.f("fk_supply_case_inspection_id_supply_inspection"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_case")),
    )
    with op.batch_alter_table("supply_case", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supply_case_facility_id"), ["facility_id"], unique=False
        )

    op.create_table(
        "supply_case_note",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("written_by", sa.String(length=100), nullable=False),
        sa.Column("written_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status_from", sa.String(length=16), nullable=True),
        sa.Column("status_to", sa.String(length=16), nullable=True),
        sa.Column("assigned_to", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["supply_case.id"], name=op.f("fk_supply_case_note_case_id_supply_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_case_note")),
    )
    with op.batch_alter_table("supply_case_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supply_case_note_case_id"), ["case_id"], unique=False)

    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _APPEND_ONLY:
        if postgres:
            op.execute(_pg_function(f"sitroom_{table}_append_only", _message(table)))
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
    if postgres:
        op.execute(
            _pg_function(
                "sitroom_supply_case_evidence_frozen",
                _FROZEN,
                "TG_OP = 'DELETE' OR NEW.evidence IS DISTINCT FROM OLD.evidence"
                " OR NEW.evidence_sha256 IS DISTINCT FROM OLD.evidence_sha256",
            )
        )
        op.execute(
            "CREATE TRIGGER supply_case_evidence_frozen BEFORE UPDATE OR DELETE ON supply_case"
            " FOR EACH ROW EXECUTE FUNCTION sitroom_supply_case_evidence_frozen()"
        )
    else:
        op.execute(
            "CREATE TRIGGER supply_case_evidence_frozen BEFORE UPDATE OF evidence, evidence_sha256"
            f" ON supply_case BEGIN SELECT RAISE(ABORT, '{_FROZEN}'); END"
        )
        op.execute(
            "CREATE TRIGGER supply_case_no_delete BEFORE DELETE"
            f" ON supply_case BEGIN SELECT RAISE(ABORT, '{_FROZEN}'); END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS supply_case_evidence_frozen ON supply_case")
        op.execute("DROP FUNCTION IF EXISTS sitroom_supply_case_evidence_frozen()")
    else:
        op.execute("DROP TRIGGER IF EXISTS supply_case_evidence_frozen")
        op.execute("DROP TRIGGER IF EXISTS supply_case_no_delete")
    for table in _APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS sitroom_{table}_append_only()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    with op.batch_alter_table("supply_case_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supply_case_note_case_id"))

    op.drop_table("supply_case_note")
    with op.batch_alter_table("supply_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supply_case_facility_id"))

    op.drop_table("supply_case")
    with op.batch_alter_table("supply_inspection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supply_inspection_facility_id"))

    op.drop_table("supply_inspection")
