"""The dashboard over HTTP: each page and its JSON twin, scopes, bad input (issue #10, item 5).

One database with the 2022 wave for the module (``api_world``); users sign in
on the web with cheap password hashing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from sitroom.auth import passwords
from sitroom.auth import service as auth
from sitroom.country import Country
from sitroom.events.service import add_event
from sitroom.server.app import create_app
from sitroom.sitrep.formatting import interval, show
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import World, api_world

PASSWORD = "a long enough passphrase 42"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')
#: A national epidemiologist, Chagang's reporter, a viewer of two regions, a pharmacist.
PEOPLE = {
    "eve": ("epidemiologist", ["KP"]),
    "rex": ("reporter", ["KP-04"]),
    "two": ("viewer", ["KP-04", "KP-05"]),
    "nobody": ("pharmacist", ["KP"]),
}
PAGES = ("/overview", "/regions/KP-04", "/quality", "/analytics", "/events")


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("dashboard")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", lambda: FAST)
        with api_world(_migrated, TEST_DATABASE_URL, folder, country) as built:
            for name, (role, scopes) in PEOPLE.items():
                auth.create_user(
                    built.session, name, role=role, scopes=scopes, password=PASSWORD, actor="t"
                )
            add_event(built.session, "KP", date(2022, 5, 20), "Lockdown declared", user="t")
            built.session.commit()
            yield built


def client_for(world: World, username: str) -> TestClient:
    client = TestClient(create_app(world.context), follow_redirects=False)
    page = client.get("/signin")
    token = HIDDEN.search(page.text)
    assert token is not None
    answer = client.post(
        "/signin",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture(scope="module")
def eve(world: World) -> Iterator[TestClient]:
    with client_for(world, "eve") as client:
        yield client


@pytest.fixture(scope="module")
def rex(world: World) -> Iterator[TestClient]:
    with client_for(world, "rex") as client:
        yield client


def text_of(page: str) -> str:
    """The page's text: tags dropped, entities decoded, spaces collapsed."""
    body = re.sub(r"<script[^>]*>.*?</script>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def shown_numbers(twin: dict[str, Any]) -> list[str]:
    """Every fact and table cell of the twin, formatted as the page shows it."""
    out = []
    for section in twin["sections"]:
        for fact in section["facts"]:
            out.append(show(fact["value"], fact["kind"]))
            out.append(interval(fact["low"], fact["high"], fact["kind"]))
        for table in section["tables"]:
            for row in table["rows"]:
                for column in table["columns"]:
                    if column["kind"] != "text":
                        out.append(show(row.get(column["key"]), column["kind"]))
    return [x for x in out if x]


@pytest.mark.parametrize("path", PAGES)
def test_each_page_shows_the_numbers_of_its_twin(eve: TestClient, path: str) -> None:
    page = eve.get(path)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    twin = eve.get(f"{path}.json")
    assert twin.status_code == 200, twin.text
    assert twin.headers["content-type"] == "application/json"
    data = twin.json()
    text = text_of(page.text)
    numbers = shown_numbers(data)
    assert numbers or data["kind"] == "events"
    missing = [n for n in numbers if n not in text]
    assert not missing, missing[:10]
    for section in data["sections"]:
        assert section["title"] in text
        for chart in section["charts"]:
            assert chart["caption"] in text
    # No inline script: every <script> is a file of this server or JSON data.
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'type="application/json"' in tag or 'src="/static/' in tag, tag
    assert "style=" not in page.text


def test_the_overview_is_the_situation_report_of_the_period(eve: TestClient) -> None:
    data = eve.get("/overview.json").json()
    assert data["kind"] == "overview"
    assert data["period"] == "2022-08-09"
    keys = [s["key"] for s in data["sections"]]
    for key in ("headline", "tables", "curve", "map", "transmission", "forecast", "reporting"):
        assert key in keys
    headline = data["sections"][0]["facts"][0]
    bulletin = eve.get("/api/v1/bulletin", params={"period": "2022-08-09"}).json()
    assert headline["value"] == bulletin["new_fever"]
    charts = [c["key"] for s in data["sections"] for c in s["charts"]]
    assert {"curve", "map_rate", "map_change", "rt", "forecast", "completeness"} <= set(charts)
    page = eve.get("/").text
    assert 'href="/regions/KP-04"' in page  # regions ranked, each linked
    assert "<h1>Democratic People" in page
    # A chosen day: the bulletin of 2022-05-15 (392,920 new cases).
    may = eve.get("/overview?period=2022-05-15")
    assert "392,920" in text_of(may.text)


def test_the_region_page_has_its_curve_r_alerts_and_reporting(eve: TestClient) -> None:
    data = eve.get("/regions/KP-04.json").json()
    assert data["org_unit"] == "KP-04"
    assert data["org_unit_local"] == "자강도"
    keys = [s["key"] for s in data["sections"]]
    assert keys[:5] == ["headline", "curve", "transmission", "alerts", "reporting"]
    page = eve.get("/regions/KP-04")
    assert "자강도" in page.text
    # Events are drawn on the region's time charts (the country's are its too).
    curve = next(s for s in data["sections"] if s["key"] == "curve")
    assert "Lockdown declared" in curve["charts"][0]["caption"]


def test_a_regional_reporter_sees_their_region_and_nothing_else(rex: TestClient) -> None:
    home = rex.get("/")
    assert home.status_code == 200
    assert "<h1>Chagang" in home.text
    assert 'href="/regions/KP-04.json"' in home.text
    for path in ("/regions/KP-01", "/regions/KP-01.json", "/overview", "/overview.json"):
        answer = rex.get(path)
        assert answer.status_code == 403, path
        assert "Traceback" not in answer.text
    assert "KP-04" in rex.get("/regions/KP-01").text  # the refusal names their scope
    analytics = rex.get("/analytics.json").json()
    assert analytics["org_unit"] == "KP-04"
    assert [c["code"] for c in analytics["window"]["choices"]] == ["KP-04"]
    assert rex.get("/analytics?org_unit=KP-01").status_code == 403
    quality = rex.get("/quality.json").json()
    units = {
        row.get("org_unit", row.get("name"))
        for s in quality["sections"]
        for t in s["tables"]
        for row in t["rows"]
    }
    assert units == {"Chagang"}
    events = rex.get("/events.json").json()  # the national lockdown is Chagang's too
    assert events["sections"][0]["tables"][0]["rows"][0]["title"] == "Lockdown declared"


def test_other_users_start_pages(world: World) -> None:
    with client_for(world, "two") as two:
        home = two.get("/")  # two regions: the account page, with the links
        assert home.status_code == 200
        assert "Signed in until" in home.text
        assert two.get("/regions/KP-05").status_code == 200
    with client_for(world, "nobody") as nobody:  # a pharmacist: data, but no analyses
        assert "national overview" in nobody.get("/").text
        assert nobody.get("/analytics").status_code == 403
        assert 'href="/analytics"' not in nobody.get("/").text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/regions/XX-99", 404),
        ("/regions/XX-99.json", 404),
        ("/overview?period=2031-01-01", 404),
        ("/overview?period=yesterday", 400),
        ("/overview.json?period=15/05/2022", 400),
        ("/regions/KP-04?period=2022-13-01", 400),
        ("/analytics?start=2022-06-01&end=2022-05-01", 400),
        ("/analytics?start=june", 400),
        ("/analytics.json?end=2022-02-30", 400),
        ("/analytics?org_unit=nowhere", 404),
        ("/quality?period=%00", 400),
    ],
)
def test_bad_input_is_a_page_not_a_traceback(eve: TestClient, path: str, status: int) -> None:
    answer = eve.get(path)
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text
    if ".json" in path:
        assert answer.json()["status"] == status
    else:
        assert answer.headers["content-type"].startswith("text/html")
        assert 'role="alert"' in answer.text


def test_signed_out_pages_go_to_the_sign_in(world: World) -> None:
    with TestClient(create_app(world.context), follow_redirects=False) as anonymous:
        for path in PAGES:
            assert anonymous.get(path).headers["location"] == "/signin"
            assert anonymous.get(f"{path}.json").status_code == 401


def test_pages_are_not_in_the_openapi_document(eve: TestClient) -> None:
    schema = eve.get("/api/v1/openapi.json").json()
    assert not [p for p in schema["paths"] if p.startswith(PAGES)]


def test_the_analytics_window_is_a_get_form(eve: TestClient) -> None:
    page = eve.get("/analytics?org_unit=KP-01&start=2022-05-14&end=2022-06-15")
    assert page.status_code == 200
    assert '<form method="get" action="/analytics"' in page.text
    assert '<option value="KP-01" selected>' in page.text
    data = eve.get("/analytics.json?org_unit=KP-01&start=2022-05-14&end=2022-06-15").json()
    assert data["window"] == {
        "org_unit": "KP-01",
        "start": "2022-05-14",
        "end": "2022-06-15",
        "choices": data["window"]["choices"],
    }
    keys = [s["key"] for s in data["sections"]]
    assert keys == ["transmission", "forecast", "nowcast", "cfr", "alerts"]
    forecast = data["sections"][1]
    assert forecast["tables"][0]["key"] == "backtest"
    assert {r["model"] for r in forecast["tables"][0]["rows"]} >= {"last_value"}


def test_every_chart_has_its_data_table_and_the_font_is_served(eve: TestClient) -> None:
    page = eve.get("/overview").text
    figures = page.count("<figure")
    assert figures >= 6
    assert page.count('<details class="chart-data">') == figures
    assert page.count('<script type="application/json" class="chart-spec">') == figures
    css = eve.get("/static/sitroom.css").text
    assert "/fonts/NotoSansKR-Regular.subset.ttf" in css
    font = eve.get("/fonts/NotoSansKR-Regular.subset.ttf")
    assert font.status_code == 200
    assert len(font.content) > 50_000
    for name in ("vega/vega.min.js", "vega-lite/vega-lite.min.js", "vega-embed/vega-embed.min.js"):
        assert eve.get(f"/static/vendor/{name}").status_code == 200


def test_a_new_import_shows_on_the_next_page(world: World, eve: TestClient) -> None:
    """The cache is keyed by the data's version: a write is seen at once."""
    before = eve.get("/regions/KP-09.json").json()
    again = eve.get("/regions/KP-09.json").json()
    assert again["version"] == before["version"]
    cache = eve.app.state.dashboard_cache  # type: ignore[attr-defined]
    hits = cache.hits
    eve.get("/regions/KP-09.json")
    assert cache.hits == hits + 1
    add_event(world.session, "KP-09", date(2022, 7, 1), "Army deployed to pharmacies", user="t")
    world.session.commit()
    after = eve.get("/regions/KP-09.json").json()
    assert after["version"] != before["version"]
    curve = next(s for s in after["sections"] if s["key"] == "curve")
    assert "Army deployed to pharmacies" in curve["charts"][0]["caption"]


def _signed_in_on(app: Any, username: str) -> TestClient:
    """A client of ``app`` (shared, with its cache) signed in as ``username``."""
    client = TestClient(app, follow_redirects=False)
    token = HIDDEN.search(client.get("/signin").text)
    assert token is not None
    answer = client.post(
        "/signin",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    return client


def test_the_cache_never_serves_a_page_to_a_role_that_may_not_see_it(world: World) -> None:
    # One app, one cache: the epidemiologist's analytics must not reach the pharmacist
    # (no analysis.read), who has the same scope.
    app = create_app(world.context)
    with _signed_in_on(app, "nobody") as pharmacist, _signed_in_on(app, "eve") as epi:
        assert pharmacist.get("/analytics.json").status_code == 403
        assert epi.get("/analytics.json").status_code == 200
        assert pharmacist.get("/analytics.json").status_code == 403
        assert pharmacist.get("/analytics").status_code == 403


def test_junk_parameters_make_no_new_copy_of_a_page(world: World) -> None:
    from sitroom.server.web.dashboard import cache_of

    app = create_app(world.context)
    with _signed_in_on(app, "eve") as epi:
        for junk in range(4):
            assert epi.get("/overview", params={"x": str(junk)}).status_code == 200
        cache = app.state.dashboard_cache
        assert cache is cache_of(type("R", (), {"app": app})())
        bodies = [len(built._body) for built in cache._items.values()]
        assert bodies == [1]


def test_a_user_of_several_regions_gets_no_national_credibility(world: World) -> None:
    with client_for(world, "two") as two:
        quality = two.get("/quality.json")
        assert quality.status_code == 200
        [credibility] = [s for s in quality.json()["sections"] if s["key"] == "credibility"]
        assert credibility["sentences"] == []
        assert "Democratic" not in credibility["intro"]
        assert any("one place" in note for note in credibility["notes"])


def test_the_maps_outlines_are_one_cached_file(world: World, eve: TestClient) -> None:
    """The overview's maps point at /map/outlines.json (public boundaries, with an ETag)
    rather than carrying the 13 regions' shapes, once per map, in every page."""
    page = eve.get("/overview?period=2022-06-10")
    assert page.status_code == 200
    assert page.text.count("/map/outlines.json") == 2
    assert '"geometry"' not in page.text
    twin = eve.get("/overview.json?period=2022-06-10").json()
    maps = [c for s in twin["sections"] for c in s["charts"] if c["key"].startswith("map")]
    assert [m["spec"]["transform"][0]["from"]["data"]["url"] for m in maps] == [
        "/map/outlines.json"
    ] * 2
    anonymous = TestClient(create_app(world.context))
    answer = anonymous.get("/map/outlines.json")
    assert answer.status_code == 200
    shapes = answer.json()["features"]
    codes = {r["code"] for r in maps[0]["spec"]["data"]["values"]}
    assert {f["properties"]["code"] for f in shapes} == codes
    assert len(codes) == 13
    again = anonymous.get("/map/outlines.json", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    assert not again.content
