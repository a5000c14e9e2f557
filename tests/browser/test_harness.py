"""The harness itself: it sees what it is meant to see, so a quiet run means something."""

from __future__ import annotations

import hashlib

import pytest
from playwright.sync_api import Page

from tests.browser import harness
from tests.browser.conftest import LiveServer, Pages


def test_the_vendored_axe_core_is_the_recorded_file() -> None:
    readme = (harness.AXE.parent / "README.md").read_text(encoding="utf-8")
    assert f"axe-core {harness.AXE_VERSION}" in readme
    assert harness.AXE_SHA256 in readme
    assert hashlib.sha256(harness.AXE.read_bytes()).hexdigest() == harness.AXE_SHA256
    assert (harness.AXE.parent / "LICENSE").read_text().startswith("Mozilla Public License")


def test_the_watch_reports_console_errors_failed_loads_and_foreign_requests(
    page: Page, pages: Pages, live_server: LiveServer
) -> None:
    page.goto("/signin")
    page.evaluate("console.error('something broke')")
    page.evaluate("fetch('/static/no-such-file.css').then(r => r.status)")
    # A page of the test's own (no CSP) asking another origin: loopback, a port
    # nothing listens on, and aborted in the browser before it is sent anyway.
    page.set_content('<img alt="" src="http://127.0.0.1:9/elsewhere.png">')
    watch = pages.watch(page)
    problems = pages.problems()
    assert any("console error: something broke" in p for p in problems), problems
    assert any("fetch answered 404" in p and "no-such-file.css" in p for p in problems), problems
    assert any("request outside" in p and "127.0.0.1:9/elsewhere.png" in p for p in problems), (
        problems
    )
    assert "http://127.0.0.1:9/elsewhere.png" in watch.requests
    watch.problems.clear()  # seen on purpose: the test itself passes


def test_axe_names_the_rule_and_the_element_at_fault(page: Page) -> None:
    page.set_content(
        '<html lang="en"><title>t</title><main><img src="data:," id="bare">'
        '<input id="unlabelled"></main></html>'
    )
    with pytest.raises(AssertionError) as failed:
        harness.assert_accessible(page)
    message = str(failed.value)
    assert "image-alt (critical)" in message
    assert "#bare" in message
    assert "label (critical)" in message
    assert "#unlabelled" in message
    harness.assert_accessible(page, disable=("image-alt", "label"))
