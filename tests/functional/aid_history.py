"""A small aid history of the 2022 wave, made through the services (issue #12), for the
tests of the aid pages, the report's aid section and the browser.

- ``REQ-2022-0001``: PCR tests and paracetamol asked of China by diplomatic note
  (national), accepted; pledged (``PLG-2022-0001``); shipped twice to the national
  stockpile through Sinuiju: ``SHP-2022-0001`` received in part (the rest of its
  paracetamol still to come), ``SHP-2022-0002`` in transit.
- ``OFF-2022-0001``: the offer of the Republic of Korea (vaccines, masks, tests) through
  the liaison office, with a deadline to answer; a notice in the morning, "not yet
  received", a call in the afternoon without a clear answer: unanswered, overdue.
  Marked as an illustration, as the demo's will be.
- ``REQ-2022-0002``: oral rehydration salts asked of UNICEF for Chagang (KP-04) by
  e-mail, no answer: its notice is overdue.
- ``REQ-2022-0003``: amoxicillin asked of the WHO for Chagang, accepted, pledged
  (``PLG-2022-0002``), shipped to Chagang's warehouse (``SHP-2022-0003``), at the
  border with customs pending.
- ``REQ-2022-0004``: a draft for Pyongyang (KP-01), not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sitroom.aid import partners, pipeline, requests
from sitroom.aid.common import LineIn
from sitroom.aid.pipeline import ReceiveLineIn, ShipLineIn

ZONE = ZoneInfo("Asia/Pyongyang")
USER = "setup"
#: The numbers the history makes, by what they are.
CHINA_REQUEST = "REQ-2022-0001"
CHAGANG_REQUEST = "REQ-2022-0002"
WHO_REQUEST = "REQ-2022-0003"
DRAFT = "REQ-2022-0004"
KOREA_OFFER = "OFF-2022-0001"
CHINA_PLEDGE, WHO_PLEDGE = "PLG-2022-0001", "PLG-2022-0002"
PARTLY, IN_TRANSIT, AT_BORDER = "SHP-2022-0001", "SHP-2022-0002", "SHP-2022-0003"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time of May 2022 in Pyongyang."""
    return datetime(2022, 5, day, hour, minute, tzinfo=ZONE)


@dataclass(frozen=True)
class History:
    """What arrived, by item (the ledger's receipts), and what is still on its way."""

    arrived: dict[str, int]
    on_the_way: dict[str, int]


def make_history(session: Session) -> History:
    """The history above, each step a service call of its own (committed)."""
    for code, name, kind, illustrative in (
        ("CN", "People's Republic of China", "government", False),
        ("KR", "Republic of Korea", "government", True),
        ("WHO", "World Health Organization", "un_agency", False),
        ("UNICEF", "UNICEF", "un_agency", False),
    ):
        partners.add_partner(session, code, name, kind, user=USER, illustrative=illustrative)

    # China: PCR tests and paracetamol, by diplomatic note; accepted, pledged, shipped.
    china = requests.create_request(
        session, "CN", [LineIn("PCR-TEST", 100_000), LineIn("PARA-500", 1_000_000)],
        channel="diplomatic_note", reason="No PCR tests left; paracetamol short in 9 regions",
        user=USER, at=at(14, 9), needed_by=date(2022, 5, 25),
    )  # fmt: skip
    assert china.number == CHINA_REQUEST
    requests.send_request(session, CHINA_REQUEST, user=USER, at=at(14, 10))
    requests.set_request_status(session, CHINA_REQUEST, "accepted", user=USER, at=at(16, 11))
    pipeline.create_pledge(
        session, "CN", [LineIn("PCR-TEST", 100_000), LineIn("PARA-500", 1_000_000)],
        request=CHINA_REQUEST, expected_by=date(2022, 5, 22), user=USER, at=at(16, 12),
    )  # fmt: skip
    pipeline.create_shipment(
        session, CHINA_PLEDGE, "STOCKPILE",
        [ShipLineIn("PCR-TEST", "CN-PCR-1", date(2023, 5, 1), 100_000),
         ShipLineIn("PARA-500", "CN-PARA-1", date(2025, 1, 1), 600_000)],
        carrier="Air Koryo", route="Beijing - Sinuiju - Pyongyang", border_crossing="Sinuiju",
        departed_at=at(17, 8), expected_at=date(2022, 5, 19), user=USER, at=at(17, 8),
    )  # fmt: skip
    pipeline.update_shipment(session, PARTLY, status="arrived", user=USER, at=at(19, 9))
    pipeline.receive_shipment(
        session, PARTLY,
        [ReceiveLineIn("PCR-TEST", "CN-PCR-1", 100_000),
         ReceiveLineIn("PARA-500", "CN-PARA-1", 400_000)],
        received_by="Kim Yong Su", user=USER, at=at(19, 14),
    )  # fmt: skip
    pipeline.create_shipment(
        session, CHINA_PLEDGE, "STOCKPILE",
        [ShipLineIn("PARA-500", "CN-PARA-2", date(2025, 1, 1), 400_000)],
        carrier="Dandong rail", route="Dandong - Sinuiju", border_crossing="Sinuiju",
        departed_at=at(20, 7), expected_at=date(2022, 5, 23), user=USER, at=at(20, 7),
    )  # fmt: skip

    # The Republic of Korea's offer: unanswered past its deadline (an illustration).
    offer = requests.record_offer(
        session, "KR",
        [LineIn("VAC-COV", 1_000_000, expiry=date(2023, 3, 1)),
         LineIn("MASK-MED", 2_000_000), LineIn("PCR-TEST", 50_000)],
        channel="liaison_office", user=USER, received_at=at(16, 9),
        answer_by=at(18, 18), conditions="Delivered through Panmunjom", illustrative=True,
    )  # fmt: skip
    assert offer.number == KOREA_OFFER
    requests.log_message(
        session, KOREA_OFFER, direction="in", kind="notice", channel="liaison_office",
        summary="Notice of the offer through the liaison office: reported 'not yet received'",
        their_side="Ministry of Unification", user=USER, at=at(17, 9), awaits_answer=True,
        illustrative=True,
    )  # fmt: skip
    requests.log_message(
        session, KOREA_OFFER, direction="in", kind="call", channel="phone",
        summary="Call from the liaison office: no clear answer given",
        their_side="Ministry of Unification", user=USER, at=at(17, 15), awaits_answer=True,
        illustrative=True,
    )  # fmt: skip

    # Chagang's oral rehydration salts: asked of UNICEF, no answer.
    chagang = requests.create_request(
        session, "UNICEF", [LineIn("ORS", 50_000)], channel="email", unit="KP-04",
        reason="ORS runs out in Chagang by 28 May", user=USER, at=at(18, 9),
    )  # fmt: skip
    assert chagang.number == CHAGANG_REQUEST
    requests.send_request(session, CHAGANG_REQUEST, user=USER, at=at(18, 10))

    # Chagang's amoxicillin: the WHO accepted, pledged and shipped; at the border.
    who = requests.create_request(
        session, "WHO", [LineIn("AMOX-500", 200_000)], channel="un_agency", unit="KP-04",
        reason="Amoxicillin for severe cases in Chagang", user=USER, at=at(15, 9),
    )  # fmt: skip
    assert who.number == WHO_REQUEST
    requests.send_request(session, WHO_REQUEST, user=USER, at=at(15, 10))
    requests.set_request_status(session, WHO_REQUEST, "accepted", user=USER, at=at(16, 10))
    pipeline.create_pledge(
        session, "WHO", [LineIn("AMOX-500", 200_000)], request=WHO_REQUEST, user=USER,
        at=at(16, 15),
    )  # fmt: skip
    pipeline.create_shipment(
        session, WHO_PLEDGE, "WH-KP-04",
        [ShipLineIn("AMOX-500", "WHO-AMX-1", date(2024, 6, 1), 200_000)],
        carrier="WHO logistics", route="Dandong - Sinuiju - Kanggye", border_crossing="Sinuiju",
        departed_at=at(18, 6), expected_at=date(2022, 5, 21), user=USER, at=at(18, 6),
    )  # fmt: skip
    pipeline.update_shipment(session, AT_BORDER, status="at_border", user=USER, at=at(19, 16))
    pipeline.update_shipment(session, AT_BORDER, customs="pending", user=USER, at=at(19, 17))

    # A draft for Pyongyang: not sent, waits for nobody.
    draft = requests.create_request(
        session, "CN", [LineIn("IBU-400", 10_000)], channel="diplomatic_note", unit="KP-01",
        reason="Ibuprofen for Pyongyang", user=USER, at=at(19, 9),
    )  # fmt: skip
    assert draft.number == DRAFT
    return History(
        arrived={"PCR-TEST": 100_000, "PARA-500": 400_000},
        on_the_way={"PARA-500": 200_000 + 400_000, "AMOX-500": 200_000},
    )
