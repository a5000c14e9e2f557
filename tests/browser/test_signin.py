"""Signing in, out, and changing the password in chromium, with the keyboard only
(issue #10, items 7 and 8)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, Pages
from tests.browser.harness import focused, screenshot, sign_in, tab_until

NEW_PASSWORD = "violet-Harbour-tram-1907"


def test_signing_in_with_the_keyboard_lands_on_the_start_page(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin$"))  # not signed in: sent to the form
    expect(page.get_by_label("User name")).to_be_focused()  # ready to type
    screenshot(page, screenshots, "signin")
    sign_in(page, "epidemiologist", live_server.passwords["epidemiologist"])
    expect(page).to_have_url(f"{live_server.url}/")
    page.goto("/account")  # "/" is the dashboard; the account page names the user
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, epidemiologist")
    account = page.get_by_role("navigation", name="Account")
    expect(account).to_contain_text("Signed in as epidemiologist")
    expect(page.locator(".facts")).to_contain_text("KP (and every place below)")
    screenshot(page, screenshots, "home")


def test_a_regional_reporter_sees_their_own_scope(page: Page, live_server: LiveServer) -> None:
    sign_in(page, "reporter-kp-04", live_server.passwords["reporter-kp-04"])
    page.goto("/account")  # "/" is the dashboard; the account page names the user
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, reporter-kp-04")
    expect(page.locator(".facts")).to_contain_text("KP-04 (and every place below)")


def test_a_wrong_password_is_announced_and_the_form_stays(
    page: Page, pages: Pages, live_server: LiveServer, screenshots: Path
) -> None:
    live_server.create_user("wrong-password", role="viewer", scopes=["KP"])
    pages.watch(page).expect_status(401)  # the refused sign-in's page
    sign_in(page, "wrong-password", "not the password at all")
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_role("alert")).to_contain_text("Sign-in refused")
    expect(page.get_by_label("User name")).to_have_value("wrong-password")
    # The name is kept, so the focus is on the password, to type it again; the
    # message is tied to the fields for screen readers.
    password = page.get_by_label("Password")
    expect(password).to_be_focused()
    expect(password).to_have_value("")
    expect(password).to_have_attribute("aria-describedby", "signin-error")
    screenshot(page, screenshots, "signin-refused")


def test_signing_out_ends_the_session(page: Page, live_server: LiveServer) -> None:
    sign_in(page, "admin", live_server.passwords["admin"])
    page.goto("/account")  # "/" is the dashboard; the account page names the user
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, admin")
    sign_out = page.get_by_role("navigation", name="Account").get_by_role("button")
    tab_until(page, sign_out)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/signin\?signed_out=1$"))
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.goto("/account/password")
    expect(page).to_have_url(re.compile(r"/signin$"))


def test_the_password_is_changed_with_the_keyboard(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    old = live_server.create_user("changes-password", role="reporter", scopes=["KP-04"])
    sign_in(page, "changes-password", old)
    tab_until(page, page.get_by_role("link", name="Change password", exact=True))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/account/password$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your password")
    tab_until(page, page.get_by_label("Current password"))
    page.keyboard.type(old)
    for label, typed in (("New password", NEW_PASSWORD), ("New password again", NEW_PASSWORD)):
        page.keyboard.press("Tab")
        field = page.get_by_label(label, exact=True)
        assert field.evaluate("e => e === document.activeElement"), focused(page)
        page.keyboard.type(typed)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed.")
    screenshot(page, screenshots, "password-changed")

    # The new password signs in; the old one no longer does.
    page.context.clear_cookies()
    sign_in(page, "changes-password", NEW_PASSWORD)
    page.goto("/account")  # "/" is the dashboard; the account page names the user
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, changes-password")


def test_the_old_password_stops_working_after_a_change(
    page: Page, pages: Pages, live_server: LiveServer
) -> None:
    old = live_server.create_user("changes-again", role="viewer", scopes=["KP"])
    sign_in(page, "changes-again", old)
    page.goto("/account/password")
    page.get_by_label("Current password").fill(old)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed.")
    page.context.clear_cookies()
    pages.watch(page).expect_status(401)
    sign_in(page, "changes-again", old)
    expect(page.get_by_role("alert")).to_contain_text("Sign-in refused")
