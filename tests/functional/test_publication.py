"""Publication end to end: the commands, the API and the page.

``sitroom sitrep publish / editions / get`` on the demo (which publishes
once itself), and the API and ``/reports`` with the public setting off and
on. The schedule's race is in ``test_publication_race.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sitroom.country import Country
from sitroom.publication import service
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import World, api_world
from tests.unit.publication.conftest import quick_build

# The command line -------------------------------------------------------------


def test_the_demo_publishes_once_and_the_commands_read_it(cli, tmp_path, monkeypatch):
    first = cli("demo", "--no-supply", "--no-serve", "--no-users")
    assert first.code == 0, first.err
    assert "Published the situation report of 2022-08-" in first.out
    period = first.out.split("Published the situation report of ")[1].split()[0]
    again = cli("demo", "--no-supply", "--no-serve", "--no-users")
    assert again.code == 0, again.err
    assert f"The situation report of {period} is published: edition 1" in again.out

    listed = cli("sitrep", "editions", "--json")
    assert listed.code == 0, listed.err
    editions = json.loads(listed.out)
    assert [(e["period"], e["number"], e["channel"]) for e in editions] == [(period, 1, "cli")]
    assert editions[0]["summary"] == "First edition of this period."
    assert {f["format"] for f in editions[0]["files"]} == {"html", "pdf", "md", "json"}

    unchanged = cli("sitrep", "publish")
    assert unchanged.code == 0, unchanged.err
    assert f"no data changed since edition 1 of {period}: nothing published" in unchanged.out

    monkeypatch.chdir(tmp_path)
    got = cli("sitrep", "get", "--format", "pdf")
    assert got.code == 0, got.err
    written = tmp_path / f"sitrep-{period}-edition-1.pdf"
    assert written.read_bytes().startswith(b"%PDF")
    assert f"sha256 {editions[0]['files'][1]['sha256']}" in got.out
    html = cli(
        "sitrep", "get", "--period", period, "--edition", "1", "--format", "html", "-o", "r.html"
    )
    assert html.code == 0, html.err
    assert "평양" in (tmp_path / "r.html").read_text("utf-8")

    forced = cli("sitrep", "publish", "--period", period, "--force")
    assert forced.code == 0, forced.err
    assert f"published edition 2 of {period}" in forced.out
    assert "No data changed since the previous edition." in forced.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sitrep", "get", "--format", "docx"), "unknown format 'docx'"),
        (
            ("sitrep", "get", "--period", "2022-05-15"),
            "no edition of 2022-05-15 has been published",
        ),
        (("sitrep", "get", "--edition", "7"), "edition 7 does not exist"),
        (("sitrep", "get", "-o", "no/such/folder/x.pdf"), "no such folder"),
        (("sitrep", "publish", "--period", "2031-01-01"), "no national figures for the period"),
        (("sitrep", "publish", "--period", "20x"), "period"),
        (("sitrep", "editions", "--period", "May"), "period"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    cli, outbreak, tmp_path, monkeypatch, args, message
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(service, "_build", quick_build)
    assert cli("sitrep", "publish", "--period", "2022-05-20").code == 0
    refused = cli(*args)
    assert refused.code != 0
    assert message in refused.err
    assert "Traceback" not in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.pdf"))
    assert service.edition_count(outbreak) == 1


def test_publishing_needs_report_publish(cli, outbreak, monkeypatch):
    monkeypatch.setattr(service, "_build", quick_build)
    from sitroom.auth import service as auth

    auth.create_user(outbreak, "vic", role="viewer", scopes=["KP"], password=None, actor="t")
    auth.create_user(
        outbreak, "eve", role="epidemiologist", scopes=["KP-04"], password=None, actor="t"
    )
    auth.create_user(
        outbreak, "epi", role="epidemiologist", scopes=["KP"], password=None, actor="t"
    )
    outbreak.commit()
    viewer = cli("--user", "vic", "sitrep", "publish", "--period", "2022-05-20")
    assert viewer.code != 0
    assert "does not have the permission report.publish" in viewer.err
    regional = cli("--user", "eve", "sitrep", "publish", "--period", "2022-05-20")
    assert regional.code != 0
    assert "outside their scopes" in regional.err
    assert service.edition_count(outbreak) == 0
    done = cli("--user", "epi", "sitrep", "publish", "--period", "2022-05-20", "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["built_by"] == "epi"
    assert cli("--user", "vic", "sitrep", "editions").code == 0  # data.read over the country
    assert cli("--user", "eve", "sitrep", "editions").code != 0  # reports are national


# The API and the page --------------------------------------------------------------


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("publication")
    with api_world(_migrated, TEST_DATABASE_URL, folder, country) as built:
        built.add_user("epi", "epidemiologist", ["KP"])
        built.add_user("viewer", "viewer", ["KP"])
        built.add_user("chagang", "viewer", ["KP-04"])
        yield built


@pytest.fixture
def public(world: World) -> Iterator[None]:
    settings = world.context.settings
    world.context.settings = settings.model_copy(update={"public_reports": True})
    yield
    world.context.settings = settings


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "_build", quick_build)


def test_publish_list_and_download_over_the_api(world, quick):
    client = world.client
    made = client.post(
        "/api/v1/editions", json={"period": "2022-05-15"}, headers=world.headers("epi")
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["published"], body["number"], body["channel"]) == (True, 1, "api")
    assert made.headers["location"] == "/api/v1/editions/2022-05-15/1"
    same = client.post(
        "/api/v1/editions", json={"period": "2022-05-15"}, headers=world.headers("epi")
    )
    assert (same.status_code, same.json()["published"], same.json()["number"]) == (200, False, 1)

    listed = client.get("/api/v1/editions?period=2022-05-15", headers=world.headers("viewer"))
    assert listed.status_code == 200
    assert [e["number"] for e in listed.json()] == [1]
    one = client.get("/api/v1/editions/2022-05-15/1", headers=world.headers("viewer"))
    assert one.json()["built_by"] == "epi"
    pdf = client.get("/api/v1/editions/2022-05-15/1/pdf", headers=world.headers("viewer"))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert (
        pdf.headers["content-disposition"]
        == 'attachment; filename="sitrep-2022-05-15-edition-1.pdf"'
    )
    assert pdf.content == b"pdf of 2022-05-15: 392920"
    assert (
        client.get("/api/v1/editions/2022-05-15/2/pdf", headers=world.headers("viewer")).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/editions/2022-05-15/1/docx", headers=world.headers("viewer")
        ).status_code
        == 422
    )


def test_publishing_is_idempotent_with_a_key(world, quick):
    headers = {**world.headers("epi"), "Idempotency-Key": "publish-2022-05-16"}
    first = world.client.post("/api/v1/editions", json={"period": "2022-05-16"}, headers=headers)
    again = world.client.post("/api/v1/editions", json={"period": "2022-05-16"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    with world.context.session() as session:
        assert [e.number for e in service.list_editions(session, "2022-05-16")] == [1]


def test_reading_needs_the_country_unless_reports_are_public(world, quick):
    service.publish(world.context, "2022-05-17", user="t", channel="cli")
    client = world.client
    paths = [
        "/api/v1/editions",
        "/api/v1/editions/2022-05-17/1",
        "/api/v1/editions/2022-05-17/1/html",
    ]
    for path in paths:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=world.headers("chagang")).status_code == 403, path
        assert client.get(path, headers=world.headers("viewer")).status_code == 200, path
    page = client.get("/reports", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/signin"
    assert (
        client.post("/api/v1/editions", json={}, headers=world.headers("viewer")).status_code == 403
    )


def test_public_reports_are_readable_without_signing_in(world, quick, public):
    service.publish(world.context, "2022-05-18", user="epi", channel="cli")
    client = world.client
    listed = client.get("/api/v1/editions")
    assert listed.status_code == 200
    assert all(e["built_by"] is None for e in listed.json())  # no user names to the public
    assert client.get("/api/v1/editions/2022-05-18/1/md").status_code == 200
    page = client.get("/reports")
    assert page.status_code == 200
    assert "Published situation reports" in page.text
    assert 'href="/api/v1/editions/2022-05-18/1/pdf"' in page.text
    assert "First edition of this period." in page.text
    assert "Publish the latest report now" not in page.text
    assert "by epi" not in page.text
    # Publishing is never public.
    assert client.post("/api/v1/editions", json={}).status_code == 401


def test_publish_now_on_the_page(world, quick):
    """The /reports page's button: CSRF checked, report.publish needed, then one edition."""
    import re

    from sitroom.auth import service as auth

    password = "a long enough passphrase 42"
    for name in ("epi", "viewer"):
        auth.set_password(world.session, name, password, actor="t")
    world.session.commit()
    client = world.client
    hidden = re.compile(r'name="csrf_token" value="([^"]+)"')

    def sign_in(name: str) -> str:
        client.cookies.clear()
        form = hidden.search(client.get("/signin").text)
        assert form is not None
        answer = client.post(
            "/signin",
            data={"username": name, "password": password, "csrf_token": form.group(1)},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        page = client.get("/reports")
        assert page.status_code == 200
        token = hidden.search(page.text)
        return token.group(1) if token else ""

    try:
        before = service.edition_count(world.session)
        token = sign_in("viewer")
        assert not token or "Publish the latest report now" not in client.get("/reports").text
        refused = client.post("/reports/publish", data={"csrf_token": token or "x"})
        assert refused.status_code == 403
        token = sign_in("epi")
        assert "Publish the latest report now" in client.get("/reports").text
        forged = client.post("/reports/publish", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        world.session.expire_all()
        assert service.edition_count(world.session) == before
        done = client.post("/reports/publish", data={"csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303, done.text
        assert "/reports?" in done.headers["location"]
        world.session.expire_all()
        # A new edition, unless an earlier test already published the same data.
        new = "published=1" in done.headers["location"]
        assert service.edition_count(world.session) == before + (1 if new else 0)
        assert new or "published=0" in done.headers["location"]
        listing = client.get(done.headers["location"])
        assert listing.status_code == 200
    finally:
        client.cookies.clear()
