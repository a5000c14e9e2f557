"""Fixtures of the browser tests: a live server, Debian's chromium, a watched page.

* ``live_server`` (once for this folder, stopped when its tests end): a real
  uvicorn serving ``create_app`` on a free loopback port, on a database of
  its own (a copy of the migrated SQLite template, or the schema
  ``sitroom_test_browser`` of the PostgreSQL test database) holding the 2022
  wave and the demo's users (``admin``, ``epidemiologist``,
  ``reporter-kp-04`` ... with the passwords in ``live_server.passwords``).
  Tests that change a user (a password, a lock) make their own with
  ``live_server.create_user``.
* ``browser`` (once for this folder): chromium through Playwright. Skipped
  with the reason in the summary where chromium is missing; a failure under
  CI, where ``.ci/run`` installs it.
* ``page`` (each test): a new browser context (cookies of its own) at the
  server's address; the test fails if the page logs a console error, throws,
  has a request fail or answered with an error, or asks for anything outside
  the server's origin (such requests are aborted: the pages must work offline).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from sqlalchemy import text
from sqlalchemy.orm import Session

from sitroom.auth import passwords
from sitroom.auth import service as auth
from sitroom.context import AppContext
from sitroom.country import Country
from sitroom.db import create_db_engine, upgrade
from sitroom.demo import create_demo_users, load_demo
from sitroom.server.app import create_app
from tests.browser import harness
from tests.conftest import TEST_DATABASE_URL

#: PostgreSQL schema of the live server's database (beside the other fixtures' ones).
BROWSER_SCHEMA = "sitroom_test_browser"
#: Cheap argon2id for the test users (the server verifies a hash with its own parameters).
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
#: The default viewport: a laptop's. Phone-width tests make their own context.
VIEWPORT = {"width": 1280, "height": 800}
START_SECONDS = 60
#: How long ``expect`` waits for its condition (Playwright's default is 5 s): room for a
#: machine busy with other work, never a measure of speed.
expect.set_options(timeout=15_000)
OPENERS = pytest.StashKey[list["Pages"]]()
SCREENSHOT_FOLDER = pytest.StashKey[Path]()
SKIPPED = pytest.StashKey[str]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``browser`` (``pytest -m "not browser"`` leaves them)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test whose pages had problems (see ``harness.PageWatch``), as a failure of
    the test itself, not an error of a fixture's teardown."""
    try:
        result = yield
    finally:
        problems = [p for opener in item.stash.get(OPENERS, []) for p in opener.problems()]
        if problems:
            item.add_report_section("call", "browser problems", "\n".join(problems))
    if problems:
        raise AssertionError("the browser saw problems:\n" + "\n".join(problems))
    return result


# The server --------------------------------------------------------------------------


@dataclass
class LiveServer:
    """The server under test: its address, database, and the users' passwords."""

    url: str
    database_url: str
    passwords: dict[str, str] = field(default_factory=dict)

    def create_user(self, username: str, *, role: str, scopes: list[str]) -> str:
        """Create a user on the server's database; their (random) password."""
        password = f"browser-test {secrets.token_urlsafe(12)}"
        engine = create_db_engine(self.database_url)
        try:
            with Session(engine) as session, _fast_hashing():
                auth.create_user(
                    session, username, role=role, scopes=scopes, password=password, actor="test"
                )
                session.commit()
        finally:
            engine.dispose()
        self.passwords[username] = password
        return password


@contextmanager
def _fast_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", lambda: FAST)
        yield


def _browser_database(template: str, folder: Path) -> tuple[str, Callable[[], None]]:
    """A migrated, empty database for the live server: its URL, and how to drop it."""
    if not TEST_DATABASE_URL:
        path = folder / "browser.db"
        path.write_bytes(Path(template).read_bytes())
        return f"sqlite:///{path}", lambda: None
    admin = create_db_engine(TEST_DATABASE_URL)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {BROWSER_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {BROWSER_SCHEMA}"))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {BROWSER_SCHEMA} CASCADE"))
        admin.dispose()

    # In the URL, so that the server's own engine (made from the settings) uses it too.
    separator = "&" if "?" in TEST_DATABASE_URL else "?"
    url = f"{TEST_DATABASE_URL}{separator}options=-csearch_path%3D{BROWSER_SCHEMA}"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, drop


def _load(database_url: str, country: Country) -> dict[str, str]:
    """The 2022 wave and the demo's users; the users' passwords."""
    engine = create_db_engine(database_url)
    try:
        with Session(engine, expire_on_commit=False) as session, _fast_hashing():
            load_demo(session, country, user="test")
            users = create_demo_users(session, country, actor="test")
            session.commit()
    finally:
        engine.dispose()
    return {user.username: user.password for user in users}


def _listening_socket() -> socket.socket:
    """A socket bound to a free loopback port, handed to uvicorn (no race for the port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener


@pytest.fixture(scope="package")
def live_server(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """uvicorn serving the app on 127.0.0.1 in a thread of the test process, for the
    browser tests (package-scoped: stopped, with chromium, before the other folders run)."""
    database_url, drop = _browser_database(_migrated, tmp_path_factory.mktemp("browser"))
    user_passwords = _load(database_url, country)
    context = AppContext.from_overrides(
        database_url=database_url, secret_key=secrets.token_urlsafe(32), auth_failure_delay=0
    )
    listener = _listening_socket()
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(context), log_config=None, access_log=False, lifespan="on", workers=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    # The server runs in this process: a password it sets (a change through the
    # page) is hashed cheaply too, as the users' own were.
    with _fast_hashing():
        thread.start()
        try:
            deadline = time.monotonic() + START_SECONDS
            while not server.started:
                assert thread.is_alive(), "the live server stopped while starting"
                assert time.monotonic() < deadline, "the live server did not start"
                time.sleep(0.02)
            yield LiveServer(f"http://127.0.0.1:{port}", database_url, user_passwords)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            listener.close()
            drop()


# The browser and its pages ------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright, pytestconfig: pytest.Config) -> Iterator[Browser]:
    """Debian's chromium, headless; never a browser Playwright would download."""
    executable = harness.chromium_path()
    if executable is None:
        reason = (
            f"browser tests need chromium at {harness.CHROMIUM} (Debian: apt-get install"
            " chromium; or set SITROOM_TEST_CHROMIUM to another chromium)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: .ci/run installs it, so under CI it must be there")
        pytestconfig.stash[SKIPPED] = reason
        pytest.skip(reason)
    launched = playwright.chromium.launch(executable_path=executable, args=harness.chromium_args())
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's screenshot folder: $SITROOM_SCREENSHOTS, or a temporary one (never
    committed; its path is printed at the end of the run)."""
    chosen = os.environ.get(harness.SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    skipped = config.stash.get(SKIPPED, None)
    if skipped is not None:
        terminalreporter.write_line(
            f"The browser tests were skipped: {skipped}", yellow=True, bold=True
        )
    folder = config.stash.get(SCREENSHOT_FOLDER, None)
    if folder is not None and any(folder.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {folder}")


@dataclass
class Pages:
    """Opens watched pages on the live server (several viewports or users in one test)."""

    browser: Browser
    server: LiveServer
    opened: list[tuple[Page, harness.PageWatch]] = field(default_factory=list)

    def new(
        self,
        *,
        width: int = VIEWPORT["width"],
        height: int = VIEWPORT["height"],
        javascript: bool = True,
    ) -> Page:
        """A page in a browser context of its own (own cookies), ``width`` by ``height`` px;
        ``javascript=False`` for what must work without script (the reporters' forms)."""
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport={"width": width, "height": height},
            java_script_enabled=javascript,
            locale="en-GB",
            timezone_id="Asia/Pyongyang",
            service_workers="block",
        )
        watch = harness.PageWatch(origin=self.server.url)
        context.route("**/*", watch.route)
        page = context.new_page()
        watch.attach(page)
        self.opened.append((page, watch))
        return page

    def signed_in(self, username: str, **options: Any) -> Page:
        """A new page (``options`` as :meth:`new`'s) signed in as ``username``, a user of
        the live server (the demo's, or one made by ``live_server.create_user``)."""
        page = self.new(**options)
        harness.sign_in(page, username, self.server.passwords[username])
        assert urlsplit(page.url).path == "/", f"{username} did not get signed in: {page.url}"
        return page

    def watch(self, page: Page) -> harness.PageWatch:
        """What is watched on ``page`` (to expect a status, or read its requests)."""
        return next(watch for opened, watch in self.opened if opened is page)

    def problems(self) -> list[str]:
        """Every page's problems, once the events the browser has sent are handled."""
        for page, _ in self.opened:
            if not page.is_closed():
                page.evaluate("0")  # a round trip: the events sent before it are handled
        return [problem for _, watch in self.opened for problem in watch.problems]

    def close(self) -> None:
        for page, _ in self.opened:
            page.context.close()


@pytest.fixture
def pages(
    browser: Browser,
    live_server: LiveServer,
    screenshots: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Pages]:
    """Opens watched pages (``pages.new(width=375)``); a test fails on their problems."""
    request.config.stash[SCREENSHOT_FOLDER] = screenshots
    opener = Pages(browser, live_server)
    request.node.stash.setdefault(OPENERS, []).append(opener)
    yield opener
    opener.close()


@pytest.fixture
def page(pages: Pages) -> Page:
    """A watched page at the live server, in a browser context of its own (1280 by 800 pixels)."""
    return pages.new()
