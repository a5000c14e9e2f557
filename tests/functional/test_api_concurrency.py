"""Concurrent writers over HTTP: no lost update, no double write, one winner (issue #9, item 7).

Real HTTP against real servers: first one uvicorn server in a thread of the
test (its requests run in its thread pool, so they overlap in the database),
then two ``sitroom serve`` processes on one database, with the clients
spread over both. Writers PUT single values with If-Match (re-reading and
retrying on 412) and POST batches, every write with a value never written
before, so that each audit row names the request that made it. Afterwards:

* every successful write has its import run (channel ``api``) and nothing
  else does: refused writes left none;
* each value's audit rows, in the order the database numbered them (under the
  period lock, so in commit order), form a chain from the initial value to
  the stored one, and hold exactly one row per successful write of that
  value: none lost, none doubled;
* the stored value is the last committed write's (the last audit row's
  import run wrote it);
* of several PUTs sent with the same ETag at once exactly one wins and the
  others get 412 naming the winner's value;
* one batch sent at once to both servers under one Idempotency-Key is applied
  exactly once; every sender gets the same answer.

Runs on SQLite (one file, two processes) and on PostgreSQL
(SITROOM_TEST_DATABASE_URL).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.context import AppContext
from sitroom.country import Country
from sitroom.places.models import OrgUnit
from sitroom.server.app import create_app
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.models import DataElement, DataValue, DataValueAudit, ImportRun

WRITERS = ("w0", "w1", "w2", "w3")
#: Values contended for: two elements of two regions over two days (two period locks).
KEYS = [
    (element, unit, day)
    for day in ("2022-05-20", "2022-05-21")
    for unit in ("KP-04", "KP-05")
    for element in ("new_fever", "new_deaths")
]
THREADS = 6
ROUNDS = 6
MAX_TRIES = 50

Key = tuple[str, str, str]


@dataclass
class Write:
    """A write the server said it committed: its import run and what it set."""

    import_id: int
    values: dict[Key, int]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def tokens(loaded: Session) -> dict[str, str]:
    """An API token for each writer (epidemiologists of the country, without passwords)."""
    made = {}
    for name in WRITERS:
        auth.create_user(
            loaded, name, role="epidemiologist", scopes=["KP"], password=None, actor="t"
        )
        made[name] = auth.create_token(loaded, name, "load")
    loaded.commit()
    return made


@pytest.fixture
def initial(
    tokens: dict[str, str], loaded: Session, country: Country, tmp_path: Path
) -> dict[Key, int]:
    """Every contended value stored once (so that every later write is an update)."""
    values = dict.fromkeys(KEYS, 1)
    lines = ["dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value"]
    lines += [f"{e},{p},{u},,,{v}" for (e, u, p), v in values.items()]
    path = tmp_path / "initial.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = Importer(loaded, country, user="w0").run(path)
    assert summary.created == len(KEYS)
    return values


@pytest.fixture
def thread_server(db_url: str, tokens: dict[str, str]) -> Iterator[str]:
    """sitroom on a loopback port, served from a thread of the test."""
    context = AppContext.from_overrides(database_url=db_url, secret_key="c" * 40)
    port = _free_port()
    config = uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_config=None)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=20)


@pytest.fixture
def two_servers(db_url: str, tokens: dict[str, str]) -> Iterator[list[str]]:
    """Two ``sitroom serve`` processes on the test's database."""
    env = {**os.environ, "SITROOM_SECRET_KEY": "p" * 40, "SITROOM_DATABASE_URL": db_url}
    launch = [sys.executable, "-c", "from sitroom.cli import main; main()"]
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(
            [*launch, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, proc in zip(bases, procs, strict=True):
            _wait_ready(base, proc)
        yield bases
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def _wait_ready(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} did not become ready")


def _url(base: str, key: Key) -> str:
    element, unit, day = key
    return f"{base}/api/v1/dataValues/{element}/{unit}/{day}"


def _headers(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"ApiToken {token}", **more}


def _put_until_it_wins(client: httpx.Client, base: str, token: str, key: Key, value: int) -> Write:
    """Read, PUT with If-Match; on 412 read again and retry: the optimistic client."""
    for _ in range(MAX_TRIES):
        read = client.get(_url(base, key), headers=_headers(token))
        assert read.status_code == 200, read.text
        answer = client.put(
            _url(base, key),
            json={"value": value},
            headers=_headers(token, **{"If-Match": read.headers["etag"]}),
        )
        if answer.status_code == 412:
            assert answer.json()["errors"][0]["field"] == "If-Match"
            continue
        assert answer.status_code == 200, answer.text
        assert answer.json()["action"] == "updated"
        return Write(answer.json()["import_id"], {key: value})
    raise AssertionError(f"{key}: no PUT won in {MAX_TRIES} tries")


def _post(client: httpx.Client, base: str, token: str, values: dict[Key, int]) -> Write:
    body = {
        "dataValues": [
            {"dataElement": e, "orgUnit": u, "period": p, "value": str(v)}
            for (e, u, p), v in values.items()
        ]
    }
    answer = client.post(f"{base}/api/v1/dataValues", json=body, headers=_headers(token))
    assert answer.status_code == 200, answer.text
    assert answer.json()["updated"] == len(values)
    return Write(answer.json()["import_id"], dict(values))


def _hammer(bases: list[str], tokens: dict[str, str]) -> list[Write]:
    """THREADS writers x ROUNDS writes over overlapping values, across ``bases``."""
    start = threading.Barrier(THREADS)

    def writer(t: int) -> list[Write]:
        token = tokens[WRITERS[t % len(WRITERS)]]
        done = []
        with httpx.Client(timeout=120) as client:
            start.wait()
            for r in range(ROUNDS):
                base = bases[(t + r) % len(bases)]
                value = 1000 * (t + 1) + r  # never written by anyone else
                if (t + r) % 2:
                    key = KEYS[(t + r) % len(KEYS)]
                    done.append(_put_until_it_wins(client, base, token, key, value))
                else:
                    pair = [KEYS[(t + r) % len(KEYS)], KEYS[(t + r + 3) % len(KEYS)]]
                    done.append(_post(client, base, token, dict.fromkeys(pair, value)))
        return done

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(writer, range(THREADS)))
    return [w for done in results for w in done]


def _codes(session: Session) -> tuple[dict[int, str], dict[int, str]]:
    elements = dict(session.execute(select(DataElement.id, DataElement.code)).all())
    units = dict(session.execute(select(OrgUnit.id, OrgUnit.code)).all())
    return elements, units


def _check_history(session: Session, initial: dict[Key, int], writes: list[Write]) -> None:
    """The assertions of the module's docstring, from what the database recorded."""
    session.expire_all()
    elements, units = _codes(session)

    def key_of(row: Any) -> Key:
        return (elements[row.element_id], units[row.org_unit_id], row.period.isoformat())

    runs = {r.id: r for r in session.scalars(select(ImportRun).where(ImportRun.channel == "api"))}
    assert sorted(runs) == sorted(w.import_id for w in writes), "import runs != committed writes"
    audits = session.scalars(select(DataValueAudit).order_by(DataValueAudit.id)).all()
    trail: dict[Key, list[tuple[int, int]]] = {key: [] for key in initial}
    current = dict(initial)
    for row in audits:
        key = key_of(row)
        assert row.action == "update"
        assert row.old_value == current[key], (
            f"{key}: audit replaced {row.old_value}, not {current[key]}"
        )
        assert row.import_id is not None
        current[key] = row.new_value
        trail[key].append((row.import_id, row.new_value))
    expected = Counter((key, w.import_id, v) for w in writes for key, v in w.values.items())
    recorded = Counter((key, i, v) for key, rows in trail.items() for i, v in rows)
    assert recorded == expected, "an update was lost or written twice"
    for run_id, run in runs.items():
        assert run.updated == sum(1 for rows in trail.values() for i, _ in rows if i == run_id)
        assert run.created == run.deleted == 0
    stored = {key_of(v): v for v in session.scalars(select(DataValue))}
    assert set(stored) == set(initial)
    for key, rows in trail.items():
        last_run, last_value = rows[-1]
        assert stored[key].value == last_value == current[key]
        assert stored[key].import_id == last_run  # the last committed write is the one stored


def _contend_with_one_etag(bases: list[str], tokens: dict[str, str], session: Session) -> None:
    """K PUTs sent at once with the same ETag: one wins, the rest get 412."""
    key = KEYS[0]
    contenders = 6
    with httpx.Client(timeout=60) as client:
        etag = client.get(_url(bases[0], key), headers=_headers(tokens["w0"])).headers["etag"]
    runs_before = session.scalar(select(func.count()).select_from(ImportRun))
    start = threading.Barrier(contenders)

    def put(i: int) -> httpx.Response:
        with httpx.Client(timeout=120) as client:
            start.wait()
            return client.put(
                _url(bases[i % len(bases)], key),
                json={"value": 50_000 + i},
                headers=_headers(tokens[WRITERS[i % len(WRITERS)]], **{"If-Match": etag}),
            )

    with ThreadPoolExecutor(contenders) as pool:
        answers = list(pool.map(put, range(contenders)))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 1, 412: contenders - 1}, [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()
    for lost in (a for a in answers if a.status_code == 412):
        assert lost.json()["current"]["value"] == winner["value"]["value"]
        assert lost.headers["etag"] == f'"{winner["value"]["etag"]}"'
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ImportRun)) == runs_before + 1
    element, unit, day = key
    stored = session.scalars(
        select(DataValue)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .where(OrgUnit.code == unit, DataValue.period == date.fromisoformat(day))
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(DataElement.code == element)
    ).one()
    assert stored.value == winner["value"]["value"]
    assert stored.import_id == winner["import_id"]


def _retry_everywhere(bases: list[str], tokens: dict[str, str], session: Session) -> None:
    """One batch under one Idempotency-Key, sent at once by several clients to every server."""
    senders = 6
    body = {
        "dataValues": [
            {"dataElement": e, "orgUnit": u, "period": p, "value": "77777"} for e, u, p in KEYS
        ]
    }
    runs_before = session.scalar(select(func.count()).select_from(ImportRun))
    start = threading.Barrier(senders)

    def send(i: int) -> httpx.Response:
        with httpx.Client(timeout=120) as client:
            start.wait()
            return client.post(
                f"{bases[i % len(bases)]}/api/v1/dataValues",
                json=body,
                headers=_headers(tokens["w1"], **{"Idempotency-Key": "the-same-batch"}),
            )

    with ThreadPoolExecutor(senders) as pool:
        answers = list(pool.map(send, range(senders)))
    assert [a.status_code for a in answers] == [200] * senders, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    replayed = [a.headers.get("idempotent-replayed") for a in answers]
    assert replayed.count("true") == senders - 1
    assert answers[0].json()["updated"] == len(KEYS)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ImportRun)) == runs_before + 1
    assert {v.value for v in session.scalars(select(DataValue))} == {77777}


def test_threads_against_one_server(
    thread_server: str, tokens: dict[str, str], initial: dict[Key, int], loaded: Session
) -> None:
    writes = _hammer([thread_server], tokens)
    assert len(writes) == THREADS * ROUNDS
    _check_history(loaded, initial, writes)
    _contend_with_one_etag([thread_server], tokens, loaded)
    _retry_everywhere([thread_server], tokens, loaded)


def test_two_server_processes_on_one_database(
    two_servers: list[str], tokens: dict[str, str], initial: dict[Key, int], loaded: Session
) -> None:
    writes = _hammer(two_servers, tokens)
    assert len(writes) == THREADS * ROUNDS
    _check_history(loaded, initial, writes)
    _contend_with_one_etag(two_servers, tokens, loaded)
    _retry_everywhere(two_servers, tokens, loaded)
