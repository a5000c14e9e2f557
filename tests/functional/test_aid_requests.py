"""Partners, requests, offers, the communications log, overdue answers and the
timeline (issue #12, items 1, 2, 4 and 8), through the services.

Every refusal is checked to leave nothing written (the aid tables' row counts
before and after). Runs on SQLite, and PostgreSQL when
SITROOM_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sitroom.aid import partners, requests
from sitroom.aid.common import AidRefused, LineIn
from sitroom.aid.models import AidEvent, AidRequest, Message, Offer, Partner
from sitroom.auth.permissions import Principal
from sitroom.errors import ConflictError, ForbiddenError, NotFoundError

MAY = datetime(2022, 5, 16, 0, 0, tzinfo=UTC)  # 09:00 in Pyongyang
NOW = datetime(2022, 6, 1, 0, 0, tzinfo=UTC)


def _now() -> datetime:
    return NOW


def _counts(session: Session) -> dict[str, int]:
    tables = ("aid_partner", "aid_request", "aid_request_line", "aid_offer", "aid_offer_line",
              "aid_message", "aid_event")  # fmt: skip
    session.rollback()
    return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


@pytest.fixture
def aid(loaded: Session) -> Session:
    partners.add_partner(loaded, "CN", "People's Republic of China", "government",
                         user="coord", country="cn", now=_now)  # fmt: skip
    partners.add_partner(loaded, "KR", "Republic of Korea (Ministry of Unification)",
                         "government", user="coord", country="KR", now=_now)  # fmt: skip
    partners.add_contact(loaded, "KR", "Inter-Korean liaison office", "liaison_office",
                         user="coord", now=_now)  # fmt: skip
    return loaded


def test_partners_are_listed_with_their_contacts(aid: Session) -> None:
    listed = {p.code: p for p in partners.list_partners(aid)}
    assert set(listed) == {"CN", "KR"}
    assert listed["CN"].country == "CN"
    assert [c.channel for c in listed["KR"].contacts] == ["liaison_office"]
    before = _counts(aid)
    with pytest.raises(ConflictError, match="exists already"):
        partners.add_partner(aid, "CN", "China again", "government", user="coord", now=_now)
    with pytest.raises(AidRefused, match="unknown partner kind 'club'"):
        partners.add_partner(aid, "X", "X", "club", user="coord", now=_now)
    with pytest.raises(AidRefused, match="the country 'ZZZ' is not an ISO 3166-1 alpha-2"):
        partners.add_partner(aid, "X", "X", "ngo", user="coord", country="ZZZ", now=_now)
    with pytest.raises(NotFoundError, match="unknown partner 'ZZ'"):
        partners.add_contact(aid, "ZZ", "Someone", "phone", user="coord", now=_now)
    assert _counts(aid) == before


def test_a_request_from_draft_to_partly_accepted(aid: Session) -> None:
    made = requests.create_request(
        aid, "CN", [LineIn("PCR-TEST", 100_000), LineIn("PARA-500", 5_000_000)],
        channel="diplomatic_note", reason="PCR kits: 0 in stock; the gap of 2022-05-16",
        needed_by=date(2022, 5, 31), gap={"PCR-TEST": 100_000}, user="coord", at=MAY, now=_now,
    )  # fmt: skip
    assert made.number == "REQ-2022-0001"
    assert made.status == "draft"
    assert made.gap == {"PCR-TEST": 100_000}
    assert made.unit == "KP"

    edited = requests.edit_request(
        aid, made.number, lines=[LineIn("PCR-TEST", 150_000)], user="coord", now=_now
    )
    assert [(ln.item, ln.quantity) for ln in edited.lines] == [("PCR-TEST", 150_000)]

    sent = requests.send_request(aid, made.number, user="coord", at=MAY + timedelta(hours=1),
                                 answer_hours=24, now=_now)  # fmt: skip
    assert sent.status == "sent"
    assert sent.sent_at == MAY + timedelta(hours=1)
    with pytest.raises(ConflictError, match="only a draft can be edited"):
        requests.edit_request(aid, made.number, reason="again", user="coord", now=_now)

    # Partly accepted: 100,000 of the 150,000 kits.
    with pytest.raises(AidRefused, match="more than the 150,000 asked"):
        requests.set_request_status(aid, made.number, "partly_accepted",
                                    accepted={"PCR-TEST": 200_000}, user="coord",
                                    at=MAY + timedelta(days=2), now=_now)  # fmt: skip
    done = requests.set_request_status(
        aid, made.number, "partly_accepted", accepted={"PCR-TEST": 100_000}, user="coord",
        at=MAY + timedelta(days=2), now=_now,
    )  # fmt: skip
    assert done.status == "partly_accepted"
    assert done.lines[0].accepted == 100_000
    # The answer is logged as the partner's message answering our notice: nothing waits.
    log = requests.messages(aid, made.number, at=NOW)
    assert [(m.direction, m.reply_to) for m in log] == [("out", None), ("in", log[0].id)]
    assert log[0].answered_at == MAY + timedelta(days=2)
    assert not log[0].overdue
    assert requests.overdue(aid, at=NOW) == []
    history = aid.scalars(
        select(AidEvent.to_status).where(AidEvent.subject == "request").order_by(AidEvent.id)
    ).all()
    assert history == ["draft", "draft", "sent", "partly_accepted"]

    # Declined after accepted is not a move the life allows.
    with pytest.raises(ConflictError, match="cannot become declined"):
        requests.set_request_status(aid, made.number, "declined", user="coord", now=_now)


def test_bad_requests_are_refused_with_every_reason_and_nothing_written(aid: Session) -> None:
    before = _counts(aid)
    with pytest.raises(AidRefused) as refused:
        requests.create_request(
            aid, "CN", [LineIn("NOPE", 5), LineIn("PARA-500", -3), LineIn("ORS", 2.5)],  # type: ignore[arg-type]
            channel="pigeon", reason="", user="coord", at=NOW + timedelta(days=3), now=_now,
        )  # fmt: skip
    message = str(refused.value)
    for part in ("unknown item 'NOPE'", "whole number", "unknown channel 'pigeon'",
                 "the reason is empty", "is in the future", "nothing was written"):  # fmt: skip
        assert part in message, message
    with pytest.raises(NotFoundError, match="unknown partner 'XX'"):
        requests.create_request(aid, "XX", [LineIn("ORS", 1)], channel="email",
                                reason="r", user="coord", now=_now)  # fmt: skip
    with pytest.raises(NotFoundError, match="unknown org unit"):
        requests.create_request(aid, "CN", [LineIn("ORS", 1)], channel="email", reason="r",
                                unit="KP-99", user="coord", now=_now)  # fmt: skip
    assert _counts(aid) == before


def test_a_coordinator_acts_only_in_their_scope(aid: Session) -> None:
    region = aid.scalar(text("SELECT path FROM org_unit WHERE code = 'KP-04'"))
    other = aid.scalar(text("SELECT path FROM org_unit WHERE code = 'KP-05'"))
    coordinator = Principal("kim", "coordinator", (region,), ("KP-04",))
    viewer = Principal("pat", "viewer", (other,), ("KP-05",))
    mine = requests.create_request(
        aid, "CN", [LineIn("ORS", 10)], channel="email", reason="r", unit="KP-04",
        user="kim", principal=coordinator, now=_now,
    )  # fmt: skip
    before = _counts(aid)
    with pytest.raises(ForbiddenError, match="outside their scopes"):
        requests.create_request(aid, "CN", [LineIn("ORS", 10)], channel="email", reason="r",
                                user="kim", principal=coordinator, now=_now)  # fmt: skip
    with pytest.raises(ForbiddenError, match=r"aid\.write"):
        requests.send_request(aid, mine.number, user="pat", principal=viewer, now=_now)
    with pytest.raises(ForbiddenError):
        requests.get_request(aid, mine.number, principal=viewer)
    assert requests.list_requests(aid, principal=viewer) == []
    assert [r.number for r in requests.list_requests(aid, principal=coordinator)] == [mine.number]
    assert _counts(aid) == before


def test_the_2022_offer_overdue_and_its_timeline(aid: Session) -> None:
    """The illustration of the docs: a notice in the morning, "not yet received"; a call
    in the afternoon without a clear answer."""
    received = datetime(2022, 5, 16, 1, 0, tzinfo=UTC)
    offer = requests.record_offer(
        aid, "KR", [LineIn("VAC-COV", 1_000_000), LineIn("MASK-MED", 2_000_000),
                    LineIn("RDT-AG", 50_000, date(2023, 5, 1))],
        channel="liaison_office", received_at=received,
        answer_by=received + timedelta(days=3), conditions="through the liaison office",
        user="coord", now=_now,
    )  # fmt: skip
    assert offer.number == "OFF-2022-0001"
    assert offer.status == "received"
    first = requests.messages(aid, offer.number, at=received)[0]
    assert first.direction == "in"
    assert first.awaits_answer

    notice = requests.log_message(
        aid, offer.number, direction="out", kind="notice", channel="liaison_office",
        summary="Notice of the offer to the North's liaison officer: 'not yet received'",
        their_side="liaison officer", at=received + timedelta(hours=1), awaits_answer=True,
        answer_hours=24, user="coord", now=_now,
    )  # fmt: skip
    call = requests.log_message(
        aid, offer.number, direction="out", kind="call", channel="phone",
        summary="Afternoon call: no clear answer", at=received + timedelta(hours=6),
        awaits_answer=True, user="coord", now=_now,
    )  # fmt: skip
    before = _counts(aid)
    with pytest.raises(AidRefused, match="dated before the message it answers"):
        requests.log_message(
            aid, offer.number, direction="in", kind="call", channel="phone", summary="yes",
            at=received + timedelta(minutes=30), reply_to=notice.id, user="coord", now=_now,
        )  # fmt: skip
    with pytest.raises(AidRefused, match="an answer goes the other way"):
        requests.log_message(
            aid, offer.number, direction="out", kind="call", channel="phone", summary="x",
            at=received + timedelta(hours=7), reply_to=call.id, user="coord", now=_now,
        )  # fmt: skip
    assert _counts(aid) == before

    # Four days later: the two notices of ours and the offer's deadline are all overdue.
    late = received + timedelta(days=4)
    found = requests.overdue(aid, at=late, answer_hours=24)
    kinds = sorted((o.kind, o.waiting_for) for o in found)
    assert kinds == [("message", "partner"), ("message", "partner"), ("message", "us")]
    assert all(o.hours_overdue > 0 for o in found)
    # Before the morning notice's day is out, nothing of ours is overdue yet.
    assert requests.overdue(aid, at=received + timedelta(hours=12)) == []

    # An answer to the call clears it (and only it).
    requests.log_message(
        aid, offer.number, direction="in", kind="call", channel="phone",
        summary="Call back: no decision", at=received + timedelta(days=2),
        reply_to=call.id, user="coord", now=_now,
    )  # fmt: skip
    still = requests.overdue(aid, at=late)
    assert call.id not in {o.message_id for o in still}
    assert notice.id in {o.message_id for o in still}

    lapsed = requests.set_offer_status(aid, offer.number, "lapsed", at=late,
                                       note="no answer given", user="coord", now=_now)  # fmt: skip
    assert lapsed.status == "lapsed"
    assert requests.overdue(aid, at=late) == []  # a lapsed offer waits for nothing

    story = requests.timeline(aid, offer.number, at=late)
    texts = [e.text for e in story.entries]
    assert [e.time for e in story.entries] == sorted(e.time for e in story.entries)
    assert any("not yet received" in t and "never answered" in t for t in texts), texts
    assert any("no clear answer" in t and "answered" in t for t in texts), texts
    assert texts[-1].startswith(f"{offer.number}: received -> lapsed")


def test_an_offer_cannot_lapse_before_its_deadline(aid: Session) -> None:
    received = datetime(2022, 5, 16, 1, 0, tzinfo=UTC)
    offer = requests.record_offer(aid, "KR", [LineIn("ORS", 10)], channel="phone",
                                  received_at=received, answer_by=received + timedelta(days=1),
                                  user="coord", now=_now)  # fmt: skip
    with pytest.raises(AidRefused, match="only after its deadline"):
        requests.set_offer_status(aid, offer.number, "lapsed", at=received + timedelta(hours=2),
                                  user="coord", now=_now)  # fmt: skip
    with pytest.raises(AidRefused, match="before the offer was received"):
        requests.record_offer(aid, "KR", [LineIn("ORS", 10)], channel="phone",
                              received_at=received, answer_by=received - timedelta(days=1),
                              user="coord", now=_now)  # fmt: skip


def test_history_and_messages_are_append_only(aid: Session) -> None:
    made = requests.create_request(aid, "CN", [LineIn("ORS", 10)], channel="email",
                                   reason="r", user="coord", at=MAY, now=_now)  # fmt: skip
    requests.send_request(aid, made.number, user="coord", at=MAY, now=_now)
    for table in ("aid_event", "aid_message"):
        for statement in (f"UPDATE {table} SET recorded_at = recorded_at", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"):
                aid.execute(text(statement))
            aid.rollback()
    assert aid.scalar(select(func.count()).select_from(Message)) == 1
    assert aid.scalar(select(func.count()).select_from(AidRequest)) == 1
    assert aid.scalar(select(func.count()).select_from(Partner)) == 2
    assert aid.scalar(select(func.count()).select_from(Offer)) == 0
