"""The supply chain: items, facilities, routes, lots, the stock ledger and its balances

- ``supply_item``, ``supply_facility`` (with its supplier), ``supply_route``
  (declared routes besides supplier to customer), ``supply_lot`` (expiry).
- ``stock_batch``: one write to the ledger (a file, a command, a request).
- ``stock_entry``: the ledger, append-only: a trigger on both databases
  refuses UPDATE and DELETE, as on ``auth_event`` (0007) and ``edition`` (0011).
- ``stock_balance``: stock on hand per facility, item and lot, never negative.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 12:13:51
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sitroom.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY = ("stock_entry", "stock_batch")


def _message(table: str) -> str:
    return f"{table} is append-only: the stock ledger is corrected by reversal entries"


def _pg_function(table: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION sitroom_{table}_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{_message(table)}';
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "stock_batch",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('cli', 'file', 'api', 'web', 'simulation')",
            name=op.f("ck_stock_batch_channel"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_batch")),
    )
    with op.batch_alter_table("stock_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stock_batch_created_by"), ["created_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_stock_batch_sha256"), ["sha256"], unique=False)

    op.create_table(
        "supply_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "category IN ('test_kit', 'antipyretic', 'antiviral', 'antibiotic',"
            " 'protective_equipment', 'vaccine', 'other')",
            name=op.f("ck_supply_item_category"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_item")),
        sa.UniqueConstraint("code", name=op.f("uq_supply_item_code")),
    )
    op.create_table(
        "supply_facility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "type IN ('stockpile', 'warehouse', 'store', 'pharmacy', 'hospital')",
            name=op.f("ck_supply_facility_type"),
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_supply_facility_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["supply_facility.id"],
            name=op.f("fk_supply_facility_supplier_id_supply_facility"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_facility")),
        sa.UniqueConstraint("code", name=op.f("uq_supply_facility_code")),
    )
    with op.batch_alter_table("supply_facility", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supply_facility_org_unit_id"), ["org_unit_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supply_facility_supplier_id"), ["supplier_id"], unique=False
        )

    op.create_table(
        "supply_lot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supply_item.id"], name=op.f("fk_supply_lot_item_id_supply_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_lot")),
        sa.UniqueConstraint("item_id", "code", name=op.f("uq_supply_lot_item_id_code")),
    )
    op.create_table(
        "stock_balance",
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("last_time", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_stock_balance_not_negative")),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["supply_facility.id"],
            name=op.f("fk_stock_balance_facility_id_supply_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supply_item.id"], name=op.f("fk_stock_balance_item_id_supply_item")
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["supply_lot.id"], name=op.f("fk_stock_balance_lot_id_supply_lot")
        ),
        sa.PrimaryKeyConstraint("facility_id", "item_id", "lot_id", name=op.f("pk_stock_balance")),
    )
    with op.batch_alter_table("stock_balance", schema=None) as batch_op:
        batch_op.create_index("ix_stock_balance_item", ["item_id"], unique=False)

    op.create_table(
        "stock_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("time", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("counterparty_id", sa.Integer(), nullable=True),
        sa.Column("counterparty", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("patients", sa.Integer(), nullable=True),
        sa.Column("counted", sa.BigInteger(), nullable=True),
        sa.Column(
            "reverses_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('receipt', 'transfer_out', 'transfer_in', 'dispense', 'adjust', 'stocktake')",
            name=op.f("ck_stock_entry_kind"),
        ),
        sa.CheckConstraint(
            "reason IS NULL OR kind <> 'adjust'"
            " OR reason IN ('expired', 'damaged', 'lost', 'stolen', 'found')",
            name=op.f("ck_stock_entry_adjust_reason"),
        ),
        sa.CheckConstraint(
            "counted IS NULL OR counted >= 0", name=op.f("ck_stock_entry_counted_not_negative")
        ),
        sa.CheckConstraint(
            "patients IS NULL OR patients >= 0", name=op.f("ck_stock_entry_patients_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["stock_batch.id"], name=op.f("fk_stock_entry_batch_id_stock_batch")
        ),
        sa.ForeignKeyConstraint(
            ["counterparty_id"],
            ["supply_facility.id"],
            name=op.f("fk_stock_entry_counterparty_id_supply_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["supply_facility.id"],
            name=op.f("fk_stock_entry_facility_id_supply_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supply_item.id"], name=op.f("fk_stock_entry_item_id_supply_item")
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["supply_lot.id"], name=op.f("fk_stock_entry_lot_id_supply_lot")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["stock_entry.id"], name=op.f("fk_stock_entry_reverses_id_stock_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_entry")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_stock_entry_reverses_id")),
    )
    with op.batch_alter_table("stock_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stock_entry_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index("ix_stock_entry_reference", ["reference"], unique=False)
        batch_op.create_index(
            "ix_stock_entry_stock_time", ["facility_id", "item_id", "lot_id", "time"], unique=False
        )
        batch_op.create_index("ix_stock_entry_time", ["time"], unique=False)

    op.create_table(
        "supply_route",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("declared_by", sa.String(length=100), nullable=False),
        sa.Column("declared_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source_id <> destination_id", name=op.f("ck_supply_route_not_a_loop")),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["supply_facility.id"],
            name=op.f("fk_supply_route_destination_id_supply_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["supply_facility.id"],
            name=op.f("fk_supply_route_source_id_supply_facility"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_route")),
        sa.UniqueConstraint(
            "source_id", "destination_id", name=op.f("uq_supply_route_source_id_destination_id")
        ),
    )
    with op.batch_alter_table("supply_route", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supply_route_destination_id"), ["destination_id"], unique=False
        )

    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _APPEND_ONLY:
        if postgres:
            op.execute(_pg_function(table))
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


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS sitroom_{table}_append_only()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    with op.batch_alter_table("supply_route", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supply_route_destination_id"))

    op.drop_table("supply_route")
    with op.batch_alter_table("stock_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_entry_time")
        batch_op.drop_index("ix_stock_entry_stock_time")
        batch_op.drop_index("ix_stock_entry_reference")
        batch_op.drop_index(batch_op.f("ix_stock_entry_batch_id"))

    op.drop_table("stock_entry")
    with op.batch_alter_table("stock_balance", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_balance_item")

    op.drop_table("stock_balance")
    op.drop_table("supply_lot")
    with op.batch_alter_table("supply_facility", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supply_facility_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_supply_facility_org_unit_id"))

    op.drop_table("supply_facility")
    op.drop_table("supply_item")
    with op.batch_alter_table("stock_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stock_batch_sha256"))
        batch_op.drop_index(batch_op.f("ix_stock_batch_created_by"))

    op.drop_table("stock_batch")
