"""Aid coordination's pages in chromium (issue #12, items 4, 6 and 7): the pipeline's map
drawn, the overview's marker followed by keyboard to the overdue answers and on to a
timeline, the gap's form without JavaScript, a phone's width, axe-core on each page.

The live server is shared by the folder's tests; this module adds the small aid history
of ``tests/functional/aid_history.py`` (made through the services) to its database
first (:func:`aided`). The demo's national coordinator reads the pages; the pharmacist
may not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from sitroom.db import create_db_engine
from tests.browser.conftest import LiveServer, Pages
from tests.browser.harness import (
    assert_accessible,
    assert_focus_visible,
    assert_no_horizontal_scroll,
    focused,
    screenshot,
    sign_in,
    tab_until,
)
from tests.browser.test_dashboard import charts_drawn
from tests.functional import aid_history as story

PHONE = {"width": 375, "height": 800}
COORDINATOR = "coordinator"
#: The gap from a day whose series is long enough, a week ahead (quick to forecast).
GAP = "/aid/gap?end=2022-05-25&horizon=7"
AID_PAGES = (
    "/aid",
    GAP,
    "/aid/overdue",
    f"/aid/requests/{story.CHINA_REQUEST}",
    f"/aid/offers/{story.KOREA_OFFER}",
)


@pytest.fixture(scope="module")
def aided(live_server: LiveServer) -> LiveServer:
    """The live server with the aid history in its database."""
    engine = create_db_engine(live_server.database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            story.make_history(session)
    finally:
        engine.dispose()
    return live_server


def charts_of(page: Page) -> int:
    return charts_drawn(page) if page.locator("figure[data-chart]").count() else 0


def _name(path: str) -> str:
    return path.split("?", maxsplit=1)[0].strip("/").replace("/", "-")


def test_the_pipeline_draws_where_the_aid_is_bound(
    pages: Pages, aided: LiveServer, screenshots: Path
) -> None:
    page = pages.signed_in(COORDINATOR)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Aid").click()
    expect(page).to_have_url(re.compile(r"/aid$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Aid: the pipeline")
    expect(page.get_by_role("note").filter(has_text="Illustration.")).to_be_visible()
    assert charts_drawn(page) == 1
    figure = page.locator("#chart-map_on_the_way")
    shapes = figure.locator(".chart-draw svg path[aria-roledescription='geoshape']")
    expect(shapes).to_have_count(13)
    fills = {shapes.nth(i).get_attribute("fill") for i in range(13)}
    assert len(fills) == 2, fills  # Chagang's warehouse awaits a shipment; the rest grey
    on_the_way = page.get_by_role("region", name=re.compile("^Shipments on their way"))
    expect(on_the_way).to_contain_text("at the border (Sinuiju, customs pending)")
    offers = page.get_by_role("region", name=re.compile("^Offers, newest first"))
    expect(offers.locator(".badge.illustration")).to_have_text("illustration")
    figure.screenshot(path=str(screenshots / "aid-map.png"))
    screenshot(page, screenshots, "aid-pipeline")


def test_the_overview_s_marker_leads_by_keyboard_to_a_timeline(
    pages: Pages, aided: LiveServer, screenshots: Path
) -> None:
    page = pages.signed_in(COORDINATOR)
    expect(page.get_by_role("heading", level=1)).to_contain_text("national overview")
    marker = page.get_by_role("link", name=re.compile(r"^\d+ answers are overdue$"))
    expect(marker).to_be_visible()
    tab_until(page, marker)
    assert_focus_visible(page)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/aid/overdue$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Aid: overdue answers")
    table = page.get_by_role("region", name=re.compile("^Overdue, the longest first"))
    expect(table).to_contain_text("reported 'not yet received'")
    screenshot(page, screenshots, "aid-overdue")
    link = table.get_by_role("link", name=story.KOREA_OFFER).first
    tab_until(page, link, most=60)
    assert_focus_visible(page)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/aid/offers/{story.KOREA_OFFER}$"))
    steps = page.locator("ol.timeline > li")
    expect(steps).to_have_count(4)  # received, its notice, the morning's notice, the call
    times = [t.get_attribute("datetime") or "" for t in steps.locator("time").all()]
    assert times == sorted(times), times
    expect(steps.last).to_contain_text("no clear answer given")
    expect(steps.last.locator(".badge.error")).to_have_text("overdue")
    assert_accessible(page)
    screenshot(page, screenshots, "aid-timeline")


def test_the_gap_form_works_without_javascript(
    pages: Pages, aided: LiveServer, screenshots: Path
) -> None:
    page = pages.new(javascript=False)
    sign_in(page, COORDINATOR, aided.passwords[COORDINATOR])
    page.goto("/aid/gap?end=2022-05-20")
    expect(page.get_by_role("heading", level=2)).to_have_text("The gap cannot be worked out")
    expect(page.locator(".panel-gap")).to_contain_text("fewer than the 11 a forecast needs")
    page.get_by_label("Item by region").select_option("ORS")
    page.get_by_label("Days ahead").fill("7")
    page.get_by_label("Forecast from the series up to").fill("2022-05-25")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"item=ORS&horizon=7&end=2022-05-25"))
    expect(page.get_by_role("heading", name="The gap in the country")).to_be_visible()
    expect(page.get_by_role("heading", name="ORS by region")).to_be_visible()
    # Without script the map is its caption and its numbers, behind their toggle.
    expect(page.locator("#chart-map_gap figcaption")).to_contain_text("median gap of ORS")
    page.locator("#chart-map_gap summary").click()
    expect(page.locator("#chart-map_gap table")).to_contain_text("Chagang")
    screenshot(page, screenshots, "aid-gap-no-script")


@pytest.mark.parametrize("path", AID_PAGES)
def test_every_aid_page_is_accessible(pages: Pages, aided: LiveServer, path: str) -> None:
    page = pages.signed_in(COORDINATOR)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Aid pages")).to_be_visible()
    charts_of(page)
    assert_accessible(page)


@pytest.mark.parametrize("path", AID_PAGES)
def test_the_aid_pages_fit_a_phone(
    pages: Pages, aided: LiveServer, screenshots: Path, path: str
) -> None:
    page = pages.signed_in(COORDINATOR, **PHONE)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    charts_of(page)
    assert_no_horizontal_scroll(page)
    screenshot(page, screenshots, f"phone-{_name(path)}")


def test_a_pharmacist_gets_no_aid_page(pages: Pages, aided: LiveServer) -> None:
    page = pages.signed_in("pharmacist")
    main = page.get_by_role("navigation", name="Main")
    expect(main.get_by_role("link", name="Supply")).to_be_visible()
    expect(main.get_by_role("link", name="Aid")).to_have_count(0)
    expect(page.locator(".banner.notice")).to_have_count(0)
    pages.watch(page).expect_status(403)
    page.goto("/aid")
    expect(page.get_by_role("alert")).to_contain_text("aid.read")
    assert "Traceback" not in page.content(), focused(page)
