"""The supply chain's dashboard pages as contexts (issue #11, item 12).

One function per page, each a thin layer over the supply services the command
line uses, returning the dashboard's own :class:`Dashboard` (sections of
facts, sentences, tables and charts), so the page (``dashboard_body.html``)
and its JSON twin are the same context, cached the same way:

- :func:`overview` (``/supply``): stock by region on the map (days of stock,
  or the share of pharmacies and hospitals out, of one item) and the stock by
  level (:func:`sitroom.supply.indicators.indicators`,
  :func:`sitroom.supply.service.stock_picture`);
- :func:`stockouts` (``/supply/stockouts``): :func:`sitroom.supply.indicators.alerts`;
- :func:`orders` (``/supply/orders``): :func:`sitroom.supply.orders.orders_and_lead_times`
  (the orders and their lead times per region and carrier kind, from one read);
- :func:`allocation` (``/supply/allocation``):
  :func:`sitroom.supply.planning.plan_allocation`, read-only;
- :func:`investigations` (``/supply/investigations``): the ranked suspects
  (:func:`sitroom.supply.detection_service.ranked_suspects`, cached per data version:
  slow on a big ledger; the API serves the same) and the cases
  (:func:`sitroom.supply.inspections.list_cases`).

Every page needs ``stock.read``; the services keep to the user's scopes. A
banner marks the pages when the ledger holds simulated entries.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sitroom.auth.permissions import Permission, authorize
from sitroom.errors import SitroomError
from sitroom.server.web.dashboard_context import (
    OUTLINES_URL,
    Choice,
    Control,
    Controls,
    Dashboard,
    _places,
)
from sitroom.sitrep import charts
from sitroom.sitrep.model import Chart, Column, Fact, Section, Sentence, Table, Value

if TYPE_CHECKING:
    from sitroom.auth.permissions import Principal
    from sitroom.context import AppContext
    from sitroom.supply.detection_service import Suspects
    from sitroom.supply.indicators import IndicatorReport

#: Most alerts and orders a page lists (the twin holds the same rows; the CLI has all).
MAX_ROWS = 300
#: The levels of the chain, top down (as the report's table).
LEVELS = (
    ("stockpile", "Stockpile"),
    ("warehouse", "Warehouses"),
    ("store", "District stores"),
    ("hospital", "Hospitals"),
    ("pharmacy", "Pharmacies"),
)
#: What the overview's map shows.
MEASURES = {"days": "Days of stock", "out": "Pharmacies and hospitals out of stock, %"}
#: The maps' titles (short: the map is 300 px wide).
MAP_TITLES = {"days": "Days of stock", "out": "Out of stock, %"}
SIMULATED = (
    "The stock ledger holds a simulated supply history (sitroom simulate supply): these"
    " figures show how the pages read, not what happened."
)
READ_ONLY_PLAN = (
    "Computing a plan here writes nothing. To act on it, approve the same plan on the"
    " command line (sitroom supply allocate --item ITEM --from SOURCE --approve): its order"
    " lines become draft distribution orders, to approve and dispatch there."
)


# --- Shared -------------------------------------------------------------------------


def supply_version(context: AppContext) -> str:
    """What the supply pages depend on besides the surveillance data: the last ledger
    batch, order step, case, case note and inspection (one small query)."""
    from sqlalchemy import func, select

    from sitroom.supply.models import Case, CaseNote, Inspection, OrderEvent, StockBatch

    with context.session() as session:
        got = session.execute(
            select(
                select(func.max(StockBatch.id)).scalar_subquery(),
                select(func.max(OrderEvent.id)).scalar_subquery(),
                select(func.max(Case.id)).scalar_subquery(),
                select(func.max(CaseNote.id)).scalar_subquery(),
                select(func.max(Inspection.id)).scalar_subquery(),
            )
        ).one()
    return "s" + "-".join(str(x or 0) for x in got)


def _reader(principal: Principal) -> None:
    authorize(principal, Permission.STOCK_READ, None)


def _zone(context: AppContext) -> ZoneInfo:
    return ZoneInfo(context.country.reporting.time_zone)


def ledger_day(context: AppContext) -> date:
    """The local day of the ledger's latest entry (today when it is empty, or later):
    the supply pages' default day, so that a history loaded from the past reads as then."""
    from sqlalchemy import func, select

    from sitroom.supply.models import StockEntry

    zone = _zone(context)
    today = datetime.now(zone).date()
    with context.session() as session:
        latest: datetime | None = session.scalar(select(func.max(StockEntry.time)))
    if latest is None:
        return today
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=UTC)
    return min(latest.astimezone(zone).date(), today)


def _simulated(context: AppContext) -> bool:
    from sqlalchemy import select

    from sitroom.supply.models import StockEntry

    with context.session() as session:
        return (
            session.scalar(select(StockEntry.id).where(StockEntry.simulated).limit(1)) is not None
        )


def _banner(simulated: bool) -> list[Sentence]:
    return [Sentence(text=SIMULATED, severity="warning")] if simulated else []


def _regions(context: AppContext, principal: Principal | None = None) -> list[Choice]:
    """The reporting level's units (the regions), those in the user's scopes when given."""
    from sitroom.server.web.dashboard_context import _paths

    level = context.country.reporting.reporting_level
    paths = _paths(context)
    return [
        Choice(code=p.code, name=p.name, name_local=p.name_local)
        for p in _places(context)
        if p.level == level and (principal is None or principal.covers(paths[p.code]))
    ]


def _items(context: AppContext) -> list[tuple[str, str, str]]:
    """The catalogue: (code, name, unit) of every item."""
    from sqlalchemy import select

    from sitroom.supply.models import Item

    with context.session() as session:
        return [
            (code, name, unit)
            for code, name, unit in session.execute(
                select(Item.code, Item.name, Item.unit).order_by(Item.code)
            )
        ]


def _item_choices(context: AppContext, *, every: str | None = None) -> list[Choice]:
    out = [Choice(code="", name=every)] if every else []
    return out + [Choice(code=code, name=f"{code} · {name}") for code, name, _ in _items(context)]


def main_item(context: AppContext, held: list[str]) -> str | None:
    """The item the protocols need most of (paracetamol for the DPRK), among ``held``."""
    supply = context.country.supply
    weights: dict[str, float] = defaultdict(float)
    for protocol in supply.protocols if supply else []:
        for item, units in protocol.items.items():
            weights[item] += protocol.share * units
    pool = [i for i in held if i in weights] or held
    return max(pool, key=lambda i: (weights.get(i, 0.0), i)) if pool else None


def _check_item(context: AppContext, item: str | None) -> None:
    if item is not None and item not in {code for code, _, _ in _items(context)}:
        from sitroom.errors import NotFoundError

        raise NotFoundError(f"unknown item {item!r}")


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _day_control(day: date) -> Control:
    return Control(name="day", label="Day", kind="date", value=day.isoformat())


def _page(
    context: AppContext,
    kind: Any,
    title: str,
    intro: str,
    sections: list[Section],
    *,
    day: date | None,
    controls: Controls | None,
    simulated: bool,
    attributions: list[str] | None = None,
) -> Dashboard:
    country = context.country
    return Dashboard(
        kind=kind,
        title=title,
        intro=intro,
        country=country.country.name,
        period=day,
        period_label=day.isoformat() if day else None,
        sections=sections,
        controls=controls,
        simulated=simulated,
        attributions=attributions or [],
    )


def _indicators(
    context: AppContext,
    principal: Principal,
    day: date,
    *,
    item: str | None = None,
    under: str | None = None,
) -> IndicatorReport:
    from sitroom.supply.indicators import indicators

    with context.session() as session:
        return indicators(
            session,
            context.country,
            day=day,
            item=item,
            under=under,
            level=context.country.reporting.reporting_level,
            principal=principal,
        )


# --- /supply: stock by region and by level ---------------------------------------------


def overview(
    context: AppContext,
    principal: Principal,
    *,
    item: str | None,
    measure: str,
    day: date | None,
) -> Dashboard:
    """Stock of one item by region on the map, and every item's stock by level."""
    _reader(principal)
    if measure not in MEASURES:
        raise SitroomError(f"unknown measure {measure!r}: choose days or out")
    _check_item(context, item)
    day = day or ledger_day(context)
    simulated = _simulated(context)
    report = _indicators(context, principal, day)
    held = sorted({row.item for row in report.facilities})
    item = item or main_item(context, held) or (held[0] if held else None)
    controls = Controls(
        action="/supply",
        fields=[
            Control(name="item", label="Item", choices=_item_choices(context), value=item or ""),
            Control(
                name="measure",
                label="Map",
                choices=[Choice(code=k, name=v) for k, v in MEASURES.items()],
                value=measure,
            ),
            _day_control(day),
        ],
    )
    title = "Supply: stock by region"
    intro = (
        f"Stock at the end of {day.isoformat()} ({context.country.reporting.time_zone}), from the"
        f" stock ledger, over your scope; use over the last {report.window_days} days."
    )
    if not report.facilities or item is None:
        empty = Section(
            key="stock",
            title="Stock",
            sentences=_banner(simulated),
            notes=[
                "the stock ledger holds nothing in your scope by this day: receive stock"
                " (sitroom supply receive, or import a file), or simulate a history"
                " (sitroom simulate supply)"
            ],
        )
        return _page(
            context, "supply", title, intro, [empty], day=day, controls=controls,
            simulated=simulated,
        )  # fmt: skip
    unit = next((r.unit for r in report.facilities if r.item == item), "unit")
    regions = _regions(context)
    names = {r.code: r.name for r in regions}
    areas = [a for a in report.areas if a.item == item]
    sections = [
        _map_section(context, item, unit, measure, areas=areas, names=names, simulated=simulated),
        _level_section(context, principal, report, day),
    ]
    attributions = [context.country.map.attribution] if context.country.map else []
    return _page(
        context, "supply", title, intro, sections, day=day, controls=controls,
        simulated=simulated, attributions=[a for a in attributions if a],
    )  # fmt: skip


def _map_section(
    context: AppContext,
    item: str,
    unit: str,
    measure: str,
    *,
    areas: list[Any],
    names: dict[str, str],
    simulated: bool,
) -> Section:
    usable = sum(a.usable for a in areas)
    use = sum(a.daily_use for a in areas)
    dispensers = sum(a.dispensing_facilities for a in areas)
    out = sum(a.out_now for a in areas)
    facts = [
        Fact(
            label=f"Usable stock of {item} in the regions ({unit}s)",
            value=usable,
            note="warehouses, stores, pharmacies and hospitals",
        ),
        Fact(
            label="Days of stock",
            value=_finite(usable / use) if use > 0 else None,
            kind="days",
            note=f"at {use:,.1f} {unit}s a day dispensed" if use > 0 else "no dispensing recorded",
        ),
        Fact(
            label="Pharmacies and hospitals out of stock",
            value=out,
            note=f"of {dispensers:,} that hold or held {item}",
        ),
    ]
    rows: list[dict[str, Value]] = []
    values: dict[str, float | None] = {}
    for a in areas:
        share = a.out_now / a.dispensing_facilities if a.dispensing_facilities else None
        days = _finite(a.days_of_stock)
        values[a.org_unit] = (
            days if measure == "days" else (share * 100 if share is not None else None)
        )
        rows.append(
            {
                "region": names.get(a.org_unit, a.name),
                "facilities": a.facilities,
                "dispensing": a.dispensing_facilities,
                "out": a.out_now,
                "share_out": share,
                "usable": a.usable,
                "daily_use": round(a.daily_use, 1),
                "days": days,
            }
        )
    table = Table(
        key="regions",
        title=f"{item} by region",
        columns=[
            Column(key="region", label="Region", kind="text"),
            Column(key="facilities", label="Facilities"),
            Column(key="dispensing", label="Pharmacies and hospitals"),
            Column(key="out", label="Out of stock"),
            Column(key="share_out", label="Share out", kind="percent"),
            Column(key="usable", label=f"Usable stock ({unit}s)"),
            Column(key="daily_use", label="Dispensed a day"),
            Column(key="days", label="Days of stock", kind="days"),
        ],
        rows=rows,
        caption="Usable stock of every facility in the region (warehouse, stores, pharmacies,"
        " hospitals) over what its pharmacies and hospitals dispense a day; out of stock: those"
        " with no usable stock left that had held the item.",
    )
    section_charts = []
    config = context.country.map
    if config is not None:
        from sitroom.sitrep.builders import _geojson

        days_map = measure == "days"
        spec = charts.choropleth(
            _geojson(config.path(context.country.folder)),
            config.key,
            {code: values.get(code) for code in names},
            names,
            title=f"{MAP_TITLES[measure]}: {item}",
            legend="days of stock" if days_map else "out of stock, %",
            number_format=".0f",
        )
        if days_map and "color" in spec["encoding"]:
            # Fewer days is worse: the darker end of the scale for the shortest stock.
            spec["encoding"]["color"]["scale"] = {"scheme": "viridis"}
        section_charts.append(
            Chart(
                key="map_supply",
                title=spec["title"],
                caption=(
                    f"Each region coloured by the days its usable stock of {item} lasts at the"
                    " rate its pharmacies and hospitals dispense: darker is fewer days."
                    if days_map
                    else f"Each region coloured by the share of its pharmacies and hospitals"
                    f" with no usable {item} left: darker is more."
                )
                + " Grey: no figure (nothing held, or nothing dispensed).",
                spec=charts.outlines_from(spec, OUTLINES_URL),
                attribution=config.attribution,
            )
        )
    return Section(
        key="stock",
        title=f"{item} by region",
        sentences=_banner(simulated),
        facts=facts,
        charts=section_charts,
        tables=[table],
    )


def _level_section(
    context: AppContext, principal: Principal, report: IndicatorReport, day: date
) -> Section:
    by_level: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    units: dict[str, str] = {}
    for held in report.facilities:
        by_level[held.item][held.facility_type] += held.on_hand
        units[held.item] = held.unit
    country = context.country.country.code
    national = principal.covers(f"/{country}/")
    transit: dict[str, int] = {}
    if national:
        from sitroom.supply.service import stock_picture

        end = datetime.combine(day + timedelta(days=1), time(0), _zone(context)).astimezone(UTC)
        with context.session() as session:
            picture = stock_picture(
                session, end, region_level=context.country.reporting.reporting_level
            )
        transit = picture.in_transit
    rows: list[dict[str, Value]] = []
    for item in sorted(by_level):
        row: dict[str, Value] = {"item": f"{item} ({units[item]}s)"}
        row.update({kind: by_level[item].get(kind, 0) for kind, _ in LEVELS})
        if national:
            row["transit"] = transit.get(item, 0)
        rows.append(row)
    columns = [
        Column(key="item", label="Item", kind="text"),
        *(Column(key=kind, label=label) for kind, label in LEVELS),
    ]
    if national:
        columns.append(Column(key="transit", label="In transit"))
    return Section(
        key="levels",
        title="Stock by level",
        intro="Units on hand at the end of the day at each level of the chain"
        + (", and sent but not yet received." if national else ", in your scope."),
        tables=[
            Table(
                key="levels",
                title="Stock by level",
                columns=columns,
                rows=rows,
                caption="Every lot on hand, expired ones included (the map counts usable stock).",
            )
        ],
    )


# --- /supply/stockouts ---------------------------------------------------------------------


def stockouts(
    context: AppContext,
    principal: Principal,
    *,
    item: str | None,
    kind: str | None,
    region: str | None,
    day: date | None,
) -> Dashboard:
    """Stock-outs and the other alerts of :func:`sitroom.supply.indicators.alerts`."""
    from sitroom.supply.indicators import ALERT_KINDS, alerts

    _reader(principal)
    _check_item(context, item)
    if kind is not None and kind not in ALERT_KINDS:
        raise SitroomError(f"unknown alert kind {kind!r}; choose among {', '.join(ALERT_KINDS)}")
    day = day or ledger_day(context)
    simulated = _simulated(context)
    with context.session() as session:
        found = alerts(
            session,
            context.country,
            day=day,
            item=item,
            under=region,
            kinds=[kind] if kind else None,
            principal=principal,
        )
    names = {r.code: r.name for r in _regions(context)}
    counts: dict[str, int] = defaultdict(int)
    for a in found:
        counts[a.kind] += 1
    labels = {
        "stock_out": "Out of stock",
        "low_stock": "Low stock",
        "expired": "Expired stock on hand",
        "expiring": "Stock expiring soon",
    }
    facts = [
        Fact(label=labels[k], value=counts.get(k, 0)) for k in ALERT_KINDS if not kind or k == kind
    ]
    # Stock-outs of pharmacies and hospitals per region and item.
    out: dict[tuple[str, str], int] = defaultdict(int)
    for a in found:
        if a.kind == "stock_out" and a.facility_type in ("pharmacy", "hospital"):
            out[(a.region or "", a.item)] += 1
    items = sorted({i for _, i in out})
    per_region: list[dict[str, Value]] = []
    for code in sorted({r for r, _ in out}):
        row: dict[str, Value] = {"region": names.get(code, code)}
        row.update({f"out{n}": out.get((code, i), 0) for n, i in enumerate(items)})
        per_region.append(row)
    tables = []
    if per_region:
        tables.append(
            Table(
                key="stockouts",
                title="Pharmacies and hospitals out of stock, by region",
                columns=[
                    Column(key="region", label="Region", kind="text"),
                    *(Column(key=f"out{n}", label=f"{i}: out") for n, i in enumerate(items)),
                ],
                rows=per_region,
                caption="Those with no usable stock left of an item they had held.",
            )
        )
    shown = found[:MAX_ROWS]
    if found:
        tables.append(
            Table(
                key="alerts",
                title="Alerts, the most urgent first",
                columns=[
                    Column(key="facility", label="Facility", kind="text"),
                    Column(key="kind", label="Alert", kind="text"),
                    Column(key="item", label="Item", kind="text"),
                    Column(key="region", label="Region", kind="text"),
                    Column(key="sentence", label="What", kind="text"),
                ],
                rows=[
                    {
                        "facility": a.facility,
                        "kind": labels.get(a.kind, a.kind),
                        "item": a.item,
                        "region": names.get(a.region or "", a.region),
                        "sentence": a.sentence,
                    }
                    for a in shown
                ],
            )
        )
    notes = []
    if len(found) > len(shown):
        notes.append(
            f"the first {len(shown):,} of {len(found):,} alerts are listed: narrow by item,"
            " kind or region, or see them all with sitroom supply alerts"
        )
    if not found:
        notes.append("no alert at the end of the day in your scope")
    sentences = _banner(simulated)
    if counts.get("stock_out"):
        sentences.append(
            Sentence(
                text=f"{counts['stock_out']:,} facility-item pair"
                + (" has" if counts["stock_out"] == 1 else "s have")
                + " no usable stock left.",
                severity="error",
            )
        )
    controls = Controls(
        action="/supply/stockouts",
        fields=[
            Control(
                name="item", label="Item", choices=_item_choices(context, every="Every item"),
                value=item or "",
            ),
            Control(
                name="kind",
                label="Alert",
                choices=[Choice(code="", name="Every alert")]
                + [Choice(code=k, name=labels[k]) for k in ALERT_KINDS],
                value=kind or "",
            ),
            Control(
                name="region",
                label="Region",
                choices=[
                    Choice(code="", name="Every region in your scope"),
                    *_regions(context, principal),
                ],
                value=region or "",
            ),
            _day_control(day),
        ],
    )  # fmt: skip
    section = Section(
        key="alerts",
        title="Stock-outs and alerts",
        intro="Days of stock below the threshold set per item and facility type, stock-outs,"
        " expired and expiring stock ([supply.thresholds] of the country; sitroom supply alerts).",
        facts=facts,
        sentences=sentences,
        tables=tables,
        notes=notes,
    )
    return _page(
        context, "stockouts", "Supply: stock-outs and alerts",
        f"The alerts at the end of {day.isoformat()}, over your scope.", [section], day=day,
        controls=controls, simulated=simulated,
    )  # fmt: skip


# --- /supply/orders ---------------------------------------------------------------------------


def _days_of(hours: float | None) -> float | None:
    return None if hours is None else round(hours / 24.0, 2)


def _lead_table(key: str, title: str, label: str, report: Any, names: dict[str, str]) -> Table:
    rows: list[dict[str, Value]] = []
    for group in report.groups:
        steps = group.steps
        rows.append(
            {
                "group": " · ".join(names.get(part, part) for part in group.group.split(" ")),
                "orders": group.orders,
                "approval": _days_of(steps["approval"].median),
                "dispatch": _days_of(steps["dispatch"].median),
                "transit": _days_of(steps["transit"].median),
                "transit_p90": _days_of(steps["transit"].p90),
                "chain": _days_of(steps["chain"].median),
                "delivered": steps["transit"].n,
            }
        )
    return Table(
        key=key,
        title=title,
        columns=[
            Column(key="group", label=label, kind="text"),
            Column(key="orders", label="Orders"),
            Column(key="delivered", label="Delivered"),
            Column(key="approval", label="Approval, median", kind="days"),
            Column(key="dispatch", label="To dispatch, median", kind="days"),
            Column(key="transit", label="Transit, median", kind="days"),
            Column(key="transit_p90", label="Transit, 90th percentile", kind="days"),
            Column(key="chain", label="Stockpile to shelf, median", kind="days"),
        ],
        rows=rows,
        caption="Days from each step to the next (medians over the orders that reached it);"
        " stockpile to shelf: from the dispatch of the first leg of the order's chain to its"
        " delivery.",
    )


def _army_sentence(report: Any) -> Sentence | None:
    """Whether the army was faster than civil transport, on the median transit."""
    by = {g.group: g.steps["transit"] for g in report.groups}
    army, civil = by.get("army"), by.get("civil")
    if army is None or civil is None or army.median is None or civil.median is None:
        return None
    a, c = army.median / 24.0, civil.median / 24.0
    if abs(a - c) < 0.05:
        text = "The army was about as fast as civil transport"
    elif a < c:
        text = f"The army was faster than civil transport, by {c - a:,.1f} days"
    else:
        text = f"The army was slower than civil transport, by {a - c:,.1f} days"
    return Sentence(
        text=f"{text}: a median transit of {a:,.1f} days over {army.n:,} delivered orders,"
        f" against {c:,.1f} days over {civil.n:,}.",
        severity="info",
    )


def orders(context: AppContext, principal: Principal, *, status: str | None) -> Dashboard:
    """Distribution orders with their status, and lead times per region and carrier kind."""
    from sitroom.supply import orders as service
    from sitroom.supply.models import ORDER_STATUSES

    _reader(principal)
    if status is not None and status not in ORDER_STATUSES:
        raise SitroomError(f"unknown status {status!r}: choose one of {', '.join(ORDER_STATUSES)}")
    simulated = _simulated(context)
    names = {r.code: r.name for r in _regions(context)}
    with context.session() as session:
        every, lead_times = service.orders_and_lead_times(
            session, by=("region", "carrier_kind", "region_carrier_kind"), principal=principal
        )
    by_region, by_carrier = lead_times["region"], lead_times["carrier_kind"]
    by_both = lead_times["region_carrier_kind"]
    counts: dict[str, int] = defaultdict(int)
    for row in every:
        counts[row.status] += 1
    listed = [row for row in every if status is None or row.status == status]
    shown = listed[:MAX_ROWS]
    overall = by_region.overall.steps
    facts = [Fact(label=f"Orders {s}", value=counts.get(s, 0)) for s in ORDER_STATUSES]
    facts.append(
        Fact(
            label="Transit, median",
            value=_days_of(overall["transit"].median),
            kind="days",
            note=f"over {overall['transit'].n:,} delivered orders",
        )
    )
    sentences = _banner(simulated)
    army = _army_sentence(by_carrier)
    if army is not None:
        sentences.append(army)
    lead = Section(
        key="lead_times",
        title="Lead times",
        intro="Whether the army was faster: the days each step took, per carrier kind and per"
        " region (of the destination). Cancelled orders are left out.",
        facts=facts,
        sentences=sentences,
        tables=[
            _lead_table("by_carrier", "By carrier kind", "Carrier", by_carrier, names),
            _lead_table("by_region", "By region", "Region", by_region, names),
            _lead_table(
                "by_region_carrier", "By region and carrier kind", "Region · carrier",
                by_both, names,
            ),
        ],
        notes=[] if every else ["no distribution orders in your scope yet"],
    )  # fmt: skip
    listing = Section(
        key="orders",
        title="Orders" + (f" ({status})" if status else ""),
        tables=[
            Table(
                key="orders",
                title="Orders, newest first",
                columns=[
                    Column(key="number", label="Order", kind="text"),
                    Column(key="status", label="Status", kind="text"),
                    Column(key="source", label="From", kind="text"),
                    Column(key="destination", label="To", kind="text"),
                    Column(key="region", label="Region", kind="text"),
                    Column(key="carrier", label="Carrier", kind="text"),
                    Column(key="units", label="Units"),
                    Column(key="created", label="Created", kind="text"),
                    Column(key="delivered", label="Delivered", kind="text"),
                ],
                rows=[
                    {
                        "number": r.number,
                        "status": r.status,
                        "source": r.source,
                        "destination": r.destination,
                        "region": names.get(r.region, r.region),
                        "carrier": r.carrier_kind or "",
                        "units": r.units,
                        "created": _local(context, r.created_at),
                        "delivered": _local(context, r.delivered_at),
                    }
                    for r in shown
                ],
            )
        ]
        if shown
        else [],
        notes=(
            [
                f"the first {len(shown):,} of {len(listed):,} orders are listed: see them all"
                " with sitroom supply orders list"
            ]
            if len(listed) > len(shown)
            else []
        ),
    )
    controls = Controls(
        action="/supply/orders",
        fields=[
            Control(
                name="status",
                label="Status",
                choices=[Choice(code="", name="Every status")]
                + [Choice(code=s, name=s) for s in ORDER_STATUSES],
                value=status or "",
            )
        ],
    )
    return _page(
        context, "orders", "Supply: orders and lead times",
        "Distribution orders from the stockpile to the pharmacies, with their status, and how"
        " long each step took: per region and per carrier (the army, civil transport).",
        [lead, listing], day=None, controls=controls, simulated=simulated,
    )  # fmt: skip


def _local(context: AppContext, moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_zone(context)).strftime("%Y-%m-%d %H:%M")


# --- /supply/allocation ----------------------------------------------------------------------


def sources(context: AppContext, principal: Principal) -> list[Choice]:
    """The facilities the user may plan from: stockpiles, warehouses and stores where
    they may write stock."""
    from sqlalchemy import select

    from sitroom.places.models import OrgUnit
    from sitroom.supply.models import Facility

    if not principal.can(Permission.STOCK_WRITE):
        return []
    order = {"stockpile": 0, "warehouse": 1, "store": 2}
    with context.session() as session:
        rows = session.execute(
            select(Facility.code, Facility.name, Facility.type, OrgUnit.path)
            .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
            .where(Facility.type.in_(list(order)))
        ).all()
    rows = sorted(rows, key=lambda r: (order[r[2]], r[0]))
    return [
        Choice(code=code, name=f"{code} · {name}")
        for code, name, _kind, path in rows
        if principal.covers(path)
    ]


#: The allocation form's parameters and their defaults.
PLAN_DEFAULTS: dict[str, Any] = {
    "level": "region",
    "horizon": 14,
    "floor_days": 3.0,
    "weights": "fever",
}


def allocation(
    context: AppContext,
    principal: Principal,
    *,
    item: str | None,
    source: str | None,
    level: str,
    horizon: int,
    floor_days: float,
    weights: str,
    day: date | None,
) -> Dashboard:
    """A plan for one item from one source: who gets what and why, what stays unmet,
    which limit binds. Computing is read-only (the plan is not stored)."""
    from sitroom.supply.planning import LEVELS as PLAN_LEVELS
    from sitroom.supply.planning import WEIGHTS, plan_allocation, proposed_orders

    _reader(principal)
    _check_item(context, item)
    offered = sources(context, principal)
    source = source or (offered[0].code if offered else None)
    simulated = _simulated(context)
    controls = Controls(
        action="/supply/allocation",
        button="Plan",
        fields=[
            Control(
                name="item", label="Item",
                choices=[Choice(code="", name="Choose an item"), *_item_choices(context)],
                value=item or "",
            ),
            Control(name="source", label="From", choices=offered, value=source or ""),
            Control(
                name="level", label="To",
                choices=[
                    Choice(code="region", name="the regions (their warehouses)"),
                    Choice(code="pharmacy", name="the pharmacies below it"),
                ],
                value=level,
            ),
            Control(name="horizon", label="Days ahead", kind="number", value=str(horizon)),
            Control(
                name="floor_days", label="Floor, days of stock", kind="number",
                value=f"{floor_days:g}",
            ),
            Control(
                name="weights", label="Weights",
                choices=[
                    Choice(code="fever", name="fever per 100,000"),
                    Choice(code="population", name="population"),
                    Choice(code="equal", name="equal"),
                ],
                value=weights,
            ),
            Control(
                name="day", label="Day", kind="date", value=day.isoformat() if day else "",
                hint="empty: today",
            ),
        ],
    )  # fmt: skip
    title = "Supply: allocation"
    intro = (
        "Share the scarce stock of a source to minimise the weighted unmet need over the"
        " coming days, with a floor of days of stock for everyone where possible."
    )
    note = Sentence(text=READ_ONLY_PLAN, severity="info")
    if level not in PLAN_LEVELS:
        raise SitroomError(f"unknown level {level!r}: choose region or pharmacy")
    if weights not in WEIGHTS:
        raise SitroomError(f"unknown weights {weights!r}: choose {', '.join(WEIGHTS)}")
    if not offered:
        section = Section(
            key="plan",
            title="No source you may plan from",
            sentences=[*_banner(simulated), note],
            notes=[
                "a plan ships stock from a stockpile, warehouse or store: it needs stock.write"
                " there (a logistician's role)"
            ],
        )
        return _page(
            context, "allocation", title, intro, [section], day=day, controls=controls,
            simulated=simulated,
        )  # fmt: skip
    if item is None:
        section = Section(
            key="plan",
            title="Choose an item",
            sentences=[*_banner(simulated), note],
            notes=["choose the item to share and its source above, then Plan"],
        )
        return _page(
            context, "allocation", title, intro, [section], day=day, controls=controls,
            simulated=simulated,
        )  # fmt: skip
    with context.session() as session:
        plan = plan_allocation(
            session,
            context.country,
            items=[item],
            source=source or "",
            level=level,
            horizon=horizon,
            floor_days=floor_days,
            weights=weights,
            day=day,
            principal=principal,
        )
    data = plan.to_dict()
    unit = plan.units.get(item, "unit")
    rows = plan.rows()
    given = sum(r["given"] for r in rows)
    unmet = sum(r["unmet"] for r in rows)
    facts = [
        Fact(
            label=f"Usable stock of {item} at {plan.source} ({unit}s)",
            value=plan.stock.get(item, 0),
        ),
        Fact(label="Given", value=given),
        Fact(label="Unmet need", value=unmet),
        Fact(
            label="Weighted unmet need",
            value=data["weighted_unmet_share"],
            kind="percent",
            note="share of the weighted shortfall left unmet",
        ),
    ]
    binding = plan.binding()
    sentences = [*_banner(simulated), note]
    sentences += [Sentence(text=s, severity="info") for s in plan.allocation.sentences]
    if binding["stock"]:
        sentences.append(
            Sentence(
                text=f"The stock binds: all of {', '.join(binding['stock'])} at {plan.source}"
                " is given out.",
                severity="warning",
            )
        )
    if binding["floor_not_met"]:
        short = sorted({f["destination"] for f in binding["floor_not_met"]})
        sentences.append(
            Sentence(
                text=f"The floor of {plan.floor_days:g} days of stock is not met at"
                f" {len(short):,} destination{'s' if len(short) != 1 else ''}: "
                + ", ".join(short[:10])
                + (" ..." if len(short) > 10 else "")
                + ".",
                severity="warning",
            )
        )
    if binding["capacity"]:
        sentences.append(
            Sentence(
                text="Route capacity binds at " + ", ".join(binding["capacity"]) + ".",
                severity="warning",
            )
        )
    shown = [r for r in rows if r["shortfall"] > 0 or r["given"] > 0][:MAX_ROWS]
    table = Table(
        key="plan",
        title=f"Who gets what: {item}",
        columns=[
            Column(key="destination", label="Destination", kind="text"),
            Column(key="name", label="Place", kind="text"),
            Column(key="need", label=f"Need, {plan.horizon} days"),
            Column(key="on_hand", label="On hand"),
            Column(key="daily_use", label="Used a day", kind="ratio"),
            Column(key="given", label="Gets"),
            Column(key="unmet", label="Unmet"),
            Column(key="days_of_stock", label="Days of stock after", kind="days"),
            Column(key="why", label="Why", kind="text"),
        ],
        rows=[{c: r[c] for c in (
            "destination", "name", "need", "on_hand", "daily_use", "given", "unmet",
            "days_of_stock", "why",
        )} for r in shown],
        caption="Need: the forecast of fever cases over the days ahead times the protocols;"
        " the destinations with a shortfall or given anything.",
    )  # fmt: skip
    lines = proposed_orders(plan)
    section = Section(
        key="plan",
        title=f"Plan for {item} from {plan.source}",
        intro=f"{plan.level.capitalize()} level, {plan.horizon} days ahead, a floor of"
        f" {plan.floor_days:g} days, weights: {plan.weighting}; stock as on {plan.day}.",
        facts=facts,
        sentences=sentences,
        tables=[table] if shown else [],
        notes=[
            *plan.notes,
            f"{len(lines):,} order line{'s' if len(lines) != 1 else ''} proposed (not created)",
        ],
        data={"binding": binding, "status": plan.allocation.status},
    )
    return _page(
        context, "allocation", title, intro, [section], day=plan.day, controls=controls,
        simulated=simulated,
    )  # fmt: skip


# --- /supply/investigations --------------------------------------------------------------------


def investigations(context: AppContext, principal: Principal) -> Dashboard:
    """The ranked suspects (``stock.write`` over the country) and the cases the user may
    see (``stock.write`` over their facility)."""
    from sitroom.errors import ForbiddenError
    from sitroom.supply.detection_service import authorize_suspects, ranked_suspects
    from sitroom.supply.inspections import count_cases, list_cases

    _reader(principal)
    simulated = _simulated(context)
    sections = []
    try:
        authorize_suspects(context, principal)
        national = True
    except ForbiddenError:
        national = False
    if national:
        try:
            found = ranked_suspects(context, top=20, principal=principal)
        except SitroomError as exc:
            sections.append(
                Section(
                    key="suspects",
                    title="Facilities to investigate",
                    sentences=_banner(simulated),
                    notes=[f"not available: {exc}"],
                )
            )
        else:
            sections.append(_suspects_section(found, simulated))
    else:
        sections.append(
            Section(
                key="suspects",
                title="Facilities to investigate",
                sentences=_banner(simulated),
                notes=[
                    "the ranked suspects compare every facility with its neighbours across the"
                    " country: they are shown to users with stock.write over the whole country"
                ],
            )
        )
    with context.session() as session:
        counts = count_cases(session, principal=principal)
        cases = list_cases(session, principal=principal, limit=MAX_ROWS)
    closed = counts.get("closed", 0)
    sections.append(
        Section(
            key="cases",
            title="Investigation cases",
            intro="Cases opened from a finding, an inspection or a report (sitroom supply"
            " investigate), with their evidence frozen when opened; those of the facilities"
            " where you may write stock.",
            facts=[
                Fact(label="Open cases", value=sum(counts.values()) - closed),
                Fact(label="Closed cases", value=closed),
            ],
            tables=[
                Table(
                    key="cases",
                    title="Cases, newest first",
                    columns=[
                        Column(key="id", label="Case", kind="text"),
                        Column(key="facility", label="Facility", kind="text"),
                        Column(key="status", label="Status", kind="text"),
                        Column(key="title", label="Title", kind="text"),
                        Column(key="opened", label="Opened", kind="text"),
                    ],
                    rows=[
                        {
                            "id": str(c["id"]),
                            "facility": c["facility"],
                            "status": c["status"],
                            "title": c["title"],
                            "opened": _local(context, datetime.fromisoformat(c["opened_at"])),
                        }
                        for c in cases
                    ],
                )
            ]
            if cases
            else [],
            notes=[] if cases else ["no case you may see"],
        )
    )
    return _page(
        context, "investigations", "Supply: investigations",
        "Hoarding and diversion: the facilities whose ledger stands out, each with the sentence"
        " that says why, and the investigation cases.",
        sections, day=None, controls=None, simulated=simulated,
    )  # fmt: skip


def _suspects_section(found: Suspects, simulated: bool) -> Section:
    return Section(
        key="suspects",
        title="Facilities to investigate",
        intro=f"The {len(found.findings)} facilities with the strongest evidence of"
        f" {found.facilities:,} judged, over {found.days} days from {found.start}"
        " (sitroom supply suspects; the signals are in docs/methods.md).",
        sentences=_banner(simulated),
        tables=[
            Table(
                key="suspects",
                title="Ranked facilities",
                columns=[
                    Column(key="rank", label="Rank", kind="text"),
                    Column(key="facility", label="Facility", kind="text"),
                    Column(key="score", label="Score", kind="ratio"),
                    Column(key="sentence", label="Why", kind="text"),
                ],
                rows=[
                    {
                        "rank": str(f.rank),
                        "facility": f.facility,
                        "score": round(f.score, 3),
                        "sentence": f.sentence,
                    }
                    for f in found.findings
                ],
            )
        ]
        if found.findings
        else [],
        notes=found.notes if found.findings else [*found.notes, "no facility stands out"],
    )


__all__ = [
    "MEASURES",
    "PLAN_DEFAULTS",
    "allocation",
    "investigations",
    "ledger_day",
    "main_item",
    "orders",
    "overview",
    "sources",
    "stockouts",
    "supply_version",
]
