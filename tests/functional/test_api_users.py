"""Users admin over the API: the command line's services, the admin as actor, in their scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitroom.auth import service as auth
from sitroom.country import Country
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import World, api_world

PASSWORD = "a long enough passphrase 42"


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("users")
    with api_world(_migrated, TEST_DATABASE_URL, folder, country) as built:
        built.add_user("ada", "admin", ["KP"])
        built.add_user("chagang-admin", "admin", ["KP-04"])
        built.add_user("chief", "epidemiologist", ["KP"])
        yield built


def test_an_admin_creates_a_user_whose_password_is_never_shown(world: World) -> None:
    body = {"username": "kim", "role": "reporter", "scopes": ["KP-04"], "password": PASSWORD}
    made = world.client.post("/api/v1/users", json=body, headers=world.headers("ada"))
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == ["KP-04"]
    assert made.json()["has_password"] is True
    assert PASSWORD not in made.text
    # The password works (HTTP Basic), and the audit names the admin and the client.
    me = world.client.get("/api/v1/me", auth=("kim", PASSWORD))
    assert me.json()["username"] == "kim"
    created = auth.auth_events(world.session, username="kim", limit=10)[-1]
    assert (created.event, created.actor, created.client) == ("user_created", "ada", "testclient")
    again = world.client.post("/api/v1/users", json=body, headers=world.headers("ada"))
    assert again.status_code == 409
    assert PASSWORD not in again.text


def test_a_weak_password_is_refused_by_the_policy_without_echo(world: World) -> None:
    body = {"username": "lee", "role": "viewer", "scopes": ["KP"], "password": "lee12345"}
    refused = world.client.post("/api/v1/users", json=body, headers=world.headers("ada"))
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "lee12345" not in refused.text
    unknown_role = world.client.post(
        "/api/v1/users", json={**body, "role": "doctor"}, headers=world.headers("ada")
    )
    assert unknown_role.status_code == 422
    assert unknown_role.json()["errors"][0]["field"] == "role"


def test_every_change_is_audited_with_the_admin_and_the_client(world: World) -> None:
    name = world.add_user("park", "viewer", ["KP-04"])
    headers = world.headers("ada")
    steps = [
        ("POST", f"/api/v1/users/{name}/disable", None, 200),
        ("POST", f"/api/v1/users/{name}/enable", None, 200),
        ("PUT", f"/api/v1/users/{name}/role", {"role": "reporter"}, 200),
        ("POST", f"/api/v1/users/{name}/scopes", {"scopes": ["KP-01"]}, 200),
        ("DELETE", f"/api/v1/users/{name}/scopes/KP-01", None, 200),
        ("POST", f"/api/v1/users/{name}/password", {"password": PASSWORD}, 204),
    ]
    for method, path, body, status in steps:
        answer = world.client.request(method, path, json=body, headers=headers)
        assert answer.status_code == status, (path, answer.text)
    shown = world.client.get(f"/api/v1/users/{name}", headers=headers).json()
    assert (shown["role"], shown["scopes"], shown["disabled"]) == ("reporter", ["KP-04"], False)
    events = [
        (e["event"], e["actor"], e["client"])
        for e in reversed(shown["events"])
        if e["actor"] == "ada"
    ]
    assert events == [
        ("user_disabled", "ada", "testclient"),
        ("user_enabled", "ada", "testclient"),
        ("role_set", "ada", "testclient"),
        ("scope_granted", "ada", "testclient"),
        ("scope_revoked", "ada", "testclient"),
        ("password_set", "ada", "testclient"),
    ]
    not_held = world.client.delete(f"/api/v1/users/{name}/scopes/KP-01", headers=headers)
    assert not_held.status_code == 409
    assert world.client.get("/api/v1/users/nobody", headers=headers).status_code == 404


def test_a_disabled_user_is_refused_at_once(world: World) -> None:
    name = world.add_user("cho", "viewer", ["KP"])
    assert world.client.get("/api/v1/me", headers=world.headers(name)).status_code == 200
    world.client.post(f"/api/v1/users/{name}/disable", headers=world.headers("ada"))
    assert world.client.get("/api/v1/me", headers=world.headers(name)).status_code == 401


def test_a_regional_admin_manages_only_inside_their_scope(world: World) -> None:
    headers = world.headers("chagang-admin")
    listed = {u["username"] for u in world.client.get("/api/v1/users", headers=headers).json()}
    assert "chagang-admin" in listed
    assert not listed & {"ada", "chief"}  # national users lie outside Chagang
    # No taking over a national account, no granting outside the scope.
    reset = world.client.post(
        "/api/v1/users/ada/password", json={"password": PASSWORD}, headers=headers
    )
    assert reset.status_code == 403
    outside = {"username": "ri", "role": "reporter", "scopes": ["KP-01"]}
    assert world.client.post("/api/v1/users", json=outside, headers=headers).status_code == 403
    inside = {"username": "ri", "role": "reporter", "scopes": ["KP-04-KANGGYE"]}
    assert world.client.post("/api/v1/users", json=inside, headers=headers).status_code == 201
    grant = world.client.post("/api/v1/users/ri/scopes", json={"scopes": ["KP"]}, headers=headers)
    assert grant.status_code == 403
    # Only users.manage opens the door.
    chief = world.client.get("/api/v1/users", headers=world.headers("chief"))
    assert chief.status_code == 403
    assert "users.manage" in chief.json()["detail"]


def test_a_user_without_a_scope_is_the_countrys_administrators_alone(world: World) -> None:
    # The command line's --user actors (the local operator among them) have no role and no
    # scope: a regional administrator giving one a role and a password would sign in as it.
    from sitroom.users.service import ensure_user

    ensure_user(world.session, "operator")  # as a command's --user registers it
    world.session.commit()
    regional = world.headers("chagang-admin")
    listed = {u["username"] for u in world.client.get("/api/v1/users", headers=regional).json()}
    assert "operator" not in listed
    for method, path, body in (
        ("PUT", "/api/v1/users/operator/role", {"role": "admin"}),
        ("POST", "/api/v1/users/operator/scopes", {"scopes": ["KP-04"]}),
        ("POST", "/api/v1/users/operator/password", {"password": PASSWORD}),
    ):
        refused = world.client.request(method, path, json=body, headers=regional)
        assert refused.status_code == 403, (path, refused.text)
    nobody = {"username": "nobody", "role": "admin", "scopes": []}
    assert world.client.post("/api/v1/users", json=nobody, headers=regional).status_code == 403
    world.session.expire_all()
    operator = auth.get_user(world.session, "operator")
    assert (operator.role, operator.scopes, operator.has_password) == (None, (), False)
    # The country's administrator may.
    national = world.headers("ada")
    granted = world.client.post(
        "/api/v1/users/operator/scopes", json={"scopes": ["KP-04"]}, headers=national
    )
    assert granted.status_code == 200, granted.text


def test_a_body_that_is_not_json_is_refused(world: World) -> None:
    answer = world.client.post(
        "/api/v1/users",
        content=b"username=x",
        headers={**world.headers("ada"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 415
