"""The dashboard in a browser: the numbers, the regions, the charts drawn, accessibility
and a phone's width (issue #10, items 5, 7 and 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, Pages
from tests.browser.harness import assert_accessible, assert_no_horizontal_scroll, screenshot

PHONE = {"width": 375, "height": 800}
PAGES = ("/", "/regions/KP-04", "/quality", "/analytics?org_unit=KP-01", "/events")
#: Where the overview's screenshot goes in the repository (README's "Screens").


def charts_drawn(page: Page) -> int:
    """Wait until every chart figure holds an SVG with marks; their number."""
    figures = page.locator("figure[data-chart]")
    count = figures.count()
    for index in range(count):
        figure = figures.nth(index)
        expect(figure).to_have_class("chart drawn")
        svg = figure.locator(".chart-draw svg")
        expect(svg).to_have_count(1)
        assert svg.locator("path, rect, line, circle, text").count() > 5, figure.get_attribute("id")
    return count


def test_the_overview_shows_the_database_s_numbers_and_draws_its_charts(
    pages: Pages, live_server: LiveServer, screenshots: Path
) -> None:
    page = pages.signed_in("epidemiologist")
    expect(page.get_by_role("heading", level=1)).to_contain_text("national overview")
    # The numbers the API gives for the same period, as the page formats them.
    period = page.locator("#board-period").input_value()
    answer = page.request.get(f"/api/v1/bulletin?period={period}")
    assert answer.ok, answer.text()
    bulletin = answer.json()
    headline = page.locator(".panel-headline")
    expect(headline).to_contain_text(f"{bulletin['new_fever']:,}")
    expect(headline).to_contain_text(f"{bulletin['cum_fever']:,}")
    regions = page.locator(".panel-tables")
    for region in bulletin["regions"][:3]:
        expect(regions).to_contain_text(region["name"])
    # The map and every chart are drawn (SVG with marks), with no console error (watched).
    assert charts_drawn(page) >= 6
    expect(page.locator("#chart-map_rate svg path").first).to_be_visible()
    # Each chart's numbers are behind a toggle.
    toggle = page.locator("#chart-curve summary")
    toggle.click()
    expect(page.locator("#chart-curve table")).to_be_visible()
    screenshot(page, screenshots, "dashboard-overview")


def test_a_screenshot_of_the_overview_in_the_wave(pages: Pages, screenshots: Path) -> None:
    """The README's picture of the overview: a day of the wave's peak, 1280 wide.

    Saved as ``overview.png`` in the run's screenshot folder (``SITROOM_SCREENSHOTS``),
    never over the committed docs/images/overview.png: copy it there to update it.
    """
    page = pages.signed_in("epidemiologist")
    page.goto("/?period=2022-05-20")
    expect(page.get_by_role("heading", level=1)).to_contain_text("national overview")
    charts_drawn(page)
    page.evaluate("document.fonts.ready.then(() => true)")
    expect(page.locator(".panel-tables")).to_contain_text("평양직할시")
    page.locator(".panel-headline").scroll_into_view_if_needed()
    shot = screenshots / "overview.png"
    clip = {"x": 0, "y": 0, "width": 1280, "height": 1800}
    page.screenshot(path=str(shot), clip=clip, full_page=True)
    assert shot.stat().st_size > 10_000


def test_the_maps_load_the_outlines_and_colour_every_region(
    pages: Pages, screenshots: Path
) -> None:
    """The maps look their regions' shapes up in one file the server sends
    (/map/outlines.json), not a copy in each spec: 13 regions drawn, in several colours."""
    page = pages.signed_in("epidemiologist")
    outlines: list[str] = []
    page.on("response", lambda r: outlines.append(r.url) if "/map/outlines" in r.url else None)
    page.goto("/?period=2022-06-10")  # four weeks in: both maps have every region's value
    charts_drawn(page)
    assert outlines, "the outlines were not loaded"
    for key in ("map_rate", "map_change"):
        figure = page.locator(f"#chart-{key}")
        spec = figure.locator("script.chart-spec").text_content() or ""
        assert "/map/outlines.json" in spec, key
        assert '"geometry"' not in spec, key
        shapes = figure.locator(".chart-draw svg path[aria-roledescription='geoshape']")
        expect(shapes).to_have_count(13)
        fills = {shapes.nth(i).get_attribute("fill") for i in range(13)}
        assert len(fills) > 5, (key, fills)
        figure.screenshot(path=str(screenshots / f"dashboard-{key}.png"))


def test_following_a_region_leads_to_its_page(pages: Pages) -> None:
    page = pages.signed_in("epidemiologist")
    page.locator(".panel-tables").get_by_role("link", name="Chagang").click()
    expect(page).to_have_url("/regions/KP-04")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chagang")
    expect(page.get_by_role("heading", level=1)).to_contain_text("자강도")
    assert charts_drawn(page) >= 3


@pytest.mark.parametrize("path", PAGES)
def test_every_dashboard_page_is_accessible(pages: Pages, path: str) -> None:
    page = pages.signed_in("epidemiologist")
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    charts_drawn(page)
    assert_accessible(page)


def test_a_regional_reporter_sees_their_region(pages: Pages, screenshots: Path) -> None:
    page = pages.signed_in("reporter-kp-04")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chagang")
    charts_drawn(page)
    pages.watch(page).expect_status(403)
    page.goto("/regions/KP-01")
    expect(page.get_by_role("alert")).to_contain_text("KP-04")


@pytest.mark.parametrize("path", PAGES)
def test_the_dashboard_fits_a_phone(pages: Pages, screenshots: Path, path: str) -> None:
    page = pages.signed_in("epidemiologist", **PHONE)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    charts_drawn(page)
    assert_no_horizontal_scroll(page)
    name = path.strip("/").split("?")[0].replace("/", "-") or "overview"
    screenshot(page, screenshots, f"phone-dashboard-{name}")


def test_the_analytics_form_works_without_javascript(pages: Pages, live_server: LiveServer) -> None:
    page = pages.new(javascript=False)
    from tests.browser.harness import sign_in

    sign_in(page, "epidemiologist", live_server.passwords["epidemiologist"])
    page.goto("/analytics")
    page.get_by_label("Place").select_option("KP-02")
    page.get_by_label("First day").fill("2022-05-14")
    page.get_by_label("Last day").fill("2022-06-30")
    page.get_by_role("button", name="Analyse").click()
    expect(page).to_have_url("/analytics?org_unit=KP-02&start=2022-05-14&end=2022-06-30")
    expect(page.get_by_role("heading", name="Forecast, 14 days")).to_be_visible()
    expect(page.locator("#chart-rt table")).to_be_attached()
