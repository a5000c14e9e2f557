"""``sitroom supply ...``: the stock ledger from the command line (issue #11, item 12).

Thin commands over :mod:`sitroom.supply.service` and :mod:`sitroom.supply.ledger`;
``--json`` everywhere. A refused movement exits 1 with every reason, and
nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sitroom.cli.app import app, app_context, console, err_console, print_json
from sitroom.cli.options import JsonOpt
from sitroom.cli.text import styled

if TYPE_CHECKING:
    from sitroom.context import AppContext
    from sitroom.supply.ledger import Movement, PostSummary

supply_app = typer.Typer(
    help="Medical supply: the stock ledger, stock on hand, its checks.", no_args_is_help=True
)
app.add_typer(supply_app, name="supply")

#: Rejections printed (``--json`` gives every one).
MAX_SHOWN = 20

FacilityOpt = Annotated[
    str, typer.Option("--facility", help="Facility code, e.g. PH-KP-04-CHANGGANG-001.")
]
ItemOpt = Annotated[str, typer.Option("--item", help="Item code, e.g. PARA-500.")]
QuantityOpt = Annotated[
    int, typer.Option("--quantity", help="Whole units of the item (a count for a stocktake).")
]
LotOpt = Annotated[
    str | None, typer.Option("--lot", help="Lot code (default: the lots first to expire).")
]
TimeOpt = Annotated[
    str | None,
    typer.Option(
        "--time",
        help="When it happened: 2022-05-20T10:30 (local time), with an offset, or a day"
        " (noon); default now.",
    ),
]
ReferenceOpt = Annotated[
    str | None, typer.Option("--reference", help="Document or order reference.")
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Check only; write nothing.")]


def _when(rt: AppContext, text: str | None) -> datetime:
    from zoneinfo import ZoneInfo

    from sitroom.errors import SitroomError
    from sitroom.supply.events_csv import parse_time

    zone = ZoneInfo(rt.country.reporting.time_zone)
    if text is None:
        return datetime.now(zone)
    try:
        return parse_time(text, zone)
    except ValueError as exc:
        raise SitroomError(f"--time: {exc}") from None


def print_post(summary: PostSummary, *, what: str = "posted") -> None:
    """A post's summary for people: what was written, or every refusal."""
    if summary.previous_batch is not None:
        when = summary.previously_imported
        console.print(
            f"{summary.source}: already posted as stock batch {summary.previous_batch}"
            + (f" on {when:%Y-%m-%d %H:%M} UTC" if when else "")
            + ": nothing was written again."
        )
        return
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.kinds.items())) or "none"
    if summary.ok:
        done = "checked (dry run, nothing written)" if summary.dry_run else what
        batch = f" as stock batch {summary.batch_id}" if summary.batch_id else ""
        console.print(
            f"{summary.source}: {summary.movements} movement{'s' if summary.movements != 1 else ''}"
            f" {done}{batch}: {summary.entries} ledger entries ({kinds})"
        )
        return
    for rejection in summary.rejections[:MAX_SHOWN]:
        where = rejection.location(summary.source)
        err_console.print(styled("  [red]refused[/] {}: {}", where, rejection.reason))
    if summary.rejected > MAX_SHOWN:
        err_console.print(f"  ... and {summary.rejected - MAX_SHOWN} more (--json lists them all)")
    err_console.print(
        styled(
            "[bold red]Nothing was written[/]: {} of {} movements refused.",
            summary.rejected,
            summary.movements,
        )
    )


def _post(ctx: typer.Context, movement: Movement, *, as_json: bool, dry_run: bool = False) -> None:
    from zoneinfo import ZoneInfo

    from sitroom.auth.service import acting_principal
    from sitroom.supply.ledger import Ledger

    rt = app_context(ctx)
    with rt.session(write=True) as session:
        who = acting_principal(session, rt.settings.user)
        summary = Ledger(
            session,
            user=rt.settings.user,
            channel="cli",
            principal=who,
            lock_timeout=rt.settings.lock_timeout,
            zone=ZoneInfo(rt.country.reporting.time_zone),
        ).post([movement], source=f"sitroom supply {movement.event}", dry_run=dry_run)
    if as_json:
        print_json(summary.to_dict())
    else:
        print_post(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _movement(ctx: typer.Context, when: str | None, **fields: object) -> Movement:
    from sitroom.supply.ledger import Movement

    rt = app_context(ctx)
    return Movement(time=_when(rt, when), **fields)  # type: ignore[arg-type]


def _expiry(text: str | None) -> object:
    from datetime import date

    from sitroom.errors import SitroomError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SitroomError(f"--expiry: {text!r} is not a date (2024-12-31)") from None


@supply_app.command()
def receive(
    ctx: typer.Context,
    facility: FacilityOpt,
    item: ItemOpt,
    quantity: QuantityOpt,
    lot: Annotated[str, typer.Option("--lot", help="The lot received.")],
    expiry: Annotated[
        str | None, typer.Option("--expiry", help="Its expiry date (needed for a new lot).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--from", help="Who sent it: procurement, or the donor of aid."),
    ] = None,
    reference: ReferenceOpt = None,
    when: TimeOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Receive stock from procurement or aid (a new lot needs its expiry)."""
    movement = _movement(
        ctx,
        when,
        event="receipt",
        facility=facility,
        item=item,
        quantity=quantity,
        lot=lot,
        expiry=_expiry(expiry),
        counterparty=source,
        reference=reference,
    )
    _post(ctx, movement, as_json=as_json, dry_run=dry_run)


@supply_app.command()
def transfer(
    ctx: typer.Context,
    facility: Annotated[str, typer.Option("--from", help="The facility sending.")],
    destination: Annotated[str, typer.Option("--to", help="The facility receiving.")],
    item: ItemOpt,
    quantity: QuantityOpt,
    reference: Annotated[str, typer.Option("--reference", help="The transfer's reference.")],
    lot: LotOpt = None,
    arrived: Annotated[
        bool,
        typer.Option(
            "--arrived", help="Record the arrival at --to (what was sent under the reference)."
        ),
    ] = False,
    when: TimeOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Send stock along a route (in transit until it arrives), or record its arrival."""
    if arrived:
        movement = _movement(
            ctx,
            when,
            event="transfer_in",
            facility=destination,
            counterparty=facility,
            item=item,
            quantity=quantity,
            lot=lot,
            reference=reference,
        )
    else:
        movement = _movement(
            ctx,
            when,
            event="transfer_out",
            facility=facility,
            counterparty=destination,
            item=item,
            quantity=quantity,
            lot=lot,
            reference=reference,
        )
    _post(ctx, movement, as_json=as_json, dry_run=dry_run)


@supply_app.command()
def dispense(
    ctx: typer.Context,
    facility: FacilityOpt,
    item: ItemOpt,
    quantity: QuantityOpt,
    patients: Annotated[
        int | None, typer.Option("--patients", help="Patients treated with it.", min=0)
    ] = None,
    lot: LotOpt = None,
    when: TimeOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Dispense to patients (first-expiry-first-out unless --lot)."""
    movement = _movement(
        ctx,
        when,
        event="dispense",
        facility=facility,
        item=item,
        quantity=quantity,
        lot=lot,
        patients=patients,
    )
    _post(ctx, movement, as_json=as_json, dry_run=dry_run)


@supply_app.command()
def adjust(
    ctx: typer.Context,
    facility: FacilityOpt,
    item: ItemOpt,
    quantity: QuantityOpt,
    reason: Annotated[
        str,
        typer.Option("--reason", help="expired, damaged, lost, stolen (remove) or found (add)."),
    ],
    lot: LotOpt = None,
    expiry: Annotated[
        str | None, typer.Option("--expiry", help="Expiry of a found new lot.")
    ] = None,
    when: TimeOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Adjust stock with a reason: removed (expired, damaged, lost, stolen) or found."""
    movement = _movement(
        ctx,
        when,
        event="adjust",
        facility=facility,
        item=item,
        quantity=quantity,
        reason=reason,
        lot=lot,
        expiry=_expiry(expiry),
    )
    _post(ctx, movement, as_json=as_json, dry_run=dry_run)


@supply_app.command()
def stocktake(
    ctx: typer.Context,
    facility: FacilityOpt,
    item: ItemOpt,
    counted: Annotated[int, typer.Option("--counted", help="Units counted on the shelf.", min=0)],
    lot: LotOpt = None,
    when: TimeOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Record a physical count: the difference with the ledger becomes an adjustment."""
    movement = _movement(
        ctx, when, event="stocktake", facility=facility, item=item, quantity=counted, lot=lot
    )
    _post(ctx, movement, as_json=as_json, dry_run=dry_run)


@supply_app.command()
def reverse(
    ctx: typer.Context,
    batch: Annotated[int, typer.Argument(help="The stock batch to reverse (its number).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the ledger).")],
    as_json: JsonOpt = False,
) -> None:
    """Correct a batch with reversal entries (the ledger is never edited)."""
    from sitroom.auth.service import acting_principal
    from sitroom.supply import service

    rt = app_context(ctx)
    with rt.session(write=True) as session:
        who = acting_principal(session, rt.settings.user)
        summary = service.reverse(
            session, batch, reason=reason, user=rt.settings.user, principal=who
        )
    if as_json:
        print_json(summary.to_dict())
    else:
        print_post(summary, what="reversed")
    if not summary.ok:
        raise typer.Exit(1)


@supply_app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="CSV: time,event,facility,item,lot,expiry,quantity,...")
    ],
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import stock events from CSV: every row or none; the same file once."""
    from zoneinfo import ZoneInfo

    from sitroom.auth.service import acting_principal
    from sitroom.supply import service

    rt = app_context(ctx)
    with rt.session(write=True) as session:
        who = acting_principal(session, rt.settings.user)
        summary = service.import_events(
            session,
            path,
            ZoneInfo(rt.country.reporting.time_zone),
            user=rt.settings.user,
            principal=who,
            dry_run=dry_run,
        )
    if as_json:
        print_json(summary.to_dict())
    else:
        print_post(summary, what="imported")
    if not summary.ok:
        raise typer.Exit(1)


@supply_app.command()
def stock(
    ctx: typer.Context,
    facility: Annotated[str | None, typer.Option("--facility", help="One facility.")] = None,
    item: Annotated[str | None, typer.Option("--item", help="One item.")] = None,
    org_unit: Annotated[
        str | None, typer.Option("--org-unit", help="The facilities of an org unit's subtree.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Stock at this moment (replays the ledger).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Stock on hand per facility, item and lot: now, or --at any moment."""
    from rich.table import Table

    from sitroom.auth.service import acting_principal
    from sitroom.supply import service

    rt = app_context(ctx)
    moment = _when(rt, at) if at else None
    with rt.session() as session:
        who = acting_principal(session, rt.settings.user)
        if who is not None and not who.can("stock.read"):
            from sitroom.errors import ForbiddenError

            raise ForbiddenError(f"{who.username} ({who.role}) may not read stock")
        lines = service.stock_on_hand(
            session, at=moment, facility=facility, item=item, under=org_unit, principal=who
        )
    if as_json:
        print_json([line.to_dict() for line in lines])
        return
    if not lines:
        console.print("no stock")
        return
    table = Table("facility", "item", "lot", "expiry", "on hand")
    for line in lines:
        table.add_row(
            line.facility, line.item, line.lot, line.expiry, f"{line.quantity:,} {line.unit}"
        )
    console.print(table)


def _scopes(who: Any) -> str:
    """The acting user's scopes, for a message (empty for the unrestricted operator)."""
    if who is None:
        return ""
    return f" (the facilities in {who.username}'s scopes: {', '.join(who.scope_codes) or 'none'})"


@supply_app.command()
def verify(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Replay the whole ledger against the balances; exit 1 on any difference.

    With --user, the facilities in that user's scopes (stock.write)."""
    from sitroom.auth.service import acting_principal
    from sitroom.supply import service

    rt = app_context(ctx)
    with rt.session() as session:
        who = acting_principal(session, rt.settings.user)
        found = service.verify(session, principal=who)
    if as_json:
        print_json(found.to_dict())
    elif found.ok:
        console.print(
            f"ledger verified{_scopes(who)}: {found.entries:,} entries add up to the"
            f" {found.balances:,} balances, and no stock was ever below zero"
        )
    else:
        for mismatch in found.mismatches[:MAX_SHOWN]:
            err_console.print(styled("  [red]mismatch[/] {}", mismatch.sentence()))
        err_console.print(
            styled(
                "[bold red]The ledger and the balances differ[/] ({} places)", len(found.mismatches)
            )
        )
    if not found.ok:
        raise typer.Exit(1)


@supply_app.command()
def export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="The CSV file to write.")],
    facility: Annotated[str | None, typer.Option("--facility", help="One facility.")] = None,
) -> None:
    """Export the ledger as the import's CSV; imported into an empty database, the same stock.

    Reversed entries and their reversals are left out. A stocktake's quantity is
    the level it leaves its lot at in the rows exported: the count recorded, unless
    an entry was reversed or back-dated across the count after it was posted. A
    count of a lot whose only receipt was reversed is left out when it leaves
    nothing, and exported as the found adjustment it amounts to otherwise.

    With --user, the facilities in that user's scopes (stock.read); nothing is written
    when the facility asked for is outside them.
    """
    from sitroom.auth.service import acting_principal
    from sitroom.supply import service
    from sitroom.supply.events_csv import write_events

    rt = app_context(ctx)
    with rt.session() as session:
        who = acting_principal(session, rt.settings.user)
        rows = service.ledger_rows(session, facility=facility, principal=who)
        count = 0
        tmp = output.with_name(output.name + ".part")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                for text in write_events(rows):
                    out.write(text)
                    count += 1
            tmp.replace(output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    console.print(
        f"{output}: {count - 1:,} ledger entries{_scopes(who) if facility is None else ''}"
    )


simulate_app = typer.Typer(help="Simulated histories, marked as such.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")


@simulate_app.command("supply")
def simulate_supply(
    ctx: typer.Context,
    seed: Annotated[
        int, typer.Option("--seed", help="The random seed (same seed, same history).")
    ] = 0,
    items: Annotated[
        str, typer.Option("--items", help="Items to simulate, comma-separated.")
    ] = "PARA-500,AMOX-500",
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth", help="Write the planted facilities (the detector's truth) as JSON."
        ),
    ] = None,
    within: Annotated[
        str | None,
        typer.Option("--within", help="Only the facilities of this org unit (and the stockpile)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulate the 2022 wave's supply on the shipped network, with hoarding and diversion
    planted at known facilities; every entry is marked simulated (references SIM-...)."""
    import json

    from rich.progress import Progress

    from sitroom.cli.commands import announce_write
    from sitroom.supply.simulation_service import simulate_into

    rt = app_context(ctx)
    announce_write(rt)
    chosen = [code.strip() for code in items.split(",") if code.strip()]
    with Progress(console=err_console, transient=True, disable=as_json) as bar:
        task = bar.add_task("posting the simulated ledger", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = simulate_into(
            rt, user=rt.settings.user, seed=seed, items=chosen, within=within, progress=advance
        )
    if truth is not None:
        truth.write_text(json.dumps(result.planted, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"simulated supply (seed {seed}): {result.rows:,} ledger movements over {result.days}"
        f" days from {result.start}, {result.facilities:,} facilities, items"
        f" {', '.join(result.items)}; {len(result.planted)} facilities planted"
        f" with hoarding or diversion{f' (listed in {truth})' if truth else ''}."
        " Every entry is marked simulated."
    )


@supply_app.command()
def suspects(
    ctx: typer.Context,
    top: Annotated[int, typer.Option("--top", help="How many facilities to list.", min=1)] = 20,
    items: Annotated[
        str | None, typer.Option("--items", help="Only these items, comma-separated.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Facilities to investigate for hoarding or diversion, strongest evidence first."""
    from rich.table import Table

    from sitroom.auth.service import acting_principal
    from sitroom.supply.detection_service import suspects as run

    rt = app_context(ctx)
    with rt.session() as session:
        who = acting_principal(session, rt.settings.user)
    chosen = [c.strip() for c in items.split(",") if c.strip()] if items else None
    found = run(rt, top=top, items=chosen, principal=who)
    if as_json:
        print_json(found.to_dict())
        return
    for note in found.notes:
        err_console.print(f"note: {note}")
    if not found.findings:
        console.print("no facility stands out")
        return
    table = Table("rank", "facility", "score", "why")
    for finding in found.findings:
        table.add_row(str(finding.rank), finding.facility, f"{finding.score:.1f}", finding.sentence)
    console.print(table)


def _counts(values: list[str]) -> list[Any]:
    """``ITEM=N`` or ``ITEM:LOT=N`` -> counts."""
    from sitroom.counts import parse_count
    from sitroom.errors import SitroomError
    from sitroom.supply.inspections import Count

    found = []
    for value in values:
        name, sep, number = value.partition("=")
        if not sep or not name.strip():
            raise SitroomError(f"--count {value!r}: write ITEM=N or ITEM:LOT=N")
        item, _, lot = name.strip().partition(":")
        try:
            counted = parse_count(number)
        except ValueError as exc:
            raise SitroomError(f"--count {value!r}: {exc}") from None
        found.append(Count(item, counted, lot or None))
    return found


def _answers(values: list[str]) -> dict[str, bool | None]:
    from sitroom.errors import SitroomError

    words = {"yes": True, "no": False, "y": True, "n": False, "true": True, "false": False}
    answers: dict[str, bool | None] = {}
    for value in values:
        question, _, answer = value.partition("=")
        if answer.strip().lower() not in words:
            raise SitroomError(f"--check {value!r}: write QUESTION=yes or QUESTION=no")
        answers[question.strip()] = words[answer.strip().lower()]
    return answers


@supply_app.command()
def inspect(
    ctx: typer.Context,
    facility: FacilityOpt,
    inspector: Annotated[str, typer.Option("--inspector", help="The inspector's name.")],
    count: Annotated[
        list[str] | None,
        typer.Option("--count", help="A physical count: ITEM=N or ITEM:LOT=N (repeat)."),
    ] = None,
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="A checklist answer: stock_matches_ledger, prices_as_set, open_as_posted or"
            " records_kept =yes|no (repeat).",
        ),
    ] = None,
    findings: Annotated[str, typer.Option("--findings", help="What the inspector found.")] = "",
    photo: Annotated[
        list[str] | None, typer.Option("--photo", help="A photo's file name (repeat).")
    ] = None,
    when: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a pharmacy inspection: checklist, counts (posted as stocktakes), findings."""
    from sitroom.auth.service import acting_principal
    from sitroom.supply.inspections import record_inspection

    rt = app_context(ctx)
    moment = _when(rt, when)
    with rt.session(write=True) as session:
        who = acting_principal(session, rt.settings.user)
        record, summary = record_inspection(
            session,
            facility,
            inspector=inspector,
            at=moment,
            checklist=_answers(check or []),
            counts=_counts(count or []),
            findings=findings,
            photos=photo or [],
            user=rt.settings.user,
            principal=who,
        )
    if summary is not None and not summary.ok:
        if as_json:
            print_json(summary.to_dict())
        else:
            print_post(summary)
        raise typer.Exit(1)
    if as_json:
        print_json(record)
        return
    console.print(
        f"inspection {record['id']} of {facility} by {record['inspector']}: "
        f"{record['missing']:,} units missing, {record['surplus']:,} over the ledger"
        + (f" (stocktakes in stock batch {record['stock_batch']})" if record["stock_batch"] else "")
    )


cases_app = typer.Typer(help="Investigation cases: open, follow, close.", no_args_is_help=True)
supply_app.add_typer(cases_app, name="investigate")


@cases_app.command("open")
def case_open(
    ctx: typer.Context,
    facility: FacilityOpt,
    title: Annotated[str, typer.Option("--title", help="What the case is about.")],
    from_suspects: Annotated[
        bool,
        typer.Option(
            "--from-suspects",
            help="Freeze the facility's finding of `supply suspects` as evidence.",
        ),
    ] = False,
    inspection: Annotated[
        int | None, typer.Option("--inspection", help="Open from this inspection.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a case on a facility, its evidence frozen now."""
    from sitroom.auth.service import acting_principal
    from sitroom.supply.inspections import open_case

    rt = app_context(ctx)
    evidence = None
    source = "inspection" if inspection is not None else "report"
    if from_suspects:
        from sitroom.supply.detection_service import finding_evidence

        with rt.session() as session:
            who = acting_principal(session, rt.settings.user)
        evidence = finding_evidence(rt, facility, principal=who)
        source = "detection"
    with rt.session(write=True) as session:
        who = acting_principal(session, rt.settings.user)
        record = open_case(
            session,
            facility,
            source=source,
            title=title,
            evidence=evidence,
            inspection=inspection,
            user=rt.settings.user,
            principal=who,
        )
    if as_json:
        print_json(record)
    else:
        console.print(
            f"case {record['id']} opened on {facility} ({record['source']}); evidence frozen,"
            f" SHA-256 {record['evidence_sha256'][:16]}..."
        )


@cases_app.command("update")
def case_update(
    ctx: typer.Context,
    case: Annotated[int, typer.Argument(help="The case's number.")],
    note: Annotated[str, typer.Option("--note", help="A note for its history.")] = "",
    status: Annotated[
        str | None, typer.Option("--status", help="open, investigating or closed.")
    ] = None,
    assign: Annotated[str | None, typer.Option("--assign", help="Who investigates.")] = None,
    outcome: Annotated[
        str | None, typer.Option("--outcome", help="The outcome (needed to close).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a note, assign, or move a case on (closing says its outcome)."""
    from sitroom.auth.service import acting_principal
    from sitroom.supply.inspections import update_case

    rt = app_context(ctx)
    with rt.session(write=True) as session:
        who = acting_principal(session, rt.settings.user)
        record = update_case(
            session,
            case,
            user=rt.settings.user,
            note=note,
            status=status,
            assign=assign,
            outcome=outcome,
            principal=who,
        )
    if as_json:
        print_json(record)
    else:
        console.print(
            f"case {case}: {record['status']}"
            + (f", {record['outcome']}" if record["outcome"] else "")
        )


@cases_app.command("list")
def case_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The cases you may see, newest first."""
    from rich.table import Table

    from sitroom.auth.service import acting_principal
    from sitroom.supply.inspections import list_cases

    rt = app_context(ctx)
    with rt.session() as session:
        who = acting_principal(session, rt.settings.user)
        found = list_cases(session, status=status, principal=who)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no cases")
        return
    table = Table("case", "facility", "status", "opened (UTC)", "title")
    for c in found:
        table.add_row(str(c["id"]), c["facility"], c["status"], c["opened_at"][:16], c["title"])
    console.print(table)


@cases_app.command("show")
def case_show(
    ctx: typer.Context,
    case: Annotated[int, typer.Argument(help="The case's number.")],
    as_json: JsonOpt = False,
) -> None:
    """A case, its history and its frozen evidence."""
    from sitroom.auth.service import acting_principal
    from sitroom.supply.inspections import read_case

    rt = app_context(ctx)
    with rt.session() as session:
        who = acting_principal(session, rt.settings.user)
        record = read_case(session, case, principal=who, evidence=True)
    if as_json:
        print_json(record)
        return
    console.print(
        f"case {record['id']} on {record['facility']}: {record['title']} [{record['status']}]"
    )
    for step in record["history"]:
        console.print(f"  {step['at'][:16]} {step['by']}: {step['text']}")
    console.print(f"evidence (frozen, SHA-256 {record['evidence_sha256']}):")
    finding = record["evidence"].get("finding")
    if finding:
        console.print(f"  {finding.get('sentence', '')}")
    console.print(
        f"  stock then: {len(record['evidence'].get('stock', []))} lots;"
        f" {len(record['evidence'].get('ledger', []))} ledger entries since"
        f" {record['evidence'].get('ledger_since', '')[:10]}"
    )
