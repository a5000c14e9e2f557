"""Web sign-in over HTTP: the session cookie, CSRF, sign-out, the password change,
expiry, the lock-out and the per-client rate limit (issue #9, items 2 and 8)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sitroom.auth import passwords
from sitroom.auth import service as auth
from sitroom.auth.models import AuthEvent, WebSession
from sitroom.context import AppContext
from sitroom.db import utcnow
from sitroom.server.app import create_app
from sitroom.surveillance.models import DataValue
from sitroom.users.models import AppUser

SECRET = "w" * 40
PASSWORD = "a long enough passphrase 42"
NEW_PASSWORD = "violet-Harbour-tram-1907"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def people(loaded: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """A reporter of Chagang (KP-04) and a national epidemiologist; cheap hashing."""
    monkeypatch.setattr(passwords, "hasher", lambda: FAST)
    auth.create_user(
        loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="test"
    )
    auth.create_user(
        loaded, "eve", role="epidemiologist", scopes=["KP"], password=PASSWORD, actor="test"
    )
    loaded.commit()
    return loaded


def make_client(db_url: str, base_url: str = "http://testserver", **settings: Any) -> TestClient:
    options: dict[str, Any] = {"auth_failure_delay": 0, **settings}
    context = AppContext.from_overrides(database_url=db_url, secret_key=SECRET, **options)
    return TestClient(create_app(context), base_url=base_url, follow_redirects=False)


@pytest.fixture
def client(db_url: str, people: Session) -> Iterator[TestClient]:
    with make_client(db_url) as test_client:
        yield test_client


def form_token(client: TestClient, path: str = "/signin") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = HIDDEN.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    token = form_token(client)
    return client.post(
        "/signin", data={"username": username, "password": password, "csrf_token": token}
    )


def signed_in(client: TestClient, username: str = "rex") -> str:
    """Sign ``client`` in; the session's CSRF token (from the start page's forms)."""
    answer = sign_in(client, username)
    assert answer.status_code == 303, answer.text
    return form_token(client, "/")


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of ``response`` by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def events(db: Session, username: str) -> list[tuple[str, str | None]]:
    rows = auth.auth_events(db, username=username, limit=1000)
    return [(e.event, e.detail) for e in reversed(rows) if e.event != "user_created"]


def session_rows(db: Session, username: str) -> list[WebSession]:
    db.expire_all()
    user_id = db.scalar(select(AppUser.id).where(AppUser.username == username))
    return list(
        db.scalars(select(WebSession).where(WebSession.user_id == user_id).order_by(WebSession.id))
    )


def test_signing_in_sets_the_session_cookie_with_its_flags(
    client: TestClient, people: Session
) -> None:
    page = client.get("/signin")
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in page.text
    assert '<label for="username">' in page.text
    assert 'id="username"' in page.text
    assert '<label for="password">' in page.text
    assert 'id="password"' in page.text
    assert "<script" not in page.text
    assert "style=" not in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    signin_cookie = set_cookies(page)["sitroom_signin"]
    assert "HttpOnly" in signin_cookie
    assert "Path=/signin" in signin_cookie
    assert "Max-Age=3600" in signin_cookie
    assert "SameSite=strict" in signin_cookie

    answer = sign_in(client, "rex")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = set_cookies(answer)["sitroom_session"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie
    token = client.cookies["sitroom_session"]
    assert len(token) >= 43

    home = client.get("/account")  # ``/`` is the dashboard: rex's region
    assert home.status_code == 200
    assert "rex" in home.text
    assert "reporter" in home.text
    assert "KP-04" in home.text
    assert 'href="/api/v1/docs"' in home.text
    assert 'action="/signout"' in home.text
    assert "later release" in home.text
    # Only the token's SHA-256 is stored.
    [row] = session_rows(people, "rex")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.ended_at is None
    assert row.client == "testclient"
    assert events(people, "rex")[-1][0] == "login_ok"
    # The stylesheet the pages link to is served, and allowed by the CSP.
    css = client.get("/static/sitroom.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "style-src 'self'" in css.headers["content-security-policy"]
    # Signed in, the sign-in page sends the browser home.
    assert client.get("/signin").headers["location"] == "/"


def test_behind_tls_the_cookies_are_secure(db_url: str, people: Session) -> None:
    with make_client(db_url, "https://testserver", behind_tls=True) as tls:
        page = tls.get("/signin")
        assert "Secure" in set_cookies(page)["sitroom_signin"]
        answer = sign_in(tls, "rex")
        assert answer.status_code == 303
        cookie = set_cookies(answer)["sitroom_session"]
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert tls.get("/").status_code == 200
        assert "strict-transport-security" in answer.headers


def test_without_signing_in_the_pages_send_the_browser_to_the_form(client: TestClient) -> None:
    for path in ("/", "/account/password"):
        answer = client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/signin"


def test_a_wrong_password_or_an_unknown_user_is_refused_alike(
    client: TestClient, people: Session
) -> None:
    wrong = sign_in(client, "rex", "not the password at all")
    unknown = sign_in(client, "nobody", "not the password at all")
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "sitroom_session" not in set_cookies(answer)
        assert 'role="alert"' in answer.text
        assert "wrong user name or password" in answer.text
    assert wrong.text.count("Sign-in refused") == unknown.text.count("Sign-in refused") == 1
    # The name typed is offered again, escaped.
    assert 'value="rex"' in wrong.text
    escaped = sign_in(client, '<b>"x', "not the password at all")
    assert "&lt;b&gt;&#34;x" in escaped.text
    assert "<b>" not in escaped.text
    assert client.get("/").status_code == 303
    assert [e for e, _ in events(people, "rex")] == ["login_failed"]
    assert events(people, "nobody") == [("login_failed", "unknown user")]
    blank = sign_in(client, "rex", "")
    assert blank.status_code == 400
    assert "Enter your user name and password" in blank.text


def test_the_form_locks_the_account_after_five_failures_and_says_until_when(
    client: TestClient, people: Session
) -> None:
    answers = [sign_in(client, "rex", f"wrong password {n}") for n in range(5)]
    assert all(a.status_code == 401 for a in answers)
    assert all("account is locked" not in a.text for a in answers[:4])
    user = people.scalar(
        select(AppUser).where(AppUser.username == "rex").execution_options(populate_existing=True)
    )
    assert user is not None
    assert user.locked_until is not None
    until = user.locked_until
    expected = f"locked until {until:%H:%M} UTC ({until:%d %B %Y}) after 5 failed sign-ins"
    assert expected in answers[4].text
    assert 'role="alert"' in answers[4].text
    # Even the right password is refused while the lock lasts, with the same message.
    right = sign_in(client, "rex")
    assert right.status_code == 401
    assert expected in right.text
    assert "sitroom_session" not in set_cookies(right)
    assert events(people, "rex") == [
        *[("login_failed", f"wrong password ({n} in a row)") for n in range(1, 5)],
        ("locked", f"5 failed sign-ins; locked until {until:%Y-%m-%d %H:%M:%S} UTC"),
        ("login_failed", "wrong password (5 in a row)"),
        ("login_failed", f"locked until {until:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    # An unknown name never gets a lock message, however often it is tried.
    for _ in range(6):
        assert "account is locked" not in sign_in(client, "nobody", "wrong password").text


def test_the_signin_form_refuses_a_missing_or_forged_token(
    client: TestClient, people: Session
) -> None:
    credentials = {"username": "rex", "password": PASSWORD}
    token = form_token(client)
    missing = client.post("/signin", data=credentials)
    wrong = client.post("/signin", data={**credentials, "csrf_token": token + "x"})
    assert missing.status_code == wrong.status_code == 403
    assert "This form was not accepted" in missing.text
    # A cookie signed with another key (a site that set its own) does not verify either.
    from sitroom.server.web import forms

    nonce, forged = forms.issue_signin_token("another secret key" * 3)
    client.cookies.set("sitroom_signin", forged, path="/signin")
    forged_answer = client.post("/signin", data={**credentials, "csrf_token": nonce})
    assert forged_answer.status_code == 403
    # A cookie older than an hour is refused.
    nonce, stale = forms.issue_signin_token(SECRET, now=time.time() - 3700)
    client.cookies.set("sitroom_signin", stale, path="/signin")
    assert client.post("/signin", data={**credentials, "csrf_token": nonce}).status_code == 403
    for answer in (missing, wrong, forged_answer):
        assert "sitroom_session" not in set_cookies(answer)
    assert events(people, "rex") == []  # refused before the password was looked at
    # A fresh form works.
    client.cookies.clear()
    assert signed_in(client)


def test_signing_out_ends_the_session_on_the_server(client: TestClient, people: Session) -> None:
    csrf = signed_in(client)
    old = client.cookies["sitroom_session"]
    missing = client.post("/signout", data={})
    wrong = client.post("/signout", data={"csrf_token": "x" * 43})
    assert missing.status_code == wrong.status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    out = client.post("/signout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert out.headers["location"] == "/signin?signed_out=1"
    assert "sitroom_session" not in client.cookies
    assert "You have signed out." in client.get(out.headers["location"]).text
    # The old cookie, sent again, no longer works: on the pages or the API.
    client.cookies.set("sitroom_session", old)
    assert client.get("/").headers["location"] == "/signin"
    api = client.get("/api/v1/me")
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/problem+json"
    [row] = session_rows(people, "rex")
    assert row.ended_at is not None
    assert events(people, "rex")[-1] == ("logout", f"web session {row.id} ended by sign-out")


def test_the_api_takes_the_cookie_and_wants_the_csrf_header_to_write(
    client: TestClient, people: Session
) -> None:
    csrf = signed_in(client)
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["username"] == "rex"
    body = {
        "dataValues": [
            {"orgUnit": "KP-04", "dataElement": "new_fever", "period": "2022-05-20", "value": "7"}
        ]
    }
    refused = client.post("/api/v1/dataValues", json=body)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "X-CSRF-Token" in refused.json()["detail"]
    wrong = client.post("/api/v1/dataValues", json=body, headers={"X-CSRF-Token": csrf[:-1]})
    assert wrong.status_code == 403
    assert people.scalar(select(func.count()).select_from(DataValue)) == 0
    wrote = client.post("/api/v1/dataValues", json=body, headers={"X-CSRF-Token": csrf})
    assert wrote.status_code == 200, wrote.text
    assert wrote.json()["created"] == 1
    # An Authorization header wins over the cookie.
    import base64

    basic = base64.b64encode(f"eve:{PASSWORD}".encode()).decode()
    assert client.get("/api/v1/me", headers={"Authorization": f"Basic {basic}"}).json()[
        "username"
    ] == ("eve")
    # The OpenAPI document declares the cookie.
    schemes = client.get("/api/v1/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sitroom_session",
        "description": schemes["sessionCookie"]["description"],
    }


def test_changing_the_password(db_url: str, client: TestClient, people: Session) -> None:
    csrf = signed_in(client)
    with make_client(db_url) as other:
        signed_in(other)
        assert other.get("/").status_code == 200
        page = client.get("/account/password")
        assert '<label for="current">' in page.text
        assert '<label for="repeat">' in page.text
        fields = {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD}
        # Without or with a wrong CSRF token: refused, nothing changed.
        assert client.post("/account/password", data=fields).status_code == 403
        wrong = client.post("/account/password", data={**fields, "csrf_token": "forged"})
        assert wrong.status_code == 403
        # A weak one: the policy's message beside the field.
        weak = client.post(
            "/account/password",
            data={"current": PASSWORD, "new": "short", "repeat": "short", "csrf_token": csrf},
        )
        assert weak.status_code == 400
        assert "The password is too short: 5 characters, at least 12." in weak.text
        assert 'role="alert"' in weak.text
        assert 'aria-invalid="true"' in weak.text
        common = client.post(
            "/account/password",
            data={
                "current": PASSWORD,
                "new": "1qaz2wsx3edc",
                "repeat": "1qaz2wsx3edc",
                "csrf_token": csrf,
            },
        )
        assert "10,000 most common passwords" in common.text
        differ = client.post(
            "/account/password",
            data={**fields, "repeat": NEW_PASSWORD + "!", "csrf_token": csrf},
        )
        assert differ.status_code == 400
        assert "The two new passwords differ" in differ.text
        bad_current = client.post(
            "/account/password", data={**fields, "current": "not it at all", "csrf_token": csrf}
        )
        assert bad_current.status_code == 401
        assert "The current password is wrong." in bad_current.text
        assert other.get("/").status_code == 200  # nothing changed yet
        assert [e for e, _ in events(people, "rex")][-1] == "login_failed"

        done = client.post("/account/password", data={**fields, "csrf_token": csrf})
        assert done.status_code == 303
        assert done.headers["location"] == "/account/password?changed=1"
        assert "Your password has been changed" in client.get(done.headers["location"]).text
        # This browser got a new session; the other one is signed out.
        assert client.get("/").status_code == 200
        assert other.get("/").headers["location"] == "/signin"
        assert other.get("/api/v1/me").status_code == 401
    rows = session_rows(people, "rex")
    assert [r.ended_at is None for r in rows] == [False, False, True]
    assert events(people, "rex")[-1] == (
        "password_changed",
        "by the user, on the web; 2 web session(s) ended",
    )
    fresh = make_client(db_url)
    with fresh:
        assert sign_in(fresh, "rex").status_code == 401
        assert sign_in(fresh, "rex", NEW_PASSWORD).status_code == 303


def test_sessions_expire_when_idle_and_at_their_absolute_end(
    client: TestClient, people: Session
) -> None:
    signed_in(client)
    assert client.get("/").status_code == 200
    [row] = session_rows(people, "rex")
    now = utcnow()
    # Idle past 8 hours (the default), though well within its absolute end.
    people.execute(
        update(WebSession)
        .where(WebSession.id == row.id)
        .values(last_seen_at=now - timedelta(hours=8, minutes=1))
    )
    people.commit()
    assert client.get("/").headers["location"] == "/signin"
    assert client.get("/api/v1/me").status_code == 401

    client.cookies.clear()
    signed_in(client)
    row = session_rows(people, "rex")[-1]
    # Used a minute ago, but signed in more than 7 days ago.
    people.execute(
        update(WebSession)
        .where(WebSession.id == row.id)
        .values(
            created_at=now - timedelta(days=7, minutes=1),
            last_seen_at=now - timedelta(minutes=1),
            expires_at=now + timedelta(hours=7),
        )
    )
    people.commit()
    assert client.get("/").headers["location"] == "/signin"


def test_the_settings_set_the_idle_timeout(db_url: str, people: Session) -> None:
    with make_client(db_url, session_idle_minutes=45) as short:
        signed_in(short)
        [row] = session_rows(people, "rex")
        assert row.expires_at - row.created_at == timedelta(minutes=45)
        people.execute(
            update(WebSession)
            .where(WebSession.id == row.id)
            .values(last_seen_at=utcnow() - timedelta(minutes=46))
        )
        people.commit()
        assert short.get("/").headers["location"] == "/signin"


def test_a_disabled_users_session_stops_working(client: TestClient, people: Session) -> None:
    signed_in(client)
    assert client.get("/api/v1/me").status_code == 200
    auth.disable_user(people, "rex", actor="admin")
    people.commit()
    assert client.get("/").headers["location"] == "/signin"
    assert client.get("/api/v1/me").status_code == 401
    # Enabled again, the user signs in again: the old session stays ended.
    auth.enable_user(people, "rex", actor="admin")
    people.commit()
    assert client.get("/").headers["location"] == "/signin"
    assert all(r.ended_at is not None for r in session_rows(people, "rex"))


def test_an_administrators_new_password_ends_the_sessions(
    client: TestClient, people: Session
) -> None:
    signed_in(client)
    auth.set_password(people, "rex", NEW_PASSWORD, actor="admin")
    people.commit()
    assert client.get("/").headers["location"] == "/signin"


def test_too_many_failures_from_one_address_get_429_with_retry_after(
    db_url: str, people: Session
) -> None:
    with make_client(db_url, auth_failures_per_client=3, auth_failure_window_minutes=10) as c:
        for n in range(3):
            assert sign_in(c, f"guess{n}", "wrong password").status_code == 401
        limited = sign_in(c, "rex")  # the right password too: not even looked at
        assert limited.status_code == 429
        wait = int(limited.headers["retry-after"])
        assert 0 < wait <= 600
        assert "too many failed sign-ins" in limited.text
        assert "sitroom_session" not in set_cookies(limited)
        # The API's credential check counts the same address.
        basic = c.get("/api/v1/me", headers={"Authorization": "Basic cmV4OmFueXRoaW5n"})
        assert basic.status_code == 429
        assert basic.headers["content-type"] == "application/problem+json"
        assert int(basic.headers["retry-after"]) > 0
        token = c.get("/api/v1/me", headers={"Authorization": "ApiToken st_guess"})
        assert token.status_code == 429
        limited_rows = people.scalars(
            select(AuthEvent).where(AuthEvent.event == "rate_limited")
        ).all()
        assert len(limited_rows) == 1  # one record, however many refusals
        assert limited_rows[0].client == "testclient"
        assert limited_rows[0].username == "rex"
        # rex's password was never tried.
        assert [e for e, _ in events(people, "rex")] == ["rate_limited"]
    # The threshold is a setting: with a higher one the same address may try again.
    with make_client(db_url, auth_failures_per_client=10) as relaxed:
        assert sign_in(relaxed, "rex").status_code == 303


def test_token_failures_count_towards_the_limit(db_url: str, people: Session) -> None:
    with make_client(db_url, auth_failures_per_client=2) as c:
        for _ in range(2):
            assert (
                c.get("/api/v1/me", headers={"Authorization": "ApiToken st_x"}).status_code == 401
            )
        assert sign_in(c, "rex").status_code == 429


def test_failures_are_answered_after_a_growing_delay(db_url: str, people: Session) -> None:
    with make_client(db_url, auth_failure_delay=0.3, auth_failure_delay_max=0.6) as c:
        token = form_token(c)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            answer = c.post(
                "/signin", data={"username": "rex", "password": "wrong", "csrf_token": token}
            )
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 401
            token = HIDDEN.search(answer.text).group(1)  # type: ignore[union-attr]
        assert timings[0] >= 0.3
        assert timings[1] >= 0.6
        assert timings[2] >= 0.6
        started = time.perf_counter()
        api = c.get("/api/v1/me", headers={"Authorization": "ApiToken st_x"})
        assert api.status_code == 401
        assert time.perf_counter() - started >= 0.6


def test_bad_forms_get_a_page_not_a_traceback(client: TestClient) -> None:
    token = form_token(client)
    as_json = client.post("/signin", json={"username": "rex"})
    assert as_json.status_code == 415
    assert as_json.headers["content-type"].startswith("text/html")
    huge = client.post("/signin", data={"username": "x" * 20_000, "csrf_token": token})
    assert huge.status_code == 413
    nul = client.post(
        "/signin", data={"username": "rex\x00", "password": PASSWORD, "csrf_token": token}
    )
    assert nul.status_code == 400
    assert "NUL" in nul.text
    not_utf8 = client.post(
        "/signin",
        content=b"username=%ff%fe&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_utf8.status_code == 400
    for answer in (as_json, huge, nul, not_utf8):
        assert "Traceback" not in answer.text
        assert 'role="alert"' in answer.text
