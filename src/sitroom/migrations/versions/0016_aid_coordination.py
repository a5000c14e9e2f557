"""Aid coordination (issue #12)

- ``aid_partner``, ``aid_contact``: governments, UN agencies, NGOs and how
  they are reached;
- ``aid_request`` / ``aid_request_line``, ``aid_offer`` / ``aid_offer_line``:
  what was asked of whom and what was offered, with a status;
- ``aid_pledge`` / ``aid_pledge_line``: commitments, each answering a request
  or an offer;
- ``aid_shipment`` / ``aid_shipment_line``: goods on their way, lot by lot;
  ``aid_receipt`` links a (partial) delivery to its batch of the stock ledger
  (the receipt entries are the record of what arrived);
- ``aid_message``: the communications log; ``aid_event``: the history of
  every status. Both append-only: a trigger on each database refuses UPDATE
  and DELETE, as on ``stock_entry`` (0012).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 15:23:03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sitroom.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The append-only tables and what their trigger says.
_APPEND_ONLY = {
    "aid_message": "aid_message is append-only: an answer is a new message, never an edit",
    "aid_event": "aid_event is append-only: the history of aid is never edited",
}


def _create_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, message in _APPEND_ONLY.items():
        if postgresql:
            op.execute(
                f"""
CREATE OR REPLACE FUNCTION sitroom_{table}_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{message}';
END
$$ LANGUAGE plpgsql
"""
            )
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE"
                f" ON {table} FOR EACH ROW EXECUTE FUNCTION sitroom_{table}_append_only()"
            )
        else:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event}"
                    f" ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )


def _drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _APPEND_ONLY:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS sitroom_{table}_append_only()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table(
        "aid_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("time", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "subject IN ('partner', 'request', 'offer', 'pledge', 'shipment')",
            name=op.f("ck_aid_event_subject"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_event")),
    )
    with op.batch_alter_table("aid_event", schema=None) as batch_op:
        batch_op.create_index("ix_aid_event_subject", ["subject", "subject_id"], unique=False)

    op.create_table(
        "aid_partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("illustrative", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('government', 'un_agency', 'ngo', 'red_cross', 'private', 'other')",
            name=op.f("ck_aid_partner_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_partner")),
        sa.UniqueConstraint("code", name=op.f("uq_aid_partner_code")),
    )
    op.create_table(
        "aid_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('diplomatic_note', 'liaison_office', 'un_agency', 'phone', 'email', "
            "'meeting', 'other')",
            name=op.f("ck_aid_contact_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["aid_partner.id"], name=op.f("fk_aid_contact_partner_id_aid_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_contact")),
    )
    with op.batch_alter_table("aid_contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aid_contact_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "aid_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answer_by", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("conditions", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("illustrative", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('diplomatic_note', 'liaison_office', 'un_agency', 'phone', 'email', "
            "'meeting', 'other')",
            name=op.f("ck_aid_offer_channel"),
        ),
        sa.CheckConstraint(
            "status IN ('received', 'under_review', 'answered', 'accepted', 'declined', 'lapsed')",
            name=op.f("ck_aid_offer_status"),
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_aid_offer_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["aid_partner.id"], name=op.f("fk_aid_offer_partner_id_aid_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_offer")),
        sa.UniqueConstraint("number", name=op.f("uq_aid_offer_number")),
    )
    with op.batch_alter_table("aid_offer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aid_offer_org_unit_id"), ["org_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_aid_offer_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "aid_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("needed_by", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("gap", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("illustrative", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('diplomatic_note', 'liaison_office', 'un_agency', 'phone', 'email', "
            "'meeting', 'other')",
            name=op.f("ck_aid_request_channel"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'sent', 'acknowledged', 'under_discussion', 'accepted', "
            "'partly_accepted', 'declined', 'no_response')",
            name=op.f("ck_aid_request_status"),
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_aid_request_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["aid_partner.id"], name=op.f("fk_aid_request_partner_id_aid_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_request")),
        sa.UniqueConstraint("number", name=op.f("uq_aid_request_number")),
    )
    with op.batch_alter_table("aid_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_aid_request_org_unit_id"), ["org_unit_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_aid_request_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "aid_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("time", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("our_side", sa.String(length=200), nullable=False),
        sa.Column("their_side", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("awaits_answer", sa.Boolean(), nullable=False),
        sa.Column("answer_due_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "reply_to_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("illustrative", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('diplomatic_note', 'liaison_office', 'un_agency', 'phone', 'email', "
            "'meeting', 'other')",
            name=op.f("ck_aid_message_channel"),
        ),
        sa.CheckConstraint("direction IN ('out', 'in')", name=op.f("ck_aid_message_direction")),
        sa.CheckConstraint(
            "kind IN ('notice', 'letter', 'call', 'meeting', 'email', 'note')",
            name=op.f("ck_aid_message_kind"),
        ),
        sa.CheckConstraint(
            "(request_id IS NULL) <> (offer_id IS NULL)",
            name=op.f("ck_aid_message_about_a_request_or_an_offer"),
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["aid_offer.id"], name=op.f("fk_aid_message_offer_id_aid_offer")
        ),
        sa.ForeignKeyConstraint(
            ["reply_to_id"], ["aid_message.id"], name=op.f("fk_aid_message_reply_to_id_aid_message")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["aid_request.id"], name=op.f("fk_aid_message_request_id_aid_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_message")),
    )
    with op.batch_alter_table("aid_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_aid_message_awaiting", ["awaits_answer", "answer_due_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_aid_message_offer_id"), ["offer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_aid_message_reply_to_id"), ["reply_to_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_aid_message_request_id"), ["request_id"], unique=False)

    op.create_table(
        "aid_offer_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_aid_offer_line_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supply_item.id"], name=op.f("fk_aid_offer_line_item_id_supply_item")
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["aid_offer.id"], name=op.f("fk_aid_offer_line_offer_id_aid_offer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_offer_line")),
        sa.UniqueConstraint("offer_id", "item_id", name=op.f("uq_aid_offer_line_offer_id_item_id")),
    )
    op.create_table(
        "aid_pledge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pledged_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expected_by", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("illustrative", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'fulfilled', 'cancelled')", name=op.f("ck_aid_pledge_status")
        ),
        sa.CheckConstraint(
            "request_id IS NOT NULL OR offer_id IS NOT NULL",
            name=op.f("ck_aid_pledge_answers_request_or_offer"),
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["aid_offer.id"], name=op.f("fk_aid_pledge_offer_id_aid_offer")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_aid_pledge_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["aid_partner.id"], name=op.f("fk_aid_pledge_partner_id_aid_partner")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["aid_request.id"], name=op.f("fk_aid_pledge_request_id_aid_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_pledge")),
        sa.UniqueConstraint("number", name=op.f("uq_aid_pledge_number")),
    )
    with op.batch_alter_table("aid_pledge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aid_pledge_offer_id"), ["offer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_aid_pledge_org_unit_id"), ["org_unit_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_aid_pledge_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_aid_pledge_request_id"), ["request_id"], unique=False)

    op.create_table(
        "aid_request_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "accepted IS NULL OR accepted >= 0",
            name=op.f("ck_aid_request_line_accepted_not_negative"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_aid_request_line_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supply_item.id"], name=op.f("fk_aid_request_line_item_id_supply_item")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["aid_request.id"],
            name=op.f("fk_aid_request_line_request_id_aid_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_request_line")),
        sa.UniqueConstraint(
            "request_id", "item_id", name=op.f("uq_aid_request_line_request_id_item_id")
        ),
    )
    op.create_table(
        "aid_pledge_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_aid_pledge_line_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supply_item.id"], name=op.f("fk_aid_pledge_line_item_id_supply_item")
        ),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["aid_pledge.id"], name=op.f("fk_aid_pledge_line_pledge_id_aid_pledge")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_pledge_line")),
        sa.UniqueConstraint(
            "pledge_id", "item_id", name=op.f("uq_aid_pledge_line_pledge_id_item_id")
        ),
    )
    op.create_table(
        "aid_shipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("carrier", sa.String(length=200), nullable=True),
        sa.Column("route", sa.String(length=300), nullable=True),
        sa.Column("border_crossing", sa.String(length=200), nullable=True),
        sa.Column("customs_status", sa.String(length=16), nullable=True),
        sa.Column("customs_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("departed_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expected_at", sa.Date(), nullable=True),
        sa.Column("arrived_at", sitroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("illustrative", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "customs_status IS NULL OR customs_status IN ('pending', 'cleared', 'held')",
            name=op.f("ck_aid_shipment_customs_status"),
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'in_transit', 'at_border', 'arrived', 'partly_received', "
            "'received', 'cancelled')",
            name=op.f("ck_aid_shipment_status"),
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["supply_facility.id"],
            name=op.f("fk_aid_shipment_destination_id_supply_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["aid_partner.id"], name=op.f("fk_aid_shipment_partner_id_aid_partner")
        ),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["aid_pledge.id"], name=op.f("fk_aid_shipment_pledge_id_aid_pledge")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_shipment")),
        sa.UniqueConstraint("number", name=op.f("uq_aid_shipment_number")),
    )
    with op.batch_alter_table("aid_shipment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_aid_shipment_destination_id"), ["destination_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_aid_shipment_partner_id"), ["partner_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_aid_shipment_pledge_id"), ["pledge_id"], unique=False)

    op.create_table(
        "aid_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column(
            "stock_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("received_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sitroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["aid_shipment.id"],
            name=op.f("fk_aid_receipt_shipment_id_aid_shipment"),
        ),
        sa.ForeignKeyConstraint(
            ["stock_batch_id"],
            ["stock_batch.id"],
            name=op.f("fk_aid_receipt_stock_batch_id_stock_batch"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_receipt")),
        sa.UniqueConstraint("stock_batch_id", name=op.f("uq_aid_receipt_stock_batch_id")),
    )
    with op.batch_alter_table("aid_receipt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_aid_receipt_shipment_id"), ["shipment_id"], unique=False
        )

    op.create_table(
        "aid_shipment_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_aid_shipment_line_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supply_item.id"], name=op.f("fk_aid_shipment_line_item_id_supply_item")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["aid_shipment.id"],
            name=op.f("fk_aid_shipment_line_shipment_id_aid_shipment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_shipment_line")),
        sa.UniqueConstraint(
            "shipment_id",
            "item_id",
            "lot",
            name=op.f("uq_aid_shipment_line_shipment_id_item_id_lot"),
        ),
    )
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    op.drop_table("aid_shipment_line")
    with op.batch_alter_table("aid_receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aid_receipt_shipment_id"))

    op.drop_table("aid_receipt")
    with op.batch_alter_table("aid_shipment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aid_shipment_pledge_id"))
        batch_op.drop_index(batch_op.f("ix_aid_shipment_partner_id"))
        batch_op.drop_index(batch_op.f("ix_aid_shipment_destination_id"))

    op.drop_table("aid_shipment")
    op.drop_table("aid_pledge_line")
    op.drop_table("aid_request_line")
    with op.batch_alter_table("aid_pledge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aid_pledge_request_id"))
        batch_op.drop_index(batch_op.f("ix_aid_pledge_partner_id"))
        batch_op.drop_index(batch_op.f("ix_aid_pledge_org_unit_id"))
        batch_op.drop_index(batch_op.f("ix_aid_pledge_offer_id"))

    op.drop_table("aid_pledge")
    op.drop_table("aid_offer_line")
    with op.batch_alter_table("aid_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aid_message_request_id"))
        batch_op.drop_index(batch_op.f("ix_aid_message_reply_to_id"))
        batch_op.drop_index(batch_op.f("ix_aid_message_offer_id"))
        batch_op.drop_index("ix_aid_message_awaiting")

    op.drop_table("aid_message")
    with op.batch_alter_table("aid_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aid_request_partner_id"))
        batch_op.drop_index(batch_op.f("ix_aid_request_org_unit_id"))

    op.drop_table("aid_request")
    with op.batch_alter_table("aid_offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aid_offer_partner_id"))
        batch_op.drop_index(batch_op.f("ix_aid_offer_org_unit_id"))

    op.drop_table("aid_offer")
    with op.batch_alter_table("aid_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aid_contact_partner_id"))

    op.drop_table("aid_contact")
    op.drop_table("aid_partner")
    with op.batch_alter_table("aid_event", schema=None) as batch_op:
        batch_op.drop_index("ix_aid_event_subject")

    op.drop_table("aid_event")
