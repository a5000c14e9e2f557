"""Aid coordination's dashboard pages as contexts (issue #12, items 4, 6 and 7).

One function per page, each a thin layer over the aid services the command line
and the API use, returning the dashboard's own :class:`Dashboard` (sections of
facts, sentences, tables and charts), so the page (``dashboard_body.html``, with
``aid_nav.html`` and ``aid_timeline.html``) and its JSON twin are the same
context, cached the same way:

- :func:`pipeline` (``/aid``): requests, offers, pledges and shipments by status,
  what is on its way and where (:func:`sitroom.aid.requests.list_requests`,
  :func:`~sitroom.aid.requests.list_offers`, :func:`sitroom.aid.pipeline.list_pledges`,
  :func:`~sitroom.aid.pipeline.list_shipments`, :func:`~sitroom.aid.pipeline.get_shipment`);
- :func:`gap` (``/aid/gap``): the gap by item and region
  (:func:`sitroom.aid.gap_service.gap_report`), or why it cannot be worked out;
- :func:`overdue` (``/aid/overdue``): what waits for an answer past its time
  (:func:`sitroom.aid.requests.overdue`);
- :func:`timeline` (``/aid/requests/{number}``, ``/aid/offers/{number}``): a
  request's or an offer's story (:func:`sitroom.aid.requests.timeline`).

Every page needs ``aid.read``; the services keep to the user's scopes. A record
marked ``illustrative`` (the demo's 2022 history) carries an "illustration" badge
wherever it is listed, and the page a banner saying what that means.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sitroom.auth.permissions import Permission, authorize
from sitroom.db import utcnow
from sitroom.errors import ForbiddenError, NotFoundError, SitroomError
from sitroom.server.web.dashboard_context import (
    OUTLINES_URL,
    Choice,
    Control,
    Controls,
    Dashboard,
)
from sitroom.server.web.supply_context import _item_choices, _local, _regions, main_item
from sitroom.sitrep import charts
from sitroom.sitrep.model import Chart, Column, Fact, Section, Sentence, Table, Value

if TYPE_CHECKING:
    from sitroom.aid.gap_service import GapReport, GapRow
    from sitroom.aid.pipeline import ShipmentView
    from sitroom.aid.requests import LineView, OfferView, RequestView
    from sitroom.auth.permissions import Principal
    from sitroom.context import AppContext

#: Most rows a table lists (the twin holds the same rows; the CLI and the API have all).
MAX_ROWS = 300
#: The key of the column that marks an illustrative record (a badge on the page).
MARK = "illustration"
#: How each status reads.
WORDS = {
    "un_agency": "UN agency",
    "email": "e-mail",
    "under_discussion": "under discussion",
    "partly_accepted": "partly accepted",
    "no_response": "no response",
    "under_review": "under review",
    "in_transit": "in transit",
    "at_border": "at the border",
    "partly_received": "partly received",
}
#: Shipments whose goods may still come (what is outstanding of them).
COMING = ("planned", "in_transit", "at_border", "arrived", "partly_received")
#: The gap's controls: days ahead (the forecasts' limit).
MOST_DAYS = 28


def word(status: str | None) -> str:
    return "" if status is None else WORDS.get(status, status.replace("_", " "))


# --- Shared -------------------------------------------------------------------------


def aid_version(context: AppContext) -> str:
    """What the aid pages depend on besides the surveillance data: the last step of
    any request, offer, pledge or shipment, message, receipt, partner and contact
    (one small query)."""
    from sqlalchemy import func, select

    from sitroom.aid.models import AidEvent, Contact, Message, Partner, Receipt

    with context.session() as session:
        got = session.execute(
            select(
                select(func.max(AidEvent.id)).scalar_subquery(),
                select(func.max(Message.id)).scalar_subquery(),
                select(func.max(Receipt.id)).scalar_subquery(),
                select(func.max(Partner.id)).scalar_subquery(),
                select(func.max(Contact.id)).scalar_subquery(),
            )
        ).one()
    return "a" + "-".join(str(x or 0) for x in got)


def minute() -> str:
    """The current minute (UTC): what is overdue changes with the clock, not only with
    the data, so the pages that say so are cached a minute at most."""
    return utcnow().strftime("%Y%m%d%H%M")


def _reader(principal: Principal) -> None:
    authorize(principal, Permission.AID_READ, None)


def _hours(context: AppContext) -> int:
    return context.country.aid.answer_hours


def _mark(illustrative: bool) -> str | None:
    return MARK if illustrative else None


def _marked(columns: list[Column], rows: list[dict[str, Value]]) -> list[Column]:
    """``columns`` with the illustration column after the first, when a row is marked."""
    if not any(r.get(MARK) for r in rows):
        for row in rows:
            row.pop(MARK, None)
        return columns
    return [columns[0], Column(key=MARK, label="Illustration", kind="text"), *columns[1:]]


def _lines_text(lines: tuple[LineView, ...] | list[Any]) -> str:
    return "; ".join(f"{line.item} {line.quantity:,}" for line in lines)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _page(
    context: AppContext,
    kind: Any,
    title: str,
    intro: str,
    sections: list[Section],
    *,
    controls: Controls | None = None,
    illustrative: bool = False,
    attributions: list[str] | None = None,
) -> Dashboard:
    return Dashboard(
        kind=kind,
        title=title,
        intro=intro,
        country=context.country.country.name,
        sections=sections,
        controls=controls,
        illustrative=illustrative,
        attributions=attributions or [],
    )


def _partner_choices(context: AppContext, principal: Principal) -> list[Choice]:
    from sitroom.aid.partners import list_partners

    with context.session() as session:
        found = list_partners(session, principal=principal)
    return [Choice(code="", name="Every partner")] + [
        Choice(code=p.code, name=f"{p.code} · {p.name}") for p in found
    ]


def _facility_regions(context: AppContext, codes: set[str]) -> dict[str, str | None]:
    """The region (its code) of each facility of ``codes``; None for the country's own
    (the national stockpile)."""
    from sqlalchemy import select

    from sitroom.places.models import OrgUnit
    from sitroom.supply.models import Facility

    if not codes:
        return {}
    with context.session() as session:
        rows = session.execute(
            select(Facility.code, OrgUnit.path)
            .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
            .where(Facility.code.in_(sorted(codes)))
        ).all()
    out: dict[str, str | None] = {}
    for code, path in rows:
        parts = str(path).strip("/").split("/")
        out[str(code)] = parts[1] if len(parts) >= 2 else None
    return out


def overdue_count(context: AppContext, principal: Principal) -> int | None:
    """How many answers are overdue in the user's scopes (None without ``aid.read``):
    the overview's marker."""
    from sitroom.aid.requests import overdue as late

    if not principal.can(Permission.AID_READ):
        return None
    with context.session() as session:
        return len(late(session, principal=principal, answer_hours=_hours(context)))


# --- /aid: the pipeline ------------------------------------------------------------------


def pipeline(context: AppContext, principal: Principal, *, partner: str | None) -> Dashboard:
    """Requests, offers, pledges and shipments with their status; what is on its way,
    where, and when it is expected."""
    from sitroom.aid import common
    from sitroom.aid import pipeline as chain
    from sitroom.aid import requests as asks

    _reader(principal)
    hours = _hours(context)
    with context.session() as session:
        if partner is not None:
            common.partner(session, partner)  # NotFoundError: a 404 page
        asked = asks.list_requests(session, principal=principal, partner=partner)
        offered = asks.list_offers(session, principal=principal, partner=partner)
        pledges = chain.list_pledges(session, principal=principal, partner=partner)
        shipments = chain.list_shipments(session, principal=principal, partner=partner)
        late = asks.overdue(session, principal=principal, answer_hours=hours)
        coming = [
            chain.get_shipment(session, s.number, principal=principal)
            for s in shipments
            if s.status in COMING and s.outstanding > 0
        ]
    if partner is not None:
        late = [o for o in late if o.partner == partner]
    controls = Controls(
        action="/aid",
        fields=[
            Control(
                name="partner",
                label="Partner",
                choices=_partner_choices(context, principal),
                value=partner or "",
            )
        ],
    )
    illustrative = (
        any(r.illustrative for r in asked)
        or any(o.illustrative for o in offered)
        or any(p.illustrative for p in pledges)
        or any(s.illustrative for s in shipments)
        or any(o.illustrative for o in late)
    )
    title = "Aid: the pipeline"
    intro = (
        "What was asked of whom, what was offered, pledged, shipped and received, over your"
        " scope" + (f", of {partner}" if partner else "") + "; newest first."
    )
    if not (asked or offered or pledges or shipments):
        empty = Section(
            key="pipeline",
            title="No aid recorded",
            notes=[
                "no request, offer, pledge or shipment is recorded in your scope"
                + (f" with {partner}" if partner else "")
                + ": record them with sitroom aid request|offer|pledge|ship (or the API,"
                " /api/v1/aid)"
            ],
        )
        return _page(context, "aid", title, intro, [empty], controls=controls)
    sections = [
        _status_section(
            asked=asked,
            offered=offered,
            pledges=pledges,
            shipments=shipments,
            coming=coming,
            late=late,
        ),
        _coming_section(context, coming),
        _requests_section(context, asked),
        _offers_section(context, offered),
        _pledges_section(context, pledges),
        _shipments_section(context, shipments),
    ]
    attributions = [context.country.map.attribution] if context.country.map else []
    return _page(
        context, "aid", title, intro, sections, controls=controls, illustrative=illustrative,
        attributions=[a for a in attributions if a],
    )  # fmt: skip


def _status_section(
    *,
    asked: list[RequestView],
    offered: list[OfferView],
    pledges: list[Any],
    shipments: list[Any],
    coming: list[ShipmentView],
    late: list[Any],
) -> Section:
    from sitroom.aid.models import (
        OFFER_STATUSES,
        PLEDGE_STATUSES,
        REQUEST_STATUSES,
        SHIPMENT_STATUSES,
    )
    from sitroom.aid.requests import OPEN_OFFER, OPEN_REQUEST

    counted = [
        ("Requests", REQUEST_STATUSES, Counter(r.status for r in asked)),
        ("Offers", OFFER_STATUSES, Counter(o.status for o in offered)),
        ("Pledges", PLEDGE_STATUSES, Counter(p.status for p in pledges)),
        ("Shipments", SHIPMENT_STATUSES, Counter(s.status for s in shipments)),
    ]
    rows: list[dict[str, Value]] = []
    for what, statuses, counts in counted:
        for status in statuses:
            if counts.get(status):
                rows.append({"what": what, "status": word(status), "count": counts[status]})
    waiting_partner = sum(1 for o in late if o.waiting_for == "partner")
    facts = [
        Fact(
            label="Requests awaiting an answer",
            value=sum(1 for r in asked if r.status in OPEN_REQUEST),
            note=f"of {_plural(len(asked), 'request')}",
        ),
        Fact(
            label="Offers awaiting our answer",
            value=sum(1 for o in offered if o.status in OPEN_OFFER),
            note=f"of {_plural(len(offered), 'offer')}",
        ),
        Fact(
            label="Pledges open",
            value=sum(1 for p in pledges if p.status == "open"),
            note=f"of {_plural(len(pledges), 'pledge')}",
        ),
        Fact(
            label="Shipments on their way",
            value=len(coming),
            note=f"{sum(1 for s in coming if s.status == 'at_border'):,} at the border",
        ),
        Fact(
            label="Answers overdue",
            value=len(late),
            note=f"{waiting_partner:,} from partners, {len(late) - waiting_partner:,} from us",
        ),
    ]
    sentences: list[Sentence] = []
    if late:
        sentences.append(
            Sentence(
                text=f"{_plural(len(late), 'answer is', 'answers are')} overdue (the Overdue"
                " page lists them).",
                severity="warning",
            )
        )
    return Section(
        key="pipeline",
        title="The pipeline by status",
        facts=facts,
        sentences=sentences,
        tables=[
            Table(
                key="statuses",
                title="Requests, offers, pledges and shipments by status",
                columns=[
                    Column(key="what", label="What", kind="text"),
                    Column(key="status", label="Status", kind="text"),
                    Column(key="count", label="Number"),
                ],
                rows=rows,
            )
        ],
    )


def _coming_section(context: AppContext, coming: list[ShipmentView]) -> Section:
    """The shipments on their way: where they are, where they go, when they are due;
    a map of how many are bound for each region."""
    regions_of = _facility_regions(context, {s.destination for s in coming})
    names = {r.code: r.name for r in _regions(context)}
    rows: list[dict[str, Value]] = []
    bound: dict[str, int] = defaultdict(int)
    national = 0
    for s in coming:
        region = regions_of.get(s.destination)
        if region is None:
            national += 1
        else:
            bound[region] += 1
        where = word(s.status)
        if s.status == "at_border":
            told = [s.border_crossing or ""]
            if s.customs_status:
                told.append(f"customs {word(s.customs_status)}")
            where += f" ({', '.join(t for t in told if t)})" if any(told) else ""
        rows.append(
            {
                "number": s.number,
                MARK: _mark(s.illustrative),
                "partner": s.partner_name,
                "items": "; ".join(
                    f"{line.item} {line.outstanding:,}" for line in s.lines if line.outstanding
                ),
                "outstanding": sum(line.outstanding for line in s.lines),
                "status": where,
                "destination": s.destination_name,
                "region": names.get(region, region) if region else "national",
                "expected": s.expected_at.isoformat() if s.expected_at else "",
                "departed": _local(context, s.departed_at),
                "border": s.border_crossing or "",
            }
        )
    columns = [
        Column(key="number", label="Shipment", kind="text"),
        Column(key="partner", label="From", kind="text"),
        Column(key="items", label="Items still to come", kind="text"),
        Column(key="outstanding", label="Units"),
        Column(key="status", label="Where it is", kind="text"),
        Column(key="destination", label="To", kind="text"),
        Column(key="region", label="Region", kind="text"),
        Column(key="expected", label="Expected", kind="text"),
        Column(key="departed", label="Left", kind="text"),
        Column(key="border", label="Border crossing", kind="text"),
    ]
    section_charts = []
    config = context.country.map
    if config is not None and coming:
        from sitroom.sitrep.builders import _geojson

        spec = charts.choropleth(
            _geojson(config.path(context.country.folder)),
            config.key,
            {code: bound.get(code) for code in names},
            names,
            title="Shipments on their way, by region",
            legend="shipments",
            number_format=",.0f",
        )
        section_charts.append(
            Chart(
                key="map_on_the_way",
                title=spec["title"],
                caption="Each region coloured by the shipments bound for its warehouse that"
                " have not arrived in full: darker is more. Grey: none."
                + (
                    f" Not on the map: {_plural(national, 'shipment')} to the national stockpile."
                    if national
                    else ""
                ),
                spec=charts.outlines_from(spec, OUTLINES_URL),
                attribution=config.attribution,
            )
        )
    return Section(
        key="coming",
        title="On its way",
        intro="Shipments that have not arrived in full: where they are, where they go and when"
        " they are expected (what arrived is the stock ledger's receipts under their number).",
        charts=section_charts,
        tables=[
            Table(
                key="coming",
                title="Shipments on their way",
                columns=_marked(columns, rows),
                rows=rows,
                caption="Times in the country's time zone; units still to come: shipped and"
                " not yet received.",
            )
        ]
        if rows
        else [],
        notes=[] if rows else ["nothing is on its way"],
    )


def _list_section(
    key: str,
    title: str,
    table_title: str,
    columns: list[Column],
    rows: list[dict[str, Value]],
    *,
    total: int,
    command: str,
    none: str,
    intro: str | None = None,
    caption: str = "",
) -> Section:
    """A section listing the first rows of ``total`` records (requests, offers,
    pledges, shipments): their table, or ``none`` when there is none, and where to see
    them all (``command``) when not all are shown."""
    tables = [Table(key=key, title=table_title, columns=_marked(columns, rows), rows=rows,
                    caption=caption)] if rows else []  # fmt: skip
    if total > len(rows):
        notes = [
            f"the first {len(rows):,} of {total:,} {key} are listed: see them all with {command}"
        ]
    else:
        notes = [] if rows else [none]
    return Section(key=key, title=title, intro=intro, tables=tables, notes=notes)


def _requests_section(context: AppContext, asked: list[RequestView]) -> Section:
    shown = asked[:MAX_ROWS]
    rows: list[dict[str, Value]] = [
        {
            "number": r.number,
            MARK: _mark(r.illustrative),
            "partner": r.partner_name,
            "channel": word(r.channel),
            "unit": r.unit_name,
            "status": word(r.status),
            "items": _lines_text(r.lines),
            "needed_by": r.needed_by.isoformat() if r.needed_by else "",
            "sent": _local(context, r.sent_at),
        }
        for r in shown
    ]
    columns = [
        Column(key="number", label="Request", kind="text"),
        Column(key="partner", label="Asked of", kind="text"),
        Column(key="items", label="Items asked", kind="text"),
        Column(key="status", label="Status", kind="text"),
        Column(key="unit", label="For", kind="text"),
        Column(key="needed_by", label="Needed by", kind="text"),
        Column(key="sent", label="Sent", kind="text"),
        Column(key="channel", label="Through", kind="text"),
    ]
    return _list_section(
        "requests", "Requests", "Requests, newest first", columns, rows,
        total=len(asked), command="sitroom aid request list", none="no request",
        intro="What was asked of whom, through which channel, for where; each request's"
        " history behind its number.",
    )  # fmt: skip


def _offers_section(context: AppContext, offered: list[OfferView]) -> Section:
    shown = offered[:MAX_ROWS]
    rows: list[dict[str, Value]] = [
        {
            "number": o.number,
            MARK: _mark(o.illustrative),
            "partner": o.partner_name,
            "channel": word(o.channel),
            "status": word(o.status),
            "items": _lines_text(o.lines),
            "received": _local(context, o.received_at),
            "answer_by": _local(context, o.answer_by),
            "conditions": o.conditions or "",
        }
        for o in shown
    ]
    columns = [
        Column(key="number", label="Offer", kind="text"),
        Column(key="partner", label="From", kind="text"),
        Column(key="items", label="Items offered", kind="text"),
        Column(key="status", label="Status", kind="text"),
        Column(key="answer_by", label="Answer by", kind="text"),
        Column(key="received", label="Received", kind="text"),
        Column(key="channel", label="Through", kind="text"),
        Column(key="conditions", label="Conditions", kind="text"),
    ]
    return _list_section(
        "offers", "Offers", "Offers, newest first", columns, rows,
        total=len(offered), command="sitroom aid offer list", none="no offer",
        intro="What partners offered, with their conditions and the deadline to answer; each"
        " offer's history behind its number.",
    )  # fmt: skip


def _pledges_section(context: AppContext, pledges: list[Any]) -> Section:
    shown = pledges[:MAX_ROWS]
    rows: list[dict[str, Value]] = [
        {
            "number": p.number,
            MARK: _mark(p.illustrative),
            "partner": p.partner,
            "answers": p.request or p.offer or "",
            "status": word(p.status),
            "pledged_at": _local(context, p.pledged_at),
            "expected_by": p.expected_by.isoformat() if p.expected_by else "",
            "pledged": p.pledged,
            "shipped": p.shipped,
            "received": p.received,
        }
        for p in shown
    ]
    columns = [
        Column(key="number", label="Pledge", kind="text"),
        Column(key="partner", label="Partner", kind="text"),
        Column(key="answers", label="Answers", kind="text"),
        Column(key="status", label="Status", kind="text"),
        Column(key="pledged_at", label="Pledged", kind="text"),
        Column(key="expected_by", label="Expected by", kind="text"),
        Column(key="pledged", label="Units pledged"),
        Column(key="shipped", label="Shipped"),
        Column(key="received", label="Received"),
    ]
    return _list_section(
        "pledges", "Pledges", "Pledges, newest first", columns, rows,
        total=len(pledges), command="sitroom aid pledge list", none="no pledge",
        caption="Units of every item together; received: the stock ledger's receipts under"
        " the pledge's shipments.",
    )  # fmt: skip


def _shipments_section(context: AppContext, shipments: list[Any]) -> Section:
    shown = shipments[:MAX_ROWS]
    rows: list[dict[str, Value]] = [
        {
            "number": s.number,
            MARK: _mark(s.illustrative),
            "partner": s.partner,
            "pledge": s.pledge,
            "status": word(s.status),
            "destination": s.destination,
            "departed": _local(context, s.departed_at),
            "arrived": _local(context, s.arrived_at),
            "shipped": s.shipped,
            "received": s.received,
        }
        for s in shown
    ]
    columns = [
        Column(key="number", label="Shipment", kind="text"),
        Column(key="partner", label="Partner", kind="text"),
        Column(key="pledge", label="Pledge", kind="text"),
        Column(key="status", label="Status", kind="text"),
        Column(key="destination", label="To", kind="text"),
        Column(key="departed", label="Left", kind="text"),
        Column(key="arrived", label="Arrived", kind="text"),
        Column(key="shipped", label="Units shipped"),
        Column(key="received", label="Received"),
    ]
    return _list_section(
        "shipments", "Shipments", "Shipments, latest step first", columns, rows,
        total=len(shipments), command="sitroom aid ship list", none="no shipment",
    )  # fmt: skip


# --- /aid/gap ---------------------------------------------------------------------------


def gap(
    context: AppContext,
    principal: Principal,
    *,
    item: str | None,
    horizon: int | None,
    end: date | None,
) -> Dashboard:
    """The gap by item and region: need over the horizon minus stock on hand minus the
    weighted pipeline, with the day each item runs out; or why it cannot be worked out."""
    from sitroom.aid.gap_service import gap_report
    from sitroom.server.web.supply_context import _check_item

    _reader(principal)
    _check_item(context, item)
    days = context.country.aid.horizon if horizon is None else horizon
    controls = Controls(
        action="/aid/gap",
        fields=[
            Control(
                name="item", label="Item by region",
                choices=_item_choices(context, every="The item most needed"), value=item or "",
            ),
            Control(name="horizon", label="Days ahead", kind="number", value=str(days),
                    hint=f"1 to {MOST_DAYS}"),
            Control(name="end", label="Forecast from the series up to", kind="date",
                    value=end.isoformat() if end else "",
                    hint="empty: its latest day; stock and pipeline as of its close (empty: now)"),
        ],
    )  # fmt: skip
    title = "Aid: the gap"
    intro = (
        f"What is missing over the next {_plural(days, 'day')}: the need (the supply chain's"
        " demand forecast, with its 90 % interval) minus the stock on hand minus the pipeline"
        " (pledged and shipped, each weighted by its partner's reliability so far), by item"
        " and region, with the day each item runs out if nothing arrives."
    )
    try:
        with context.session() as session:
            report = gap_report(
                session, context.country, horizon=days, end=end, principal=principal
            )
    except (ForbiddenError, NotFoundError):
        raise
    except SitroomError as exc:
        section = Section(
            key="gap",
            title="The gap cannot be worked out",
            sentences=[Sentence(text=_why(exc), severity="warning")],
            notes=[
                "the need is forecast from the regions' fever series: each region needs at"
                " least 11 days of new fever cases up to the day the forecast starts from;"
                " import them (sitroom import) or choose a later day"
            ],
            data={"error": str(exc)},
        )
        return _page(context, "gap", title, intro, [section], controls=controls)
    sections = [_gap_items(context, report)]
    sections.append(_gap_regions(context, report, item))
    if report.reliability:
        sections.append(_reliability(report))
    attributions = [context.country.map.attribution] if context.country.map else []
    return _page(
        context, "gap", title, intro, sections, controls=controls,
        attributions=[a for a in attributions if a],
    )  # fmt: skip


def _why(exc: Exception) -> str:
    """The reason the gap cannot be worked out, short: the first of the regions' reasons
    (they are alike), and how many there are."""
    text = str(exc)
    head, _, rest = text.partition(". ")
    if not rest:
        return text[:1].upper() + text[1:]
    alike = text.count("no demand worked out")
    more = f" The same for {alike - 1:,} other regions." if alike > 1 else ""
    return (head[:1].upper() + head[1:] + "." + more)[:600]


def _gap_columns(first: Column) -> list[Column]:
    return [
        first,
        Column(key="need", label="Need, median"),
        Column(key="need_lower", label="Need, 5 %"),
        Column(key="need_upper", label="Need, 95 %"),
        Column(key="stock", label="Stock on hand"),
        Column(key="pipeline", label="Pipeline"),
        Column(key="weighted", label="Pipeline, weighted"),
        Column(key="gap", label="Gap, median"),
        Column(key="gap_upper", label="Gap, up to"),
        Column(key="runs_out", label="Runs out", kind="text"),
    ]


def _gap_row(row: GapRow, first: dict[str, Value]) -> dict[str, Value]:
    d = row.to_dict()
    return {
        **first,
        "need": d["need_median"],
        "need_lower": d["need_lower"],
        "need_upper": d["need_upper"],
        "stock": d["stock"],
        "pipeline": d["pledged"] + d["shipped"],
        "weighted": round(row.pipeline_weighted),
        "gap": d["gap_median"],
        "gap_upper": d["gap_upper"],
        "runs_out": d["runs_out"] or "",
    }


def _gap_items(context: AppContext, report: GapReport) -> Section:
    """The national row of each item (the regions' rows for a regional user)."""
    national = [r for r in report.table if r.national]
    shown = national or list(report.table)
    facts = []
    for row in national:
        d = row.to_dict()
        facts.append(
            Fact(
                label=f"Gap of {row.item} ({row.unit}s)",
                value=d["gap_median"],
                low=d["gap_lower"],
                high=d["gap_upper"],
                note=f"runs out on {row.runs_out}"
                if row.runs_out
                else f"lasts the {report.horizon} days",
            )
        )
    short = [r for r in national if r.gap_median > 0]
    sentences = []
    if short:
        worst = min(short, key=lambda r: (r.runs_out or report.last_day, -r.gap_median))
        sentences.append(
            Sentence(
                text=f"{_plural(len(short), 'item')} of {len(national):,} will be short in the"
                f" country by {report.last_day}; the first to run out is {worst.item_name}"
                + (f", on {worst.runs_out}" if worst.runs_out else "")
                + f" ({worst.to_dict()['gap_median']:,} {worst.unit}s missing).",
                severity="warning",
            )
        )
    elif national:
        sentences.append(
            Sentence(
                text=f"Stock and pipeline cover the median need of every item up to"
                f" {report.last_day}.",
                severity="ok",
            )
        )
    rows = [_gap_row(r, {"item": f"{r.item} ({r.unit}s)", "place": r.name}) for r in shown]
    first = Column(key="item", label="Item", kind="text")
    columns = _gap_columns(first)
    if not national:
        columns.insert(1, Column(key="place", label="Region", kind="text"))
    else:
        for line in rows:
            line.pop("place")
    source = "the forecast" if report.source == "forecast" else f"the series {report.source}"
    return Section(
        key="gap",
        title="The gap in the country" if national else "The gap in your regions",
        intro=f"From {report.first_day} to {report.last_day} ({report.horizon} days), need"
        f" from {source}" + (f" ({report.model} model)" if report.model else "") + "; stock"
        " and pipeline "
        + (
            f"as they stood on {_local(context, report.as_of)} (the close of the day forecast"
            " from, in the country's time)."
            if report.as_of is not None
            else "as they are now."
        ),
        facts=facts,
        sentences=sentences,
        tables=[
            Table(
                key="gap_items",
                title="By item" if national else "By item and region",
                columns=columns,
                rows=rows,
                caption="Units of each item; need and gap rounded up, the 5 % and 95 % the"
                " need's 90 % interval; the pipeline: pledged and not shipped, shipped and not"
                " arrived, then weighted by each partner's reliability so far; runs out: the"
                " day the median need passes the stock if nothing arrives.",
            )
        ],
        notes=[*report.notes, report.note] if report.note else list(report.notes),
        data={"first_day": report.first_day.isoformat(), "last_day": report.last_day.isoformat()},
    )


def _gap_regions(context: AppContext, report: GapReport, item: str | None) -> Section:
    """One item's gap in each region: a map and a table."""
    regional = [r for r in report.table if not r.national]
    held = sorted({r.item for r in report.table})
    chosen = item if item in held else main_item(context, held) or (held[0] if held else None)
    rows_of = [r for r in regional if r.item == chosen]
    names = {r.code: r.name for r in _regions(context)}
    unit = rows_of[0].unit if rows_of else "unit"
    rows = [_gap_row(r, {"region": r.name}) for r in rows_of]
    short = [r for r in rows_of if r.gap_median > 0]
    section_charts = []
    config = context.country.map
    if config is not None and rows_of:
        from sitroom.sitrep.builders import _geojson

        values = {r.org_unit: float(r.to_dict()["gap_median"]) for r in rows_of}
        spec = charts.choropleth(
            _geojson(config.path(context.country.folder)),
            config.key,
            {code: values.get(code) for code in names},
            names,
            title=f"Gap of {chosen}, by region",
            legend=f"gap, {unit}s",
            number_format=",.0f",
        )
        section_charts.append(
            Chart(
                key="map_gap",
                title=spec["title"],
                caption=f"Each region coloured by the median gap of {chosen} over the"
                f" {report.horizon} days: darker is more missing. Grey: no figure (outside"
                " your scope, or no series to forecast from).",
                spec=charts.outlines_from(spec, OUTLINES_URL),
                attribution=config.attribution,
            )
        )
    return Section(
        key="regions",
        title=f"{chosen} by region" if chosen else "By region",
        intro=f"{_plural(len(short), 'region')} short of {chosen}." if rows_of else None,
        charts=section_charts,
        tables=[
            Table(
                key="gap_regions",
                title=f"The gap of {chosen} ({unit}s) by region",
                columns=_gap_columns(Column(key="region", label="Region", kind="text")),
                rows=rows,
                caption="A region's stock: its warehouse, stores, hospitals and pharmacies;"
                " its pipeline: pledges for it and shipments to its warehouse.",
            )
        ]
        if rows
        else [],
        notes=[] if rows else ["no region's gap to show"],
    )


def _reliability(report: GapReport) -> Section:
    rows: list[dict[str, Value]] = [
        {
            "partner": f"{p.code} · {p.name}",
            "pledged": p.pledged,
            "shipped": p.shipped,
            "pledge_lines": p.pledge_lines,
            "shipment_lines": p.shipment_lines,
        }
        for p in report.reliability
    ]
    return Section(
        key="reliability",
        title="Partners' reliability",
        intro="The share of what a partner pledged, and of what it shipped, that arrived, over"
        f" its settled lines, starting from {report.prior:g} pseudo-lines half delivered: the"
        " weight of its pipeline in the gap.",
        tables=[
            Table(
                key="reliability",
                title="Reliability by partner",
                columns=[
                    Column(key="partner", label="Partner", kind="text"),
                    Column(key="pledged", label="Pledged that arrived", kind="percent"),
                    Column(key="shipped", label="Shipped that arrived", kind="percent"),
                    Column(key="pledge_lines", label="Settled pledge lines"),
                    Column(key="shipment_lines", label="Settled shipment lines"),
                ],
                rows=rows,
            )
        ],
    )


# --- /aid/overdue -------------------------------------------------------------------------


def overdue(context: AppContext, principal: Principal) -> Dashboard:
    """What waits for an answer past its time, the longest first."""
    from sitroom.aid.requests import overdue as late

    _reader(principal)
    now = utcnow()
    with context.session() as session:
        found = late(session, principal=principal, at=now, answer_hours=_hours(context))
    illustrative = any(o.illustrative for o in found)
    title = "Aid: overdue answers"
    intro = (
        f"Messages that wait for an answer past their time ({_hours(context)} hours after they"
        " were sent, unless they name their own), and offers not answered by their deadline,"
        f" over your scope, as of {_local(context, now)}; the longest overdue first."
    )
    rows: list[dict[str, Value]] = [
        {
            "about": o.about,
            MARK: _mark(o.illustrative),
            "partner": o.partner_name,
            "summary": o.summary,
            "waiting_for": "the partner's answer" if o.waiting_for == "partner" else "our answer",
            "due": _local(context, o.due),
            "late": round(o.hours_overdue / 24, 2),
            "since": _local(context, o.since),
        }
        for o in found[:MAX_ROWS]
    ]
    columns = [
        Column(key="about", label="About", kind="text"),
        Column(key="partner", label="Partner", kind="text"),
        Column(key="summary", label="What waits", kind="text"),
        Column(key="waiting_for", label="Waiting for", kind="text"),
        Column(key="due", label="Due", kind="text"),
        Column(key="late", label="Overdue by", kind="days"),
        Column(key="since", label="Since", kind="text"),
    ]
    ours = sum(1 for o in found if o.waiting_for == "us")
    sentences: list[Sentence] = []
    if found:
        first = found[0]
        sentences.append(
            Sentence(
                text=f"{_plural(len(found), 'answer is', 'answers are')} overdue; the longest: "
                + ("the partner's" if first.waiting_for == "partner" else "our")
                + f" answer on {first.about} ({first.partner_name}), due"
                f" {_local(context, first.due)}.",
                severity="warning",
            )
        )
    section = Section(
        key="overdue",
        title="Overdue answers",
        facts=[
            Fact(label="Answers overdue", value=len(found)),
            Fact(label="Waiting for a partner", value=len(found) - ours),
            Fact(label="Waiting for us", value=ours),
        ],
        sentences=sentences,
        tables=[
            Table(
                key="overdue",
                title="Overdue, the longest first",
                columns=_marked(columns, rows),
                rows=rows,
                caption="Times in the country's time zone; each request's or offer's history"
                " behind its number.",
            )
        ]
        if rows
        else [],
        notes=[] if found else ["nothing waits for an answer past its time"],
    )
    return _page(context, "overdue", title, intro, [section], illustrative=illustrative)


# --- /aid/requests/{number}, /aid/offers/{number} ------------------------------------------


def timeline(context: AppContext, principal: Principal, number: str, kind: str) -> Dashboard:
    """A request's or an offer's story, oldest first: every status change, message (with
    whether it was answered), pledge, shipment step and receipt."""
    from sitroom.aid import pipeline as chain
    from sitroom.aid import requests as asks

    _reader(principal)
    prefix = "REQ-" if kind == "request" else "OFF-"
    if not number.startswith(prefix):
        raise NotFoundError(f"no aid {kind} {number!r}")
    hours = _hours(context)
    now = utcnow()
    with context.session() as session:
        story = asks.timeline(
            session, number, principal=principal, at=now, answer_hours=hours,
            zone=ZoneInfo(context.country.reporting.time_zone),
        )  # fmt: skip
        said = asks.messages(session, number, principal=principal, at=now, answer_hours=hours)
        record: RequestView | OfferView = (
            asks.get_request(session, number, principal=principal)
            if kind == "request"
            else asks.get_offer(session, number, principal=principal)
        )
        pledges = chain.list_pledges(
            session,
            principal=principal,
            request=number if kind == "request" else None,
            offer=number if kind == "offer" else None,
        )
    illustrative = record.illustrative or any(m.illustrative for m in said)
    entries = _entries(context, story.entries, said, record.illustrative)
    facts = _record_facts(context, record)
    late = sum(1 for m in said if m.overdue)
    facts.append(Fact(label="Messages", value=len(said), note=f"{late:,} overdue"))
    sentences: list[Sentence] = []
    if late:
        sentences.append(
            Sentence(
                text=f"{_plural(late, 'message waits', 'messages wait')} for an answer past"
                f" {'its' if late == 1 else 'their'} time.",
                severity="warning",
            )
        )
    head = Section(
        key="record",
        title=f"{record.number}: {word(record.status)}",
        intro=record.reason if kind == "request" else record.conditions,  # type: ignore[union-attr]
        facts=facts,
        sentences=sentences,
        tables=[_lines_table(record, kind)],
    )
    story_section = Section(
        key="timeline",
        title="Timeline",
        intro="Every step, oldest first, in the country's time zone.",
        notes=[] if entries else ["nothing recorded yet"],
        data={"timeline": entries},
    )
    sections = [head, story_section]
    if pledges:
        sections.append(_pledges_section(context, pledges))
    what = "Request" if kind == "request" else "Offer"
    title = f"Aid: {kind} {number}"
    intro = (
        f"{what} {'to' if kind == 'request' else 'from'} {record.partner_name}"
        f" ({record.partner}) through {word(record.channel)}, for {record.unit_name}."
    )
    return _page(context, "timeline", title, intro, sections, illustrative=illustrative)


def _record_facts(context: AppContext, record: RequestView | OfferView) -> list[Fact]:
    from sitroom.aid.requests import RequestView

    facts = [
        Fact(label="Status", value=word(record.status), kind="text",
             note=f"since {_local(context, record.status_at)}"),
        Fact(label="Partner", value=record.partner_name, kind="text", note=record.partner),
        Fact(label="Channel", value=word(record.channel), kind="text"),
        Fact(label="For", value=record.unit_name, kind="text", note=record.unit),
    ]  # fmt: skip
    if isinstance(record, RequestView):
        facts.append(
            Fact(
                label="Needed by",
                value=record.needed_by.isoformat() if record.needed_by else "not said",
                kind="text",
                note=f"sent {_local(context, record.sent_at)}" if record.sent_at else "not sent",
            )
        )
    else:
        facts.append(
            Fact(
                label="Answer by",
                value=_local(context, record.answer_by) or "no deadline",
                kind="text",
                note=f"received {_local(context, record.received_at)}",
            )
        )
    return facts


def _lines_table(record: RequestView | OfferView, kind: str) -> Table:
    if kind == "request":
        return Table(
            key="lines",
            title="Items asked",
            columns=[
                Column(key="item", label="Item", kind="text"),
                Column(key="quantity", label="Asked"),
                Column(key="accepted", label="Accepted"),
                Column(key="pledged", label="Pledged"),
            ],
            rows=[
                {
                    "item": f"{line.item} · {line.name} ({line.unit}s)",
                    "quantity": line.quantity,
                    "accepted": line.accepted,
                    "pledged": line.pledged,
                }
                for line in record.lines
            ],
            caption="Accepted: what the partner agreed to (empty: not answered yet); pledged:"
            " on its pledges not cancelled.",
        )
    return Table(
        key="lines",
        title="Items offered",
        columns=[
            Column(key="item", label="Item", kind="text"),
            Column(key="quantity", label="Offered"),
            Column(key="expiry", label="Goods expire", kind="text"),
        ],
        rows=[
            {
                "item": f"{line.item} · {line.name} ({line.unit}s)",
                "quantity": line.quantity,
                "expiry": line.expiry.isoformat() if line.expiry else "",
            }
            for line in record.lines
        ],
    )


#: What each kind of timeline entry is called on the page.
ENTRY_KINDS = {
    "status": "Status",
    "message": "Message",
    "pledge": "Pledge",
    "shipment": "Shipment",
    "receipt": "Receipt",
}


def _entries(
    context: AppContext, entries: Any, said: list[Any], illustrative: bool
) -> list[dict[str, Any]]:
    """The timeline's entries as the page lists them, each message with whether it is
    overdue and illustrative (the messages come in the same order as in the timeline);
    every entry of an illustrative request or offer is illustrative."""
    messages = iter(said)
    out = []
    for entry in entries:
        message = next(messages, None) if entry.what == "message" else None
        moment: datetime = entry.time
        out.append(
            {
                "time": moment.isoformat(),
                "local": _local(context, moment),
                "what": entry.what,
                "label": ENTRY_KINDS.get(entry.what, entry.what),
                "subject": entry.subject,
                "text": entry.text,
                "by": entry.by,
                "status": entry.status,
                "overdue": bool(message and message.overdue),
                "illustrative": illustrative or bool(message and message.illustrative),
            }
        )
    return out


__all__ = [
    "aid_version",
    "gap",
    "minute",
    "overdue",
    "overdue_count",
    "pipeline",
    "timeline",
]
