"""The supply pages and the pharmacist's dispensing form in chromium (issue #11, items 5
and 12): the map drawn, the form by keyboard with a refusal next to its field, a phone's
width, axe-core on each state.

The live server is shared by the folder's tests; only this module writes stock. It
puts a small history in the ledger first (:func:`stocked`): three pharmacies per
region received paracetamol ten days ago and dispensed at a rate that differs by
region over the last week, so that the map has a value for every region; Chagang's
first pharmacy ran out. The dispensing form works on two pharmacies of Chagang no
other test uses.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import Country
from sitroom.db import create_db_engine, utcnow
from sitroom.places.models import OrgUnit
from sitroom.supply import dispensing
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import Facility
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

PHONE = {"width": 375, "height": 800}
PHARMACIST = "pharmacist"
LOGISTICIAN = "logistician"
#: The pharmacies of the form's tests (Chagang's; the history uses the first three).
KEYBOARD_PHARMACY = "PH-KP-04-CHANGGANG-009"
PHONE_PHARMACY = "PH-KP-04-CHANGGANG-010"
SUPPLY_PAGES = (
    "/supply",
    "/supply/stockouts",
    "/supply/orders",
    "/supply/allocation?item=PARA-500",
    "/supply/investigations",
)


@pytest.fixture(scope="module")
def stocked(live_server: LiveServer) -> LiveServer:
    """A week of paracetamol at three pharmacies per region, and the form's stock."""
    engine = create_db_engine(live_server.database_url)
    now = utcnow()
    moves: list[Movement] = []
    try:
        with Session(engine) as session:
            regions = session.scalars(
                select(OrgUnit).where(OrgUnit.level == 2).order_by(OrgUnit.code)
            ).all()
            for rank, region in enumerate(regions):
                codes = session.scalars(
                    select(Facility.code)
                    .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
                    .where(Facility.type == "pharmacy", OrgUnit.path.startswith(region.path))
                    .order_by(Facility.code)
                    .limit(3)
                ).all()
                for n, code in enumerate(codes):
                    out = region.code == "KP-04" and n == 0
                    received = 70 if out else 600
                    moves.append(
                        Movement(
                            now - timedelta(days=10),
                            "receipt",
                            code,
                            "PARA-500",
                            received,
                            lot=f"B{rank}",
                            expiry=date(2031, 1, 1),
                            counterparty="procurement",
                        )
                    )
                    for back in range(1, 8):
                        moves.append(
                            Movement(
                                now - timedelta(days=back),
                                "dispense",
                                code,
                                "PARA-500",
                                10 if out else 10 + 5 * rank,
                                patients=1,
                            )
                        )
            for code in (KEYBOARD_PHARMACY, PHONE_PHARMACY):
                moves.append(
                    Movement(
                        now - timedelta(days=2),
                        "receipt",
                        code,
                        "PARA-500",
                        100,
                        lot="FORM",
                        expiry=date(2031, 1, 1),
                        counterparty="procurement",
                    )
                )
            summary = Ledger(session, user="browser-test").post(moves, source="browser test")
            assert summary.committed, summary.rejections[:3]
    finally:
        engine.dispose()
    return live_server


def charts_of(page: Page) -> int:
    return charts_drawn(page) if page.locator("figure[data-chart]").count() else 0


def test_the_supply_overview_draws_its_map(
    pages: Pages, stocked: LiveServer, screenshots: Path
) -> None:
    page = pages.signed_in(LOGISTICIAN)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Supply").click()
    expect(page).to_have_url(re.compile(r"/supply$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Supply: stock by region")
    assert charts_drawn(page) == 1
    figure = page.locator("#chart-map_supply")
    shapes = figure.locator(".chart-draw svg path[aria-roledescription='geoshape']")
    expect(shapes).to_have_count(13)
    fills = {shapes.nth(i).get_attribute("fill") for i in range(13)}
    assert len(fills) > 5, fills  # days of stock differ by region
    figure.screenshot(path=str(screenshots / "supply-map.png"))
    # The share out instead, chosen in the page's plain GET form.
    page.get_by_label("Map", exact=True).select_option("out")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"measure=out"))
    charts_drawn(page)
    expect(page.locator("#chart-map_supply figcaption")).to_contain_text("with no usable PARA-500")
    screenshot(page, screenshots, "supply-overview")


@pytest.mark.parametrize("path", SUPPLY_PAGES)
def test_every_supply_page_is_accessible(pages: Pages, stocked: LiveServer, path: str) -> None:
    page = pages.signed_in(LOGISTICIAN)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Supply pages")).to_be_visible()
    charts_of(page)
    assert_accessible(page)


@pytest.mark.parametrize("path", SUPPLY_PAGES)
def test_the_supply_pages_fit_a_phone(
    pages: Pages, stocked: LiveServer, screenshots: Path, path: str
) -> None:
    page = pages.signed_in(LOGISTICIAN, **PHONE)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    charts_of(page)
    assert_no_horizontal_scroll(page)
    name = path.split("?", maxsplit=1)[0].strip("/").replace("/", "-")
    screenshot(page, screenshots, f"phone-{name}")


# The dispensing form ------------------------------------------------------------------------


def units(page: Page, name: str) -> Locator:
    """The units field of an item, by its fieldset (legend: the item's name) and label."""
    return page.get_by_role("group", name=re.compile(re.escape(name))).get_by_label(
        re.compile("^Units dispensed")
    )


def patients(page: Page, name: str) -> Locator:
    return page.get_by_role("group", name=re.compile(re.escape(name))).get_by_label(
        "Patients treated with it"
    )


def is_focused(locator: Locator) -> bool:
    return bool(locator.evaluate("e => e === document.activeElement"))


def test_the_dispensing_form_by_keyboard_with_a_refusal_next_to_the_field(
    pages: Pages, stocked: LiveServer, country: Country, screenshots: Path
) -> None:
    today = dispensing.local_today(country).isoformat()
    page = pages.new()
    pages.watch(page).expect_status(400)
    sign_in(page, PHARMACIST, stocked.passwords[PHARMACIST])
    page.goto(f"/dispense/{KEYBOARD_PHARMACY}/{today}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(KEYBOARD_PHARMACY)
    para = "Paracetamol 500 mg"
    expect(page.get_by_role("group", name=re.compile(para))).to_contain_text("On hand: 100 tablets")
    assert_accessible(page)  # the empty form
    # Tab goes units, patients, item by item, then the button.
    tab_until(page, units(page, para))
    order = [
        units(page, para),
        patients(page, para),
        units(page, "Oral rehydration salts"),
    ]
    for expected in order:
        assert is_focused(expected), focused(page)
        assert_focus_visible(page)
        if expected == order[0]:
            page.keyboard.type("150")  # more than the 100 on hand
        elif expected == order[1]:
            page.keyboard.type("10")
        page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Record the dispensing")
    tab_until(page, button)
    assert_focus_visible(page)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The stock ledger refused it: nothing was written")
    message = page.locator("#error_units_PARA-500")
    expect(message).to_contain_text(f"{KEYBOARD_PHARMACY} has 100 tablets of PARA-500")
    expect(message).to_contain_text("cannot dispense 150")
    expect(units(page, para)).to_have_value("150")
    expect(units(page, para)).to_have_attribute("aria-invalid", "true")
    expect(units(page, para)).to_have_accessible_description(re.compile("cannot dispense 150"))
    assert_accessible(page)  # the form with its refusal
    screenshot(page, screenshots, "dispense-refused")

    # The summary's link takes the focus to the field; a right figure is recorded.
    link = summary.get_by_role("link", name=re.compile("^PARA-500"))
    tab_until(page, link)
    page.keyboard.press("Enter")
    expect(units(page, para)).to_be_focused()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("90")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("Recorded.")
    group = page.get_by_role("group", name=re.compile(para))
    expect(group).to_contain_text("On hand: 10 tablets")
    expect(group).to_contain_text("Already recorded for the day: 90 tablets to 10 patients")
    screenshot(page, screenshots, "dispense-saved")


def test_the_dispensing_form_fits_a_phone_and_works_without_javascript(
    pages: Pages, stocked: LiveServer, country: Country, screenshots: Path
) -> None:
    today = dispensing.local_today(country).isoformat()
    page = pages.signed_in(PHARMACIST, **PHONE)
    page.goto(f"/dispense?q={PHONE_PHARMACY}")
    expect(page.get_by_label("Pharmacy or hospital")).to_have_value(PHONE_PHARMACY)
    assert_no_horizontal_scroll(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Open the form").click()
    expect(page).to_have_url(re.compile(rf"/dispense/{PHONE_PHARMACY}/{today}$"))
    assert_no_horizontal_scroll(page)
    assert_accessible(page)
    screenshot(page, screenshots, "phone-dispense")

    plain = pages.new(javascript=False, **PHONE)
    sign_in(plain, PHARMACIST, stocked.passwords[PHARMACIST])
    plain.goto(f"/dispense/{PHONE_PHARMACY}/{today}")
    units(plain, "Paracetamol 500 mg").fill("30")
    patients(plain, "Paracetamol 500 mg").fill("2")
    with plain.expect_navigation():
        plain.get_by_role("button", name="Record the dispensing").click()
    expect(plain.get_by_role("status").first).to_contain_text("Recorded.")
    expect(plain.get_by_role("table")).to_contain_text("PARA-500: 30 to 2 patients")
    assert_no_horizontal_scroll(plain)
