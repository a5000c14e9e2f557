"""The reporters' form and the epidemiologists' review page (issue #10, item 6)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth import passwords
from sitroom.auth import service as auth
from sitroom.context import AppContext
from sitroom.country import Country
from sitroom.server.app import create_app
from sitroom.surveillance import entry
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.models import Approval, DataValue, DataValueAudit, ImportRun
from sitroom.surveillance.periods import label

SECRET = "f" * 40
PASSWORD = "a long enough passphrase 42"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ELEMENTS = (
    "new_fever",
    "new_recovered",
    "new_deaths",
    "under_treatment",
    "cum_fever",
    "cum_recovered",
    "cum_deaths",
    "tested",
    "confirmed",
)


@pytest.fixture
def people(loaded: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """A reporter of Chagang (KP-04), one of Pyongyang, a national epidemiologist, a viewer."""
    monkeypatch.setattr(passwords, "hasher", lambda: FAST)
    for name, role, scopes in (
        ("rex", "reporter", ["KP-04"]),
        ("pia", "reporter", ["KP-01"]),
        ("eve", "epidemiologist", ["KP"]),
        ("vic", "viewer", ["KP"]),
    ):
        auth.create_user(loaded, name, role=role, scopes=scopes, password=PASSWORD, actor="test")
    loaded.commit()
    return loaded


def make_client(db_url: str) -> TestClient:
    context = AppContext.from_overrides(
        database_url=db_url, secret_key=SECRET, auth_failure_delay=0
    )
    return TestClient(create_app(context), follow_redirects=False)


@pytest.fixture
def client(db_url: str, people: Session) -> Iterator[TestClient]:
    with make_client(db_url) as test_client:
        yield test_client


def sign_in(client: TestClient, username: str) -> str:
    """Sign ``client`` in as ``username``; the session's CSRF token."""
    page = client.get("/signin")
    token = HIDDEN.search(page.text)
    assert token is not None
    answer = client.post(
        "/signin",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    home = client.get("/")
    found = HIDDEN.search(home.text)
    assert found is not None
    return found.group(1)


def today(country: Country) -> date:
    return entry.open_period(country)


def day(offset: int, country: Country) -> str:
    return label(today(country) + timedelta(days=offset), "daily")


def store(db: Session, country: Country, unit: str, period: str, **values: int) -> None:
    """Values stored by an earlier import (as a file would)."""
    body = {
        "dataValues": [
            {"dataElement": e, "orgUnit": unit, "period": period, "value": str(v)}
            for e, v in values.items()
        ]
    }
    summary = Importer(db, country, user="loader").run(
        io.BytesIO(json.dumps(body).encode()), name="seed.json", fmt="dhis2-json"
    )
    assert summary.ok, summary.rejections


class Fields(HTMLParser):
    """The form's inputs (name -> value), labels (for -> text), and elements by id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str]] = {}
        self.labels: set[str] = set()
        self.ids: set[str] = set()
        self._textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "label" and "for" in attributes:
            self.labels.add(attributes["for"])
        if tag in ("input", "textarea", "select") and "name" in attributes:
            self.inputs[attributes["name"]] = attributes
            if tag == "textarea":
                self._textarea = attributes["name"]
                attributes.setdefault("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.inputs[self._textarea]["value"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None

    def form(self) -> dict[str, str]:
        """What a browser would send: every named field of the page's POST forms."""
        return {name: a.get("value", "") for name, a in self.inputs.items()}


def open_form(client: TestClient, unit: str, period: str) -> tuple[httpx.Response, dict[str, str]]:
    page = client.get(f"/report/{unit}/{period}")
    assert page.status_code == 200, page.text
    fields = Fields(page.text).form()
    fields.pop("org_unit", None)  # the switch form's
    fields.pop("period", None)
    return page, fields


def send(client: TestClient, unit: str, period: str, **changes: str) -> httpx.Response:
    """Open the form, fill in ``changes`` (``new_fever=...``, ``reason_x=...``), send it."""
    _, fields = open_form(client, unit, period)
    for name, value in changes.items():
        key = name if name.startswith(("reason_", "correction", "version_")) else f"value_{name}"
        fields[key] = value
    return client.post(f"/report/{unit}/{period}", data=fields)


def values(db: Session, unit: str, period: str) -> dict[str, DataValue]:
    db.expire_all()
    from sitroom.places.models import OrgUnit
    from sitroom.surveillance.models import DataElement

    rows = db.execute(
        select(DataElement.code, DataValue)
        .join(DataValue, DataValue.element_id == DataElement.id)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .where(OrgUnit.code == unit, DataValue.period == date.fromisoformat(period))
    ).all()
    return {code: row for code, row in rows}


def count(db: Session, model: Any) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_smoke(client: TestClient, people: Session, country: Country) -> None:
    sign_in(client, "rex")
    start = client.get("/report")
    assert start.status_code == 303
    page = client.get(start.headers["location"])
    print(page.text)
    assert page.status_code == 200
