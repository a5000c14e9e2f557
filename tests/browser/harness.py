"""What the browser tests share: finding chromium, watching a page, axe, keyboard, layout.

The fixtures (``live_server``, ``browser``, ``page``) are in ``conftest.py``
beside this file; the helpers here are plain functions a page test calls:

* :func:`assert_accessible` runs the vendored axe-core on the page and fails
  on serious or critical WCAG 2.1 A/AA violations;
* :func:`sign_in` signs in through the form, with the keyboard only;
* :func:`tab_until` presses Tab until a given element has the focus, and
  :func:`assert_focus_visible` checks the focused element shows it;
* :func:`assert_no_horizontal_scroll` checks a page fits its viewport's width;
* :func:`screenshot` saves a full-page PNG in the run's screenshot folder.

See "Browser tests" in docs/testing.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Locator, Page, Request, Response, Route

HERE = Path(__file__).parent

#: Where chromium is looked for: Debian's package, unless SITROOM_TEST_CHROMIUM says otherwise.
CHROMIUM = os.environ.get("SITROOM_TEST_CHROMIUM", "/usr/bin/chromium")

#: Flags for Debian's chromium on a machine with no screen and no network but the
#: loopback (see the machine notes): no GPU, none of Chrome's background connections
#: (refused here, and noise in the logs), no first-run or sync. Playwright adds
#: ``--headless`` and a new empty ``--user-data-dir`` of its own at every launch.
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)

AXE = HERE / "vendor" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
#: The rules run: WCAG 2.0 and 2.1, levels A and AA.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
#: The impacts that fail a test (axe's others are "minor" and "moderate").
FAILING_IMPACTS = frozenset({"serious", "critical"})


def chromium_path() -> str | None:
    """The chromium executable to drive, or None when there is none."""
    if os.sep in CHROMIUM:
        return CHROMIUM if os.access(CHROMIUM, os.X_OK) else None
    return shutil.which(CHROMIUM)


def chromium_args() -> list[str]:
    """Launch flags; ``--no-sandbox`` only as root, where chromium refuses to start without."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return [*CHROMIUM_FLAGS, *(["--no-sandbox"] if root else [])]


# Watching a page ------------------------------------------------------------------


@dataclass
class PageWatch:
    """Everything that went wrong in a page: console errors, script errors, failed or
    foreign requests, sub-resources answered with an error status.

    The ``page`` fixture attaches one to every page and fails the test when
    :attr:`problems` is not empty. Requests to anywhere but ``origin`` are
    aborted before they leave the browser, and reported.
    """

    origin: str
    problems: list[str] = field(default_factory=list)
    #: Every URL the page asked for, in order (for tests that check what was loaded).
    requests: list[str] = field(default_factory=list)
    #: Statuses a test expects for its documents (a refused sign-in is a 401 page).
    expected_statuses: set[int] = field(default_factory=set)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def expect_status(self, *statuses: int) -> None:
        """Let documents (only) answer these statuses, which Chromium logs as console errors."""
        self.expected_statuses.update(statuses)

    def route(self, route: Route) -> None:
        """Let requests to the origin through; abort any other (no network in these tests)."""
        if self._ours(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def _ours(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        if text.startswith("Failed to load resource: the server responded with a status of "):
            # Chromium logs every error status, the documents' included: a document's
            # status is the test's to check, a sub-resource's is reported by _response.
            return
        where = message.location.get("url", "")
        self.problems.append(f"console error: {text}" + (f" ({where})" if where else ""))

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)
        if not self._ours(request.url):
            self.problems.append(f"request outside {self.origin}: {request.method} {request.url}")

    def _failed(self, request: Request) -> None:
        if not self._ours(request.url):
            return  # already reported, and aborted on purpose
        if request.failure == "net::ERR_ABORTED":
            # What a navigation does to the loads still in flight (a test moving on
            # before the stylesheet came). A load that truly fails is another error, an
            # error status is reported by _response, a CSP refusal by the console.
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status < 400:
            return
        document = response.request.resource_type == "document"
        if document and response.status in self.expected_statuses:
            return
        kind = "page" if document else response.request.resource_type
        self.problems.append(f"{kind} answered {response.status}: {response.url}")


# Accessibility ----------------------------------------------------------------------


def axe_source() -> Path:
    """The vendored axe-core, checked against the hash its README records."""
    digest = hashlib.sha256(AXE.read_bytes()).hexdigest()
    assert digest == AXE_SHA256, f"{AXE} is not axe-core {AXE_VERSION} as vendored"
    return AXE


def _describe(violation: dict[str, Any]) -> str:
    lines = [
        f"- {violation['id']} ({violation['impact']}): {violation['help']}",
        f"  {violation['helpUrl']}",
    ]
    for node in violation["nodes"]:
        target = " ".join(str(part) for part in node["target"])
        lines.append(f"  * {target}: {node['html'][:200]}")
        summary = (node.get("failureSummary") or "").replace("\n", "\n      ")
        if summary:
            lines.append(f"      {summary}")
    return "\n".join(lines)


def axe_violations(page: Page, *, disable: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, every impact.

    ``disable`` names rules not to run (say why in the test).
    """
    if not page.evaluate("typeof window.axe === 'object'"):
        # add_script_tag would put the file inline, which the pages' CSP refuses;
        # evaluating it through the DevTools protocol is not subject to the CSP.
        page.evaluate(axe_source().read_text(encoding="utf-8") + "\n;undefined")
    options = {
        "runOnly": {"type": "tag", "values": list(AXE_TAGS)},
        "rules": {rule: {"enabled": False} for rule in disable},
        "resultTypes": ["violations"],
    }
    violations: list[dict[str, Any]] = page.evaluate(
        "options => axe.run(document, options).then(results => results.violations)", options
    )
    return violations


def assert_accessible(page: Page, *, disable: tuple[str, ...] = ()) -> None:
    """Fail on axe-core's serious or critical WCAG 2.1 A/AA violations, each named with
    its rule, what it asks and the elements at fault."""
    serious = [v for v in axe_violations(page, disable=disable) if v["impact"] in FAILING_IMPACTS]
    assert not serious, f"accessibility violations on {page.url}:\n" + "\n".join(
        _describe(v) for v in serious
    )


# Keyboard, layout, pictures -----------------------------------------------------------


def focused(page: Page) -> str:
    """The focused element, described for a message: tag, id or name, and its text."""
    described: str = page.evaluate(
        """() => {
            const e = document.activeElement;
            if (!e || e === document.body) return "(nothing)";
            const id = e.id ? "#" + e.id : "";
            const text = (e.innerText || e.value || "").trim().slice(0, 40);
            return e.tagName.toLowerCase() + id + " " + text;
        }"""
    )
    return described


def tab_until(page: Page, target: Locator, *, most: int = 30) -> int:
    """Press Tab until ``target`` has the focus; the number of presses. Fails after ``most``."""
    seen = []
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if target.evaluate("e => e === document.activeElement"):
            return presses
        seen.append(focused(page))
    raise AssertionError(f"{target} never had the focus after {most} Tabs; focus went to {seen}")


def assert_focus_visible(page: Page) -> None:
    """The focused element shows it (WCAG 2.4.7): an outline at least 2 px wide."""
    style: dict[str, str] = page.evaluate(
        """() => {
            const s = getComputedStyle(document.activeElement);
            return {style: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow};
        }"""
    )
    width = float(style["width"].removesuffix("px") or 0)
    shown = style["style"] != "none" and width >= 2
    assert shown, f"no visible focus on {focused(page)}: {style}"


def sign_in(page: Page, username: str, password: str) -> None:
    """Sign in through the form with the keyboard only: the user-name field has the
    focus when the page opens, Tab goes to the password, Enter sends the form."""
    page.goto("/signin")
    name = page.get_by_label("User name")
    if not name.evaluate("e => e === document.activeElement"):
        tab_until(page, name)
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert page.get_by_label("Password").evaluate("e => e === document.activeElement"), focused(
        page
    )
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def horizontal_overflow(page: Page) -> tuple[int, int]:
    """(the document's scroll width, the viewport's width) in CSS pixels."""
    widths: list[int] = page.evaluate(
        "() => [document.scrollingElement.scrollWidth, window.innerWidth]"
    )
    return widths[0], widths[1]


def assert_no_horizontal_scroll(page: Page) -> None:
    """The page fits the viewport's width: nothing to scroll sideways."""
    scroll, width = horizontal_overflow(page)
    assert scroll <= width, f"{page.url} is {scroll} px wide in a {width} px viewport"


#: Where screenshots go: SITROOM_SCREENSHOTS, or a folder of pytest's temporary ones.
SCREENSHOTS_ENV = "SITROOM_SCREENSHOTS"


def screenshot(page: Page, folder: Path, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as ``folder/name.png`` (never committed): the whole page, or
    with ``full_page=False`` what the viewport shows."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
