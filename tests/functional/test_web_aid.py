"""Aid coordination's pages (issue #12, items 4, 6 and 7): the pipeline, the gap, the
overdue answers and each request's and offer's timeline, each page with its JSON twin,
the roles and scopes that may read them, bad input, the overview's marker.

One database for the module: the 2022 wave, then (after the pages of a fresh database
were read) the small aid history of ``aid_history`` made through the services. The
figures the pages show are checked against the same services.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from sitroom.aid import pipeline, requests
from sitroom.aid.gap_service import gap_report
from sitroom.auth import passwords
from sitroom.auth import service as auth
from sitroom.auth.permissions import Principal
from sitroom.country import Country
from tests.conftest import TEST_DATABASE_URL
from tests.functional import aid_history as story
from tests.functional.api_world import World, api_world
from tests.functional.test_web_dashboard import FAST, PASSWORD, client_for, shown_numbers, text_of

PEOPLE = {
    "cora": ("coordinator", ["KP"]),
    "chan": ("coordinator", ["KP-04"]),
    "vic": ("viewer", ["KP"]),
    "pia": ("pharmacist", ["KP"]),
}
#: The gap from a day whose series is long enough, over a week (fast to forecast).
GAP = "/aid/gap?end=2022-05-25&horizon=7"
PAGES = (
    "/aid",
    GAP,
    "/aid/overdue",
    f"/aid/requests/{story.CHINA_REQUEST}",
    f"/aid/offers/{story.KOREA_OFFER}",
)


@dataclass
class Aided:
    world: World
    history: story.History
    #: What the pages said before any aid was recorded (path -> twin).
    fresh: dict[str, Any] = field(default_factory=dict)
    fresh_overview: str = ""


@pytest.fixture(scope="module")
def aided(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Aided]:
    folder = tmp_path_factory.mktemp("aid-web")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", lambda: FAST)
        with api_world(_migrated, TEST_DATABASE_URL, folder, country) as built:
            for name, (role, scopes) in PEOPLE.items():
                auth.create_user(
                    built.session, name, role=role, scopes=scopes, password=PASSWORD, actor="t"
                )
            built.session.commit()
            fresh: dict[str, Any] = {}
            with client_for(built, "cora") as cora:
                for path in ("/aid.json", "/aid/overdue.json", "/aid/gap.json?end=2022-05-20"):
                    answer = cora.get(path)
                    assert answer.status_code == 200, answer.text
                    fresh[path] = answer.json()
                fresh["/aid"] = cora.get("/aid").text
                overview = cora.get("/overview").text
            history = story.make_history(built.session)
            yield Aided(built, history, fresh, overview)


@pytest.fixture(scope="module")
def cora(aided: Aided) -> Iterator[TestClient]:
    with client_for(aided.world, "cora") as client:
        yield client


def _principal(aided: Aided, name: str) -> Principal:
    aided.world.session.rollback()
    return auth.principal_for(aided.world.session, name)


def _table(twin: dict[str, Any], key: str) -> dict[str, Any]:
    for section in twin["sections"]:
        for table in section["tables"]:
            if table["key"] == key:
                return dict(table)
    raise KeyError(key)


def _rows(twin: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return list(_table(twin, key)["rows"])


# Each page and its twin -------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_each_aid_page_shows_the_numbers_of_its_twin(cora: TestClient, path: str) -> None:
    page = cora.get(path)
    assert page.status_code == 200, page.text
    base, _, query = path.partition("?")
    twin = cora.get(f"{base}.json" + (f"?{query}" if query else ""))
    assert twin.status_code == 200, twin.text
    data = twin.json()
    text = text_of(page.text)
    numbers = shown_numbers(data)
    assert numbers
    missing = [n for n in numbers if n not in text]
    assert not missing, missing[:10]
    for section in data["sections"]:
        assert section["title"] in text
        for sentence in section["sentences"]:
            assert sentence["text"] in text
        for chart in section["charts"]:
            assert chart["caption"] in text
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'type="application/json"' in tag or 'src="/static/' in tag, tag
    assert "style=" not in page.text
    # The navigation offers the aid pages; the page links its twin.
    assert '<li><a href="/aid" aria-current="page">Aid</a></li>' in page.text
    assert 'aria-label="Aid pages"' in page.text
    assert f'href="{base}.json' in page.text


def test_the_pipeline_by_status_and_what_is_on_its_way(cora: TestClient, aided: Aided) -> None:
    data = cora.get("/aid.json").json()
    assert data["kind"] == "aid"
    counted = {(r["what"], r["status"]): r["count"] for r in _rows(data, "statuses")}
    assert counted == {
        ("Requests", "draft"): 1,
        ("Requests", "sent"): 1,
        ("Requests", "accepted"): 2,
        ("Offers", "received"): 1,
        ("Pledges", "open"): 2,
        ("Shipments", "in transit"): 1,
        ("Shipments", "at the border"): 1,
        ("Shipments", "partly received"): 1,
    }
    # On its way: what the services say is shipped and not received, where it goes.
    db = aided.world.session
    db.rollback()
    listed = {s.number: s.outstanding for s in pipeline.list_shipments(db) if s.outstanding}
    coming = {r["number"]: r for r in _rows(data, "coming")}
    assert {n: r["outstanding"] for n, r in coming.items()} == listed
    assert sum(listed.values()) == sum(aided.history.on_the_way.values())
    assert coming[story.AT_BORDER]["status"] == "at the border (Sinuiju, customs pending)"
    assert coming[story.AT_BORDER]["region"] == "Chagang"
    assert coming[story.PARTLY]["items"] == "PARA-500 200,000"
    chart = data["sections"][1]["charts"][0]
    assert chart["key"] == "map_on_the_way"
    bound = {r["code"]: r["value"] for r in chart["spec"]["data"]["values"]}
    assert bound["KP-04"] == 1
    assert "2 shipments to the national stockpile" in chart["caption"]
    facts = {f["label"]: f["value"] for f in data["sections"][0]["facts"]}
    assert facts["Shipments on their way"] == 3
    assert facts["Answers overdue"] == len(requests.overdue(db))
    # Requests and offers link to their timelines; the illustrative offer is marked.
    page = cora.get("/aid").text
    assert f'<a href="/aid/requests/{story.CHINA_REQUEST}">' in page
    assert f'<a href="/aid/offers/{story.KOREA_OFFER}">' in page
    offers = _rows(data, "offers")
    assert offers[0]["illustration"] == "illustration"
    assert '<span class="badge illustration">illustration</span>' in page
    assert data["illustrative"] is True
    assert "Illustration." in text_of(page)
    # Of one partner only.
    only = cora.get("/aid.json?partner=WHO").json()
    assert [r["number"] for r in _rows(only, "requests")] == [story.WHO_REQUEST]
    assert [r["number"] for r in _rows(only, "coming")] == [story.AT_BORDER]


def test_the_gap_by_item_and_region_is_the_service_s(cora: TestClient, aided: Aided) -> None:
    data = cora.get("/aid/gap.json?end=2022-05-25&horizon=7&item=ORS").json()
    assert data["kind"] == "gap"
    db = aided.world.session
    db.rollback()
    report = gap_report(db, aided.world.context.country, end=date(2022, 5, 25), horizon=7)
    national = {r.item: r.to_dict() for r in report.table if r.national}
    shown = {r["item"].split(" ")[0]: r for r in _rows(data, "gap_items")}
    assert set(shown) == set(national)
    for item, row in shown.items():
        assert row["need"] == national[item]["need_median"]
        assert row["stock"] == national[item]["stock"]
        assert row["pipeline"] == national[item]["pledged"] + national[item]["shipped"]
        assert row["gap"] == national[item]["gap_median"]
        assert row["gap_upper"] == national[item]["gap_upper"]
        assert row["runs_out"] == (national[item]["runs_out"] or "")
    para = next(f for f in data["sections"][0]["facts"] if f["label"].startswith("Gap of PARA"))
    assert (para["value"], para["low"], para["high"]) == (
        national["PARA-500"]["gap_median"],
        national["PARA-500"]["gap_lower"],
        national["PARA-500"]["gap_upper"],
    )
    # One item by region, on the map and in the table.
    regions = data["sections"][1]
    assert regions["title"] == "ORS by region"
    chart = regions["charts"][0]
    assert chart["key"] == "map_gap"
    drawn = {r["code"]: r["value"] for r in chart["spec"]["data"]["values"]}
    expected = {r.org_unit: r.to_dict()["gap_median"] for r in report.table if r.item == "ORS"}
    assert {k: v for k, v in drawn.items() if v is not None} == {
        k: v for k, v in expected.items() if k != "KP"
    }
    assert len(regions["tables"][0]["rows"]) == 13
    assert [s["key"] for s in data["sections"]] == ["gap", "regions", "reliability"]


def test_the_gap_says_why_it_cannot_be_worked_out(cora: TestClient) -> None:
    page = cora.get("/aid/gap?end=2022-05-20")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "The gap cannot be worked out" in text
    assert "fewer than the 11 a forecast needs" in text
    assert "The same for 12 other regions." in text
    twin = cora.get("/aid/gap.json?end=2022-05-20").json()
    assert "no region has a fever series" in twin["sections"][0]["data"]["error"]


def test_the_overdue_answers_are_the_service_s(cora: TestClient, aided: Aided) -> None:
    data = cora.get("/aid/overdue.json").json()
    db = aided.world.session
    db.rollback()
    late = requests.overdue(db)
    rows = _rows(data, "overdue")
    assert [(r["about"], r["summary"]) for r in rows] == [(o.about, o.summary) for o in late]
    assert {r["about"] for r in rows} == {story.KOREA_OFFER, story.CHAGANG_REQUEST}
    facts = {f["label"]: f["value"] for f in data["sections"][0]["facts"]}
    assert facts == {
        "Answers overdue": len(late),
        "Waiting for a partner": 1,  # UNICEF's answer to Chagang's request
        "Waiting for us": len(late) - 1,  # the Republic of Korea's offer
    }
    assert all(r["illustration"] == "illustration" for r in rows if r["about"] == "OFF-2022-0001")
    assert all(not r.get("illustration") for r in rows if r["about"] != "OFF-2022-0001")
    page = cora.get("/aid/overdue").text
    assert f'<a href="/aid/offers/{story.KOREA_OFFER}">' in page
    assert "reported 'not yet received'" in text_of(page)


def test_a_timeline_tells_the_story_in_order(cora: TestClient, aided: Aided) -> None:
    data = cora.get(f"/aid/requests/{story.CHINA_REQUEST}.json").json()
    assert data["kind"] == "timeline"
    entries = data["sections"][1]["data"]["timeline"]
    times = [e["time"] for e in entries]
    assert times == sorted(times)
    db = aided.world.session
    db.rollback()
    told = requests.timeline(db, story.CHINA_REQUEST, zone=ZoneInfo("Asia/Pyongyang"))
    assert [e["text"] for e in entries] == [e.text for e in told.entries]
    assert any("; answered 2022-05-16 11:00 KST" in e.text for e in told.entries)
    kinds = [e["what"] for e in entries]
    assert kinds[:3] == ["status", "status", "message"]  # drafted, sent, its notice
    assert "receipt" in kinds
    assert kinds.index("pledge") < kinds.index("shipment") < kinds.index("receipt")
    # The page lists them in the same order, with the local time of each.
    page = cora.get(f"/aid/requests/{story.CHINA_REQUEST}").text
    listed = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert [t for t, _ in listed] == times
    assert listed[0][1] == "2022-05-14 09:00"  # the draft, in Pyongyang's time
    facts = {f["label"]: f["value"] for f in data["sections"][0]["facts"]}
    assert facts["Status"] == "accepted"
    lines = {r["item"].split(" · ")[0]: r for r in data["sections"][0]["tables"][0]["rows"]}
    assert lines["PARA-500"]["pledged"] == 1_000_000
    assert [r["number"] for r in _rows(data, "pledges")] == [story.CHINA_PLEDGE]
    # The offer's unanswered messages are overdue and marked as an illustration.
    offer = cora.get(f"/aid/offers/{story.KOREA_OFFER}.json").json()
    assert offer["illustrative"] is True
    messages = [e for e in offer["sections"][1]["data"]["timeline"] if e["what"] == "message"]
    assert len(messages) == 3
    assert all(m["overdue"] and m["illustrative"] for m in messages)
    text = text_of(cora.get(f"/aid/offers/{story.KOREA_OFFER}").text)
    assert "no clear answer given" in text
    assert "overdue" in text


# Who may read what --------------------------------------------------------------------------


def test_roles_without_aid_read_are_refused(aided: Aided) -> None:
    with client_for(aided.world, "pia") as pia:
        for path in PAGES:
            page = pia.get(path)
            assert page.status_code == 403, path
            assert "Traceback" not in page.text
            assert '<li><a href="/aid"' not in page.text
            base, _, query = path.partition("?")
            twin = pia.get(f"{base}.json" + (f"?{query}" if query else ""))
            assert twin.status_code == 403
            assert twin.json()["status"] == 403
        assert '<li><a href="/aid"' not in pia.get("/overview").text
    anonymous = TestClient(aided.world.client.app, follow_redirects=False)
    assert anonymous.get("/aid").status_code == 303
    assert anonymous.get("/aid").headers["location"] == "/signin"
    assert anonymous.get("/aid/overdue.json").status_code == 401


def test_a_viewer_with_aid_read_sees_the_pages(aided: Aided) -> None:
    with client_for(aided.world, "vic") as vic:
        for path in PAGES:
            page = vic.get(path)
            assert page.status_code == 200, path
            assert '<li><a href="/aid"' in page.text


def test_a_regional_coordinator_sees_their_region_only(aided: Aided) -> None:
    with client_for(aided.world, "chan") as chan:
        data = chan.get("/aid.json").json()
        asked = [r["number"] for r in _rows(data, "requests")]
        assert asked == [story.CHAGANG_REQUEST, story.WHO_REQUEST]
        offers = next(s for s in data["sections"] if s["key"] == "offers")
        assert (offers["tables"], offers["notes"]) == ([], ["no offer"])  # national: not theirs
        assert [r["number"] for r in _rows(data, "coming")] == [story.AT_BORDER]
        assert [r["number"] for r in _rows(data, "shipments")] == [story.AT_BORDER]
        # The same as the services give for their principal.
        db = aided.world.session
        late = requests.overdue(db, principal=_principal(aided, "chan"))
        overdue = chan.get("/aid/overdue.json").json()
        assert [r["about"] for r in _rows(overdue, "overdue")] == [o.about for o in late]
        assert [o.about for o in late] == [story.CHAGANG_REQUEST]
        # Another region's or the country's records are refused, not hidden.
        refused = chan.get(f"/aid/requests/{story.CHINA_REQUEST}")
        assert refused.status_code == 403
        assert "Not in your scope" in refused.text
        assert chan.get(f"/aid/requests/{story.DRAFT}.json").status_code == 403
        assert chan.get(f"/aid/requests/{story.WHO_REQUEST}").status_code == 200
        # The gap: their region's rows, no national row.
        gap = chan.get("/aid/gap.json?end=2022-05-25&horizon=7&item=AMOX-500").json()
        assert gap["sections"][0]["title"] == "The gap in your regions"
        assert {r["place"] for r in _rows(gap, "gap_items")} == {"Chagang"}
        assert [r["region"] for r in _rows(gap, "gap_regions")] == ["Chagang"]


# Bad input, the overview's marker, a fresh database ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/aid?partner=XX", 404),
        ("/aid/gap?horizon=0", 400),
        ("/aid/gap?horizon=abc", 400),
        ("/aid/gap?horizon=2.5", 400),
        ("/aid/gap?horizon=29", 400),
        ("/aid/gap?end=someday", 400),
        ("/aid/gap?item=NOPE", 404),
        ("/aid/requests/REQ-2022-9999", 404),
        (f"/aid/requests/{story.KOREA_OFFER}", 404),
        (f"/aid/offers/{story.CHINA_REQUEST}", 404),
        ("/aid/gap.json?horizon=99", 400),
        ("/aid/offers/NOPE.json", 404),
    ],
)
def test_bad_input_is_a_page_not_a_traceback(cora: TestClient, path: str, status: int) -> None:
    answer = cora.get(path)
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text
    if ".json" in path:
        assert answer.json()["status"] == status
    else:
        assert "<h1>" in answer.text


def test_the_overview_marks_the_overdue_answers(aided: Aided, cora: TestClient) -> None:
    db = aided.world.session
    db.rollback()
    late = len(requests.overdue(db))
    page = cora.get("/overview").text
    marker = re.search(r'<p class="banner notice">(.*?)</p>', page, flags=re.S)
    assert marker is not None
    assert f'<a href="/aid/overdue">{late} answers are overdue</a>' in marker.group(1)
    assert "overdue" not in cora.get("/overview.json").text  # the user's, not the context's
    # A regional coordinator's count is their scope's; no marker without aid.read.
    with client_for(aided.world, "chan") as chan:
        assert '<a href="/aid/overdue">1 answer is overdue</a>' in chan.get("/").text
    with client_for(aided.world, "pia") as pia:
        assert 'class="banner notice"' not in pia.get("/overview").text
    # Before any aid was recorded: no marker.
    assert 'class="banner notice"' not in aided.fresh_overview


def test_a_fresh_database_says_no_aid_is_recorded(aided: Aided) -> None:
    pipeline_twin = aided.fresh["/aid.json"]
    assert [s["title"] for s in pipeline_twin["sections"]] == ["No aid recorded"]
    assert "no request, offer, pledge or shipment" in pipeline_twin["sections"][0]["notes"][0]
    assert "No aid recorded" in text_of(aided.fresh["/aid"])
    overdue = aided.fresh["/aid/overdue.json"]
    assert overdue["sections"][0]["facts"][0]["value"] == 0
    assert overdue["sections"][0]["notes"] == ["nothing waits for an answer past its time"]
    gap = aided.fresh["/aid/gap.json?end=2022-05-20"]
    assert gap["sections"][0]["title"] == "The gap cannot be worked out"
