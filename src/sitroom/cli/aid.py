"""``sitroom aid ...``: aid coordination from the command line (issue #12, item 7).

Thin commands over :mod:`sitroom.aid`: partners, requests, offers and the
communications log here; pledges, shipments, receipts, a lot's origin and the
3W export in :mod:`sitroom.cli.aid_pipeline`; the gap and suggestions in
:mod:`sitroom.cli.aid_gap`. ``--json`` everywhere; ``--user`` acts within its
role and scopes. A refused step exits non-zero with every reason, and nothing
is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypedDict, TypeVar

import typer

from sitroom.cli.app import app, app_context, console, print_json
from sitroom.cli.options import JsonOpt
from sitroom.errors import SitroomError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sitroom.aid.common import LineIn
    from sitroom.aid.requests import MessageView, OfferView, RequestView, Timeline
    from sitroom.auth.permissions import Principal
    from sitroom.context import AppContext


class _Viewed(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


V = TypeVar("V", bound=_Viewed)

aid_app = typer.Typer(
    help="Aid coordination: partners, requests, offers, pledges, shipments, the"
    " communications log, the gap.",
    no_args_is_help=True,
)
app.add_typer(aid_app, name="aid")
partner_app = typer.Typer(help="Partners and their contacts.", no_args_is_help=True)
request_app = typer.Typer(
    help="Requests to partners: draft, send, record the answer, show the history.",
    no_args_is_help=True,
)
offer_app = typer.Typer(
    help="Offers from partners: record, review, answer, show the history.", no_args_is_help=True
)
log_app = typer.Typer(
    help="The communications log: notices, calls, meetings; what awaits an answer.",
    no_args_is_help=True,
)
aid_app.add_typer(partner_app, name="partner")
aid_app.add_typer(request_app, name="request")
aid_app.add_typer(offer_app, name="offer")
aid_app.add_typer(log_app, name="log")

TimeOpt = Annotated[
    str | None,
    typer.Option(
        "--time",
        help="When it happened: 2022-05-16T09:00 (local time), with an offset, or a day"
        " (noon); default now.",
    ),
]
NoteOpt = Annotated[str | None, typer.Option("--note", help="A note kept in the history.")]
LineOpt = Annotated[
    list[str],
    typer.Option("--line", help="ITEM=QUANTITY (an offer: ITEM=QUANTITY@EXPIRY); once per item."),
]
ChannelOpt = Annotated[
    str,
    typer.Option(
        "--channel",
        help="diplomatic_note, liaison_office, un_agency, phone, email, meeting or other.",
    ),
]
UnitOpt = Annotated[
    str | None,
    typer.Option("--org-unit", help="Where the need is (a region's code); default the country."),
]


# Parsing ----------------------------------------------------------------------------


def when(rt: AppContext, text: str | None) -> datetime | None:
    """``--time`` in the country's zone (None: now)."""
    from sitroom.cli.supply import _when

    return _when(rt, text) if text is not None else None


def day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SitroomError(f"{option}: {text!r} is not a day (2022-05-31)") from None


def count(text: str, what: str) -> int:
    from sitroom.counts import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise SitroomError(f"{what}: {exc}") from None


def parse_lines(texts: list[str], *, expiry: bool = False) -> list[LineIn]:
    """``ITEM=QUANTITY`` (``@EXPIRY`` too when ``expiry``), one per item."""
    from sitroom.aid.common import LineIn

    lines = []
    for text in texts:
        item, sep, rest = text.partition("=")
        quantity, at, until = rest.partition("@")
        if not sep or not item.strip() or not quantity.strip() or (at and not expiry):
            form = "ITEM=QUANTITY@EXPIRY (the expiry is optional)" if expiry else "ITEM=QUANTITY"
            raise SitroomError(f"--line {text!r}: write {form}")
        lines.append(
            LineIn(
                item.strip(),
                count(quantity, f"--line {text!r}"),
                day(until.strip(), f"--line {text!r}") if at else None,
            )
        )
    return lines


def principal(rt: AppContext, session: Session) -> Principal | None:
    from sitroom.auth.service import acting_principal

    return acting_principal(session, rt.settings.user)


class Acting(TypedDict):
    """The keyword arguments by which every write of aid knows who acts."""

    user: str
    principal: Principal | None
    lock_timeout: float


@contextmanager
def acting(rt: AppContext) -> Iterator[tuple[Session, Acting]]:
    """A write session and who acts in it: the CLI's user (``--user``), with their
    role and scopes, and the lock timeout of the settings."""
    with rt.session(write=True) as session:
        yield (
            session,
            Acting(
                user=rt.settings.user,
                principal=principal(rt, session),
                lock_timeout=rt.settings.lock_timeout,
            ),
        )


def listed(
    rows: Sequence[V],
    as_json: bool,
    *,
    empty: str,
    columns: Sequence[str],
    row: Callable[[V], Sequence[str]],
) -> None:
    """``rows`` as JSON, or as a table of ``columns`` (``row`` gives a row's cells;
    an illustrative record's first is marked ``*``), or ``empty`` when there are none."""
    from rich.table import Table

    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        console.print(empty)
        return
    marked = any(getattr(r, "illustrative", False) for r in rows)
    table = Table(
        *columns, caption="* an illustration (the demo's), not a real record" if marked else None
    )
    for r in rows:
        first, *rest = row(r)
        table.add_row(f"{first} *" if getattr(r, "illustrative", False) else first, *rest)
    console.print(table)


def stamp(moment: datetime | None, rt: AppContext) -> str:
    from zoneinfo import ZoneInfo

    if moment is None:
        return "-"
    return f"{moment.astimezone(ZoneInfo(rt.country.reporting.time_zone)):%Y-%m-%d %H:%M}"


def _request_said(view: RequestView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_dict())
        return
    lines = ", ".join(
        f"{ln.item} {ln.quantity:,}"
        + (f" ({ln.accepted:,} accepted)" if ln.accepted is not None else "")
        for ln in view.lines
    )
    console.print(
        f"{view.number}: {view.status}, to {view.partner_name} ({view.partner}) via"
        f" {view.channel.replace('_', ' ')}, for {view.unit_name}: {lines}"
        + (f"; needed by {view.needed_by}" if view.needed_by else "")
    )


def _offer_said(view: OfferView, rt: AppContext, as_json: bool) -> None:
    if as_json:
        print_json(view.to_dict())
        return
    lines = ", ".join(
        f"{ln.item} {ln.quantity:,}" + (f" (expires {ln.expiry})" if ln.expiry else "")
        for ln in view.lines
    )
    console.print(
        f"{view.number}: {view.status}, from {view.partner_name} ({view.partner}) via"
        f" {view.channel.replace('_', ' ')}: {lines}"
        + (f"; answer by {stamp(view.answer_by, rt)}" if view.answer_by else "")
    )


# Partners ---------------------------------------------------------------------------


@partner_app.command("add")
def partner_add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="A short code, e.g. CN, KR-MOU, WHO.")],
    name: Annotated[str, typer.Option("--name", help="The partner's name.")],
    kind: Annotated[
        str,
        typer.Option("--kind", help="government, un_agency, ngo, red_cross, private or other."),
    ],
    country: Annotated[
        str | None, typer.Option("--iso", help="ISO 3166 code of a government's country (CN, KR).")
    ] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Free notes.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a partner (aid.write over the country)."""
    from sitroom.aid import partners

    rt = app_context(ctx)
    with acting(rt) as (session, who):
        view = partners.add_partner(session, code, name, kind, country=country, notes=notes, **who)
    if as_json:
        print_json(view.to_dict())
    else:
        console.print(f"partner {view.code}: {view.name} ({view.kind})")


@partner_app.command("contact")
def partner_contact(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The partner's code.")],
    name: Annotated[str, typer.Option("--name", help="The person or office.")],
    channel: ChannelOpt,
    title: Annotated[str | None, typer.Option("--title", help="Their title.")] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Phone number, e-mail address or office.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a contact to a partner, with the channel they are reached through."""
    from sitroom.aid import partners

    rt = app_context(ctx)
    with acting(rt) as (session, who):
        view = partners.add_contact(
            session, code, name, channel, title=title, address=address, **who,
        )  # fmt: skip
    if as_json:
        print_json(view.to_dict())
    else:
        console.print(f"partner {view.code}: {len(view.contacts)} contact(s)")


@partner_app.command("list")
def partner_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the partners and how each is reached."""

    from sitroom.aid import partners

    rt = app_context(ctx)
    with rt.session() as session:
        views = partners.list_partners(session, kind=kind, principal=principal(rt, session))
    listed(
        views, as_json, empty="no partners (sitroom aid partner add ...)",
        columns=("code", "name", "kind", "country", "contacts"),
        row=lambda v: (
            v.code, v.name, v.kind, v.country or "-",
            "; ".join(f"{c.name} ({c.channel})" for c in v.contacts) or "-",
        ),
    )  # fmt: skip


# Requests ---------------------------------------------------------------------------


@request_app.command("create")
def request_create(
    ctx: typer.Context,
    partner: Annotated[str, typer.Option("--partner", help="The partner's code.")],
    line: LineOpt,
    channel: ChannelOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why: the gap that motivates it.")],
    needed_by: Annotated[
        str | None, typer.Option("--needed-by", help="The day it is needed by.")
    ] = None,
    unit: UnitOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft a request (aid.write over the org unit of the need)."""
    from sitroom.aid import requests

    rt = app_context(ctx)
    lines = parse_lines(line)
    moment = when(rt, time)
    with acting(rt) as (session, who):
        view = requests.create_request(
            session, partner, lines, channel=channel, reason=reason, unit=unit,
            needed_by=day(needed_by, "--needed-by"), at=moment, **who,
        )  # fmt: skip
    _request_said(view, as_json)


@request_app.command("edit")
def request_edit(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The request, e.g. REQ-2022-0001.")],
    partner: Annotated[str | None, typer.Option("--partner", help="Another partner.")] = None,
    line: Annotated[
        list[str] | None, typer.Option("--line", help="ITEM=QUANTITY: the new lines, all.")
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Another channel.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="A new reason.")] = None,
    needed_by: Annotated[str | None, typer.Option("--needed-by", help="A new day.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a draft before it is sent (a suggested request, say)."""
    from sitroom.aid import requests

    rt = app_context(ctx)
    lines = parse_lines(line) if line else None
    with acting(rt) as (session, who):
        view = requests.edit_request(
            session, number, partner=partner, channel=channel, lines=lines,
            needed_by=day(needed_by, "--needed-by"), reason=reason, **who,
        )  # fmt: skip
    _request_said(view, as_json)


@request_app.command("send")
def request_send(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The request, e.g. REQ-2022-0001.")],
    our_side: Annotated[str | None, typer.Option("--from", help="Who sent it.")] = None,
    their_side: Annotated[str | None, typer.Option("--to", help="To whom.")] = None,
    note: NoteOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a draft: it becomes sent, and its notice is logged awaiting an answer."""
    from sitroom.aid import requests

    rt = app_context(ctx)
    moment = when(rt, time)
    with acting(rt) as (session, who):
        view = requests.send_request(
            session, number, our_side=our_side, their_side=their_side, note=note, at=moment,
            answer_hours=rt.country.aid.answer_hours, **who,
        )  # fmt: skip
    _request_said(view, as_json)


def _accepted(texts: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for text in texts:
        item, sep, quantity = text.partition("=")
        if not sep or not item.strip():
            raise SitroomError(f"--accept {text!r}: write ITEM=QUANTITY")
        if item.strip() in out:
            raise SitroomError(f"--accept {item.strip()} is given twice")
        out[item.strip()] = count(quantity, f"--accept {text!r}")
    return out


@request_app.command("status")
def request_status(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The request.")],
    status: Annotated[
        str,
        typer.Argument(
            help="acknowledged, under_discussion, accepted, partly_accepted, declined or"
            " no_response."
        ),
    ],
    accept: Annotated[
        list[str] | None,
        typer.Option("--accept", help="ITEM=QUANTITY the partner agreed to (partly accepted)."),
    ] = None,
    note: NoteOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the partner's answer to a request."""
    from sitroom.aid import requests

    rt = app_context(ctx)
    moment = when(rt, time)
    with acting(rt) as (session, who):
        view = requests.set_request_status(
            session, number, status, accepted=_accepted(accept or []) or None, note=note, at=moment,
            **who,
        )  # fmt: skip
    _request_said(view, as_json)


@request_app.command("list")
def request_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    partner: Annotated[str | None, typer.Option("--partner", help="Only this partner.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List requests, newest first (those your scopes cover)."""

    from sitroom.aid import requests

    rt = app_context(ctx)
    with rt.session() as session:
        views = requests.list_requests(
            session, principal=principal(rt, session), status=status, partner=partner
        )
    listed(
        views, as_json, empty="no requests",
        columns=("request", "status", "partner", "channel", "for", "items", "needed by"),
        row=lambda v: (
            v.number, v.status, v.partner, v.channel, v.unit,
            ", ".join(f"{ln.item} {ln.quantity:,}" for ln in v.lines),
            str(v.needed_by or "-"),
        ),
    )  # fmt: skip


def print_timeline(story: Timeline, rt: AppContext) -> None:
    from rich.table import Table

    console.print(f"{story.about}: {story.status} ({story.partner})")
    table = Table("time", "what", "story")
    for entry in story.entries:
        table.add_row(stamp(entry.time, rt), entry.what, entry.text)
    console.print(table)


@request_app.command("show")
def request_show(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The request.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a request and its history as a timeline (messages, pledges, shipments)."""
    from zoneinfo import ZoneInfo

    from sitroom.aid import requests

    rt = app_context(ctx)
    with rt.session() as session:
        who = principal(rt, session)
        view = requests.get_request(session, number, principal=who)
        story = requests.timeline(
            session, number, principal=who, answer_hours=rt.country.aid.answer_hours,
            zone=ZoneInfo(rt.country.reporting.time_zone),
        )  # fmt: skip
    if as_json:
        print_json({**view.to_dict(), "timeline": story.to_dict()["entries"]})
        return
    _request_said(view, False)
    console.print(f"  reason: {view.reason}")
    print_timeline(story, rt)


# Offers -----------------------------------------------------------------------------


@offer_app.command("record")
def offer_record(
    ctx: typer.Context,
    partner: Annotated[str, typer.Option("--partner", help="Who offers.")],
    line: LineOpt,
    channel: ChannelOpt,
    answer_by: Annotated[
        str | None,
        typer.Option("--answer-by", help="The deadline to answer (a time, local by default)."),
    ] = None,
    conditions: Annotated[
        str | None, typer.Option("--conditions", help="The offer's conditions.")
    ] = None,
    their_side: Annotated[str | None, typer.Option("--from", help="Who made the offer.")] = None,
    unit: UnitOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record an offer received (its notice is logged)."""
    from sitroom.aid import requests

    rt = app_context(ctx)
    lines = parse_lines(line, expiry=True)
    moment = when(rt, time)
    deadline = when(rt, answer_by)
    with acting(rt) as (session, who):
        view = requests.record_offer(
            session, partner, lines, channel=channel, unit=unit, received_at=moment,
            answer_by=deadline, conditions=conditions, their_side=their_side, **who,
        )  # fmt: skip
    _offer_said(view, rt, as_json)


@offer_app.command("status")
def offer_status(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The offer, e.g. OFF-2022-0001.")],
    status: Annotated[
        str, typer.Argument(help="under_review, answered, accepted, declined or lapsed.")
    ],
    note: NoteOpt = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move an offer on (a lapse only after its deadline)."""
    from sitroom.aid import requests

    rt = app_context(ctx)
    moment = when(rt, time)
    with acting(rt) as (session, who):
        view = requests.set_offer_status(session, number, status, note=note, at=moment, **who)
    _offer_said(view, rt, as_json)


@offer_app.command("list")
def offer_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    partner: Annotated[str | None, typer.Option("--partner", help="Only this partner.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List offers, newest first."""

    from sitroom.aid import requests

    rt = app_context(ctx)
    with rt.session() as session:
        views = requests.list_offers(
            session, principal=principal(rt, session), status=status, partner=partner
        )
    listed(
        views, as_json, empty="no offers",
        columns=("offer", "status", "partner", "received", "answer by", "items"),
        row=lambda v: (
            v.number, v.status, v.partner, stamp(v.received_at, rt), stamp(v.answer_by, rt),
            ", ".join(f"{ln.item} {ln.quantity:,}" for ln in v.lines),
        ),
    )  # fmt: skip


@offer_app.command("show")
def offer_show(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The offer.")],
    as_json: JsonOpt = False,
) -> None:
    """Show an offer and its history as a timeline."""
    from zoneinfo import ZoneInfo

    from sitroom.aid import requests

    rt = app_context(ctx)
    with rt.session() as session:
        who = principal(rt, session)
        view = requests.get_offer(session, number, principal=who)
        story = requests.timeline(
            session, number, principal=who, answer_hours=rt.country.aid.answer_hours,
            zone=ZoneInfo(rt.country.reporting.time_zone),
        )  # fmt: skip
    if as_json:
        print_json({**view.to_dict(), "timeline": story.to_dict()["entries"]})
        return
    _offer_said(view, rt, False)
    if view.conditions:
        console.print(f"  conditions: {view.conditions}")
    print_timeline(story, rt)


# The communications log -------------------------------------------------------------


def _message_said(view: MessageView, rt: AppContext, as_json: bool) -> None:
    if as_json:
        print_json(view.to_dict())
        return
    state = ""
    if view.awaits_answer:
        state = f"; an answer is due by {stamp(view.answer_due_at, rt)}"
    console.print(
        f"message {view.id} about {view.about}: {view.kind} {view.direction} via"
        f" {view.channel.replace('_', ' ')} at {stamp(view.time, rt)}{state}"
    )


@log_app.command("add")
def log_add(
    ctx: typer.Context,
    about: Annotated[str, typer.Argument(help="The request or offer (REQ-... or OFF-...).")],
    direction: Annotated[
        str, typer.Option("--direction", help="out (we sent or called) or in (they did).")
    ],
    kind: Annotated[
        str, typer.Option("--kind", help="notice, letter, call, meeting, email or note.")
    ],
    channel: ChannelOpt,
    summary: Annotated[str, typer.Option("--summary", help="What was said.")],
    our_side: Annotated[str | None, typer.Option("--ours", help="Who on our side.")] = None,
    their_side: Annotated[str | None, typer.Option("--theirs", help="Who on theirs.")] = None,
    awaits_answer: Annotated[
        bool, typer.Option("--awaits-answer", help="It waits for an answer.")
    ] = False,
    due: Annotated[
        str | None,
        typer.Option("--due", help="When the answer is due (default: [aid] answer_hours)."),
    ] = None,
    reply_to: Annotated[
        int | None, typer.Option("--reply-to", help="The id of the message this answers.")
    ] = None,
    time: TimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Log a notice, call, meeting or e-mail about a request or offer."""
    from sitroom.aid import requests

    rt = app_context(ctx)
    moment = when(rt, time)
    due_at = when(rt, due)
    with acting(rt) as (session, who):
        view = requests.log_message(
            session, about, direction=direction, kind=kind, channel=channel, summary=summary,
            our_side=our_side, their_side=their_side, at=moment, awaits_answer=awaits_answer,
            answer_due_at=due_at, reply_to=reply_to, answer_hours=rt.country.aid.answer_hours,
            **who,
        )  # fmt: skip
    _message_said(view, rt, as_json)


@log_app.command("list")
def log_list(
    ctx: typer.Context,
    about: Annotated[str, typer.Argument(help="The request or offer.")],
    as_json: JsonOpt = False,
) -> None:
    """The communications about a request or offer, oldest first."""
    from rich.table import Table

    from sitroom.aid import requests

    rt = app_context(ctx)
    with rt.session() as session:
        views = requests.messages(
            session, about, principal=principal(rt, session),
            answer_hours=rt.country.aid.answer_hours,
        )  # fmt: skip
    if as_json:
        print_json([v.to_dict() for v in views])
        return
    table = Table("id", "time", "way", "kind", "channel", "who", "said", "answer")
    for v in views:
        answer = "-"
        if v.awaits_answer:
            answer = (
                f"answered {stamp(v.answered_at, rt)}"
                if v.answered_at
                else ("OVERDUE" if v.overdue else f"due {stamp(v.answer_due_at, rt)}")
            )
        table.add_row(
            str(v.id), stamp(v.time, rt), v.direction, v.kind, v.channel,
            f"{v.our_side} / {v.their_side or '-'}", v.summary, answer,
        )  # fmt: skip
    console.print(table)


@log_app.command("overdue")
def log_overdue(
    ctx: typer.Context,
    at: Annotated[str | None, typer.Option("--at", help="As of this time (default now).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """What waits for an answer past its time: our notices, their offers' deadlines."""

    from sitroom.aid import requests

    rt = app_context(ctx)
    moment = when(rt, at)
    with rt.session() as session:
        found = requests.overdue(
            session, principal=principal(rt, session), at=moment,
            answer_hours=rt.country.aid.answer_hours,
        )  # fmt: skip
    listed(
        found, as_json, empty="nothing is overdue",
        columns=("about", "partner", "waiting for", "since", "due", "overdue", "what"),
        row=lambda o: (
            o.about, o.partner, o.waiting_for, stamp(o.since, rt), stamp(o.due, rt),
            f"{o.hours_overdue:,.0f} h", o.summary,
        ),
    )  # fmt: skip
