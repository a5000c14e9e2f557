"""``sitroom aid pledge|ship|receive|trace|export``: pledges, shipments, their receipt
into the stock ledger, a lot's origin and the 3W table (issue #12, items 3, 6 and 7),
over :mod:`sitroom.aid.pipeline` and :mod:`sitroom.aid.export`.

``--json`` everywhere; ``--user`` acts within its role and scopes. A refused step
exits non-zero with every reason (77 when the user may not), and nothing is
written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from sitroom.cli.aid import acting, aid_app, count, day, listed, principal, stamp, when
from sitroom.cli.app import app_context, console, print_json
from sitroom.cli.options import JsonOpt
from sitroom.errors import SitroomError

if TYPE_CHECKING:
    from sitroom.aid.pipeline import (
        EventView,
        PledgeView,
        ReceiveLineIn,
        ShipLineIn,
        ShipmentView,
    )
    from sitroom.context import AppContext

pledge_app = typer.Typer(
    help="Pledges: what a partner committed to deliver, answering a request or an offer.",
    no_args_is_help=True,
)
ship_app = typer.Typer(
    help="Shipments: the goods of a pledge on their way, lot by lot, to a warehouse.",
    no_args_is_help=True,
)
aid_app.add_typer(pledge_app, name="pledge")
aid_app.add_typer(ship_app, name="ship")

TimeOpt = Annotated[
    str | None,
    typer.Option(
        "--time",
        help="When it happened: 2022-05-16T09:00 (local time), with an offset, or a day"
        " (noon); default now.",
    ),
]
NoteOpt = Annotated[str | None, typer.Option("--note", help="A note kept in the history.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the history).")]
PartnerOpt = Annotated[str | None, typer.Option("--partner", help="Only this partner.")]


# Parsing ----------------------------------------------------------------------------


def _ship_lines(texts: list[str]) -> list[ShipLineIn]:
    """``ITEM=QUANTITY@LOT:EXPIRY``, one per lot."""
    from sitroom.aid.pipeline import ShipLineIn

    lines = []
    for text in texts:
        item, sep, rest = text.partition("=")
        quantity, at, batch = rest.partition("@")
        lot, colon, expiry = batch.rpartition(":")
        if not (sep and at and colon) or not (item.strip() and quantity.strip() and lot.strip()):
            raise SitroomError(
                f"--line {text!r}: write ITEM=QUANTITY@LOT:EXPIRY (PCR-TEST=50000@L2205:2023-05-31)"
            )
        lines.append(
            ShipLineIn(
                item.strip(),
                lot.strip(),
                day(expiry.strip(), f"--line {text!r}"),
                count(quantity, f"--line {text!r}"),
            )
        )
    return lines


def _receive_lines(texts: list[str]) -> list[ReceiveLineIn]:
    """``ITEM=QUANTITY@LOT``, one per lot received."""
    from sitroom.aid.pipeline import ReceiveLineIn

    lines = []
    for text in texts:
        item, sep, rest = text.partition("=")
        quantity, at, lot = rest.partition("@")
        if not (sep and at) or not (item.strip() and quantity.strip() and lot.strip()):
            raise SitroomError(f"--line {text!r}: write ITEM=QUANTITY@LOT (PCR-TEST=20000@L2205)")
        lines.append(ReceiveLineIn(item.strip(), lot.strip(), count(quantity, f"--line {text!r}")))
    return lines


# Printing ---------------------------------------------------------------------------


def _events(events: tuple[EventView, ...], rt: AppContext) -> None:
    from rich.table import Table

    table = Table("time", "by", "step", "note")
    for e in events:
        step = f"{e.from_status} -> {e.to_status}" if e.from_status else e.to_status
        table.add_row(stamp(e.time, rt), e.by, step, e.note or "")
    console.print(table)


def _pledge_said(view: PledgeView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_dict())
        return
    answers = " ".join(
        f"answering {kind} {number}"
        for kind, number in (("request", view.request), ("offer", view.offer))
        if number
    )
    lines = ", ".join(f"{ln.item} {ln.pledged:,}" for ln in view.lines)
    console.print(
        f"{view.number}: {view.status}, by {view.partner_name} ({view.partner}) {answers},"
        f" for {view.org_unit}: {lines}"
        + (f"; expected by {view.expected_by}" if view.expected_by else "")
    )


def _shipment_said(view: ShipmentView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_dict())
        return
    lots = ", ".join(f"{ln.item} {ln.shipped:,} (lot {ln.lot})" for ln in view.lines)
    customs = f", customs {view.customs_status}" if view.customs_status else ""
    console.print(
        f"{view.number}: {view.status}{customs}, pledge {view.pledge} by {view.partner_name}"
        f" ({view.partner}) to {view.destination_name} ({view.destination}): {lots}"
        + (f"; expected {view.expected_at}" if view.expected_at else "")
    )


# Pledges ----------------------------------------------------------------------------


@pledge_app.command("create")
def pledge_create(
    ctx: typer.Context,
    partner: Annotated[str, typer.Option("--partner", help="The partner's code.")],
    line: Annotated[
        list[str], typer.Option("--line", help="ITEM=QUANTITY, once per item pledged.")
    ],
    request: Annotated[
        str | None, typer.Option("--request", help="The request it answers (REQ-...).")
    ] = None,
    offer: Annotated[
        str | None, typer.Option("--offer", help="The accepted offer it answers (OFF-...).")
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option("--org-unit", help="Whose it is (default: the request's or offer's)."),
    ] = None,
    expected_by: Annotated[
        str | None, typer.Option("--expected-by", help="The day the goods are expected by.")
    ] = None,
    note: NoteOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a pledge answering a request or an accepted offer (aid.write over its unit)."""
    from sitroom.aid import pipeline
    from sitroom.cli.aid import parse_lines

    rt = app_context(ctx)
    lines = parse_lines(line)
    moment = when(rt, time)
    by = day(expected_by, "--expected-by")
    with acting(rt) as (session, who):
        view = pipeline.create_pledge(
            session, partner, lines, request=request, offer=offer, unit=unit, expected_by=by,
            note=note, at=moment, **who,
        )  # fmt: skip
    _pledge_said(view, as_json)


@pledge_app.command("cancel")
def pledge_cancel(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The pledge, e.g. PLG-2022-0001.")],
    reason: ReasonOpt,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an open pledge, saying why (none of its shipments may be on its way)."""
    from sitroom.aid import pipeline

    rt = app_context(ctx)
    moment = when(rt, time)
    with acting(rt) as (session, who):
        view = pipeline.cancel_pledge(session, number, reason=reason, at=moment, **who)
    _pledge_said(view, as_json)


@pledge_app.command("list")
def pledge_list(
    ctx: typer.Context,
    partner: PartnerOpt = None,
    status: Annotated[
        str | None, typer.Option("--status", help="open, fulfilled or cancelled.")
    ] = None,
    request: Annotated[str | None, typer.Option("--request", help="Answering this.")] = None,
    offer: Annotated[str | None, typer.Option("--offer", help="Answering this.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List pledges, newest first, with what was pledged, shipped and received."""

    from sitroom.aid import pipeline

    rt = app_context(ctx)
    with rt.session() as session:
        rows = pipeline.list_pledges(
            session, partner=partner, status=status, request=request, offer=offer,
            principal=principal(rt, session),
        )  # fmt: skip
    listed(
        rows, as_json, empty="no pledges",
        columns=(
            "pledge", "status", "partner", "answers", "for", "pledged on", "pledged", "shipped",
            "received",
        ),
        row=lambda r: (
            r.number, r.status, r.partner, r.request or r.offer or "-", r.org_unit,
            stamp(r.pledged_at, rt), f"{r.pledged:,}", f"{r.shipped:,}", f"{r.received:,}",
        ),
    )  # fmt: skip


@pledge_app.command("show")
def pledge_show(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The pledge.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a pledge: each item pledged, shipped and received (by the ledger), its
    shipments and its history."""
    from rich.table import Table

    from sitroom.aid import pipeline

    rt = app_context(ctx)
    with rt.session() as session:
        view = pipeline.get_pledge(session, number, principal=principal(rt, session))
    if as_json:
        print_json(view.to_dict())
        return
    _pledge_said(view, False)
    table = Table("item", "pledged", "shipped", "received", "to ship", "outstanding")
    for ln in view.lines:
        table.add_row(
            ln.item, f"{ln.pledged:,} {ln.unit}s", f"{ln.shipped:,}", f"{ln.received:,}",
            f"{ln.to_ship:,}", f"{ln.outstanding:,}",
        )  # fmt: skip
    console.print(table)
    if view.shipments:
        console.print(
            "shipments: "
            + ", ".join(f"{s.number} ({s.status}, to {s.destination})" for s in view.shipments)
        )
    _events(view.events, rt)


# Shipments --------------------------------------------------------------------------


@ship_app.command("create")
def ship_create(
    ctx: typer.Context,
    destination: Annotated[
        str, typer.Option("--to", help="The warehouse or stockpile it goes to (its code).")
    ],
    line: Annotated[
        list[str],
        typer.Option("--line", help="ITEM=QUANTITY@LOT:EXPIRY, once per lot."),
    ],
    pledge: Annotated[
        str | None,
        typer.Option("--pledge", help="The open pledge it carries (required: PLG-...)."),
    ] = None,
    carrier: Annotated[str | None, typer.Option("--carrier", help="Who carries it.")] = None,
    route: Annotated[str | None, typer.Option("--route", help="The way it goes.")] = None,
    border: Annotated[
        str | None, typer.Option("--border", help="The border crossing (e.g. Sinuiju).")
    ] = None,
    departed: Annotated[
        str | None,
        typer.Option("--departed", help="When it left (it is then in transit; else planned)."),
    ] = None,
    expected: Annotated[
        str | None, typer.Option("--expected", help="The day it is expected to arrive.")
    ] = None,
    note: NoteOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a shipment of a pledge's goods, lot by lot (aid.write over the pledge's unit)."""
    from sitroom.aid import pipeline

    if not pledge:
        raise SitroomError(
            "a shipment carries the goods of a pledge: name it with --pledge PLG-...;"
            " nothing was written"
        )
    rt = app_context(ctx)
    lines = _ship_lines(line)
    moment, left = when(rt, time), when(rt, departed)
    by = day(expected, "--expected")
    with acting(rt) as (session, who):
        view = pipeline.create_shipment(
            session, pledge, destination, lines, carrier=carrier, route=route,
            border_crossing=border, departed_at=left, expected_at=by, note=note, at=moment, **who,
        )  # fmt: skip
    _shipment_said(view, as_json)


@ship_app.command("update")
def ship_update(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The shipment, e.g. SHP-2022-0001.")],
    status: Annotated[
        str | None,
        typer.Option("--status", help="in_transit (it left), at_border or arrived."),
    ] = None,
    customs: Annotated[
        str | None, typer.Option("--customs", help="pending, held or cleared.")
    ] = None,
    expected: Annotated[
        str | None, typer.Option("--expected", help="A new expected day of arrival.")
    ] = None,
    note: NoteOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a shipment's next step: it left, reached the border, arrived; customs; a new
    expected arrival."""
    from sitroom.aid import pipeline

    rt = app_context(ctx)
    moment = when(rt, time)
    by = day(expected, "--expected")
    with acting(rt) as (session, who):
        view = pipeline.update_shipment(
            session, number, status=status, customs=customs, expected_at=by, note=note, at=moment,
            **who,
        )  # fmt: skip
    _shipment_said(view, as_json)


@ship_app.command("close")
def ship_close(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The partly received shipment.")],
    reason: ReasonOpt,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a partly received shipment short: what did not arrive is no longer expected."""
    from sitroom.aid import pipeline

    rt = app_context(ctx)
    moment = when(rt, time)
    with acting(rt) as (session, who):
        view = pipeline.close_shipment(session, number, reason=reason, at=moment, **who)
    _shipment_said(view, as_json)


@ship_app.command("cancel")
def ship_cancel(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The shipment (nothing of it received).")],
    reason: ReasonOpt,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a shipment of which nothing was received; its goods no longer count against
    the pledge."""
    from sitroom.aid import pipeline

    rt = app_context(ctx)
    moment = when(rt, time)
    with acting(rt) as (session, who):
        view = pipeline.cancel_shipment(session, number, reason=reason, at=moment, **who)
    _shipment_said(view, as_json)


@ship_app.command("list")
def ship_list(
    ctx: typer.Context,
    partner: PartnerOpt = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="planned, in_transit, at_border, arrived, partly_received, received or cancelled.",
        ),
    ] = None,
    pledge: Annotated[str | None, typer.Option("--pledge", help="Of this pledge.")] = None,
    destination: Annotated[
        str | None, typer.Option("--to", help="To this warehouse (its code).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List shipments, latest step first, with what was shipped and received."""

    from sitroom.aid import pipeline

    rt = app_context(ctx)
    with rt.session() as session:
        rows = pipeline.list_shipments(
            session, partner=partner, status=status, pledge=pledge, destination=destination,
            principal=principal(rt, session),
        )  # fmt: skip
    listed(
        rows, as_json, empty="no shipments",
        columns=(
            "shipment", "status", "pledge", "partner", "to", "left", "expected", "customs",
            "shipped", "received",
        ),
        row=lambda r: (
            r.number, r.status, r.pledge, r.partner, r.destination, stamp(r.departed_at, rt),
            str(r.expected_at or "-"), r.customs_status or "-", f"{r.shipped:,}",
            f"{r.received:,}",
        ),
    )  # fmt: skip


@ship_app.command("show")
def ship_show(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The shipment.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a shipment: its lots (shipped, received by the ledger, outstanding), its
    receipts and its history."""
    from rich.table import Table

    from sitroom.aid import pipeline

    rt = app_context(ctx)
    with rt.session() as session:
        view = pipeline.get_shipment(session, number, principal=principal(rt, session))
    if as_json:
        print_json(view.to_dict())
        return
    _shipment_said(view, False)
    way = [
        f"{label}: {value}"
        for label, value in (
            ("carrier", view.carrier),
            ("route", view.route),
            ("border", view.border_crossing),
            ("left", stamp(view.departed_at, rt) if view.departed_at else None),
            ("arrived", stamp(view.arrived_at, rt) if view.arrived_at else None),
        )
        if value
    ]
    if way:
        console.print("  " + "; ".join(way))
    table = Table("item", "lot", "expiry", "shipped", "received", "outstanding")
    for ln in view.lines:
        table.add_row(
            ln.item, ln.lot, str(ln.expiry), f"{ln.shipped:,} {ln.unit}s", f"{ln.received:,}",
            f"{ln.outstanding:,}",
        )  # fmt: skip
    console.print(table)
    for r in view.receipts:
        got = ", ".join(f"{item} {q:,} (lot {lot})" for item, lot, q in r.lines)
        console.print(
            f"received {stamp(r.received_at, rt)}, signed by {r.received_by}: stock batch"
            f" {r.batch}: {got}"
        )
    _events(view.events, rt)


# Receipt, trace ---------------------------------------------------------------------


@aid_app.command()
def receive(
    ctx: typer.Context,
    shipment: Annotated[str, typer.Argument(help="The shipment, e.g. SHP-2022-0001.")],
    line: Annotated[
        list[str], typer.Option("--line", help="ITEM=QUANTITY@LOT accepted, once per lot.")
    ],
    received_by: Annotated[
        str, typer.Option("--received-by", help="Who signed for the goods at the warehouse.")
    ],
    note: NoteOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Receive goods of a shipment into the stock ledger at its warehouse, the donor on the
    lot (stock.write over the warehouse); a partial delivery, or the rest."""
    from sitroom.aid import pipeline
    from sitroom.cli.supply import print_post

    rt = app_context(ctx)
    lines = _receive_lines(line)
    moment = when(rt, time)
    with acting(rt) as (session, who):
        result = pipeline.receive_shipment(
            session, shipment, lines, received_by=received_by, note=note, channel="cli",
            zone=ZoneInfo(rt.country.reporting.time_zone), at=moment, **who,
        )  # fmt: skip
    if as_json:
        print_json(result.to_dict())
        return
    print_post(result.summary, what="received")
    for item, lot, quantity in result.receipt.lines:
        console.print(f"  {item} lot {lot}: {quantity:,} into {result.shipment.destination}")
    view = result.shipment
    console.print(
        f"{view.number}: {view.status} ({view.received:,} of {view.shipped:,} units received);"
        f" pledge {result.pledge}: {result.pledge_status}"
    )


@aid_app.command()
def trace(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="The item's code, e.g. PCR-TEST.")],
    lot: Annotated[str, typer.Argument(help="The lot.")],
    as_json: JsonOpt = False,
) -> None:
    """Where a lot came from: the stock ledger's receipts of it, each with its donor,
    shipment, pledge and the request or offer it answered."""
    from rich.table import Table

    from sitroom.aid import pipeline

    rt = app_context(ctx)
    with rt.session() as session:
        found = pipeline.trace_lot(session, item, lot, principal=principal(rt, session))
    if as_json:
        print_json(found.to_dict())
        return
    console.print(
        f"{found.item} lot {found.lot} (expires {found.expiry}):"
        f" {found.received:,} {found.unit}s received"
    )
    if not found.origins:
        console.print("no receipt of this lot that you may see")
        return
    table = Table(
        "received", "at", "quantity", "from", "shipment", "pledge", "answering", "signed by",
        "entry",
    )  # fmt: skip
    for o in found.origins:
        table.add_row(
            stamp(o.time, rt), o.facility, f"{o.quantity:,}", o.counterparty or "-",
            o.shipment or o.reference or "-", o.pledge or "-", o.request or o.offer or "-",
            o.received_by or "-", f"{o.entry} (batch {o.batch})",
        )  # fmt: skip
    console.print(table)


# The 3W table -----------------------------------------------------------------------


@aid_app.command("export")
def export_3w(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The file to write (default: standard output)."),
    ] = None,
    hxl: Annotated[
        bool, typer.Option("--hxl", help="Add the HXL hashtags as a second row.")
    ] = False,
    partner: PartnerOpt = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only pledges open, fulfilled or cancelled.")
    ] = None,
    formula_safe: Annotated[
        bool,
        typer.Option(
            "--formula-safe/--no-formula-safe",
            help="Prefix text cells starting with = + - @ tab or CR with ' so spreadsheets"
            " do not run them as formulas.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """The 3W table (who, what, where, when): one row per pledge line, with what was
    pledged, shipped and received (by the ledger), as CSV or HXL-tagged CSV; --json
    prints the rows (or, with -o, what was written) as JSON."""
    from zoneinfo import ZoneInfo

    from sitroom.aid.export import three_w, write_3w
    from sitroom.surveillance.export import check_output

    if output is not None and str(output) == "-":
        output = None
    if output is not None:
        check_output(output)
    rt = app_context(ctx)
    zone = ZoneInfo(rt.country.reporting.time_zone)
    with rt.session() as session:
        rows = three_w(
            session, partner=partner, status=status, principal=principal(rt, session), zone=zone
        )
    if as_json and output is None:
        print_json([r.to_dict() for r in rows])
        return
    written = write_3w(rows, output, hxl=hxl, neutralise_formulas=formula_safe)
    if output is None:
        return
    if as_json:
        print_json({"rows": written, "output": str(output), "hxl": hxl})
    else:
        console.print(f"wrote {written} rows to {output}" + (" (HXL)" if hxl else ""))
