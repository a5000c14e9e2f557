"""A replay of ledger rows that checks what the ledger will enforce (for the supply tests)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from zoneinfo import ZoneInfo

from sitroom.supply.records import LedgerRow

PYONGYANG = ZoneInfo("Asia/Pyongyang")


def replay(rows: Iterable[LedgerRow]) -> list[str]:
    """Problems found: negative stock, an issue from an expired lot, an issue breaking FEFO."""
    balance: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    expiry_of: dict[str, date | None] = {}
    problems: list[str] = []
    last = None
    for row in rows:
        if last is not None and row.time < last:
            problems.append(f"rows out of time order at {row}")
        last = row.time
        lots = balance[row.facility, row.item]
        expiry_of[row.lot] = row.expiry
        have = lots.get(row.lot, 0)
        if row.event in {"receipt", "transfer_in", "adjust"}:  # adjust is signed
            lots[row.lot] = have + row.quantity
        elif row.event == "stocktake":
            lots[row.lot] = row.quantity
        else:  # transfer_out, dispense
            today = row.time.astimezone(PYONGYANG).date()
            if row.expiry is not None and row.expiry <= today:
                problems.append(f"issue from an expired lot: {row}")
            earlier = [
                lot
                for lot, q in lots.items()
                if q > 0
                and lot != row.lot
                and (expiry_of[lot] or date.max) < (row.expiry or date.max)
            ]
            if earlier:
                problems.append(f"not first-expiry-first-out ({earlier[0]} expires first): {row}")
            lots[row.lot] = have - row.quantity
        if row.quantity < 0 and row.event != "adjust":
            problems.append(f"negative quantity: {row}")
        if lots[row.lot] < 0:
            problems.append(f"stock below zero ({lots[row.lot]}): {row}")
    return problems
