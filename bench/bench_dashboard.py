"""Benchmark: the dashboard's latency under concurrent clients (issue #10, item 10).

A real uvicorn server (one worker, a subprocess, as ``bench_server.py``'s)
serves a temporary SQLite database holding the 2022 wave, on loopback. A
national epidemiologist signs in on the web; then N clients
(``httpx.AsyncClient``, one event loop, the session's cookie) send requests
back to back for a fixed time, one scenario after another:

- ``GET /static/sitroom.css``: the baseline, a static file of the same server;
- ``GET /``: the national overview (the situation report's context, HTML);
- ``GET /overview.json``: its JSON twin;
- ``GET /regions/KP-04`` and ``/regions/KP-04.json``: a region's page and twin.

Each prints requests per second, p50 and p99 latency and their ratios to the
baseline. The first request of each page (the warm-up, timed alone) builds
its context; the others find it in the process's cache, keyed by the data's
version, which every request reads (one small query). Goal: the overview
under 100 ms at p50 with 20 clients.

Usage::

    python bench/bench_dashboard.py [--seconds 10] [--clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from bench_server import Result, Server, line, load
from sitroom.auth import service as auth
from sitroom.config import DEFAULT_COUNTRY, PACKAGE_DATA
from sitroom.country import load_country
from sitroom.db import create_db_engine, upgrade
from sitroom.setup import setup_country
from sitroom.surveillance.imports import Importer

PASSWORD = "a load-test passphrase, long enough 42"
HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SCENARIOS = (
    ("static file (baseline)", "/static/sitroom.css"),
    ("overview /", "/"),
    ("overview twin /overview.json", "/overview.json"),
    ("region /regions/KP-04", "/regions/KP-04"),
    ("region twin /regions/KP-04.json", "/regions/KP-04.json"),
)


def prepare(url: str) -> None:
    """The 2022 wave and a national epidemiologist, ``bench``."""
    engine = create_db_engine(url)
    upgrade(engine)
    country = load_country(DEFAULT_COUNTRY)
    with Session(engine, expire_on_commit=False) as session:
        setup_country(session, country)
        for name in ("fever_national.csv", "fever_by_region.csv"):
            summary = Importer(session, country, user="loader").run(
                PACKAGE_DATA / "dprk2022" / name
            )
            assert summary.ok, summary.rejections
        auth.create_user(
            session, "bench", role="epidemiologist", scopes=["KP"], password=PASSWORD, actor="b"
        )
        session.commit()
    engine.dispose()


def sign_in(base: str) -> dict[str, str]:
    """The session cookie of a web sign-in."""
    with httpx.Client(base_url=base, follow_redirects=False) as http:
        page = http.get("/signin")
        token = HIDDEN.search(page.text)
        assert token is not None, page.text
        answer = http.post(
            "/signin",
            data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert answer.status_code == 303, answer.text
        return dict(http.cookies)


def first_request(base: str, cookies: dict[str, str], path: str) -> float:
    started = time.perf_counter()
    answer = httpx.get(base + path, cookies=cookies, timeout=120)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'dashboard.db'}"
        prepare(url)
        server = Server(url)
        try:
            cookies = sign_in(server.base)
            print(
                f"sitroom dashboard: {args.clients} clients, {args.seconds:g} s a scenario,"
                " one uvicorn worker, SQLite, the 2022 wave, loopback"
            )
            for _name, path in SCENARIOS[1:]:
                if not path.endswith(".json"):
                    print(
                        f"  first request of {path} (builds its context): "
                        f"{first_request(server.base, cookies, path) * 1000:.0f} ms"
                    )
            results: list[Result] = []
            for name, path in SCENARIOS:

                def make(http: httpx.AsyncClient, path: str = path) -> object:
                    return http.get(path, cookies=cookies)

                results.append(
                    asyncio.run(load(server.base, name, args.clients, args.seconds, make))
                )
            baseline = results[0]
            for result in results:
                text = line(result, baseline)
                if result is not baseline:
                    ratio = result.quantile(0.5) / baseline.quantile(0.5)
                    text += f", p50 {ratio:.1f}"
                print(text)
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
