"""``sitroom demo``: the outbreak, a user per role with passwords shown once, and the server."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import String, Text, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from sitroom.auth import passwords
from sitroom.auth.models import AuthEvent
from sitroom.auth.permissions import ROLE_NAMES
from sitroom.auth.service import authenticate_password, create_user
from sitroom.demo import DEMO_PASSWORD_DETAIL
from sitroom.errors import AuthenticationError

#: The DPRK's 13 regions, by ISO 3166-2:KP code (11 and 12 are not used).
REGIONS = [f"KP-{n:02d}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15)]
#: Cheap argon2id parameters for the in-process tests (the served demo hashes for real).
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
#: Loading the outbreak and hashing 19 passwords takes a while on a busy machine.
START_SECONDS = 240


def printed_users(out: str) -> dict[str, tuple[str, str, str]]:
    """The demo users' table as printed: name -> (role, scope, password)."""
    users = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if len(cells) == 4 and cells[1] in ROLE_NAMES:
            users[cells[0]] = (cells[1], cells[2], cells[3])
    return users


def expected_users() -> dict[str, tuple[str, str]]:
    national = {role: (role, "KP") for role in ROLE_NAMES if role != "reporter"}
    reporters = {f"reporter-{code.lower()}": ("reporter", code) for code in REGIONS}
    return {**national, **reporters}


def text_in_tables(engine: Engine, tables: tuple[str, ...]) -> list[str]:
    """Every non-null value of every text column of ``tables``."""
    found = []
    inspector = inspect(engine)
    with engine.connect() as connection:
        for table in tables:
            columns = [
                c["name"]
                for c in inspector.get_columns(table)
                if isinstance(c["type"], (String, Text))
            ]
            assert columns, table
            for row in connection.exec_driver_sql(f"SELECT {', '.join(columns)} FROM {table}"):
                found.extend(value for value in row if value is not None)
    return found


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "hasher", lambda: FAST)


def test_no_serve_creates_the_users_with_passwords_shown_once_and_stored_hashed(
    cli, engine, fast_hashing
):
    first = cli("demo", "--no-supply", "--no-serve")
    assert first.code == 0, first.err
    assert "Regions reporting: 13 of 13" in first.out  # the old output, then the users
    assert "Demo users (19 created, 0 given new passwords)" in first.out
    users = printed_users(first.out)
    assert {name: (role, scope) for name, (role, scope, _) in users.items()} == expected_users()
    shown = {name: password for name, (_, _, password) in users.items()}
    for name, password in shown.items():
        passwords.check_policy(password, name)
        assert (first.out + first.err).count(password) == 1, name
    assert len(set(shown.values())) == len(shown)

    # Only hashes in the database: nothing of any password in any text column.
    stored = text_in_tables(engine, ("app_user", "auth_event"))
    assert not [text for text in stored for p in shown.values() if p in text]
    with Session(engine) as session:
        created = session.scalars(
            select(AuthEvent.username).where(AuthEvent.event == "user_created")
        ).all()
        assert set(created) == set(shown)
        for name, password in shown.items():
            principal = authenticate_password(session, name, password)
            assert principal.role == users[name][0]
            assert principal.scope_codes == (users[name][1],)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT username, password_hash FROM app_user").all()
    demo_hashes = {name: hashed for name, hashed in rows if name in shown}
    assert all(h.startswith("$argon2id$") for h in demo_hashes.values())

    # A second run works, and gives every demo user a new password, audited as such.
    second = cli("demo", "--no-supply", "--no-serve")
    assert second.code == 0, second.err
    assert "Demo users (0 created, 19 given new passwords)" in second.out
    again = {name: password for name, (_, _, password) in printed_users(second.out).items()}
    assert set(again) == set(shown)
    assert not set(again.values()) & set(shown.values())
    with Session(engine) as session:
        with pytest.raises(AuthenticationError):
            authenticate_password(session, "reporter-kp-04", shown["reporter-kp-04"])
        assert authenticate_password(session, "reporter-kp-04", again["reporter-kp-04"])
        details = session.scalars(
            select(AuthEvent.detail).where(AuthEvent.event == "password_set")
        ).all()
        assert details.count(DEMO_PASSWORD_DETAIL) == 19
    stored = text_in_tables(engine, ("app_user", "auth_event"))
    both = [*shown.values(), *again.values()]
    assert not [text for text in stored for p in both if p in text]


def test_a_second_run_puts_changed_demo_users_back(cli, engine, fast_hashing):
    assert cli("demo", "--no-supply", "--no-serve").code == 0
    assert cli("user", "disable", "reporter-kp-04").code == 0
    assert cli("user", "set-role", "reporter-kp-04", "viewer").code == 0
    assert cli("user", "grant", "reporter-kp-04", "--scope", "KP-01").code == 0
    assert cli("user", "revoke", "viewer", "--scope", "KP").code == 0
    again = cli("demo", "--no-supply", "--no-serve")
    assert again.code == 0, again.err
    users = printed_users(again.out)
    with Session(engine) as session:
        chagang = authenticate_password(session, "reporter-kp-04", users["reporter-kp-04"][2])
        viewer = authenticate_password(session, "viewer", users["viewer"][2])
    assert (chagang.role, chagang.scope_codes) == ("reporter", ("KP-04",))
    assert (viewer.role, viewer.scope_codes) == ("viewer", ("KP",))


def test_a_user_the_demo_did_not_make_is_left_alone(cli, engine, fast_hashing):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    with Session(engine) as session:
        create_user(
            session,
            "admin",
            role="admin",
            scopes=["KP"],
            password="the real operator's passphrase",
            actor="t",
        )
        session.commit()
    refused = cli("demo", "--no-supply", "--no-serve")
    assert refused.code == 1
    assert "admin exist and were not made by the demo" in refused.err
    assert "--no-users" in refused.err
    assert "Traceback" not in refused.err
    with Session(engine) as session:
        assert authenticate_password(session, "admin", "the real operator's passphrase")
        with pytest.raises(AuthenticationError):  # nothing was created either
            authenticate_password(session, "viewer", "x" * 20)


def test_no_users_prints_what_it_always_printed(cli):
    done = cli("demo", "--no-supply", "--no-serve", "--no-users")
    assert done.code == 0
    assert done.out.rstrip().endswith("sitroom analyze credibility")
    assert "password" not in done.out
    assert "Published the situation report of 2022-08-" in done.out
    skipped = cli("demo", "--no-supply", "--no-serve", "--no-users", "--no-publish")
    assert skipped.code == 0
    assert "situation report" not in skipped.out


def test_running_the_demo_again_publishes_no_identical_edition(cli, engine, fast_hashing):
    assert cli("demo", "--no-supply", "--no-serve").code == 0
    again = cli("demo", "--no-supply", "--no-serve")
    assert again.code == 0, again.err
    assert "nothing new published" in again.out
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM edition").scalar() == 1


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_busy_port_is_said_clearly_before_anything_is_done(cli, busy_port):
    refused = cli("demo", "--no-supply", "--port", str(busy_port))
    assert refused.code == 1
    assert f"port {busy_port} on 127.0.0.1 is in use" in refused.err
    assert "--port" in refused.err
    assert "Traceback" not in refused.err
    assert "created" not in refused.out  # checked before loading anything


# The served demo, as a user runs it ------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Demo:
    """``sitroom demo --port N`` in a process of its own, its output read as it comes."""

    def __init__(self, db_url: str, data_home: str, port: int) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("SITROOM_") or key == "SITROOM_TEST_DATABASE_URL"
        }
        env.update(SITROOM_DATABASE_URL=db_url, XDG_DATA_HOME=data_home, PYTHONUNBUFFERED="1")
        self.port = port
        self.address = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sitroom", "demo", "--no-supply", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        # Both pipes are drained as the process writes: a full one would stop it.
        threading.Thread(target=self._read, daemon=True).start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        self.err.extend(self.process.stderr)

    def wait_for_address(self) -> str:
        """Read the output up to the address line; the output read so far."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.out.append(line)
            if line.startswith(f"Serving on {self.address} "):
                return "".join(self.out)
        self.process.kill()
        self.process.wait()
        raise AssertionError(f"no address line:\n{''.join(self.out)}\n{''.join(self.err)}")

    def wait_until_ready(self, client: httpx.Client) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, "the demo stopped"
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.1)

    def stop(self, signum: int) -> tuple[int, str, str]:
        """Send ``signum``; the exit status, the rest of stdout and stderr."""
        self.process.send_signal(signum)
        code = self.process.wait(timeout=40)
        rest = []
        while (line := self.lines.get(timeout=5)) is not None:
            rest.append(line)
        self._err_reader.join(timeout=5)
        return code, "".join(rest), "".join(self.err)


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Callable[[], Demo]]:
    started: list[Demo] = []

    def start() -> Demo:
        demo = Demo(db_url, str(tmp_path / "data"), _free_port())
        started.append(demo)
        return demo

    yield start
    for demo in started:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()


def test_the_demo_serves_until_stopped_and_again(served):
    demo = served()
    out = demo.wait_for_address()
    assert "Published the situation report of 2022-08-" in out
    following = "".join([out, demo.lines.get(timeout=10), demo.lines.get(timeout=10)])
    assert f"API docs: {demo.address}/api/v1/docs" in following
    assert f"Situation reports: {demo.address}/reports" in following
    password = printed_users(out)["reporter-kp-04"][2]
    viewer = printed_users(out)["viewer"][2]
    with httpx.Client(base_url=demo.address, timeout=30) as client:
        demo.wait_until_ready(client)
        editions = client.get("/api/v1/editions", auth=("viewer", viewer))
        assert editions.status_code == 200, editions.text
        assert [e["number"] for e in editions.json()] == [1]
        pdf = client.get(editions.json()[0]["files"][1]["url"], auth=("viewer", viewer))
        assert pdf.content.startswith(b"%PDF")
        me = client.get("/api/v1/me", auth=("reporter-kp-04", password))
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "reporter"
        assert me.json()["scopes"] == ["KP-04"]
        assert client.get("/api/v1/me", auth=("reporter-kp-04", "x" * 20)).status_code == 401
    started = time.monotonic()
    code, rest, err = demo.stop(signal.SIGINT)
    assert code == 0, err
    assert time.monotonic() - started < 20
    assert "sitroom demo stopped." in rest
    assert "Traceback" not in err
    assert password not in err  # the request log never shows it

    # Run again on the same database, stopped by SIGTERM this time: new passwords.
    again = served()
    out = again.wait_for_address()
    assert "Demo users (0 created, 19 given new passwords)" in out
    assert "is published: edition 1, built from the same data (nothing new published)" in out
    new = printed_users(out)["reporter-kp-04"][2]
    with httpx.Client(base_url=again.address, timeout=30) as client:
        again.wait_until_ready(client)
        assert client.get("/api/v1/me", auth=("reporter-kp-04", new)).status_code == 200
        assert client.get("/api/v1/me", auth=("reporter-kp-04", password)).status_code == 401
    code, rest, err = again.stop(signal.SIGTERM)
    assert code == 0, err
    assert "sitroom demo stopped." in rest


def test_the_demo_loads_a_simulated_supply_history_once(cli, tmp_path):
    """The demo simulates the wave's supply on the whole network (issue #11, item 11),
    marked simulated, before it publishes: the report has its medicines section."""
    first = cli("demo", "--no-serve", "--no-users")
    assert first.code == 0, first.err
    assert "Loaded a simulated supply history" in first.out
    stock = json.loads(cli("supply", "stock", "--item", "PARA-500", "--json").out)
    assert len({line["facility"] for line in stock}) > 1000
    assert cli("supply", "verify").code == 0
    written = tmp_path / "report.json"
    assert cli("sitrep", "--format", "json", "-o", str(written)).code == 0
    report = json.loads(written.read_text(encoding="utf-8"))
    medicines = next(s for s in report["sections"] if s["key"] == "supply")
    assert any("simulated supply history" in s["text"] for s in medicines["sentences"])
    again = cli("demo", "--no-serve", "--no-users")
    assert again.code == 0, again.err
    assert "The simulated supply history is loaded" in again.out


def test_the_demo_loads_an_illustrative_aid_history_once(cli, engine, fast_hashing):
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from sitroom.aid import requests
    from sitroom.aid.models import AidRequest, Message, Offer, Partner, Shipment
    from sitroom.supply.models import StockEntry

    first = cli("demo", "--no-supply", "--no-serve", "--no-users", "--no-publish")
    assert first.code == 0, first.err
    assert "Loaded an illustrative aid history" in first.out
    with Session(engine) as session:
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Partner, AidRequest, Offer, Shipment, Message)
        }
        assert counts == {"Partner": 3, "AidRequest": 2, "Offer": 1, "Shipment": 2, "Message": 9}
        for model in (Partner, AidRequest, Offer, Shipment, Message):
            assert session.scalar(select(func.count()).where(~model.illustrative)) == 0
        # What arrived is in the ledger, from the donor, marked simulated like the demo's stock.
        receipts = session.execute(
            select(StockEntry.counterparty, StockEntry.simulated, func.sum(StockEntry.quantity))
            .where(StockEntry.reference.like("SHP-%"))
            .group_by(StockEntry.counterparty, StockEntry.simulated)
        ).all()
        assert receipts == [("People's Republic of China", True, 3_100_000)]
        waiting = {(o.about, o.waiting_for) for o in requests.overdue(session)}
        assert ("OFF-2022-0001", "us") in waiting
        assert ("REQ-2022-0002", "partner") in waiting
    again = cli("demo", "--no-supply", "--no-serve", "--no-users", "--no-publish")
    assert again.code == 0, again.err
    assert "The illustrative aid history is loaded" in again.out
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Partner)) == 3
