"""The situation report's section on aid (issue #12, items 4 and 6).

As of the close of the period (its window's end, 18:00 in Pyongyang):

- **what arrived**: the receipts of aid shipments into the stock ledger by then
  (those of the period counted apart), with the donor and the warehouse;
- **what is on its way**: the shipments not yet received in full at the close
  (where they were, where they go, when they were expected), and what open
  pledges had not shipped yet;
- **what is missing**: the gap per item for the country, from the forecast of the
  fever series up to the period, with the stock and the pipeline at the close
  (:func:`sitroom.aid.gap_service.gap_report`), or why it cannot be worked out;
- **overdue answers**: the messages and offers waiting for an answer past their
  time at the close (:func:`sitroom.aid.requests.overdue`).

Built from the aid services, never SQL. Left out of the report when no request or
offer had been recorded by the close. Records marked ``illustrative`` (the demo's
2022 history) say so in the tables, and a sentence says what that means.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sitroom.errors import SitroomError
from sitroom.sitrep.model import Column, Fact, Section, Sentence, Table, Value
from sitroom.sitrep.sections import Inputs, section

if TYPE_CHECKING:
    from sitroom.aid.gap_service import GapReport
    from sitroom.aid.pipeline import PledgeView, ShipmentView
    from sitroom.aid.requests import Overdue

#: Most rows each table lists (the JSON's data and the command line have them all).
MAX_ROWS = 25
#: The key of the column that marks an illustrative record.
MARK = "illustration"
ILLUSTRATION = (
    "Records marked “illustration” are a plausible reconstruction (the demo's aid history"
    " of the 2022 wave, from press reports), not a record of what happened."
)
WORDS = {
    "planned": "planned, not left",
    "in_transit": "in transit",
    "at_border": "at the border",
    "partly_received": "partly received",
    "arrived": "arrived, not yet received",
}


@dataclass(frozen=True)
class Arrival:
    """Units of one item of one shipment received into the ledger in one receipt."""

    shipment: str
    partner: str
    item: str
    units: int
    warehouse: str
    time: datetime
    in_period: bool
    illustrative: bool


@dataclass(frozen=True)
class Coming:
    """What a shipment (or a pledge not shipped yet) still had to bring at the close."""

    number: str
    partner: str
    status: str
    where: str
    destination: str
    expected: str
    items: dict[str, int]
    illustrative: bool

    @property
    def units(self) -> int:
        return sum(self.items.values())


@section("aid", "Aid", order=960)
def aid(inputs: Inputs) -> Section | None:
    from sitroom.aid import pipeline, requests

    opened, close = inputs.context.calendar.window(inputs.period)
    zone = ZoneInfo(inputs.country.reporting.time_zone)
    with inputs.context.session() as session:
        began = requests.earliest(session)
        if began is None or began > close:
            return None
        views = [pipeline.get_shipment(session, s.number) for s in pipeline.list_shipments(session)]
        pledges = [
            pipeline.get_pledge(session, p.number)
            for p in pipeline.list_pledges(session)
            if p.pledged_at <= close
        ]
        late = requests.overdue(session, at=close, answer_hours=inputs.country.aid.answer_hours)
    arrived = _arrivals(views, opened, close)
    coming = _coming(views, pledges, close, zone)
    gap, why = _gap(inputs, close)
    return _section(
        inputs, zone=zone, close=close, arrived=arrived, coming=coming, late=late, gap=gap,
        why=why,
    )  # fmt: skip


# What happened by the close ------------------------------------------------------------


def _status_at(view: ShipmentView, close: datetime) -> str | None:
    """The shipment's status at ``close`` (None: not recorded yet)."""
    steps = sorted((e for e in view.events if e.time <= close), key=lambda e: e.time)
    return steps[-1].to_status if steps else None


def _arrivals(views: list[ShipmentView], opened: datetime, close: datetime) -> list[Arrival]:
    out = []
    for view in views:
        for receipt in view.receipts:
            if receipt.received_at > close:
                continue
            units: dict[str, int] = defaultdict(int)
            for item, _lot, quantity in receipt.lines:
                units[item] += quantity
            for item, quantity in units.items():
                out.append(
                    Arrival(
                        view.number,
                        view.partner_name,
                        item,
                        quantity,
                        view.destination_name,
                        receipt.received_at,
                        receipt.received_at > opened,
                        view.illustrative,
                    )
                )
    out.sort(key=lambda a: (a.time, a.shipment, a.item), reverse=True)
    return out


def _coming(
    views: list[ShipmentView], pledges: list[PledgeView], close: datetime, zone: ZoneInfo
) -> list[Coming]:
    """The shipments with goods still to come at ``close``, then what open pledges had
    not shipped."""
    out: list[Coming] = []
    shipped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for view in views:
        status = _status_at(view, close)
        if status is None or status == "cancelled":
            continue
        for line in view.lines:
            shipped[view.pledge][line.item] += line.shipped
        if status == "received":  # all of it, or closed short: nothing more comes
            continue
        received: dict[tuple[str, str], int] = defaultdict(int)
        for receipt in view.receipts:
            if receipt.received_at <= close:
                for item, lot, quantity in receipt.lines:
                    received[item, lot] += quantity
        items: dict[str, int] = defaultdict(int)
        for line in view.lines:
            rest = line.shipped - received[line.item, line.lot]
            if rest > 0:
                items[line.item] += rest
        if not items:
            continue
        where = WORDS.get(status, status.replace("_", " "))
        if status == "at_border" and view.border_crossing:
            where += f" ({view.border_crossing}"
            customs = view.customs_status if view.customs_at and view.customs_at <= close else None
            where += f", customs {customs})" if customs else ")"
        out.append(
            Coming(
                view.number,
                view.partner_name,
                status,
                where,
                view.destination_name,
                view.expected_at.isoformat() if view.expected_at else "",
                dict(items),
                view.illustrative,
            )
        )
    for pledge in pledges:
        steps = sorted((e for e in pledge.events if e.time <= close), key=lambda e: e.time)
        if steps and steps[-1].to_status != "open":
            continue
        unshipped = {
            line.item: line.pledged - shipped[pledge.number].get(line.item, 0)
            for line in pledge.lines
            if line.pledged > shipped[pledge.number].get(line.item, 0)
        }
        if unshipped:
            out.append(
                Coming(
                    pledge.number,
                    pledge.partner_name,
                    "pledged",
                    "pledged, not shipped",
                    "",
                    pledge.expected_by.isoformat() if pledge.expected_by else "",
                    unshipped,
                    pledge.illustrative,
                )
            )
    return out


def _gap(inputs: Inputs, close: datetime) -> tuple[GapReport | None, str | None]:
    """The gap of the country from the forecast of the series up to the period, with
    the stock and the pipeline as they stood at its close, or why it cannot be worked
    out."""
    from sitroom.aid.gap_service import gap_report

    try:
        with inputs.context.session() as session:
            return gap_report(session, inputs.country, end=inputs.period, at=close), None
    except SitroomError as exc:
        return None, _why(exc)


def _why(exc: Exception) -> str:
    """The reason, short: the first region's (the others' are alike), and how many."""
    text = str(exc)
    head, _, rest = text.partition(". ")
    if not rest:
        return text
    alike = text.count("no demand worked out")
    return head + "." + (f" The same for {alike - 1:,} other regions." if alike > 1 else "")


# The section ---------------------------------------------------------------------------


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _mark(illustrative: bool) -> str | None:
    return MARK if illustrative else None


def _marked(columns: list[Column], rows: list[dict[str, Value]]) -> list[Column]:
    """``columns`` with the illustration column after the first, when a row is marked."""
    if not any(r.get(MARK) for r in rows):
        for row in rows:
            row.pop(MARK, None)
        return columns
    return [columns[0], Column(key=MARK, label="Illustration", kind="text"), *columns[1:]]


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _section(
    inputs: Inputs,
    *,
    zone: ZoneInfo,
    close: datetime,
    arrived: list[Arrival],
    coming: list[Coming],
    late: list[Overdue],
    gap: GapReport | None,
    why: str | None,
) -> Section:
    national = [r for r in gap.table if r.national] if gap is not None else []
    short = [r for r in national if r.gap_median > 0]
    shipments = [c for c in coming if c.status != "pledged"]
    from_partners = sum(1 for o in late if o.waiting_for == "partner")
    this_period = [a for a in arrived if a.in_period]
    facts = [
        Fact(
            label="Arrived in the period",
            value=len({a.shipment for a in this_period}),
            note=f"shipments received in part or in full; {len({a.shipment for a in arrived}):,}"
            " to date",
        ),
        Fact(
            label="Shipments on their way",
            value=len(shipments),
            note=f"{sum(1 for c in shipments if c.status == 'at_border'):,} at the border; "
            f"{_plural(len(coming) - len(shipments), 'pledge')} not shipped yet",
        ),
        Fact(
            label="Items short",
            value=len(short) if gap is not None else None,
            note=f"of {len(national):,}, over the {gap.horizon} days from {gap.first_day}"
            if gap is not None
            else "the gap cannot be worked out",
        ),
        Fact(
            label="Answers overdue",
            value=len(late),
            note=f"{from_partners:,} from partners, {len(late) - from_partners:,} from us",
        ),
    ]
    sentences = _sentences(
        arrived=arrived, coming=coming, late=late, short=short, gap=gap, zone=zone
    )
    notes = []
    if why is not None:
        notes.append(f"the gap is not available: {why}")
    elif gap is not None:
        notes.append(
            f"the gap's need is forecast from the fever series up to {inputs.period};"
            + (
                " the stock on hand, the pipeline and the partners' records are as they stood"
                " at the close"
                if gap.as_of is not None
                else " the period has not closed yet: the stock on hand and the pipeline are"
                " as recorded when the report was made"
            )
        )
        notes += gap.notes
    return Section(
        key="aid",
        title="Aid",
        intro="Aid asked of and offered by partners as it stood at the close of the period"
        f" ({_local(close, zone)}, {inputs.country.reporting.time_zone}): what arrived, what"
        " is on its way, what is still missing, and the answers overdue.",
        facts=facts,
        sentences=sentences,
        tables=[
            _arrived_table(arrived, zone),
            _coming_table(coming),
            *([_gap_table(gap, national)] if gap is not None and national else []),
            _overdue_table(late, zone),
        ],
        notes=notes,
        data={
            "close": close.isoformat(),
            "arrived": [_dump(a) for a in arrived],
            "on_the_way": [{**_dump(c), "units": c.units} for c in coming],
            "overdue": [o.to_dict() for o in late],
            "gap": gap.to_dict() if gap is not None else {"error": why},
        },
    )


def _dump(record: Arrival | Coming) -> dict[str, Any]:
    from dataclasses import asdict

    out = asdict(record)
    if isinstance(record, Arrival):
        out["time"] = record.time.isoformat()
    return out


def _sentences(
    *,
    arrived: list[Arrival],
    coming: list[Coming],
    late: list[Overdue],
    short: list[Any],
    gap: GapReport | None,
    zone: ZoneInfo,
) -> list[Sentence]:
    out = []
    if (
        any(a.illustrative for a in arrived)
        or any(c.illustrative for c in coming)
        or any(o.illustrative for o in late)
    ):
        out.append(Sentence(text=ILLUSTRATION, severity="warning"))
    if late:
        first = late[0]
        out.append(
            Sentence(
                text=f"{_plural(len(late), 'answer was', 'answers were')} overdue at the close;"
                " the longest: "
                + ("the partner's" if first.waiting_for == "partner" else "our")
                + f" answer on {first.about} ({first.partner_name}), due"
                f" {_local(first.due, zone)}.",
                severity="warning",
            )
        )
    if short and gap is not None:
        first_out = min(short, key=lambda r: (r.runs_out or gap.last_day, -r.gap_median))
        missing = first_out.to_dict()["gap_median"]
        out.append(
            Sentence(
                text=f"{_plural(len(short), 'item')} short over the next {gap.horizon} days;"
                f" {first_out.item_name} runs out first"
                + (f", on {first_out.runs_out}" if first_out.runs_out else "")
                + f", {missing:,} {first_out.unit}s missing (median).",
                severity="warning",
            )
        )
    if not arrived:
        out.append(Sentence(text="No aid had arrived by the close of the period.", severity="info"))
    return out


def _arrived_table(arrived: list[Arrival], zone: ZoneInfo) -> Table:
    rows: list[dict[str, Value]] = [
        {
            "shipment": a.shipment,
            MARK: _mark(a.illustrative),
            "partner": a.partner,
            "item": a.item,
            "units": a.units,
            "warehouse": a.warehouse,
            "time": _local(a.time, zone) + (" (this period)" if a.in_period else ""),
        }
        for a in arrived[:MAX_ROWS]
    ]
    columns = [
        Column(key="shipment", label="Shipment", kind="text"),
        Column(key="partner", label="From", kind="text"),
        Column(key="item", label="Item", kind="text"),
        Column(key="units", label="Units"),
        Column(key="warehouse", label="Received at", kind="text"),
        Column(key="time", label="When", kind="text"),
    ]
    more = len(arrived) - len(rows)
    return Table(
        key="aid-arrived",
        title="What arrived",
        columns=_marked(columns, rows),
        rows=rows,
        caption="Receipts into the stock ledger, the latest first, with the donor on each lot"
        + (f"; {more:,} earlier ones not listed" if more > 0 else "")
        + (". Nothing had arrived." if not rows else "."),
    )


def _coming_table(coming: list[Coming]) -> Table:
    rows: list[dict[str, Value]] = [
        {
            "number": c.number,
            MARK: _mark(c.illustrative),
            "partner": c.partner,
            "where": c.where,
            "destination": c.destination,
            "expected": c.expected,
            "items": "; ".join(f"{item} {units:,}" for item, units in c.items.items()),
            "units": c.units,
        }
        for c in coming[:MAX_ROWS]
    ]
    columns = [
        Column(key="number", label="Shipment or pledge", kind="text"),
        Column(key="partner", label="From", kind="text"),
        Column(key="where", label="Where", kind="text"),
        Column(key="destination", label="To", kind="text"),
        Column(key="expected", label="Expected", kind="text"),
        Column(key="items", label="Items still to come", kind="text"),
        Column(key="units", label="Units"),
    ]
    return Table(
        key="aid-coming",
        title="What is on its way",
        columns=_marked(columns, rows),
        rows=rows,
        caption="Shipments not yet received in full, and what open pledges had not shipped"
        + (". Nothing was on its way." if not rows else "."),
    )


def _gap_table(gap: GapReport, national: list[Any]) -> Table:
    rows: list[dict[str, Value]] = []
    for row in national:
        d = row.to_dict()
        rows.append(
            {
                "item": f"{row.item} ({row.unit}s)",
                "need": d["need_median"],
                "need_upper": d["need_upper"],
                "stock": d["stock"],
                "pipeline": round(row.pipeline_weighted),
                "gap": d["gap_median"],
                "gap_upper": d["gap_upper"],
                "runs_out": d["runs_out"] or "",
            }
        )
    return Table(
        key="aid-gap",
        title="What is missing: the gap by item",
        columns=[
            Column(key="item", label="Item", kind="text"),
            Column(key="need", label="Need, median"),
            Column(key="need_upper", label="Need, 95 %"),
            Column(key="stock", label="Stock on hand"),
            Column(key="pipeline", label="Pipeline, weighted"),
            Column(key="gap", label="Gap, median"),
            Column(key="gap_upper", label="Gap, up to"),
            Column(key="runs_out", label="Runs out", kind="text"),
        ],
        rows=rows,
        caption=f"The country over {gap.horizon} days from {gap.first_day}: the need forecast"
        " from the fever cases times the treatment protocols, minus the stock on hand, minus"
        " what is pledged and shipped weighted by each partner's reliability so far; runs out:"
        " the day the median need passes the stock if nothing arrives.",
    )


def _overdue_table(late: list[Overdue], zone: ZoneInfo) -> Table:
    rows: list[dict[str, Value]] = [
        {
            "about": o.about,
            MARK: _mark(o.illustrative),
            "partner": o.partner_name,
            "waiting_for": "the partner" if o.waiting_for == "partner" else "us",
            "due": _local(o.due, zone),
            "late": round(o.hours_overdue / 24, 2),
            "summary": o.summary,
        }
        for o in late[:MAX_ROWS]
    ]
    columns = [
        Column(key="about", label="About", kind="text"),
        Column(key="partner", label="Partner", kind="text"),
        Column(key="waiting_for", label="Answer awaited from", kind="text"),
        Column(key="due", label="Due", kind="text"),
        Column(key="late", label="Overdue by", kind="days"),
        Column(key="summary", label="What", kind="text"),
    ]
    return Table(
        key="aid-overdue",
        title="Answers overdue",
        columns=_marked(columns, rows),
        rows=rows,
        caption="Messages waiting for an answer past their time, and offers not answered by"
        " their deadline, at the close of the period" + (". None." if not rows else "."),
    )
