"""``sitroom supply orders ...``, ``supply dispatch`` and ``supply deliver``: distribution
orders from the command line (issue #11, items 4 and 12).

Thin commands over :mod:`sitroom.supply.orders`; ``--json`` everywhere; ``--user``
acts within its role and scopes (``sitroom.auth.service.acting_principal``). A
refused step exits non-zero with every reason, and nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sitroom.cli.app import app_context, console, print_json
from sitroom.cli.options import JsonOpt
from sitroom.cli.supply import TimeOpt, supply_app
from sitroom.errors import SitroomError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sitroom.auth.permissions import Principal
    from sitroom.context import AppContext
    from sitroom.supply.orders import OrderLineIn, OrderView, PodLine

orders_app = typer.Typer(
    help="Distribution orders: draft, approved, dispatched, delivered (proof of delivery),"
    " closed; their lead times.",
    no_args_is_help=True,
)
supply_app.add_typer(orders_app, name="orders")

NumberArg = Annotated[str, typer.Argument(help="The order's number, e.g. DO-2022-000123.")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="A note kept in the order's history.")]


def _time(rt: AppContext, text: str | None) -> datetime | None:
    """``--time`` in the country's zone (None: now)."""
    from sitroom.cli.supply import _when

    return _when(rt, text) if text is not None else None


def _day(rt: AppContext, text: str | None, option: str) -> datetime | None:
    """Midnight (local time) of a day given as ``--since`` or ``--until``."""
    from datetime import date, time
    from zoneinfo import ZoneInfo

    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise SitroomError(f"{option}: {text!r} is not a day (2022-05-20)") from None
    return datetime.combine(day, time(0), ZoneInfo(rt.country.reporting.time_zone))


def _count(text: str, what: str) -> int:
    from sitroom.counts import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise SitroomError(f"{what}: {exc}") from None


def parse_line(text: str) -> OrderLineIn:
    """``ITEM=QTY`` or ``ITEM=QTY@LOT``: a line of a new order."""
    from sitroom.supply.orders import OrderLineIn

    item, sep, rest = text.partition("=")
    if not sep or not item.strip() or not rest.strip():
        raise SitroomError(f"--line {text!r}: write ITEM=QUANTITY or ITEM=QUANTITY@LOT")
    quantity, _, lot = rest.partition("@")
    return OrderLineIn(item.strip(), _count(quantity, f"--line {text!r}"), lot.strip() or None)


def parse_pod(accepted: list[str], rejected: list[str]) -> list[PodLine]:
    """``--accept ITEM=QTY`` and ``--reject ITEM=QTY:REASON[:NOTE]``, one line per item."""
    from sitroom.supply.orders import PodLine

    taken: dict[str, int] = {}
    refused: dict[str, tuple[int, str | None, str | None]] = {}
    for text in accepted:
        item, sep, quantity = text.partition("=")
        item = item.strip()
        if not sep or not item:
            raise SitroomError(f"--accept {text!r}: write ITEM=QUANTITY")
        if item in taken:
            raise SitroomError(f"--accept {item} is given twice")
        taken[item] = _count(quantity, f"--accept {text!r}")
    for text in rejected:
        item, sep, rest = text.partition("=")
        item = item.strip()
        quantity, colon, why = rest.partition(":")
        if not sep or not colon or not item or not why.strip():
            raise SitroomError(
                f"--reject {text!r}: write ITEM=QUANTITY:REASON (damaged, expired, short_shipped,"
                " wrong_item, other), optionally :NOTE"
            )
        if item in refused:
            raise SitroomError(f"--reject {item} is given twice")
        cause, _, remark = why.partition(":")
        refused[item] = (
            _count(quantity, f"--reject {text!r}"),
            cause.strip(),
            remark.strip() or None,
        )
    lines = []
    for item in dict.fromkeys([*taken, *refused]):
        count, reason, note = refused.get(item, (0, None, None))
        lines.append(PodLine(item, taken.get(item, 0), count, reason, note))
    return lines


POD_COLUMNS = ("item", "accepted", "rejected", "reason", "note")


def read_pod(path: Path) -> list[PodLine]:
    """A proof of delivery as CSV: ``item,accepted,rejected,reason,note`` (the last three
    may be empty)."""
    import csv

    from sitroom.supply.orders import PodLine

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SitroomError(f"{path}: not UTF-8 text") from None
    rows = list(csv.DictReader(text.splitlines()))
    header = tuple(rows[0].keys()) if rows else tuple(next(csv.reader(text.splitlines()), []))
    if "item" not in header or "accepted" not in header:
        raise SitroomError(f"{path}: the columns are {','.join(POD_COLUMNS)}")
    lines = []
    for n, row in enumerate(rows, 2):
        where = f"{path}, line {n}"
        lines.append(
            PodLine(
                (row.get("item") or "").strip(),
                _count(row.get("accepted") or "0", f"{where}, accepted"),
                _count(row.get("rejected") or "0", f"{where}, rejected"),
                (row.get("reason") or "").strip() or None,
                (row.get("note") or "").strip() or None,
            )
        )
    return lines


def _stamp(moment: datetime | None, rt: AppContext) -> str:
    from zoneinfo import ZoneInfo

    if moment is None:
        return "-"
    return f"{moment.astimezone(ZoneInfo(rt.country.reporting.time_zone)):%Y-%m-%d %H:%M}"


def _said(view: OrderView, rt: AppContext, as_json: bool) -> None:
    """One line for people (or the order as JSON) after a step."""
    if as_json:
        print_json(view.to_dict())
        return
    units = sum(line.quantity for line in view.lines)
    text = (
        f"{view.number}: {view.status}, {view.source} -> {view.destination},"
        f" {len(view.lines)} line{'s' if len(view.lines) != 1 else ''}, {units:,} units"
    )
    if view.status in ("dispatched", "delivered", "closed") and view.carrier:
        text += f"; carried by {view.carrier} ({view.carrier_kind})"
    if view.received_by and view.status in ("delivered", "closed"):
        rejected = sum(line.rejected or 0 for line in view.lines)
        text += f"; received by {view.received_by}, {rejected:,} rejected"
    console.print(text)


def _principal(rt: AppContext, session: Session) -> Principal | None:
    from sitroom.auth.service import acting_principal

    return acting_principal(session, rt.settings.user)


@orders_app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="draft, approved, dispatched, delivered, closed or cancelled."
        ),
    ] = None,
    facility: Annotated[
        str | None, typer.Option("--facility", help="Orders from or to this facility.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.", min=1)] = None,
    as_json: JsonOpt = False,
) -> None:
    """List orders, newest first (those your scopes cover)."""
    from rich.table import Table

    from sitroom.supply import orders

    rt = app_context(ctx)
    with rt.session() as session:
        rows = orders.list_orders(
            session,
            status=status,
            facility=facility,
            principal=_principal(rt, session),
            limit=limit,
        )
    if as_json:
        print_json([row.to_dict() for row in rows])
        return
    if not rows:
        console.print("no orders")
        return
    table = Table("order", "status", "from", "to", "lines", "units", "created", "delivered")
    for row in rows:
        table.add_row(
            row.number,
            row.status,
            row.source,
            row.destination,
            str(row.lines),
            f"{row.units:,}",
            _stamp(row.created_at, rt),
            _stamp(row.delivered_at, rt),
        )
    console.print(table)


@orders_app.command()
def show(ctx: typer.Context, number: NumberArg, as_json: JsonOpt = False) -> None:
    """Show an order: its lines, the lots dispatched, its history and lead times."""
    from rich.table import Table

    from sitroom.supply import orders

    rt = app_context(ctx)
    with rt.session() as session:
        view = orders.get_order(
            session,
            number,
            principal=_principal(rt, session),
        )
    if as_json:
        print_json(view.to_dict())
        return
    console.print(f"{view.number}: {view.status}, {view.source} -> {view.destination}")
    if view.origin:
        console.print(f"  forwards order {view.origin}")
    if view.carrier:
        console.print(
            f"  carrier: {view.carrier} ({view.carrier_kind}), vehicle {view.vehicle or '-'}"
        )
    if view.received_by:
        console.print(f"  received by: {view.received_by}")
    lines = Table("line", "item", "ordered", "dispatched", "accepted", "rejected", "lots")
    for line in view.lines:
        rejected = (
            f"{line.rejected:,} ({line.rejection_reason})" if line.rejected else str(line.rejected)
        )
        lines.add_row(
            str(line.line),
            line.item,
            f"{line.quantity:,}",
            "-" if line.dispatched is None else f"{line.dispatched:,}",
            "-" if line.accepted is None else f"{line.accepted:,}",
            "-" if line.rejected is None else rejected,
            ", ".join(f"{lot} {q:,}" for lot, _, q in line.lots) or (line.lot or "FEFO"),
        )
    console.print(lines)
    history = Table("time", "by", "from", "to", "note")
    for event in view.events:
        history.add_row(
            _stamp(event.time, rt),
            event.by,
            event.from_status or "-",
            event.to_status,
            event.note or "",
        )
    console.print(history)
    hours = ", ".join(f"{k} {v:.1f} h" for k, v in view.lead_hours.items() if v is not None)
    console.print(f"  lead times: {hours or 'none yet'}")


@orders_app.command()
def create(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="The facility sending.")],
    destination: Annotated[str, typer.Option("--to", help="The facility receiving.")],
    line: Annotated[
        list[str],
        typer.Option("--line", help="ITEM=QUANTITY or ITEM=QUANTITY@LOT; once per item."),
    ],
    number: Annotated[
        str | None, typer.Option("--number", help="The order's number (default: the next).")
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option("--origin", help="The upstream order whose stock this one forwards."),
    ] = None,
    note: NoteOpt = None,
    when: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a draft order along a route (a supplier link or a declared route)."""
    from sitroom.supply import orders

    rt = app_context(ctx)
    lines = [parse_line(text) for text in line]
    moment = _time(rt, when)
    with rt.session(write=True) as session:
        view = orders.create_order(
            session,
            source,
            destination,
            lines,
            user=rt.settings.user,
            principal=_principal(rt, session),
            number=number,
            origin=origin,
            note=note,
            at=moment,
            lock_timeout=rt.settings.lock_timeout,
        )
    _said(view, rt, as_json)


@orders_app.command()
def approve(
    ctx: typer.Context,
    number: NumberArg,
    note: NoteOpt = None,
    when: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a draft order (stock.write over the source)."""
    from sitroom.supply import orders

    rt = app_context(ctx)
    moment = _time(rt, when)
    with rt.session(write=True) as session:
        view = orders.approve_order(
            session,
            number,
            user=rt.settings.user,
            principal=_principal(rt, session),
            at=moment,
            note=note,
            lock_timeout=rt.settings.lock_timeout,
        )
    _said(view, rt, as_json)


@orders_app.command()
def cancel(
    ctx: typer.Context,
    number: NumberArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the order's history).")],
    when: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a draft or approved order, saying why."""
    from sitroom.supply import orders

    rt = app_context(ctx)
    moment = _time(rt, when)
    with rt.session(write=True) as session:
        view = orders.cancel_order(
            session,
            number,
            reason=reason,
            user=rt.settings.user,
            principal=_principal(rt, session),
            at=moment,
            lock_timeout=rt.settings.lock_timeout,
        )
    _said(view, rt, as_json)


@orders_app.command()
def close(
    ctx: typer.Context,
    number: NumberArg,
    note: NoteOpt = None,
    when: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a delivered order once its rejections are reconciled."""
    from sitroom.supply import orders

    rt = app_context(ctx)
    moment = _time(rt, when)
    with rt.session(write=True) as session:
        view = orders.close_order(
            session,
            number,
            user=rt.settings.user,
            principal=_principal(rt, session),
            at=moment,
            note=note,
            lock_timeout=rt.settings.lock_timeout,
        )
    _said(view, rt, as_json)


@orders_app.command()
def leadtimes(
    ctx: typer.Context,
    by: Annotated[
        str,
        typer.Option("--by", help="region, carrier_kind or region_carrier_kind."),
    ] = "region",
    since: Annotated[
        str | None, typer.Option("--since", help="Orders created on this day or later.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Orders created before this day.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Lead times per region or carrier kind: median, 90th percentile and count per step."""
    from rich.table import Table

    from sitroom.supply import orders
    from sitroom.supply.leadtimes import STEPS

    rt = app_context(ctx)
    with rt.session() as session:
        report = orders.lead_times(
            session,
            by=by.replace("-", "_"),
            since=_day(rt, since, "--since"),
            until=_day(rt, until, "--until"),
            principal=_principal(rt, session),
        )
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(by, "orders", *(f"{step} (h)" for step in STEPS))
    for group in [*report.groups, report.overall]:
        cells = []
        for step in STEPS:
            stats = group.steps[step]
            cells.append(
                "-"
                if stats.median is None or stats.p90 is None
                else f"{stats.median:.1f} / {stats.p90:.1f} (n={stats.n})"
            )
        table.add_row(group.group, str(group.orders), *cells)
    console.print(table)
    console.print("median / 90th percentile, hours (n: orders that reached the step)")


@supply_app.command()
def dispatch(
    ctx: typer.Context,
    number: NumberArg,
    carrier: Annotated[
        str, typer.Option("--carrier", help='Who carries it: "KPA unit 525", "civil transport".')
    ],
    carrier_kind: Annotated[str, typer.Option("--carrier-kind", help="army, civil or other.")],
    vehicle: Annotated[
        str | None, typer.Option("--vehicle", help="The vehicle (plate, number).")
    ] = None,
    note: NoteOpt = None,
    when: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dispatch an approved order: its transfers out leave the source (FEFO unless a lot)."""
    from zoneinfo import ZoneInfo

    from sitroom.supply import orders

    rt = app_context(ctx)
    moment = _time(rt, when)
    with rt.session(write=True) as session:
        view = orders.dispatch_order(
            session,
            number,
            carrier=carrier,
            carrier_kind=carrier_kind,
            vehicle=vehicle,
            user=rt.settings.user,
            principal=_principal(rt, session),
            at=moment,
            note=note,
            lock_timeout=rt.settings.lock_timeout,
            zone=ZoneInfo(rt.country.reporting.time_zone),
        )
    _said(view, rt, as_json)


@supply_app.command()
def deliver(
    ctx: typer.Context,
    number: NumberArg,
    receiver: Annotated[str, typer.Option("--receiver", help="Who signed the proof of delivery.")],
    accept: Annotated[
        list[str] | None,
        typer.Option("--accept", help="ITEM=QUANTITY accepted; once per item."),
    ] = None,
    reject: Annotated[
        list[str] | None,
        typer.Option(
            "--reject",
            help="ITEM=QUANTITY:REASON[:NOTE] rejected (damaged, expired, short_shipped,"
            " wrong_item, other).",
        ),
    ] = None,
    pod: Annotated[
        Path | None,
        typer.Option(
            "--pod", help="The proof of delivery as CSV: item,accepted,rejected,reason,note."
        ),
    ] = None,
    keep_open: Annotated[
        bool,
        typer.Option("--keep-open", help="Do not close the order even if all was accepted."),
    ] = False,
    note: NoteOpt = None,
    when: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the proof of delivery: every unit dispatched accepted or rejected with a reason."""
    from zoneinfo import ZoneInfo

    from sitroom.supply import orders

    rt = app_context(ctx)
    if pod is not None and (accept or reject):
        raise SitroomError("give the proof of delivery as --pod FILE or as --accept/--reject")
    lines = read_pod(pod) if pod is not None else parse_pod(accept or [], reject or [])
    moment = _time(rt, when)
    with rt.session(write=True) as session:
        view = orders.deliver_order(
            session,
            number,
            receiver=receiver,
            lines=lines,
            user=rt.settings.user,
            principal=_principal(rt, session),
            at=moment,
            note=note,
            auto_close=not keep_open,
            lock_timeout=rt.settings.lock_timeout,
            zone=ZoneInfo(rt.country.reporting.time_zone),
        )
    _said(view, rt, as_json)
