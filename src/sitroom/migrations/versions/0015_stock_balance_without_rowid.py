"""The stock balances stored in their key's order on SQLite (issue #11, item 14)

``stock_balance`` becomes a ``WITHOUT ROWID`` table on SQLite: the rows are kept
in the order of the primary key (facility, item, lot), so stock on hand of every
facility and item (a GROUP BY facility and item) is one pass over the table with
no sort, and the ledger's reads and updates of a balance by its key are one
B-tree search instead of two (the key's index, then the row). PostgreSQL has no
such table and is not changed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 13:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "stock_balance", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
