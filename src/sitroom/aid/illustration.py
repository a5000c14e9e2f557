"""A plausible aid history of the 2022 wave, for the demo (issue #12, item 7).

**An illustration, not a record.** What is known from the press: the DPRK asked
China for PCR test kits and medicines; Chinese supplies were flown from
Shenyang to Pyongyang in May 2022; on 16 May South Korea's Ministry of
Unification offered vaccines, medicines, masks and test kits through the
inter-Korean liaison office, and the North's side reported the notice "not
yet received" in the morning and gave no clear answer to a call in the
afternoon; the WHO offered support and asked for data. The quantities, the
dates other than 16 May, the lots, the carriers and every name below are
invented to make the story complete. Everything this module writes is marked
``illustrative`` (and the stock its receipts add, ``simulated``), and every
page and report says so.

It goes through the same services a coordinator uses (so every rule is
applied): three partners, a request to China partly accepted, pledged and
shipped in two consignments (one received at the national stockpile, one on
its way by rail through Sinuiju), South Korea's offer with its unanswered
notice and call, and a request to the WHO still under discussion with a
message waiting for an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.supply.models import Facility

from . import partners, pipeline, requests
from .common import LineIn
from .models import Partner

ZONE = ZoneInfo("Asia/Pyongyang")
#: The facilities the goods are received into (the generated DPRK network's codes).
STOCKPILE = "STOCKPILE"
SINUIJU_WAREHOUSE = "WH-KP-03"


def _at(day: int, hour: int, month: int = 5) -> datetime:
    return datetime(2022, month, day, hour, tzinfo=ZONE)


@dataclass(frozen=True, slots=True)
class Illustration:
    """What :func:`load_illustration` made (nothing when it was loaded already)."""

    loaded: bool
    partners: int = 0
    requests: tuple[str, ...] = ()
    offers: tuple[str, ...] = ()
    pledges: tuple[str, ...] = ()
    shipments: tuple[str, ...] = ()


def loaded(session: Session) -> bool:
    """True when the database holds the illustration already (or any illustrative partner)."""
    return session.scalar(select(Partner.id).where(Partner.illustrative).limit(1)) is not None


#: The partners' codes the illustration registers.
PARTNERS = ("CN", "KR", "WHO")


def can_load(session: Session) -> bool:
    """The illustration needs the DPRK network's stockpile and Sinuiju's warehouse, and
    none of its partners' codes taken by a real partner."""
    found = set(
        session.scalars(
            select(Facility.code).where(Facility.code.in_((STOCKPILE, SINUIJU_WAREHOUSE)))
        )
    )
    taken = session.scalar(select(Partner.id).where(Partner.code.in_(PARTNERS)).limit(1))
    return found == {STOCKPILE, SINUIJU_WAREHOUSE} and taken is None


def load_illustration(session: Session, *, user: str) -> Illustration:
    """Write the illustrative aid history once; nothing when it is there already or the
    network lacks its facilities."""
    if loaded(session) or not can_load(session):
        return Illustration(loaded=False)

    # Partners and how they are reached.
    partners.add_partner(
        session,
        "CN",
        "People's Republic of China",
        "government",
        country="CN",
        notes="Illustrative.",
        user=user,
        illustrative=True,
    )
    partners.add_contact(
        session, "CN", "Embassy of China in Pyongyang", "diplomatic_note", user=user
    )
    partners.add_partner(
        session,
        "KR",
        "Republic of Korea (Ministry of Unification)",
        "government",
        country="KR",
        notes="Illustrative.",
        user=user,
        illustrative=True,
    )
    partners.add_contact(session, "KR", "Inter-Korean liaison office", "liaison_office", user=user)
    partners.add_partner(
        session,
        "WHO",
        "World Health Organization",
        "un_agency",
        notes="Illustrative.",
        user=user,
        illustrative=True,
    )
    partners.add_contact(session, "WHO", "WHO country office", "un_agency", user=user)

    # China: PCR tests and antipyretics asked for, partly accepted, pledged, shipped.
    china = requests.create_request(
        session,
        "CN",
        [
            LineIn("PCR-TEST", 200_000),
            LineIn("PARA-500", 10_000_000),
            LineIn("AMOX-500", 2_000_000),
        ],
        channel="diplomatic_note",
        needed_by=date(2022, 5, 25),
        at=_at(13, 9),
        reason="Persons with fever far beyond testing capacity: PCR tests to confirm cases;"
        " antipyretics short at pharmacies (illustration).",
        user=user,
        illustrative=True,
    )
    requests.send_request(
        session,
        china.number,
        at=_at(13, 10),
        their_side="Embassy of China",
        answer_hours=48,
        user=user,
    )
    requests.set_request_status(
        session,
        china.number,
        "acknowledged",
        at=_at(14, 11),
        note="The embassy confirms receipt.",
        user=user,
    )
    requests.set_request_status(
        session,
        china.number,
        "partly_accepted",
        at=_at(17, 16),
        accepted={"PCR-TEST": 100_000, "PARA-500": 5_000_000, "AMOX-500": 0},
        note="Tests and paracetamol now; no antibiotics.",
        user=user,
    )
    pledge = pipeline.create_pledge(
        session,
        "CN",
        [LineIn("PCR-TEST", 100_000), LineIn("PARA-500", 5_000_000)],
        request=china.number,
        expected_by=date(2022, 5, 28),
        at=_at(17, 17),
        user=user,
        illustrative=True,
    )
    by_air = pipeline.create_shipment(
        session,
        pledge.number,
        STOCKPILE,
        [
            pipeline.ShipLineIn("PCR-TEST", "CN-PCR-2205A", date(2023, 5, 1), 100_000),
            pipeline.ShipLineIn("PARA-500", "CN-PARA-2204B", date(2025, 4, 30), 3_000_000),
        ],
        carrier="Air Koryo cargo flight",
        route="Shenyang - Pyongyang Sunan",
        departed_at=_at(19, 8),
        expected_at=date(2022, 5, 19),
        at=_at(18, 12),
        user=user,
        illustrative=True,
    )
    pipeline.update_shipment(session, by_air.number, status="arrived", at=_at(19, 13), user=user)
    pipeline.receive_shipment(
        session,
        by_air.number,
        [
            pipeline.ReceiveLineIn("PCR-TEST", "CN-PCR-2205A", 100_000),
            pipeline.ReceiveLineIn("PARA-500", "CN-PARA-2204B", 3_000_000),
        ],
        received_by="Ri Myong Chol, stockpile keeper (illustrative)",
        zone=ZONE,
        at=_at(19, 17),
        user=user,
    )
    by_rail = pipeline.create_shipment(
        session,
        pledge.number,
        SINUIJU_WAREHOUSE,
        [pipeline.ShipLineIn("PARA-500", "CN-PARA-2205C", date(2025, 5, 31), 2_000_000)],
        carrier="Freight train",
        route="Dandong - Sinuiju",
        border_crossing="Sino-Korean Friendship Bridge",
        departed_at=_at(27, 9),
        expected_at=date(2022, 6, 2),
        at=_at(26, 15),
        user=user,
        illustrative=True,
    )
    pipeline.update_shipment(
        session, by_rail.number, status="at_border", customs="pending", at=_at(28, 10), user=user
    )

    # South Korea: the offer of 16 May, a notice "not yet received", a call unanswered.
    offer = requests.record_offer(
        session,
        "KR",
        [
            LineIn("VAC-COV", 1_000_000, date(2022, 12, 31)),
            LineIn("PARA-500", 2_000_000),
            LineIn("MASK-MED", 5_000_000),
            LineIn("RDT-AG", 100_000, date(2023, 3, 31)),
        ],
        channel="liaison_office",
        received_at=_at(16, 9),
        answer_by=_at(20, 18),
        conditions="Working-level contact proposed to agree on what and how to deliver"
        " (quantities illustrative).",
        their_side="Ministry of Unification, through the liaison office",
        user=user,
        illustrative=True,
    )
    requests.log_message(
        session,
        offer.number,
        direction="out",
        kind="note",
        channel="liaison_office",
        summary="The North's liaison officer: the notice is 'not yet received'.",
        our_side="Liaison officer (North)",
        their_side="Liaison officer (South)",
        at=_at(16, 10),
        user=user,
        illustrative=True,
    )
    requests.log_message(
        session,
        offer.number,
        direction="in",
        kind="call",
        channel="phone",
        summary="Afternoon call through the liaison line asking again: no clear answer given.",
        our_side="Liaison officer (North)",
        their_side="Liaison officer (South)",
        at=_at(16, 16),
        awaits_answer=True,
        user=user,
        illustrative=True,
    )

    # The WHO: test kits and masks asked for, still under discussion, a letter waiting.
    who = requests.create_request(
        session,
        "WHO",
        [LineIn("RDT-AG", 200_000), LineIn("MASK-MED", 2_000_000)],
        channel="un_agency",
        needed_by=date(2022, 6, 10),
        at=_at(20, 9),
        reason="Rapid tests to extend testing beyond the laboratories (illustration).",
        user=user,
        illustrative=True,
    )
    requests.send_request(session, who.number, at=_at(20, 11), user=user)
    requests.set_request_status(
        session,
        who.number,
        "under_discussion",
        at=_at(23, 15),
        note="Asks for surveillance data with the request.",
        user=user,
    )
    requests.log_message(
        session,
        who.number,
        direction="out",
        kind="letter",
        channel="un_agency",
        summary="Letter with the weekly fever figures by region, as asked.",
        our_side="Ministry of Public Health",
        their_side="WHO country office",
        at=_at(25, 10),
        awaits_answer=True,
        user=user,
        illustrative=True,
    )
    return Illustration(
        loaded=True,
        partners=3,
        requests=(china.number, who.number),
        offers=(offer.number,),
        pledges=(pledge.number,),
        shipments=(by_air.number, by_rail.number),
    )
