"""The gap per item and region, and the suggested requests (issue #12, item 5), through
the service on a small database: figures worked out by hand, the scopes, the forecast.

Partners, requests, pledges and shipments are inserted as rows; what arrived is the
ledger's receipts under the shipment's number. Runs on SQLite, and PostgreSQL when
SITROOM_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.aid import requests
from sitroom.aid.gap_service import GapReport, gap_report, suggest
from sitroom.aid.models import (
    AidRequest,
    Contact,
    Partner,
    Pledge,
    PledgeLine,
    Receipt,
    Shipment,
    ShipmentLine,
)
from sitroom.auth.permissions import Principal
from sitroom.country import Country
from sitroom.errors import ForbiddenError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.demand_service import forecast_demand
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import Facility, Item

T0 = datetime(2022, 5, 1, 1, 0, tzinfo=UTC)
FIRST = date(2022, 5, 20)
FAR = date(2030, 1, 1)
PHARMACY = "PH-KP-04-CHANGGANG-001"


def _id(session: Session, model: Any, code: str) -> int:
    found = session.scalar(select(model.id).where(model.code == code))
    assert found is not None, code
    return int(found)


class Aid:
    """Rows of partners, requests, pledges and shipments, inserted directly."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.serial = 0

    def partner(self, code: str, kind: str, contact: str | None = None) -> int:
        partner = Partner(code=code, name=f"Partner {code}", kind=kind, created_by="t",
                          created_at=T0)  # fmt: skip
        self.session.add(partner)
        self.session.flush()
        if contact:
            self.session.add(Contact(partner_id=partner.id, name="Office", channel=contact,
                                     created_by="t", created_at=T0))  # fmt: skip
        return partner.id

    def _number(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-2022-{self.serial:04d}"

    def pledge(
        self,
        partner: int,
        unit: str,
        status: str,
        lines: dict[str, int],
        *,
        at: datetime,
        expected: date | None = None,
    ) -> int:
        unit_id = _id(self.session, OrgUnit, unit)
        request = AidRequest(number=self._number("REQ"), partner_id=partner, channel="email",
                             org_unit_id=unit_id, status="accepted", reason="test",
                             created_by="t", created_at=at, status_at=at)  # fmt: skip
        self.session.add(request)
        self.session.flush()
        pledge = Pledge(number=self._number("PLG"), partner_id=partner, request_id=request.id,
                        org_unit_id=unit_id, status=status, pledged_at=at, expected_by=expected,
                        created_by="t", created_at=at, status_at=at)  # fmt: skip
        self.session.add(pledge)
        self.session.flush()
        for item, quantity in lines.items():
            self.session.add(PledgeLine(pledge_id=pledge.id, item_id=_id(self.session, Item, item),
                                        quantity=quantity))  # fmt: skip
        self.session.flush()
        return pledge.id

    def shipment(
        self,
        pledge: int,
        destination: str,
        status: str,
        lines: dict[str, int],
        *,
        at: datetime,
        expected: date | None = None,
    ) -> str:
        partner = self.session.scalar(select(Pledge.partner_id).where(Pledge.id == pledge))
        assert partner is not None
        shipment = Shipment(number=self._number("SHP"), pledge_id=pledge, partner_id=partner,
                            destination_id=_id(self.session, Facility, destination),
                            status=status, expected_at=expected, created_by="t", created_at=at,
                            status_at=at)  # fmt: skip
        self.session.add(shipment)
        self.session.flush()
        for item, quantity in lines.items():
            self.session.add(ShipmentLine(shipment_id=shipment.id,
                                          item_id=_id(self.session, Item, item),
                                          lot=f"{shipment.number}-L", expiry=FAR,
                                          quantity=quantity))  # fmt: skip
        self.session.commit()
        return shipment.number

    def receive(self, number: str, facility: str, item: str, quantity: int, at: datetime) -> None:
        """A receipt into the ledger under the shipment's number, linked to it."""
        summary = Ledger(self.session, user="t").post(
            [
                Movement(
                    at,
                    "receipt",
                    facility,
                    item,
                    quantity,
                    lot=f"{number}-L",
                    expiry=FAR,
                    counterparty="donor",
                    reference=number,
                )
            ],
            source=f"receipt of {number}",
        )
        assert summary.committed, summary.rejections
        shipment = self.session.scalar(select(Shipment.id).where(Shipment.number == number))
        assert shipment is not None
        assert summary.batch_id is not None
        self.session.add(Receipt(shipment_id=shipment, stock_batch_id=summary.batch_id,
                                 received_at=at, received_by="store keeper", recorded_by="t",
                                 recorded_at=at))  # fmt: skip
        self.session.commit()


def _id_of(session: Session, number: str) -> int:
    found = session.scalar(select(Shipment.id).where(Shipment.number == number))
    assert found is not None, number
    return int(found)


def _stock(session: Session, facility: str, item: str, quantity: int) -> None:
    summary = Ledger(session, user="t").post(
        [Movement(T0, "receipt", facility, item, quantity, lot="OWN", expiry=FAR)], source="stock"
    )
    assert summary.committed, summary.rejections


@pytest.fixture
def world(loaded: Session, tmp_path: Path) -> tuple[Session, Path]:
    """Expected cases for 4 days from 2022-05-20 (Chagang 100 a day, Pyongyang 10),
    stock, and the pipeline of four partners.

    - CN (government, no contact): pledged 1,000 PARA-500 nationally on 1 May, shipped
      and received in full at the stockpile on 6 May (fulfilled): reliability 2/3 at
      each stage (one settled line delivered in full, two pseudo-lines half).
    - KR (government, liaison office): a pledge of 500 cancelled with nothing shipped
      (pledged 1/3, shipped 0.5 with no history); a pledge of 3,000 for Chagang on 10
      May (open, expected 22 May), of which 1,200 shipped to WH-KP-04 (expected 21 May)
      and 200 received on 12 May: 1,800 pledged and 1,000 shipped in the pipeline.
    - WHO (UN agency): 400 for Pyongyang expected 30 June (after the horizon), and
      5 PCR tests (no protocol names them).
    - NGO-X (NGO): no history.
    """
    session = loaded
    aid = Aid(session)
    cn = aid.partner("CN", "government")
    kr = aid.partner("KR", "government", contact="liaison_office")
    who = aid.partner("WHO", "un_agency")
    aid.partner("NGO-X", "ngo")

    first = aid.pledge(cn, "KP", "fulfilled", {"PARA-500": 1_000}, at=T0)
    s1 = aid.shipment(first, "STOCKPILE", "received", {"PARA-500": 1_000}, at=T0)
    aid.receive(s1, "STOCKPILE", "PARA-500", 1_000, T0 + timedelta(days=5))

    aid.pledge(kr, "KP", "cancelled", {"PARA-500": 500}, at=T0)
    may10 = T0 + timedelta(days=9)
    chagang = aid.pledge(kr, "KP-04", "open", {"PARA-500": 3_000}, at=may10,
                         expected=date(2022, 5, 22))  # fmt: skip
    s3 = aid.shipment(chagang, "WH-KP-04", "partly_received", {"PARA-500": 1_200}, at=may10,
                      expected=date(2022, 5, 21))  # fmt: skip
    aid.receive(s3, "WH-KP-04", "PARA-500", 200, may10 + timedelta(days=2))

    aid.pledge(who, "KP-01", "open", {"PARA-500": 400, "PCR-TEST": 5}, at=may10,
               expected=date(2022, 6, 30))  # fmt: skip

    _stock(session, "WH-KP-04", "PARA-500", 2_000)
    _stock(session, PHARMACY, "PARA-500", 500)
    _stock(session, "WH-KP-01", "PARA-500", 700)
    _stock(session, "WH-KP-05", "PARA-500", 9_999)  # South Hwanghae: no need given
    session.commit()

    series = tmp_path / "expected.csv"
    days = [FIRST + timedelta(days=n) for n in range(4)]
    series.write_text(
        "date,KP-04,KP-01\n" + "".join(f"{d},100,10\n" for d in days), encoding="utf-8"
    )
    return session, series


def report_of(world: tuple[Session, Path], **kwargs: Any) -> GapReport:
    session, series = world
    country: Country = kwargs.pop("country")
    return gap_report(session, country, series=series, horizon=4, **kwargs)


def test_the_gap_by_hand(world: tuple[Session, Path], country: Country) -> None:
    report = report_of(world, country=country)
    assert (report.first_day, report.last_day, report.method) == (
        FIRST,
        date(2022, 5, 23),
        "expected",
    )
    assert report.source == "expected.csv"
    # The protocols: 15 tablets of PARA-500 per case (0.9 x 15 + 0.1 x 15).
    chagang = report.row("PARA-500", "KP-04")
    assert chagang.need_median == pytest.approx(6_000)  # 400 cases x 15
    assert chagang.need_lower == pytest.approx(6_000)  # a given series: no interval
    assert chagang.stock == 2_700  # warehouse 2,000 + 200 received, pharmacy 500
    assert (chagang.pledged, chagang.shipped) == (1_800, 1_000)
    # KR: pledged 1/3 (a pledge cancelled, nothing delivered), shipped 0.5 (no history).
    assert chagang.pledged_weighted == pytest.approx(600)
    assert chagang.shipped_weighted == pytest.approx(500)
    assert chagang.gap_median == pytest.approx(6_000 - 2_700 - 1_100)
    assert chagang.surplus == 0
    # 1,500 a day: 3,000 > 2,700 on the second day.
    assert chagang.runs_out == date(2022, 5, 21)

    pyongyang = report.row("PARA-500", "KP-01")
    assert pyongyang.need_median == pytest.approx(600)
    assert pyongyang.stock == 700
    assert (pyongyang.pledged, pyongyang.later) == (0, 400)  # WHO's: after the horizon
    assert (pyongyang.gap_median, pyongyang.surplus) == (0, pytest.approx(100))
    assert pyongyang.runs_out is None

    national = report.row("PARA-500", "KP")
    assert national.national
    assert national.need_median == pytest.approx(6_600)
    # The stockpile's 1,000 (from CN) + Chagang + Pyongyang; not South Hwanghae's 9,999.
    assert national.stock == 4_400
    assert national.pipeline_weighted == pytest.approx(1_100)
    assert national.later == 400
    assert national.gap_median == pytest.approx(1_100)
    assert national.runs_out == date(2022, 5, 22)  # 1,650 a day: 4,950 > 4,400

    ors = report.row("ORS", "KP-04")
    assert ors.need_median == pytest.approx(880)  # 400 x (0.9 x 2 + 0.1 x 4)
    assert ors.gap_upper == pytest.approx(880)
    assert ors.runs_out == FIRST

    rows = report.rows()
    assert [r["org_unit"] for r in rows[:3]] == ["KP", "KP-01", "KP-04"]
    assert rows[2] == {
        **rows[2],
        "item": "PARA-500",
        "unit": "tablet",
        "need_median": 6_000,
        "stock": 2_700,
        "pledged_weighted": 600.0,
        "gap_median": 2_200,
        "runs_out": "2022-05-21",
    }
    reliability = {r.code: r for r in report.reliability}
    assert reliability["CN"].pledged == pytest.approx(2 / 3)
    assert reliability["CN"].shipped == pytest.approx(2 / 3)
    assert reliability["KR"].pledged == pytest.approx(1 / 3)
    assert reliability["KR"].shipped == 0.5
    assert reliability["NGO-X"].pledged == 0.5
    text = " ".join(report.notes)
    assert "PCR-TEST" in text
    assert "South Hwanghae (KP-05)" in text
    assert report.to_dict()["rows"] == rows


def test_suggested_requests_can_be_drafted(world: tuple[Session, Path], country: Country) -> None:
    session, _ = world
    report = report_of(world, country=country)
    before = session.scalar(select(func.count(AidRequest.id)))
    suggestions = suggest(session, report)
    assert session.scalar(select(func.count(AidRequest.id))) == before  # nothing written
    # Every protocol item is short in the country; each suggested once, nationally.
    assert sorted(s.item for s in suggestions) == ["AMOX-500", "IBU-400", "MASK-MED", "ORS",
                                                   "PARA-500"]  # fmt: skip
    para = next(s for s in suggestions if s.item == "PARA-500")
    assert (para.org_unit, para.national, para.quantity) == ("KP", True, 1_100)
    assert para.needed_by == date(2022, 5, 22)
    # KR delivered PARA-500 2 days after its pledge, CN after 5; then the others.
    assert [p.code for p in para.partners] == ["KR", "CN", "NGO-X", "WHO"]
    assert [p.median_days for p in para.partners[:2]] == [2.0, 5.0]
    assert [p.channel for p in para.partners] == [
        "liaison_office", "diplomatic_note", "email", "un_agency",
    ]  # fmt: skip
    assert "the gap is 1,100 (up to 1,100)" in para.reason
    assert "runs out on 2022-05-22" in para.reason
    assert "Regions short: Chagang 2,200" in para.reason
    # An item nobody delivered: the most reliable first (CN 2/3, then 0.5, KR 1/3 last).
    ors = next(s for s in suggestions if s.item == "ORS")
    assert [p.code for p in ors.partners] == ["CN", "NGO-X", "WHO", "KR"]
    assert ors.quantity == 968  # 880 + 88

    args = para.request_args()
    assert args["partner"] == "KR"
    assert args["channel"] == "liaison_office"
    assert [(ln.item, ln.quantity) for ln in args["lines"]] == [("PARA-500", 1_100)]
    made = requests.create_request(
        session, **args, user="coord", at=datetime(2022, 5, 20, 1, tzinfo=UTC)
    )
    assert made.status == "draft"
    assert made.unit == "KP"
    assert made.gap is not None
    assert made.gap["gap_median"] == 1_100
    assert para.request_args("WHO")["channel"] == "un_agency"
    with pytest.raises(NotFoundError, match="unknown partner 'ZZ'"):
        para.request_args("ZZ")
    assert para.to_dict()["partner"] == "KR"


def test_a_regional_user_sees_their_regions(world: tuple[Session, Path], country: Country) -> None:
    session, _ = world
    chagang = Principal("kim", "coordinator", ("/KP/KP-04/",), ("KP-04",))
    report = report_of(world, country=country, principal=chagang)
    assert {r.org_unit for r in report.table} == {"KP-04"}
    assert "Columns outside the regions shown left out: KP-01." in report.notes
    assert report.row("PARA-500", "KP-04").gap_median == pytest.approx(2_200)
    # No national row: the region's own gap is suggested, for the region.
    para = next(s for s in suggest(session, report) if s.item == "PARA-500")
    assert (para.org_unit, para.national, para.quantity) == ("KP-04", False, 2_200)
    assert para.needed_by == date(2022, 5, 21)

    national = Principal("lee", "viewer", ("/KP/",), ("KP",))
    one = report_of(world, country=country, principal=national, org_unit="KP-01")
    assert {r.org_unit for r in one.table} == {"KP-01"}

    with pytest.raises(ForbiddenError, match="outside their scopes"):
        report_of(world, country=country, principal=chagang, org_unit="KP-01")
    with pytest.raises(ForbiddenError, match=r"does not have the permission aid\.read"):
        report_of(world, country=country, principal=Principal("rep", "reporter", ("/KP/",)))
    district = Principal("dan", "coordinator", ("/KP/KP-04/KP-04-KANGGYE/",), ("KP-04-KANGGYE",))
    with pytest.raises(ForbiddenError, match="no region is within their scopes"):
        report_of(world, country=country, principal=district)
    with pytest.raises(SitroomError, match="below a region"):
        report_of(world, country=country, org_unit="KP-04-KANGGYE")
    with pytest.raises(NotFoundError, match="unknown org unit 'ZZ'"):
        report_of(world, country=country, org_unit="ZZ")
    with pytest.raises(SitroomError, match="horizon must be"):
        gap_report(session, country, horizon=0)


def test_the_gap_from_the_forecast(outbreak_session: Session, country: Country) -> None:
    session = outbreak_session
    _stock(session, "STOCKPILE", "PARA-500", 50_000)
    _stock(session, "WH-KP-04", "PARA-500", 2_000)
    end = date(2022, 5, 31)
    report = gap_report(session, country, end=end, horizon=14)
    assert report.method == "samples"
    assert report.first_day == end + timedelta(days=1)
    demand = forecast_demand(session, country, horizon=14, end=end)
    regions = list(demand.places)
    assert len(regions) == 13
    for n, code in enumerate(regions):
        row = report.row("PARA-500", code)
        i = demand.demand.items.index("PARA-500")
        # The running quantiles end on the demand's own median and 90 % interval.
        assert row.need_median == pytest.approx(demand.demand.median[n, i], rel=1e-9)
        assert row.need_lower == pytest.approx(demand.demand.lower_90[n, i], rel=1e-9)
        assert row.need_upper == pytest.approx(demand.demand.upper_90[n, i], rel=1e-9)
    national = report.row("PARA-500", "KP")
    medians = [report.row("PARA-500", code).need_median for code in regions]
    assert national.need_median == pytest.approx(sum(medians))
    assert national.need_lower <= national.need_median <= national.need_upper
    assert national.stock == 52_000
    assert report.row("PARA-500", "KP-04").stock == 2_000
    chagang = report.row("PARA-500", "KP-04")
    if chagang.runs_out is not None:
        assert report.first_day <= chagang.runs_out <= report.last_day
    national_runout = national.runs_out
    assert national_runout is None or national_runout >= report.first_day
    # A regional reader's rows are those of the whole country's report.
    kim = Principal("kim", "coordinator", ("/KP/KP-04/",), ("KP-04",))
    mine = gap_report(session, country, end=end, horizon=14, principal=kim)
    assert mine.row("PARA-500", "KP-04") == chagang
    assert np.isfinite([r.gap_upper for r in report.table]).all()


def _after_the_close(session: Session) -> str:
    """The aid history of ``aid_history``, 5,000 tablets in North Pyongan's warehouse
    before the close of 25 May and 7,000 after it; after the close too, China's second
    shipment received, the WHO's cancelled at the border, and a new pledge to North
    Pyongan shipped on the 27th (its number returned)."""
    from sitroom.aid import pipeline
    from sitroom.aid.common import LineIn
    from sitroom.aid.pipeline import ReceiveLineIn, ShipLineIn
    from tests.functional import aid_history as story

    story.make_history(session)
    at = story.at
    session.commit()
    # North Pyongan's warehouse: 5,000 tablets before the close, 7,000 more after it.
    for when, units in ((at(10, 9), 5_000), (at(26, 9), 7_000)):
        done = Ledger(session, user="t").post(
            [Movement(when, "receipt", "WH-KP-03", "PARA-500", units, lot="OWN", expiry=FAR)],
            source="stock",
        )
        assert done.committed, done.rejections
    # After the close: China's second shipment received, the WHO's cancelled at the
    # border, and a new pledge to North Pyongan shipped on the 27th.
    pipeline.receive_shipment(
        session, story.IN_TRANSIT, [ReceiveLineIn("PARA-500", "CN-PARA-2", 400_000)],
        received_by="Kim", user="t", at=at(26, 10),
    )  # fmt: skip
    pipeline.cancel_shipment(session, story.AT_BORDER, reason="turned back", user="t", at=at(27, 8))
    request = requests.create_request(
        session, "CN", [LineIn("PARA-500", 50_000)], channel="diplomatic_note", unit="KP-03",
        reason="North Pyongan", user="t", at=at(26, 8),
    )  # fmt: skip
    requests.send_request(session, request.number, user="t", at=at(26, 9))
    requests.set_request_status(session, request.number, "accepted", user="t", at=at(26, 11))
    pledge = pipeline.create_pledge(
        session, "CN", [LineIn("PARA-500", 50_000)], request=request.number, user="t",
        at=at(26, 12),
    )  # fmt: skip
    late = pipeline.create_shipment(
        session, pledge.number, "WH-KP-03",
        [ShipLineIn("PARA-500", "CN-PARA-3", date(2025, 1, 1), 50_000)],
        departed_at=at(27, 7), expected_at=date(2022, 6, 1), user="t", at=at(27, 7),
    )  # fmt: skip
    return late.number


def test_the_gap_of_a_past_day_is_as_things_stood_at_its_close(
    outbreak: Session, country: Country
) -> None:
    """Stock from the ledger up to the close of the end day (25 May 2022, 18:00 in
    Pyongyang), the pipeline as the history had it then: a shipment that left after it
    is not in it, one received or cancelled after it still is. Today's close (not past
    yet) and a moment after everything give today's figures."""
    from sitroom.aid.gap_service import _history, _Layout, _stock
    from sitroom.supply.service import stock_on_hand

    session = outbreak
    late = _after_the_close(session)
    end = date(2022, 5, 25)
    close = datetime(2022, 5, 25, 9, tzinfo=UTC)  # 18:00 in Pyongyang
    kwargs: dict[str, Any] = {"end": end, "horizon": 14, "samples": 200}
    then = gap_report(session, country, **kwargs)
    assert then.as_of == close
    assert then.to_dict()["as_of"] == "2022-05-25T09:00:00+00:00"

    def ledger(under: str, item: str = "PARA-500", when: datetime | None = close) -> int:
        lines = stock_on_hand(session, at=when, item=item, under=under)
        return sum(line.quantity for line in lines)

    north = then.row("PARA-500", "KP-03")
    assert north.stock == ledger("KP-03") == 5_000
    assert north.shipped == north.pledged == 0  # the new pledge and its shipment: later
    national = then.row("PARA-500", "KP")
    assert national.stock == ledger("KP")
    # China's first shipment: 200,000 still to come; its second (400,000) in transit.
    assert (national.shipped, national.pledged) == (200_000 + 400_000, 0)
    # The WHO's amoxicillin was at the border then: in the pipeline, cancelled since.
    assert then.row("AMOX-500", "KP-04").shipped == 200_000
    assert then.row("AMOX-500", "KP-04").stock == ledger("KP-04", "AMOX-500") == 0

    # Today: the maintained balances and statuses (the close "not past" yet).
    today = gap_report(session, country, **kwargs, now=lambda: close - timedelta(hours=1))
    assert today.as_of is None
    north_now = today.row("PARA-500", "KP-03")
    assert north_now.stock == ledger("KP-03", when=None) == 12_000
    assert north_now.shipped == 50_000  # the shipment of the 27th
    assert today.row("PARA-500", "KP").shipped == 200_000 + 50_000
    assert today.row("AMOX-500", "KP-04").shipped == 0
    late_id = _id_of(session, late)
    assert late_id not in _history(session, close).shipments
    assert late_id in _history(session).shipments
    # The need is the same forecast either way; only the stock and pipeline move.
    assert north_now.need_upper == north.need_upper

    # As of a moment after everything, the replay of the ledger and of the history
    # gives today's figures exactly: the same rows, the same partners' records.
    replayed = gap_report(session, country, **kwargs, at=datetime.now(UTC) - timedelta(minutes=1))
    assert replayed.as_of is not None
    assert replayed.table == today.table
    assert replayed.reliability == today.reliability
    assert _history(session, replayed.as_of) == _history(session)
    layout = _Layout({"KP-03": 0, "KP-04": 1}, 2, {_id(session, Item, "PARA-500"): 0}, 1)
    assert (_stock(session, layout, replayed.as_of) == _stock(session, layout)).all()
    # The partners' records too: China's second shipment, received in full on the 26th,
    # is its first settled line (2/3); at the close it had none (0.5).
    assert {r.code: r.shipped for r in then.reliability}["CN"] == 0.5
    assert {r.code: r.shipped for r in today.reliability}["CN"] == pytest.approx(2 / 3)


def test_records_without_a_history_count_from_their_own_times(
    world: tuple[Session, Path], country: Country
) -> None:
    """Rows written without the services (no step in ``aid_event``): a pledge from when it
    was pledged, a shipment from its departure (else its creation), at today's status once
    it had it (``status_at``); after everything, today's figures."""
    today = report_of(world, country=country)
    after = report_of(world, country=country, at=datetime.now(UTC) - timedelta(minutes=1))
    assert after.as_of is not None
    assert after.table == today.table
    assert after.reliability == today.reliability
    # Before KR's pledge to Chagang (10 May) and the receipts (6 and 12 May): the
    # pledge not made yet, the stock the ledger had then (CN's shipment, whose row says
    # it was received at T0, leaves nothing in the pipeline).
    early = report_of(world, country=country, at=T0 + timedelta(days=3))
    chagang = early.row("PARA-500", "KP-04")
    assert (chagang.pledged, chagang.shipped, chagang.stock) == (0, 0, 2_500)
    national = early.row("PARA-500", "KP")
    assert (national.pledged, national.shipped) == (0, 0)
    assert national.stock == 2_500 + 700  # the stockpile's 1,000 came on 6 May
    assert today.row("PARA-500", "KP-04").pledged == 1_800
