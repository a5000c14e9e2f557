"""Distribution orders with a life (issue #11, item 4)

- ``supply_order``: an order from a facility to another, its status and the
  time and user of each step, the carrier, the receiver who signed the proof
  of delivery, the ledger batches of its dispatch and delivery.
- ``supply_order_line``: one line per item: ordered, dispatched, accepted and
  rejected (with the reason).
- ``supply_order_event``: the order's history, append-only: a trigger on
  both databases refuses UPDATE and DELETE, as on ``stock_entry`` (0012).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 12:26:03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sitroom.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY = "supply_order_event"
_MESSAGE = "supply_order_event is append-only: the history of an order is never edited"


def upgrade() -> None:
    op.create_table(
        "supply_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("origin_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dispatched_by", sa.String(length=100), nullable=True),
        sa.Column("dispatched_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("carrier", sa.String(length=200), nullable=True),
        sa.Column("vehicle", sa.String(length=100), nullable=True),
        sa.Column("carrier_kind", sa.String(length=16), nullable=True),
        sa.Column("delivered_by", sa.String(length=100), nullable=True),
        sa.Column("delivered_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.String(length=200), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("closed_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=100), nullable=True),
        sa.Column("cancelled_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "dispatch_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "delivery_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "carrier_kind IS NULL OR carrier_kind IN ('army', 'civil', 'other')",
            name=op.f("ck_supply_order_carrier_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'dispatched', 'delivered', 'closed', 'cancelled')",
            name=op.f("ck_supply_order_status"),
        ),
        sa.CheckConstraint("source_id <> destination_id", name=op.f("ck_supply_order_not_a_loop")),
        sa.ForeignKeyConstraint(
            ["delivery_batch_id"],
            ["stock_batch.id"],
            name=op.f("fk_supply_order_delivery_batch_id_stock_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["supply_facility.id"],
            name=op.f("fk_supply_order_destination_id_supply_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["dispatch_batch_id"],
            ["stock_batch.id"],
            name=op.f("fk_supply_order_dispatch_batch_id_stock_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["origin_id"], ["supply_order.id"], name=op.f("fk_supply_order_origin_id_supply_order")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["supply_facility.id"],
            name=op.f("fk_supply_order_source_id_supply_facility"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_order")),
        sa.UniqueConstraint("number", name=op.f("uq_supply_order_number")),
    )
    with op.batch_alter_table("supply_order", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supply_order_destination_id"), ["destination_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_supply_order_origin_id"), ["origin_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_supply_order_source_id"), ["source_id"], unique=False)
        batch_op.create_index("ix_supply_order_status", ["status"], unique=False)

    op.create_table(
        "supply_order_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("time", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('draft', 'approved', 'dispatched',"
            " 'delivered', 'closed', 'cancelled')",
            name=op.f("ck_supply_order_event_from_status"),
        ),
        sa.CheckConstraint(
            "to_status IN ('draft', 'approved', 'dispatched', 'delivered', 'closed', 'cancelled')",
            name=op.f("ck_supply_order_event_to_status"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["supply_order.id"],
            name=op.f("fk_supply_order_event_order_id_supply_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_order_event")),
    )
    with op.batch_alter_table("supply_order_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supply_order_event_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "supply_order_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("dispatched", sa.BigInteger(), nullable=True),
        sa.Column("accepted", sa.BigInteger(), nullable=True),
        sa.Column("rejected", sa.BigInteger(), nullable=True),
        sa.Column("rejection_reason", sa.String(length=16), nullable=True),
        sa.Column("rejection_note", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "rejection_reason IS NULL OR rejection_reason IN ('damaged', 'expired',"
            " 'short_shipped', 'wrong_item', 'other')",
            name=op.f("ck_supply_order_line_rejection_reason"),
        ),
        sa.CheckConstraint(
            "accepted IS NULL OR accepted >= 0",
            name=op.f("ck_supply_order_line_accepted_not_negative"),
        ),
        sa.CheckConstraint(
            "dispatched IS NULL OR dispatched >= 0",
            name=op.f("ck_supply_order_line_dispatched_not_negative"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_supply_order_line_quantity_positive")),
        sa.CheckConstraint(
            "rejected IS NULL OR rejected = 0 OR rejection_reason IS NOT NULL",
            name=op.f("ck_supply_order_line_rejection_has_reason"),
        ),
        sa.CheckConstraint(
            "rejected IS NULL OR rejected >= 0",
            name=op.f("ck_supply_order_line_rejected_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supply_item.id"], name=op.f("fk_supply_order_line_item_id_supply_item")
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["supply_lot.id"], name=op.f("fk_supply_order_line_lot_id_supply_lot")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["supply_order.id"],
            name=op.f("fk_supply_order_line_order_id_supply_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_order_line")),
        sa.UniqueConstraint(
            "order_id", "item_id", name=op.f("uq_supply_order_line_order_id_item_id")
        ),
        sa.UniqueConstraint("order_id", "line", name=op.f("uq_supply_order_line_order_id_line")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
CREATE OR REPLACE FUNCTION sitroom_{_APPEND_ONLY}_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{_MESSAGE}';
END
$$ LANGUAGE plpgsql
"""
        )
        op.execute(
            f"CREATE TRIGGER {_APPEND_ONLY}_append_only BEFORE UPDATE OR DELETE"
            f" ON {_APPEND_ONLY} FOR EACH ROW EXECUTE FUNCTION sitroom_{_APPEND_ONLY}_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_APPEND_ONLY}_no_{event.lower()} BEFORE {event}"
                f" ON {_APPEND_ONLY} BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_APPEND_ONLY}_append_only ON {_APPEND_ONLY}")
        op.execute(f"DROP FUNCTION IF EXISTS sitroom_{_APPEND_ONLY}_append_only()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {_APPEND_ONLY}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {_APPEND_ONLY}_no_delete")
    op.drop_table("supply_order_line")
    with op.batch_alter_table("supply_order_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supply_order_event_order_id"))

    op.drop_table("supply_order_event")
    with op.batch_alter_table("supply_order", schema=None) as batch_op:
        batch_op.drop_index("ix_supply_order_status")
        batch_op.drop_index(batch_op.f("ix_supply_order_source_id"))
        batch_op.drop_index(batch_op.f("ix_supply_order_origin_id"))
        batch_op.drop_index(batch_op.f("ix_supply_order_destination_id"))

    op.drop_table("supply_order")
