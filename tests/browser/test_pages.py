"""The pages that exist today, checked by axe-core and at a phone's width
(issue #10, items 7 and 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, Pages
from tests.browser.harness import (
    assert_accessible,
    assert_focus_visible,
    assert_no_horizontal_scroll,
    screenshot,
    sign_in,
    tab_until,
)

#: A phone's viewport (CSS pixels): the width of the narrowest common ones.
PHONE = {"width": 375, "height": 800}


def test_the_sign_in_page_is_accessible(page: Page, pages: Pages) -> None:
    page.goto("/signin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert_accessible(page)
    # ... and so is its refusal, with the message shown.
    pages.watch(page).expect_status(401)
    sign_in(page, "nobody-at-all", "a wrong password")
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)


def test_the_start_page_is_accessible(page: Page, live_server: LiveServer) -> None:
    sign_in(page, "epidemiologist", live_server.passwords["epidemiologist"])
    page.goto("/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, epidemiologist")
    assert_accessible(page)


def test_the_password_page_is_accessible_with_and_without_errors(
    page: Page, pages: Pages, live_server: LiveServer, screenshots: Path
) -> None:
    sign_in(page, "viewer", live_server.passwords["viewer"])
    page.goto("/account/password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your password")
    assert_accessible(page)
    pages.watch(page).expect_status(400)
    page.get_by_label("New password", exact=True).fill("one")
    page.get_by_label("New password again").fill("another")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("The password was not changed")
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    screenshot(page, screenshots, "password-errors")
    assert_accessible(page)


@pytest.mark.parametrize("path", ["/signin", "/", "/account/password"])
def test_a_phone_shows_the_page_without_sideways_scrolling(
    pages: Pages, screenshots: Path, path: str
) -> None:
    signed_in = path != "/signin"
    page = pages.signed_in("reporter-kp-04", **PHONE) if signed_in else pages.new(**PHONE)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_no_horizontal_scroll(page)
    name = "home" if path == "/" else path.strip("/").replace("/", "-")
    screenshot(page, screenshots, f"phone-{name}")
    # WCAG 1.4.10 (reflow): nothing to scroll sideways at 320 CSS pixels either.
    page.set_viewport_size({"width": 320, "height": PHONE["height"]})
    assert_no_horizontal_scroll(page)


def test_every_control_shows_its_keyboard_focus(pages: Pages) -> None:
    page = pages.signed_in("epidemiologist")
    page.goto("/account/password")
    controls = page.locator("a[href], button, input:not([type=hidden])")
    count = controls.count()
    assert count >= 7  # the brand, the header's two, three fields, the button
    for index in range(count):
        tab_until(page, controls.nth(index))
        assert_focus_visible(page)


def test_signing_in_works_without_javascript(pages: Pages, live_server: LiveServer) -> None:
    page = pages.new(javascript=False)
    sign_in(page, "reporter-kp-04", live_server.passwords["reporter-kp-04"])
    # The start page is the reporter's region, drawn by the server: its tables show.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chagang")
    expect(page.get_by_role("heading", name="Figures")).to_be_visible()


def test_the_interactive_api_docs_draw_offline(page: Page) -> None:
    # The vendored Swagger UI: drawn with no console error or script error (the page
    # fixture fails the test on either; the CSP forbids inline script and the fixture
    # refuses any request outside the server's origin).
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name="sitroom")).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    # Every operation of the OpenAPI document, under each of its tags, is drawn once
    # scrolled to. From 150 rows (tag headings plus operations) Swagger UI 5.35 draws
    # only the rows near the viewport, so counting the operations in the DOM without
    # scrolling finds the first few tags only; scroll the whole page instead.
    document = page.request.get("/api/v1/openapi.json").json()
    listed = [
        (tag, operation["operationId"])
        for methods in document["paths"].values()
        for operation in methods.values()
        for tag in operation.get("tags", ["default"])
    ]
    assert len(listed) > 100
    operations, tags = _drawn_when_scrolled(page)
    wanted = {f"operations-{tag.replace(' ', '_')}-{operation}" for tag, operation in listed}
    assert sorted(wanted - operations) == [], "operations of the OpenAPI document not drawn"
    assert tags == {tag for tag, _ in listed}


#: True once the rows Swagger UI's virtualised operation list has drawn cover the part of
#: the list in the viewport (true at once when the list is drawn whole, not virtualised).
_ROWS_COVER_VIEWPORT = """() => {
  const list = document.querySelector(".operations-virtual__list");
  if (!list) return true;
  const rows = list.querySelectorAll(":scope > .operations-virtual__item");
  const box = list.getBoundingClientRect();
  const top = Math.max(box.top, 0), bottom = Math.min(box.bottom, window.innerHeight);
  if (bottom <= top) return true;
  if (!rows.length) return false;
  return rows[0].getBoundingClientRect().top <= top + 1
    && rows[rows.length - 1].getBoundingClientRect().bottom >= bottom - 1;
}"""


def _drawn_when_scrolled(page: Page) -> tuple[set[str], set[str]]:
    """The ids of the operations and the names of the tags that Swagger UI draws while
    the page is scrolled from top to bottom, half a viewport at a time."""
    operations: set[str] = set()
    tags: set[str] = set()
    page.evaluate("window.scrollTo(0, 0)")
    for _ in range(1_000):  # a bound, never reached: the page is some 20 viewports long
        page.wait_for_function(_ROWS_COVER_VIEWPORT)
        operations.update(page.eval_on_selector_all(".opblock", "els => els.map(e => e.id)"))
        tags.update(page.eval_on_selector_all(".opblock-tag", "els => els.map(e => e.dataset.tag)"))
        if page.evaluate("scrollY + innerHeight >= document.documentElement.scrollHeight - 1"):
            break
        page.evaluate("window.scrollBy(0, innerHeight / 2)")
    return operations, tags
