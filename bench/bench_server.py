"""Benchmark: the HTTP server under concurrent clients, against a no-op endpoint of the same server.

A real uvicorn server (one worker, a subprocess of this script) serves a fresh
database holding the DPRK places and elements, on loopback. N clients
(``httpx.AsyncClient``, one event loop) send requests back to back for a fixed
time, one scenario after another:

- ``GET /api/v1/me`` signed in by HTTP Basic: argon2id verification (about
  50 ms of CPU by design) on every request;
- ``GET /api/v1/me`` signed in by ``ApiToken``: the baseline, a no-op
  authenticated endpoint (token look-up, the user's scopes, JSON);
- ``POST /api/v1/dataValues`` with one new value a request (a token);
- ``POST /api/v1/dataValues`` with 1,000 new values a request (a token).

Each prints requests per second, p50 and p99 latency, and the ratios to the
baseline. Then the bulk endpoint: ``POST /api/dataValueSets`` of 100,000
values (DHIS2 JSON, one request) on a fresh database, as values per second,
beside ``sitroom import`` of the same file on another fresh database (ratio:
CLI time / server time; the goal is at least 0.8).

Usage::

    python bench/bench_server.py [--seconds 10] [--clients 20] [--bulk 100000]
        [--db URL]      # default: a temporary SQLite file; a PostgreSQL URL's
                        # public schema is dropped!
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

from sitroom.config import DEFAULT_COUNTRY
from sitroom.country import load_country
from sitroom.db import create_db_engine, session_factory, upgrade
from sitroom.setup import setup_country

PASSWORD = "a load-test passphrase, long enough 42"
ELEMENTS = [
    "new_fever",
    "new_recovered",
    "new_deaths",
    "under_treatment",
    "cum_fever",
    "cum_recovered",
    "cum_deaths",
    "tested",
    "confirmed",
]
START = date(2000, 1, 1)


def fresh(url: str) -> Engine:
    """A new, migrated database holding the DPRK places and elements."""
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    engine = create_db_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    with session_factory(engine)() as session:
        setup_country(session, load_country(DEFAULT_COUNTRY))
    return engine


def sign_up(engine: Engine) -> tuple[str, str]:
    """An admin of the country: (Basic header, ApiToken header)."""
    import base64

    from sitroom.auth import service

    with session_factory(engine)() as session:
        service.create_user(
            session, "bench", role="admin", scopes=["KP"], password=PASSWORD, actor="bench"
        )
        token = service.create_token(session, "bench", "bench")
        session.commit()
    basic = base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
    return f"Basic {basic}", f"ApiToken {token}"


def district_codes() -> list[str]:
    from sitroom.places.service import read_places

    return [p.code for p in read_places(load_country(DEFAULT_COUNTRY)) if p.level == 3]


class Keys:
    """Distinct (element, district, day) keys, in order: every write creates a value."""

    def __init__(self, districts: list[str], first_day: date) -> None:
        self.districts = districts
        self.first_day = first_day
        self.n = 0

    def take(self, count: int) -> list[dict[str, str]]:
        out = []
        per_day = len(self.districts) * len(ELEMENTS)
        for i in range(self.n, self.n + count):
            day, rest = divmod(i, per_day)
            element, district = divmod(rest, len(self.districts))
            out.append(
                {
                    "orgUnit": self.districts[district],
                    "dataElement": ELEMENTS[element],
                    "period": (self.first_day + timedelta(days=day)).isoformat(),
                    "value": str((i * 7919) % 100_000),
                }
            )
        self.n += count
        return out


# --- the server, in a subprocess -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(url: str, port: int) -> None:
    """The server process: sitroom's app under uvicorn, one worker, no request log."""
    import logging

    import uvicorn

    from sitroom.context import AppContext
    from sitroom.server.app import create_app

    logging.getLogger("sitroom.access").disabled = True
    context = AppContext.from_overrides(database_url=url, secret_key="b" * 40)
    uvicorn.run(
        create_app(context),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_config=None,
        log_level="warning",
    )


class Server:
    def __init__(self, url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", url, "--port", str(self.port)]
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


# --- the load ------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


Request = Callable[[httpx.AsyncClient], Any]


async def load(base: str, name: str, clients: int, seconds: float, make: Request) -> Result:
    """``clients`` loops sending ``make``'s request back to back for ``seconds``."""
    result = Result(name, seconds)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        await make(http)  # one warm-up request (connections, caches)
        stop = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await make(http)
                if response.status_code == 200:
                    result.latencies.append(time.perf_counter() - started)
                else:
                    result.errors[response.status_code] = (
                        result.errors.get(response.status_code, 0) + 1
                    )

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        result.seconds = time.perf_counter() - began
    return result


def line(result: Result, baseline: Result | None, unit: int = 1) -> str:
    text_ = (
        f"{result.name:34s} {result.rps:8.1f} req/s  p50 {result.quantile(0.5):7.1f} ms"
        f"  p99 {result.quantile(0.99):7.1f} ms"
    )
    if unit > 1:
        text_ += f"  {result.rps * unit:9,.0f} values/s"
    if baseline is not None and baseline is not result:
        text_ += (
            f"  | x baseline: req/s {result.rps / baseline.rps:.2f},"
            f" p99 {result.quantile(0.99) / baseline.quantile(0.99):.1f}"
        )
    if result.errors:
        text_ += f"  errors {result.errors}"
    return text_


def concurrent(url: str, clients: int, seconds: float) -> dict[str, Result]:
    engine = fresh(url)
    basic, token = sign_up(engine)
    engine.dispose()
    districts = district_codes()
    single, batch = Keys(districts, START), Keys(districts, date(2010, 1, 1))
    server = Server(url)
    try:

        def me(header: str) -> Request:
            return lambda http: http.get("/api/v1/me", headers={"Authorization": header})

        def post(keys: Keys, count: int) -> Request:
            def send(http: httpx.AsyncClient) -> Any:
                body = {"dataValues": keys.take(count)}
                return http.post("/api/v1/dataValues", json=body, headers={"Authorization": token})

            return send

        scenarios: list[tuple[str, Request, int]] = [
            ("GET /api/v1/me (Basic, argon2id)", me(basic), 1),
            ("GET /api/v1/me (ApiToken) BASELINE", me(token), 1),
            ("POST /api/v1/dataValues x1", post(single, 1), 1),
            ("POST /api/v1/dataValues x1000", post(batch, 1000), 1000),
        ]
        results: dict[str, Result] = {}
        for name, make, _ in scenarios:
            results[name] = asyncio.run(load(server.base, name, clients, seconds, make))
    finally:
        server.stop()
    baseline = results["GET /api/v1/me (ApiToken) BASELINE"]
    for name, _, unit in scenarios:
        print(f"{_dialect(url):10s} " + line(results[name], baseline, unit), flush=True)
    return results


# --- bulk: POST /api/dataValueSets against the command line's import ----------------------


def write_value_set(path: Path, n: int) -> None:
    """n new values as a DHIS2 dataValueSets payload (codes, yyyyMMdd), one value a line."""
    keys = Keys(district_codes(), START)
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{\n  "idScheme": "CODE",\n  "dataValues": [\n')
        separator = ""
        while keys.n < n:
            for value in keys.take(min(10_000, n - keys.n)):
                value["period"] = value["period"].replace("-", "")
                handle.write(f"{separator}    {json.dumps(value)}")
                separator = ",\n"
        handle.write("\n  ]\n}\n")


def bulk(url: str, path: Path, n: int) -> None:
    body = path.read_bytes()
    engine = fresh(url)
    _, token = sign_up(engine)
    engine.dispose()
    server = Server(url)
    try:
        started = time.perf_counter()
        response = httpx.post(
            f"{server.base}/api/dataValueSets",
            content=body,
            headers={"Authorization": token, "Content-Type": "application/json"},
            timeout=600,
        )
        served = time.perf_counter() - started
    finally:
        server.stop()
    counts = response.json()["response"]["importCount"]
    if response.status_code != 200 or counts["imported"] != n:
        raise SystemExit(f"the bulk POST failed: {response.text[:500]}")
    fresh(url).dispose()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sitroom", "--db", url, "--user", "bench", "import", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cli = time.perf_counter() - started
    name = _dialect(url)
    for label, took in (("POST /api/dataValueSets", served), ("sitroom import", cli)):
        print(f"{name:10s} {label:24s} {n:,} values {took:7.2f} s {n / took:9,.0f} values/s")
    print(
        f"{name:10s} bulk ratio (CLI time / server time): {cli / served:.2f}  (goal >= 0.8)",
        flush=True,
    )


def _dialect(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="time per scenario")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--bulk", type=int, default=100_000, help="values in the bulk POST")
    parser.add_argument(
        "--db",
        default="",
        help="database URL (default: a temporary SQLite file); a PostgreSQL one is emptied!",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.db or f"sqlite:///{folder / 'bench.db'}"
        print(
            f"{args.clients} clients, {args.seconds:g} s a scenario, one uvicorn worker,"
            f" {_dialect(url)}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
        )
        concurrent(url, args.clients, args.seconds)
        if args.bulk:
            path = folder / "values.json"
            write_value_set(path, args.bulk)
            bulk(url, path, args.bulk)


if __name__ == "__main__":
    main()
