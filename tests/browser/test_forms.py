"""The reporters' form and the epidemiologists' review in chromium (issue #10, items 6-8).

A reporter of Chagang (``reporter-kp-04``, KP-04) submits a day with a
warning, corrects an earlier day, and finds an approved day read-only; an
epidemiologist reviews and approves; the form is used with the keyboard
alone and at a phone's width; axe-core checks each state. What was stored is
read back through the API, never from the page that stored it.

The live server is shared by the folder's tests, so each test here writes
its own days of KP-04, two days apart (a rule's ``prev(x)`` reads the day
before, which must not be another test's), counted back from the day open
now (today's window); nothing else in tests/browser writes data, and the
2022 wave the other tests read is years earlier:

==========  ================================================================
 day         test
==========  ================================================================
 today, -1   the warning (-1 holds yesterday's "under treatment")
 -3          the correction
 -5          the review and the approval
 -7          the keyboard
 -9          nothing stored: the empty form (phone width, axe)
==========  ================================================================
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from sitroom.country import Country
from sitroom.surveillance import entry
from sitroom.surveillance.periods import label
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

REPORTER = "reporter-kp-04"
UNIT = "KP-04"
PHONE = {"width": 375, "height": 800}
#: The rule of the DPRK's configuration whose severity is "warning".
WARNING_RULE = "treatment_balance"


def day(country: Country, offset: int) -> str:
    """The day ``offset`` days from the one open now (today's window), as sitroom names it."""
    return str(label(entry.open_period(country) + timedelta(days=offset), "daily"))


def field(page: Page, name: str) -> Locator:
    """The form's field for an element, by its label (the required ones say so)."""
    return page.get_by_role("textbox", name=re.compile(rf"^{re.escape(name)}( \(required\))?$"))


def csrf_token(page: Page) -> str:
    """The session's CSRF token, from the page's hidden field (every signed-in page has it)."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token, "no CSRF token on the page"
    return token


def stored(page: Page, period: str) -> dict[str, dict[str, Any]]:
    """KP-04's values of ``period`` through the API, signed in by the page's cookie."""
    answer = page.request.get(
        "/api/v1/dataValues", params={"orgUnit": UNIT, "startDate": period, "endDate": period}
    )
    assert answer.ok, answer.text()
    return {value["element"]: value for value in answer.json()["values"]}


def history(page: Page, element: str, period: str) -> list[dict[str, Any]]:
    answer = page.request.get(
        "/api/v1/dataValues/history",
        params={"dataElement": element, "orgUnit": UNIT, "period": period},
    )
    assert answer.ok, answer.text()
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def send(page: Page) -> None:
    """Press the form's button and wait for the answer (a page, or a redirect to one)."""
    with page.expect_navigation():
        page.get_by_role("button", name="Send the report").click()


def fill(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        field(page, name).fill(value)


# A day with a warning ----------------------------------------------------------------


def test_a_warning_is_refused_without_a_reason_and_accepted_with_one(
    pages: Pages, country: Country, screenshots: Path
) -> None:
    today, yesterday = day(country, 0), day(country, -1)
    page = pages.signed_in(REPORTER, height=900)
    pages.watch(page).expect_status(400)
    # Yesterday's patients under treatment, sent through the API (the form's rule
    # "under treatment = yesterday's + new - recovered - deaths" reads it).
    seeded = page.request.post(
        "/api/v1/dataValues",
        data={
            "dataValues": [
                {
                    "dataElement": "under_treatment",
                    "orgUnit": UNIT,
                    "period": yesterday,
                    "value": "100",
                }
            ]
        },
        headers={"X-CSRF-Token": csrf_token(page)},
    )
    assert seeded.ok, seeded.text()

    # The nav's "Day's report" opens today's form of the reporter's one region.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Day's report").click()
    expect(page).to_have_url(re.compile(rf"/report/{UNIT}/{today}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chagang")
    expect(page.get_by_text("This is today's window.")).to_be_visible()
    expect(page.locator("#hint_under_treatment")).to_contain_text("Previous day")
    expect(page.locator("#hint_under_treatment")).to_contain_text("100")
    assert_accessible(page)  # the empty form

    # 50 new cases and nobody leaving, yet the same 100 under treatment: a warning.
    typed = {
        "New fever cases": "50",
        "New recoveries": "0",
        "New deaths": "0",
        "Under treatment": "100",
    }
    fill(page, typed)
    send(page)
    expect(page.get_by_role("alert")).to_contain_text("Nothing was written")
    new_fever = field(page, "New fever cases")
    rule = page.locator(f"#rule_{WARNING_RULE}")
    expect(rule).to_contain_text("Warning:")
    expect(rule).to_contain_text("Left side 100 == right side 150")
    # Next to the field: in the same row, and the field is described by it.
    expect(page.locator(".entry", has=new_fever).locator(f"#rule_{WARNING_RULE}")).to_be_visible()
    expect(new_fever).to_have_accessible_description(re.compile("Warning: Under treatment ="))
    reason = page.get_by_label("Reason for accepting this warning")
    expect(reason).to_be_visible()
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert").get_by_role("link")).to_contain_text("needs a reason")
    for name, value in typed.items():  # what was typed is kept
        expect(field(page, name)).to_have_value(value)
    assert stored(page, today) == {}
    assert_accessible(page)  # the form with its warning and error
    screenshot(page, screenshots, "report-warning-refused")
    screenshot(page, screenshots, "report-form", full_page=False)  # the README's picture

    because = "50 patients were moved to Kanggye hospital, outside the count"
    reason.fill(because)
    screenshot(page, screenshots, "report-warning-reason")
    send(page)
    expect(page).to_have_url(re.compile(rf"/report/{UNIT}/{today}\?saved=1$"))
    expect(page.get_by_role("status").first).to_contain_text("Saved.")
    expect(page.locator("#hint_under_treatment")).to_contain_text(because)

    values = stored(page, today)
    assert {e: str(v["value"]) for e, v in values.items()} == {
        "new_fever": "50",
        "new_recovered": "0",
        "new_deaths": "0",
        "under_treatment": "100",
    }
    assert {v["comment"] for v in values.values()} == {because}
    assert {v["stored_by"] for v in values.values()} == {REPORTER}
    assert_accessible(page)  # the saved form


# A correction ---------------------------------------------------------------------


def test_a_correction_of_an_earlier_day_needs_a_reason_and_is_in_the_history(
    pages: Pages, country: Country, screenshots: Path
) -> None:
    earlier = day(country, -3)
    # No script at all: the forms must work without it.
    page = pages.signed_in(REPORTER, javascript=False)
    pages.watch(page).expect_status(400)
    page.goto(f"/report/{UNIT}/{earlier}")
    expect(page.get_by_text("This is an earlier day")).to_be_visible()
    # A first value for an earlier day is late, not a correction.
    fill(page, {"New fever cases": "12"})
    send(page)
    expect(page.get_by_role("status").first).to_contain_text("marked late")
    expect(page.locator("#hint_new_fever")).to_contain_text("late")

    field(page, "New fever cases").fill("15")
    send(page)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("is a correction: give its reason")
    expect(page.get_by_label("Reason for the correction")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "New fever cases")).to_have_value("15")
    assert stored(page, earlier)["new_fever"]["value"] == 12
    # (No axe here: it cannot run in a page without script; the other tests check
    # the form's refused states.)
    screenshot(page, screenshots, "report-correction-refused")

    because = "a district's tally was counted twice"
    page.get_by_label("Reason for the correction").fill(because)
    send(page)
    expect(page.get_by_role("status").first).to_contain_text("Saved.")
    value = stored(page, earlier)["new_fever"]
    assert (value["value"], value["comment"]) == (15, because)

    events = history(page, "new_fever", earlier)
    assert [(e["action"], e["value"]) for e in events] == [("created", 12), ("updated", 15)]
    assert events[-1]["channel"] == "web"
    assert events[-1]["comment"] == because
    assert {e["by"] for e in events} == {REPORTER}


# The review and the approval ------------------------------------------------------


def test_an_approved_day_is_read_only_for_the_reporter(
    pages: Pages, country: Country, screenshots: Path
) -> None:
    period = day(country, -5)
    reporter = pages.signed_in(REPORTER)
    reporter.goto(f"/report/{UNIT}/{period}")
    fill(reporter, {"New fever cases": "31", "New deaths": "1"})
    send(reporter)
    expect(reporter.get_by_role("status").first).to_contain_text("Saved.")
    # The form left open elsewhere (another browser of the reporter's), sent after the approval.
    old_tab = pages.signed_in(REPORTER)
    pages.watch(old_tab).expect_status(409)
    old_tab.goto(f"/report/{UNIT}/{period}")
    expect(field(old_tab, "New fever cases")).to_have_value("31")

    epi = pages.signed_in("epidemiologist")
    epi.goto(f"/review?period={period}")
    expect(epi.get_by_role("heading", level=1)).to_have_text(f"Review of {period}")
    expect(epi.get_by_text("1 of 13 expected reports received")).to_be_visible()
    expect(epi.locator("main")).to_contain_text("Missing: KP-01, KP-02, KP-03, KP-05")
    row = epi.get_by_role("row", name=re.compile(r"^KP-04 · Chagang"))
    expect(row).to_contain_text(REPORTER)
    expect(row).to_contain_text("late")
    expect(epi.get_by_role("row", name=re.compile(r"^KP-01 · "))).to_contain_text("missing")
    assert_accessible(epi)  # before the approval
    approve = epi.get_by_role("button", name=f"Approve {UNIT} for {period}")
    tab_until(epi, approve, most=60)  # by the keyboard
    assert_focus_visible(epi)
    with epi.expect_navigation():
        epi.keyboard.press("Enter")
    expect(epi.get_by_role("status")).to_have_text(f"Approved {UNIT}.")
    expect(row).to_contain_text("approved by epidemiologist")
    expect(approve).to_have_count(0)
    assert_accessible(epi)  # after
    screenshot(epi, screenshots, "review-approved")

    reporter.goto(f"/report/{UNIT}/{period}")  # the reporter opens the form again
    approved = reporter.locator("p.approved")
    expect(approved).to_contain_text("Approved by epidemiologist on")
    expect(reporter.get_by_role("textbox")).to_have_count(1)  # the day chooser's only
    expect(reporter.get_by_role("button", name="Send the report")).to_have_count(0)
    expect(reporter.get_by_role("table")).to_contain_text("31")
    assert_accessible(reporter)  # read-only
    screenshot(reporter, screenshots, "report-approved")

    # The old tab still has the form: sending it is refused, and nothing is written.
    field(old_tab, "New fever cases").fill("32")
    with old_tab.expect_navigation():
        old_tab.get_by_role("button", name="Send the report").click()
    expect(old_tab.get_by_role("alert")).to_contain_text("approved by epidemiologist")
    expect(old_tab.get_by_role("alert")).to_contain_text("Nothing was written")
    # ... and so is a POST of the form with the session's token, the page's request.
    forged = reporter.request.post(
        f"/report/{UNIT}/{period}",
        form={"csrf_token": csrf_token(reporter), "value_new_fever": "33", "version_new_fever": ""},
        max_redirects=0,
    )
    assert forged.status == 409, forged.text()
    values = stored(reporter, period)
    assert (values["new_fever"]["value"], values["new_deaths"]["value"]) == (31, 1)
    assert [e["value"] for e in history(reporter, "new_fever", period)] == [31]


# The keyboard alone -----------------------------------------------------------------


def shift_tab_until(page: Page, target: Locator, *, most: int = 30) -> None:
    """Press Shift+Tab until ``target`` has the focus (``tab_until``, backwards)."""
    seen = []
    for _ in range(most):
        page.keyboard.press("Shift+Tab")
        if target.evaluate("e => e === document.activeElement"):
            return
        seen.append(focused(page))
    raise AssertionError(f"{target} never had the focus after {most} Shift+Tabs: {seen}")


def is_focused(locator: Locator) -> bool:
    focused_now: bool = locator.evaluate("e => e === document.activeElement")
    return focused_now


def tab_through_the_day_chooser(page: Page) -> None:
    """From the "Another day" date field to its button, checking the focus shows on each
    stop (a date field takes several: its parts and its calendar button)."""
    open_button = page.get_by_role("button", name="Open", exact=True)
    for _ in range(10):
        assert_focus_visible(page)
        if is_focused(open_button):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"the day chooser's button never had the focus: {focused(page)}")


def test_the_form_is_filled_and_sent_with_the_keyboard_alone(
    pages: Pages, country: Country, live_server: LiveServer, screenshots: Path
) -> None:
    period = day(country, -7)
    page = pages.new()
    pages.watch(page).expect_status(400)
    sign_in(page, REPORTER, live_server.passwords[REPORTER])  # by keyboard too
    page.goto(f"/report/{UNIT}/{period}")  # typed in the address bar
    form = page.locator("main form[method=post]")
    controls = form.locator("input:not([type=hidden]), textarea, button")
    names = [
        "New fever cases",
        "New recoveries",
        "New deaths",
        "Under treatment",
        "Cumulative fever cases",
        "Cumulative recoveries",
        "Cumulative deaths",
        "Tests performed",
        "Confirmed cases",
    ]
    expect(controls).to_have_count(len(names) + 1)  # the fields and the button
    # More confirmed cases than fever cases and than tests: two errors.
    typed = {"New fever cases": "5", "Tests performed": "3", "Confirmed cases": "10"}
    tab_until(page, field(page, names[0]))
    for name in names:  # Tab goes from field to field in reading order
        assert is_focused(field(page, name)), f"expected {name}, focus on {focused(page)}"
        assert_focus_visible(page)
        if name in typed:
            page.keyboard.type(typed[name])
        page.keyboard.press("Tab")
    send_button = page.get_by_role("button", name="Send the report")
    assert is_focused(send_button), focused(page)
    assert_focus_visible(page)
    # ... and on to the "Another day" form, whose controls show the focus too.
    page.keyboard.press("Tab")
    tab_through_the_day_chooser(page)
    tab_until(page, send_button)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Nothing was written")
    to_fever = summary.get_by_role("link", name=re.compile("^Suspected .fever. cases"))
    to_tests = summary.get_by_role("link", name=re.compile("^Confirmed cases are no more"))
    for name, value in typed.items():
        expect(field(page, name)).to_have_value(value)
    assert_accessible(page)  # the form with its errors
    screenshot(page, screenshots, "report-errors")

    # The summary's links take the focus to their fields.
    tab_until(page, to_tests)
    assert_focus_visible(page)
    page.keyboard.press("Enter")
    expect(field(page, "Tests performed")).to_be_focused()
    assert_focus_visible(page)
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("20")
    shift_tab_until(page, to_fever)
    assert_focus_visible(page)
    page.keyboard.press("Enter")
    expect(field(page, "New fever cases")).to_be_focused()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("12")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # Enter in a field sends the form
    expect(page.get_by_role("status").first).to_contain_text("Saved.")
    values = stored(page, period)
    assert {e: v["value"] for e, v in values.items()} == {
        "new_fever": 12,
        "tested": 20,
        "confirmed": 10,
    }


# A phone's width, and axe on what is left ---------------------------------------------


def test_the_form_and_the_review_fit_a_phone(
    pages: Pages, country: Country, screenshots: Path
) -> None:
    period = day(country, -9)
    page = pages.signed_in(REPORTER, **PHONE)
    pages.watch(page).expect_status(400)
    page.goto(f"/report/{UNIT}/{period}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chagang")
    assert_no_horizontal_scroll(page)
    screenshot(page, screenshots, "phone-report")
    # Refused (nothing is written): the rule's box and the summary fit as well.
    fill(page, {"New fever cases": "5", "Confirmed cases": "10"})
    send(page)
    expect(page.get_by_role("alert")).to_contain_text("Nothing was written")
    expect(page.locator("#rule_suspected_ge_confirmed")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, screenshots, "phone-report-errors")
    page.set_viewport_size({"width": 320, "height": PHONE["height"]})
    assert_no_horizontal_scroll(page)
    screenshot(page, screenshots, "phone-320-report-errors")
    assert stored(page, period) == {}

    epi = pages.signed_in("epidemiologist", **PHONE)
    epi.goto(f"/review?period={period}")
    expect(epi.get_by_role("heading", level=1)).to_have_text(f"Review of {period}")
    approve = epi.get_by_role("button", name=f"Approve {UNIT} for {period}")
    expect(approve).to_be_visible()
    assert_no_horizontal_scroll(epi)
    screenshot(epi, screenshots, "phone-review")
    epi.set_viewport_size({"width": 320, "height": PHONE["height"]})
    assert_no_horizontal_scroll(epi)
    # The approve button is in view without scrolling sideways.
    box = approve.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 320, box
    screenshot(epi, screenshots, "phone-320-review")
