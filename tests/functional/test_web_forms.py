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
    return dict(rows.tuples()) if False else {r[0]: r[1] for r in rows}


def count(db: Session, model: Any) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def flat(html: str) -> str:
    """The page with its runs of white space made one space (templates wrap lines)."""
    return " ".join(html.split())


def structure_ok(html: str) -> Fields:
    """Labels for every visible field; every aria-describedby names an element of the page."""
    parsed = Fields(html)
    for name, attributes in parsed.inputs.items():
        if attributes.get("type") == "hidden":
            continue
        assert attributes.get("id") in parsed.labels, f"no label for {name}"
        for target in attributes.get("aria-describedby", "").split():
            assert target in parsed.ids, f"{name} is described by a missing {target}"
    assert "<script" not in html
    assert "style=" not in html
    return parsed


def test_a_reporter_submits_the_day(client: TestClient, people: Session, country: Country) -> None:
    sign_in(client, "rex")
    start = client.get("/report")
    assert start.status_code == 303
    assert start.headers["location"] == f"/report/KP-04/{day(0, country)}"
    page, fields = open_form(client, "KP-04", day(0, country))
    structure_ok(page.text)
    assert "today's window" in page.text
    assert set(fields) >= {f"value_{e}" for e in ELEMENTS} | {f"version_{e}" for e in ELEMENTS}
    runs = count(people, ImportRun)

    answer = send(client, "KP-04", day(0, country), new_fever="1,204", new_deaths="0")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/report/KP-04/{day(0, country)}?saved=1"
    stored = values(people, "KP-04", day(0, country))
    assert {e: v.value for e, v in stored.items()} == {"new_fever": 1204, "new_deaths": 0}
    assert stored["new_fever"].changed_by == "rex"
    assert stored["new_fever"].late is False
    assert count(people, ImportRun) == runs + 1
    run = people.scalar(select(ImportRun).order_by(ImportRun.id.desc()))
    assert run is not None
    assert (run.channel, run.client, run.user, run.created) == ("web", "testclient", "rex", 2)

    shown = client.get(answer.headers["location"])
    assert "Saved." in shown.text
    assert 'value="1204"' in shown.text  # the field now holds the stored value
    assert "Stored: <strong>1,204</strong>" in shown.text


def test_an_error_refuses_the_form_with_the_message_next_to_its_field(
    client: TestClient, people: Session, country: Country
) -> None:
    sign_in(client, "rex")
    before = count(people, DataValue), count(people, ImportRun)
    answer = send(client, "KP-04", day(0, country), new_fever="5", confirmed="10")
    assert answer.status_code == 400
    assert (count(people, DataValue), count(people, ImportRun)) == before
    parsed = structure_ok(answer.text)
    assert 'role="alert"' in answer.text
    assert 'href="#value_new_fever"' in answer.text  # the summary links to the field
    # The rule's box sits next to the first of its fields, which it describes.
    box = answer.text.index('id="rule_suspected_ge_confirmed"')
    assert answer.text.index('id="value_new_fever"') < box
    assert box < answer.text.index('id="value_new_recovered"')
    described = parsed.inputs["value_new_fever"]["aria-describedby"].split()
    assert "rule_suspected_ge_confirmed" in described
    assert parsed.inputs["value_new_fever"]["aria-invalid"] == "true"
    assert "Suspected (fever) cases are at least the confirmed cases" in answer.text
    # The other field of the rule is marked and described by the rule too.
    assert parsed.inputs["value_confirmed"]["aria-invalid"] == "true"
    assert "rule_suspected_ge_confirmed" in parsed.inputs["value_confirmed"]["aria-describedby"]
    assert "new_fever &gt;= confirmed" in answer.text
    assert "Left side 5 &gt;= right side 10" in answer.text
    # What was typed is shown again.
    assert parsed.inputs["value_confirmed"]["value"] == "10"

    bad = send(client, "KP-04", day(0, country), new_fever="twelve", new_deaths="-3")
    assert bad.status_code == 400
    assert "&#39;twelve&#39; is not a number" in bad.text
    bad_fields = structure_ok(bad.text)
    assert "error_value_new_fever" in bad_fields.inputs["value_new_fever"]["aria-describedby"]
    assert 'href="#value_new_deaths"' in bad.text
    assert "negative" in bad.text
    assert "Traceback" not in bad.text
    assert (count(people, DataValue), count(people, ImportRun)) == before


def test_a_required_field_left_blank_is_refused(
    client: TestClient, people: Session, country: Country
) -> None:
    sign_in(client, "rex")
    answer = send(client, "KP-04", day(0, country), new_deaths="1")
    assert answer.status_code == 400
    assert "New fever cases is required" in answer.text
    assert values(people, "KP-04", day(0, country)) == {}


def test_a_warning_is_accepted_with_a_reason_stored_as_the_comment(
    client: TestClient, people: Session, country: Country
) -> None:
    store(people, country, "KP-04", day(-1, country), under_treatment=100)
    sign_in(client, "rex")
    figures = {"new_fever": "50", "new_recovered": "0", "new_deaths": "0", "under_treatment": "100"}
    refused = send(client, "KP-04", day(0, country), **figures)
    assert refused.status_code == 400
    parsed = structure_ok(refused.text)
    assert "reason_treatment_balance" in parsed.inputs  # the reason field appears
    assert "reason_treatment_balance" in parsed.labels
    assert "Warning:" in refused.text
    assert "Left side 100 == right side 150" in refused.text
    assert "needs a reason" in refused.text
    assert values(people, "KP-04", day(0, country)) == {}

    reason = "50 patients were moved to Kanggye hospital, outside the count"
    accepted = send(client, "KP-04", day(0, country), reason_treatment_balance=reason, **figures)
    assert accepted.status_code == 303, accepted.text
    stored = values(people, "KP-04", day(0, country))
    assert stored["under_treatment"].value == 100
    assert {v.comment for v in stored.values()} == {reason}
    page = client.get(accepted.headers["location"])
    assert reason in page.text


def test_a_late_submission_is_marked(client: TestClient, people: Session, country: Country) -> None:
    sign_in(client, "rex")
    page, _ = open_form(client, "KP-04", day(-3, country))
    assert "The deadline has passed" in page.text
    assert "earlier day" in page.text
    answer = send(client, "KP-04", day(-3, country), new_fever="7")
    assert answer.status_code == 303
    assert values(people, "KP-04", day(-3, country))["new_fever"].late is True
    shown = client.get(answer.headers["location"])
    assert "marked late" in shown.text
    assert 'class="badge late"' in shown.text


def test_a_correction_needs_a_reason_and_is_audited(
    client: TestClient, people: Session, country: Country
) -> None:
    store(people, country, "KP-04", day(-2, country), new_fever=10)
    sign_in(client, "rex")
    page, _ = open_form(client, "KP-04", day(-2, country))
    assert "Stored: <strong>10</strong>" in page.text  # the previous value is shown
    assert 'name="correction"' in page.text
    audits = count(people, DataValueAudit)

    refused = send(client, "KP-04", day(-2, country), new_fever="11")
    assert refused.status_code == 400
    assert "is a correction: give its reason" in refused.text
    assert 'href="#correction"' in refused.text
    assert values(people, "KP-04", day(-2, country))["new_fever"].value == 10

    reason = "a duplicate line in the district's tally"
    fixed = send(client, "KP-04", day(-2, country), new_fever="11", correction=reason)
    assert fixed.status_code == 303, fixed.text
    stored = values(people, "KP-04", day(-2, country))["new_fever"]
    assert (stored.value, stored.comment, stored.changed_by) == (11, reason, "rex")
    assert count(people, DataValueAudit) == audits + 1
    audit = people.scalar(select(DataValueAudit).order_by(DataValueAudit.id.desc()))
    assert audit is not None
    assert (audit.old_value, audit.new_value, audit.new_comment, audit.changed_by) == (
        10,
        11,
        reason,
        "rex",
    )


def test_a_value_changed_meanwhile_is_not_overwritten(
    client: TestClient, people: Session, country: Country
) -> None:
    store(people, country, "KP-04", day(0, country), new_fever=20)
    sign_in(client, "rex")
    _, fields = open_form(client, "KP-04", day(0, country))
    store(people, country, "KP-04", day(0, country), new_fever=25)  # someone else, meanwhile
    fields["value_new_fever"] = "21"
    answer = client.post(f"/report/KP-04/{day(0, country)}", data=fields)
    assert answer.status_code == 409
    assert "Someone changed these values since you opened the form: New fever cases" in answer.text
    assert "Nothing was written" in answer.text
    assert 'href="#value_new_fever"' in answer.text
    assert "Stored: <strong>25</strong>" in answer.text  # theirs, beside the field
    assert values(people, "KP-04", day(0, country))["new_fever"].value == 25
    # The form now carries the new version: sending it again is a decision, and works.
    again = Fields(answer.text).form()
    again.pop("org_unit", None)
    again.pop("period", None)
    assert again["value_new_fever"] == "21"
    assert client.post(f"/report/KP-04/{day(0, country)}", data=again).status_code == 303
    assert values(people, "KP-04", day(0, country))["new_fever"].value == 21


def test_another_regions_form_is_forbidden(
    client: TestClient, people: Session, country: Country
) -> None:
    sign_in(client, "rex")
    assert client.get(f"/report/KP-01/{day(0, country)}").status_code == 403
    _, fields = open_form(client, "KP-04", day(0, country))
    fields["value_new_fever"] = "3"
    answer = client.post(f"/report/KP-01/{day(0, country)}", data=fields)
    assert answer.status_code == 403
    assert "outside your scopes" in answer.text
    assert count(people, DataValue) == 0
    # A viewer has no form at all.
    client.cookies.clear()
    sign_in(client, "vic")
    assert client.get("/report").status_code == 403
    assert client.get(f"/report/KP-04/{day(0, country)}").status_code == 403


def test_a_post_without_the_csrf_token_is_refused(
    client: TestClient, people: Session, country: Country
) -> None:
    sign_in(client, "rex")
    _, fields = open_form(client, "KP-04", day(0, country))
    fields["value_new_fever"] = "3"
    del fields["csrf_token"]
    assert client.post(f"/report/KP-04/{day(0, country)}", data=fields).status_code == 403
    fields["csrf_token"] = "forged"
    assert client.post(f"/report/KP-04/{day(0, country)}", data=fields).status_code == 403
    review = client.post("/review/approve", data={"org_unit": "KP-04", "period": day(-1, country)})
    assert review.status_code == 403
    assert count(people, DataValue) == 0
    assert count(people, Approval) == 0


def test_bad_addresses_get_a_page(client: TestClient, people: Session, country: Country) -> None:
    sign_in(client, "rex")
    for path, status in (
        ("/report/KP-04/2022W20", 400),
        ("/report/KP-04/not-a-day", 400),
        ("/report/KP-99/2022-05-15", 404),
        (f"/report/KP-04/{day(1, country)}", 400),  # not begun
        ("/report?org_unit=KP-04&period=yesterday", 400),
        ("/review?period=2022-13-01", 400),
    ):
        answer = client.get(path)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"].startswith("text/html")
        assert "Traceback" not in answer.text
    chosen = client.get("/report?org_unit=KP-04&period=2022-05-15")
    assert chosen.headers["location"] == "/report/KP-04/2022-05-15"


def test_the_start_page_and_the_nav_link_the_form_and_the_review(
    client: TestClient, people: Session
) -> None:
    sign_in(client, "eve")
    home = client.get("/")
    assert 'href="/report"' in home.text
    assert 'href="/review"' in home.text
    assert 'aria-label="Main"' in home.text
    choose = client.get("/report")  # several units: a choice first
    assert choose.status_code == 200
    parsed = structure_ok(choose.text)
    assert "org_unit" in parsed.inputs
    assert 'value="KP-04"' in choose.text
    schema = client.get("/api/v1/openapi.json").json()
    assert not [path for path in schema["paths"] if path.startswith(("/report", "/review"))]
    client.cookies.clear()
    sign_in(client, "vic")
    home = client.get("/")
    assert 'href="/report"' not in home.text
    assert 'href="/review"' in home.text


def seed_review(db: Session, country: Country, period: str) -> None:
    """KP-04 on time (with a rule failing), KP-01 late; the other regions missing."""
    start = date.fromisoformat(period)
    calendar = AppContext.from_overrides(secret_key=SECRET).calendar
    window_start, _ = calendar.window(start)
    deadline = calendar.deadline(start)
    on_time = Importer(db, country, user="rex", now=window_start + timedelta(hours=2))
    late = Importer(db, country, user="pia", now=deadline + timedelta(hours=1))
    for importer, unit, extra in ((on_time, "KP-04", {"confirmed": 10}), (late, "KP-01", {})):
        data = {"new_fever": 5, **extra}
        body = {
            "dataValues": [
                {"dataElement": e, "orgUnit": unit, "period": period, "value": str(v)}
                for e, v in data.items()
            ]
        }
        assert importer.run(io.BytesIO(json.dumps(body).encode()), name="x.json").ok


def test_the_review_lists_what_came_in_approves_and_locks_the_form(
    client: TestClient, people: Session, country: Country
) -> None:
    period = day(-2, country)
    seed_review(people, country, period)

    sign_in(client, "eve")
    page = client.get(f"/review?period={period}")
    assert page.status_code == 200
    structure_ok(page.text)
    text = flat(page.text)
    assert "2 of 13 expected reports received; 1 late (KP-01)" in text
    assert "Missing:</strong> KP-02, KP-03" in text
    assert "new_fever &gt;= confirmed" in text  # the finding, with both sides
    assert '<td class="num">5</td>' in text
    assert '<td class="num">10</td>' in text
    default = client.get("/review")
    assert f"Review of {day(-1, country)}" in default.text  # the latest closed window

    token = HIDDEN.search(text)
    assert token is not None
    approved = client.post(
        "/review/approve",
        data={"org_unit": "KP-04", "period": period, "csrf_token": token.group(1)},
    )
    assert approved.status_code == 303
    after = client.get(approved.headers["location"])
    assert "Approved KP-04." in after.text
    assert 'class="badge approved"' in after.text
    row = people.scalar(select(Approval))
    assert row is not None
    assert (row.approved_by, row.approved_via, row.approved_client) == ("eve", "web", "testclient")
    again = client.post(
        "/review/approve",
        data={"org_unit": "KP-04", "period": period, "csrf_token": token.group(1)},
    )
    assert again.status_code == 409
    assert "Already approved" in again.text

    # The reporter's form is read-only, and a forged POST writes nothing.
    reporter = make_client(str(people.get_bind().url.render_as_string(hide_password=False)))
    with reporter:
        sign_in(reporter, "rex")
        form = reporter.get(f"/report/KP-04/{period}")
        assert form.status_code == 200
        assert "Approved</strong> by eve" in form.text
        assert 'name="value_new_fever"' not in form.text
        csrf = HIDDEN.search(form.text)
        assert csrf is not None
        forged = {"csrf_token": csrf.group(1), "value_new_fever": "6", "version_new_fever": ""}
        refused = reporter.post(f"/report/KP-04/{period}", data=forged)
        assert refused.status_code == 409
        assert "approved by eve" in refused.text
        assert values(people, "KP-04", period)["new_fever"].value == 5
        # A reporter reads the review of their region, without the buttons, and cannot approve.
        theirs = reporter.get(f"/review?period={period}")
        assert theirs.status_code == 200
        assert "1 of 1 expected reports received" in flat(theirs.text)
        assert 'action="/review/approve"' not in theirs.text
        denied = reporter.post(
            "/review/unapprove",
            data={
                "org_unit": "KP-04",
                "period": period,
                "reason": "x",
                "csrf_token": csrf.group(1),
            },
        )
        assert denied.status_code == 403


def test_un_approving_needs_a_reason(client: TestClient, people: Session, country: Country) -> None:
    period = day(-1, country)
    token = sign_in(client, "eve")
    approve = {"org_unit": "KP-04", "period": period, "csrf_token": token}
    assert client.post("/review/approve", data=approve).status_code == 303
    no_reason = client.post("/review/unapprove", data={**approve, "reason": "  "})
    assert no_reason.status_code == 400
    assert "needs a reason" in no_reason.text
    assert '<details class="unapprove" open>' in no_reason.text
    people.expire_all()
    assert people.scalar(select(Approval.revoked_at)) is None
    reason = "KP-04 reported a missed district"
    undone = client.post("/review/unapprove", data={**approve, "reason": reason})
    assert undone.status_code == 303
    people.expire_all()
    row = people.scalar(select(Approval))
    assert row is not None
    assert (row.revoke_reason, row.revoked_by, row.revoked_via) == (reason, "eve", "web")
    client.cookies.clear()
    sign_in(client, "rex")
    assert 'name="value_new_fever"' in client.get(f"/report/KP-04/{period}").text


def test_approving_the_whole_scope_locks_every_region(
    client: TestClient, people: Session, country: Country
) -> None:
    period = day(-1, country)
    token = sign_in(client, "eve")
    page = client.get(f"/review?period={period}")
    assert "Approve all of KP" in page.text
    answer = client.post(
        "/review/approve", data={"org_unit": "KP", "period": period, "csrf_token": token}
    )
    assert answer.status_code == 303
    after = client.get(answer.headers["location"])
    assert after.text.count("(with KP)") >= 13
    client.cookies.clear()
    sign_in(client, "rex")
    form = client.get(f"/report/KP-04/{period}")
    assert "(with KP)" in form.text
    assert 'name="value_new_fever"' not in form.text
