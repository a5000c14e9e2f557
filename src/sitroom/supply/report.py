"""The situation report's section on medicines (issue #11, item 12).

The stock of the chain at the close of the period (its window's end, 18:00 in
Pyongyang): units per item at each level, pharmacies out of each item per
region (those that had received it and hold none), what is in transit, and
the open investigation cases. Built from the supply services, never SQL. Left
out of the report when the ledger holds nothing yet; marked when the history
is simulated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sitroom.sitrep.model import Chart, Column, Fact, Section, Sentence, Table
from sitroom.sitrep.sections import Inputs, section

if TYPE_CHECKING:
    from sitroom.supply.service import StockPicture

#: The levels of the chain, top down, as the table shows them.
LEVELS = (
    ("stockpile", "Stockpile"),
    ("warehouse", "Warehouses"),
    ("store", "District stores"),
    ("hospital", "Hospitals"),
    ("pharmacy", "Pharmacies"),
)


@section("supply", "Medicines", order=950)
def medicines(inputs: Inputs) -> Section | None:
    from sitroom.sitrep import charts
    from sitroom.supply.inspections import cases_open
    from sitroom.supply.service import stock_picture

    if inputs.country.supply is None:
        return None
    from zoneinfo import ZoneInfo

    _, close = inputs.context.calendar.window(inputs.period)
    local = close.astimezone(ZoneInfo(inputs.country.reporting.time_zone))
    with inputs.context.session() as session:
        picture = stock_picture(
            session, close, region_level=inputs.country.reporting.reporting_level
        )
        open_cases = cases_open(session)
    if picture.entries == 0:
        return None
    items = sorted(picture.by_level)
    rows = []
    for item in items:
        levels = picture.by_level[item]
        row: dict[str, object] = {"item": f"{item} ({picture.units[item]}s)"}
        row.update({kind: levels.get(kind, 0) for kind, _ in LEVELS})
        row["transit"] = picture.in_transit.get(item, 0)
        rows.append(row)
    stock = Table(
        key="supply-stock",
        title="Stock by level",
        columns=[
            Column(key="item", label="Item", kind="text"),
            *(Column(key=kind, label=label) for kind, label in LEVELS),
            Column(key="transit", label="In transit"),
        ],
        rows=rows,
        caption=f"Units on hand at {local:%Y-%m-%d %H:%M} ({inputs.country.reporting.time_zone}),"
        " the close of the period, from the stock ledger; in transit: sent and not yet received.",
    )
    names = {p.code: p.name for p in inputs.reporters}
    facts = []
    sentences = []
    main = _main_item(inputs, items)
    for item in items:
        regions = picture.pharmacies.get(item, {})
        supplied = sum(n for n, _ in regions.values())
        out = sum(o for _, o in regions.values())
        if supplied:
            facts.append(
                Fact(
                    label=f"Pharmacies out of {item}",
                    value=out,
                    note=f"of {supplied:,} supplied with it",
                )
            )
            worst = max(regions.items(), key=lambda kv: kv[1][1] / kv[1][0] if kv[1][0] else 0)
            if worst[1][1]:
                sentences.append(
                    Sentence(
                        text=f"{out:,} of {supplied:,} pharmacies had no {item} left at the close"
                        f" of the period; the largest share in {names.get(worst[0], worst[0])}"
                        f" ({worst[1][1]:,} of {worst[1][0]:,}).",
                        severity="warning" if out / supplied >= 0.05 else "info",
                    )
                )
    if open_cases:
        sentences.append(
            Sentence(
                text=f"{open_cases:,} investigation case{'s are' if open_cases != 1 else ' is'}"
                " open on hoarding or diversion (sitroom supply investigate list).",
                severity="warning",
            )
        )
    if picture.simulated:
        sentences.insert(
            0,
            Sentence(
                text="The stock ledger holds a simulated supply history (sitroom simulate"
                " supply): these figures show how the report reads, not what happened.",
                severity="warning",
            ),
        )
    section_charts = []
    config = inputs.country.map
    if config is not None and main in picture.pharmacies:
        from sitroom.sitrep.builders import _geojson

        share = {
            code: (o / n * 100 if n else None) for code, (n, o) in picture.pharmacies[main].items()
        }
        spec = charts.choropleth(
            _geojson(config.path(inputs.country.folder)),
            config.key,
            {p.code: share.get(p.code) for p in inputs.reporters},
            names,
            title=f"Pharmacies out of {main}",
            legend="pharmacies out of stock, %",
            number_format=".0f",
        )
        section_charts.append(
            Chart(
                key="map_stockout",
                title=spec["title"],
                caption=f"Each region coloured by the share of its pharmacies supplied with {main}"
                " that had none left at the close of the period: darker is more. Grey: none"
                " supplied.",
                spec=spec,
                attribution=config.attribution,
            )
        )
    return Section(
        key="supply",
        title="Medicines",
        intro="Stock of the supply chain from the state stockpile to the pharmacies, as the"
        " stock ledger gives it.",
        facts=facts,
        sentences=sentences,
        charts=section_charts,
        tables=[
            stock,
            _stockouts(picture, items, names, [p.code for p in inputs.reporters]),
        ],
        data=picture.to_dict(),
    )


def _stockouts(
    picture: StockPicture, items: list[str], names: dict[str, str], regions: list[str]
) -> Table:
    """Pharmacies out of each item, a row per region and two columns per item."""
    from sitroom.sitrep.model import Value

    rows: list[dict[str, Value]] = []
    for code in regions:
        row: dict[str, Value] = {"region": names.get(code, code)}
        for n, item in enumerate(items):
            supplied, out = picture.pharmacies.get(item, {}).get(code, (0, 0))
            row[f"out{n}"] = out if supplied else None
            row[f"share{n}"] = out / supplied if supplied else None
        rows.append(row)
    columns = [Column(key="region", label="Region", kind="text")]
    for n, item in enumerate(items):
        columns += [
            Column(key=f"out{n}", label=f"{item}: out"),
            Column(key=f"share{n}", label="share", kind="percent"),
        ]
    return Table(
        key="supply-stockouts",
        title="Pharmacies out of stock, by region",
        columns=columns,
        rows=rows,
        caption="Pharmacies with none left at the close of the period, and their share of those"
        " that had received the item; empty: none supplied with it.",
    )


def _main_item(inputs: Inputs, items: list[str]) -> str:
    """The item most protocols need most of (paracetamol for the DPRK): the map's."""
    supply = inputs.country.supply
    weights: dict[str, float] = {}
    for protocol in supply.protocols if supply else []:
        for item, units in protocol.items.items():
            weights[item] = weights.get(item, 0.0) + protocol.share * units
    held = [i for i in items if i in weights] or items
    return max(held, key=lambda i: weights.get(i, 0.0))
