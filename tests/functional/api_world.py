"""One database, app and client for a whole test module of the API (fast: set up once).

The DPRK configuration with the 2022 wave (national and regional counts) in
a database of the module's own (a copy of the migrated template on SQLite;
on PostgreSQL the test database, emptied afterwards). Users sign in by API
token: argon2 at production cost a request would make a module slow.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.config import PACKAGE_DATA
from sitroom.context import AppContext
from sitroom.country import Country
from sitroom.db import create_db_engine, metadata
from sitroom.server.app import create_app
from sitroom.setup import setup_country
from sitroom.surveillance.imports import Importer


@dataclass
class World:
    client: TestClient
    session: Session
    context: AppContext
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"ApiToken {self.tokens[username]}"}

    def add_user(self, name: str, role: str, scopes: list[str]) -> str:
        """A user with a token; their name."""
        auth.create_user(self.session, name, role=role, scopes=scopes, password=None, actor="t")
        self.tokens[name] = auth.create_token(self.session, name, "tests")
        self.session.commit()
        return name


#: Facilities of the shipped network in Chagang (KP-04) and Pyongyang (KP-01).
WAREHOUSE = {"KP-04": "WH-KP-04", "KP-01": "WH-KP-01"}
STORE = {"KP-04": "ST-KP-04-CHANGGANG", "KP-01": "ST-KP-01-CHUNGHWA"}
PHARMACY = {"KP-04": "PH-KP-04-CHANGGANG-001", "KP-01": "PH-KP-01-CHUNGHWA-001"}
#: The lot every stocked facility holds.
LOT, EXPIRY = "L1", date(2030, 1, 1)


def stock_world(session: Session, quantity: int = 1_000_000) -> None:
    """Paracetamol received at the warehouses and pharmacies of Chagang and Pyongyang."""
    from sitroom.supply.ledger import Ledger, Movement

    when = datetime(2022, 5, 1, 9, tzinfo=ZoneInfo("Asia/Pyongyang"))
    places = [*WAREHOUSE.values(), *PHARMACY.values()]
    summary = Ledger(session, user="setup").post(
        [
            Movement(when, "receipt", place, "PARA-500", quantity, lot=LOT, expiry=EXPIRY)
            for place in places
        ],
        source="the world's stock",
    )
    assert summary.committed, summary.rejections


@contextmanager
def api_world(migrated: str, database_url: str, folder: Path, country: Country) -> Iterator[World]:
    """The world of a module; ``database_url`` is the PostgreSQL test database, or empty."""
    if database_url:
        url = database_url
    else:
        path = folder / "api.db"
        shutil.copy(migrated, path)
        url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    session = Session(engine, expire_on_commit=False)
    try:
        setup_country(session, country)
        for name in ("fever_national.csv", "fever_by_region.csv"):
            summary = Importer(session, country, user="test").run(PACKAGE_DATA / "dprk2022" / name)
            assert summary.ok, summary.rejections
        context = AppContext.from_overrides(database_url=url, secret_key="w" * 40)
        with TestClient(create_app(context)) as client:
            yield World(client, session, context)
        context.close()
    finally:
        session.close()
        if database_url:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            with engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
