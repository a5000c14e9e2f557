"""Plain records shared by the pure supply code: ledger rows, facilities, items.

These are the shapes that :mod:`sitroom.supply.simulate` produces and
:mod:`sitroom.supply.detection` reads. They hold no database state: the ledger
service turns a :class:`LedgerRow` into a ledger event (and back), and the
facility and item tables into :class:`FacilityRecord` and :class:`ItemRecord`.

Conventions of a :class:`LedgerRow` (one line of the events CSV,
``time,event,facility,item,lot,expiry,quantity,counterparty,reason,reference,patients``):

- ``time`` is timezone-aware and in **UTC**, as everything sitroom stores; the
  CSV writes it in ISO 8601 with ``+00:00``. Local time (opening hours, the
  18:00 cut-off) is applied by whoever reads it, with the country's zone.
- ``quantity`` is a whole number of units. It is positive for ``receipt``,
  ``transfer_out``, ``transfer_in`` and ``dispense`` (units moved); signed for
  ``adjust`` (negative takes stock away, with ``reason`` one of ``expired``,
  ``damaged``, ``lost``, ``stolen``, ``found``); and for ``stocktake`` it is
  the physical count of that lot, the ledger turning ``count - book`` into an
  adjustment.
- ``counterparty`` is the other facility of a transfer (the customer on
  ``transfer_out``, the supplier on ``transfer_in``), the donor or
  ``procurement`` on a receipt, empty otherwise.
- ``reference`` ties the two halves of a transfer (the distribution order); a
  transfer's ``transfer_out`` and ``transfer_in`` share it.
- ``patients`` is the number of patients treated, on ``dispense`` rows only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: The columns of the events CSV, in order.
CSV_COLUMNS = (
    "time",
    "event",
    "facility",
    "item",
    "lot",
    "expiry",
    "quantity",
    "counterparty",
    "reason",
    "reference",
    "patients",
)

EventKind = Literal["receipt", "transfer_out", "transfer_in", "dispense", "adjust", "stocktake"]
EVENTS: tuple[EventKind, ...] = (
    "receipt",
    "transfer_out",
    "transfer_in",
    "dispense",
    "adjust",
    "stocktake",
)

FacilityType = Literal["stockpile", "warehouse", "store", "pharmacy", "hospital"]
FACILITY_TYPES: tuple[FacilityType, ...] = (
    "stockpile",
    "warehouse",
    "store",
    "pharmacy",
    "hospital",
)
#: Facilities that treat patients (dispense); the others only hold and ship.
DISPENSING_TYPES: frozenset[str] = frozenset({"pharmacy", "hospital"})

#: Reasons of an adjustment.
ADJUST_REASONS = ("expired", "damaged", "lost", "stolen", "found")


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One ledger event, exactly the columns of the events CSV (see the module)."""

    time: datetime
    event: EventKind
    facility: str
    item: str
    lot: str
    expiry: date | None
    quantity: int
    counterparty: str = ""
    reason: str = ""
    reference: str = ""
    patients: int | None = None

    def csv_row(self) -> dict[str, str]:
        """The row as CSV text fields (ISO time and date, blanks for None)."""
        return {
            "time": self.time.isoformat(),
            "event": self.event,
            "facility": self.facility,
            "item": self.item,
            "lot": self.lot,
            "expiry": "" if self.expiry is None else self.expiry.isoformat(),
            # The import reads an adjustment's quantity as positive, its sign from
            # the reason ("found" adds, the others remove).
            "quantity": str(abs(self.quantity) if self.event == "adjust" else self.quantity),
            "counterparty": self.counterparty,
            "reason": self.reason,
            "reference": self.reference,
            "patients": "" if self.patients is None else str(self.patients),
        }


@dataclass(frozen=True, slots=True)
class FacilityRecord:
    """A facility of the network: its type, org unit, supplier and the people it serves.

    ``population`` weighs a dispensing facility's share of its org unit's fever
    cases; it is ignored for the others.
    """

    code: str
    type: FacilityType
    org_unit: str
    supplier: str | None
    population: int = 0


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item of whole units and its protocol: units a treated fever patient needs."""

    code: str
    units_per_patient: int
    shelf_life_days: int = 720


def resolve_org_unit(
    org_unit: str,
    known: Mapping[str, object],
    parents: Mapping[str, str | None] | None,
) -> str | None:
    """The org unit itself or its nearest ancestor that is a key of ``known``."""
    seen: set[str] = set()
    current: str | None = org_unit
    while current is not None and current not in seen:
        if current in known:
            return current
        seen.add(current)
        current = None if parents is None else parents.get(current)
    return None


def local_fever(
    facilities: Sequence[FacilityRecord],
    fever: Mapping[str, ArrayLike],
    *,
    parents: Mapping[str, str | None] | None = None,
) -> NDArray[np.float64]:
    """Each facility's share of its area's daily fever cases, shape ``(n_facilities, n_days)``.

    A facility's area is its org unit, or the nearest ancestor (through
    ``parents``, org unit -> parent) that has a series in ``fever``. The area's
    cases are shared among its dispensing facilities (pharmacies and hospitals)
    in proportion to the population each serves (equally when none is given);
    stores, warehouses and the stockpile get zeros.
    """
    series = {key: np.asarray(value, dtype=float) for key, value in fever.items()}
    lengths = {s.shape for s in series.values()}
    if len(lengths) > 1 or any(len(shape) != 1 for shape in lengths):
        raise ValueError("every fever series must be 1-D and of the same length")
    n_days = next(iter(lengths))[0] if lengths else 0
    out = np.zeros((len(facilities), n_days))
    area = [
        resolve_org_unit(f.org_unit, series, parents) if f.type in DISPENSING_TYPES else None
        for f in facilities
    ]
    weight = np.array([max(f.population, 0) for f in facilities], dtype=float)
    for key, cases in series.items():
        members = [k for k, a in enumerate(area) if a == key]
        if not members:
            continue
        w = weight[members]
        share = w / w.sum() if w.sum() > 0 else np.full(len(members), 1 / len(members))
        out[members] = share[:, np.newaxis] * np.nan_to_num(cases)[np.newaxis, :]
    return out


def neighbour_groups(
    facilities: Sequence[FacilityRecord],
    *,
    parents: Mapping[str, str | None] | None = None,
    min_size: int = 3,
) -> NDArray[np.int64]:
    """A group number per facility: dispensing facilities of the same org unit.

    A group smaller than ``min_size`` is merged into its parent org unit's
    (when ``parents`` knows it), so that every facility has neighbours to be
    compared with. Facilities that do not dispense get -1.
    """
    key: list[str | None] = [f.org_unit if f.type in DISPENSING_TYPES else None for f in facilities]
    for _ in range(4):  # climb at most a few levels (facility > district > region > country)
        sizes: dict[str, int] = {}
        for k in key:
            if k is not None:
                sizes[k] = sizes.get(k, 0) + 1
        changed = False
        for idx, k in enumerate(key):
            if k is not None and sizes[k] < min_size and parents is not None:
                parent = parents.get(k)
                if parent is not None:
                    key[idx] = parent
                    changed = True
        if not changed:
            break
    labels: dict[str, int] = {}
    out = np.full(len(facilities), -1, dtype=np.int64)
    for idx, k in enumerate(key):
        if k is not None:
            out[idx] = labels.setdefault(k, len(labels))
    return out
