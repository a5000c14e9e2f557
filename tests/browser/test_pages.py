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


@pytest.mark.xfail(
    reason="known defect: since the aid pipeline's shipment routes joined the OpenAPI document,"
    " the vendored Swagger UI draws only its first three tags (no error logged); to be found"
    " and mended (see CHANGELOG, Known problems)",
    strict=False,
)
def test_the_interactive_api_docs_draw_offline(page: Page) -> None:
    # The vendored Swagger UI: drawn with no console error (the CSP forbids inline script
    # and the page fixture refuses any request outside the server's origin).
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name="sitroom")).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    # Swagger UI draws the operations tag by tag: wait for them all, not the first few.
    expect(page.locator(".opblock").nth(40)).to_be_attached()
    assert page.locator(".opblock").count() > 40
