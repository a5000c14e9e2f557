"""``sitroom user`` and ``sitroom token``: every command, and its refusals without a traceback."""

from __future__ import annotations

import getpass
import io
import json
import re
import sys

import pytest

PASSWORD = "amber-Kettle-91-harbour"


class _Terminal(io.StringIO):
    """Standard input that says it is a terminal (the password is asked with getpass)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def run(cli, monkeypatch, loaded):
    """``cli`` on a database with the DPRK places, with standard input given per call."""

    def call(*args, stdin: str | io.StringIO = ""):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        result = cli(*args)
        assert "Traceback" not in result.err
        assert "unexpected" not in result.err
        return result

    return call


def _error(result):
    """The last line on standard error: the error (a write first says where it goes)."""
    lines = result.err.strip().splitlines()
    return lines[-1] if lines else ""


def _create(run, name="ri", *extra, role="reporter", password=PASSWORD):
    return run(
        "user", "create", name, "--role", role, *extra, "--password-stdin", stdin=password + "\n"
    )


def test_create_list_and_show(run):
    done = _create(run, "ri", "--scope", "KP-04", "--scope", "KP-01", "--display-name", "Ri Chol")
    assert done.code == 0, done.err
    assert done.out.strip() == "created user ri: role reporter, scopes KP-01, KP-04"
    listed = run("user", "list")
    assert re.search(r"ri\s+│ reporter │ KP-01, KP-04 │ active\s+│ Ri Chol", listed.out)
    ri = next(u for u in json.loads(run("user", "list", "--json").out) if u["username"] == "ri")
    assert (ri["role"], ri["scopes"], ri["has_password"]) == ("reporter", ["KP-01", "KP-04"], True)
    assert "hash" not in json.dumps(ri)
    shown = run("user", "show", "ri")
    assert "role:            reporter" in shown.out
    assert "user_created by tester: role reporter; scopes KP-04, KP-01; password set" in shown.out
    detail = json.loads(run("user", "show", "ri", "--json").out)
    assert (detail["events"][0]["event"], detail["events"][0]["client"]) == ("user_created", "cli")


def test_create_without_a_terminal_makes_a_user_without_password(run):
    done = run("user", "create", "kim", "--role", "viewer", "--scope", "KP")
    assert done.code == 0
    assert "No password was set" in done.err
    assert json.loads(run("user", "show", "kim", "--json").out)["has_password"] is False


@pytest.mark.parametrize(
    ("answers", "code"), [((PASSWORD, PASSWORD), 0), ((PASSWORD, PASSWORD + "x"), 1)]
)
def test_create_asks_twice_on_a_terminal(run, monkeypatch, answers, code):
    given = iter(answers)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(given))
    done = run("user", "create", "kim", "--role", "viewer", stdin=_Terminal())
    assert done.code == code
    if code:
        assert _error(done) == "error: the two passwords differ: nothing was changed"
        assert run("user", "show", "kim").code == 1
    else:
        assert json.loads(run("user", "show", "kim", "--json").out)["has_password"] is True


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (
            ("--role", "doctor"),
            PASSWORD,
            "error: unknown role 'doctor': choose one of admin, epidemiologist, reporter,"
            " logistician, pharmacist, coordinator, viewer",
        ),
        (
            ("--role", "viewer", "--scope", "KP-04", "--scope", "KP-99"),
            PASSWORD,
            "error: unknown org unit code(s): 'KP-99' (`sitroom places tree` lists them)",
        ),
        (
            ("--role", "viewer"),
            "password",
            "error: the password is too short: 8 characters, at least 12",
        ),
        (
            ("--role", "viewer"),
            "qwerty123456",
            "error: the password is one of the 10,000 most common passwords: choose another",
        ),
        (
            ("--role", "viewer"),
            "hyon-sun-is-my-name",
            "error: the password contains the user name",
        ),
    ],
)
def test_create_refuses_bad_input(run, args, password, message):
    done = run("user", "create", "hyon-sun", *args, "--password-stdin", stdin=password + "\n")
    assert done.code == 1
    assert _error(done) == message
    assert run("user", "show", "hyon-sun").code == 1


def test_a_duplicate_user_is_refused(run):
    assert _create(run, "ri").code == 0
    again = _create(run, "ri", role="viewer")
    assert again.code == 1
    assert _error(again) == "error: the user 'ri' already exists"
    # A name registered by a command's --user (here: the actor of an event) gets a hint.
    assert run("events", "add", "KP", "2022-05-12", "State of emergency").code == 0
    registered = _create(run, "tester")
    assert _error(registered) == (
        "error: the user 'tester' already exists (registered by a command's --user: give it a"
        " role with `sitroom user set-role` and a password with `sitroom user reset-password`)"
    )


def test_an_empty_password_on_stdin_is_refused(run):
    done = run("user", "create", "ri", "--role", "viewer", "--password-stdin", stdin="")
    assert done.code == 1
    assert "standard input holds no password" in done.err


def test_disable_enable_reset_password_and_set_role(run):
    _create(run, "ri", "--scope", "KP-04")
    assert run("user", "disable", "ri").out.strip() == "disabled user ri"
    assert json.loads(run("user", "show", "ri", "--json").out)["disabled"] is True
    assert "disabled" in run("user", "list").out
    assert run("user", "enable", "ri").code == 0
    assert json.loads(run("user", "show", "ri", "--json").out)["disabled"] is False

    weak = run("user", "reset-password", "ri", "--password-stdin", stdin="short\n")
    assert (weak.code, _error(weak)) == (
        1,
        "error: the password is too short: 5 characters, at least 12",
    )
    done = run("user", "reset-password", "ri", "--password-stdin", stdin="new-Kettle-91-harbour\n")
    assert (done.code, done.out.strip()) == (0, "password of ri set")
    no_terminal = run("user", "reset-password", "ri")
    assert no_terminal.code == 1
    assert "use --password-stdin" in no_terminal.err

    assert run("user", "set-role", "ri", "epidemiologist").out.strip() == (
        "role of ri: epidemiologist"
    )
    bad = run("user", "set-role", "ri", "god")
    assert bad.code == 1
    assert _error(bad).startswith("error: unknown role 'god': choose one of admin")
    events = [e["event"] for e in json.loads(run("user", "show", "ri", "--json").out)["events"]]
    assert events == [
        "role_set",
        "password_set",
        "user_enabled",
        "user_disabled",
        "user_created",
    ]


def test_unknown_users_are_named(run):
    for args in (
        ("user", "show", "nobody"),
        ("user", "disable", "nobody"),
        ("user", "enable", "nobody"),
        ("user", "set-role", "nobody", "viewer"),
        ("user", "grant", "nobody", "--scope", "KP"),
        ("token", "create", "nobody"),
        ("token", "list", "--owner", "nobody"),
    ):
        done = run(*args)
        assert (done.code, _error(done)) == (1, "error: unknown user 'nobody'"), args


def test_grant_and_revoke_scopes(run):
    _create(run, "ri", "--scope", "KP-04")
    done = run("user", "grant", "ri", "--scope", "KP-01", "--scope", "KP-02")
    assert done.out.strip() == "scopes of ri: KP-01, KP-02, KP-04"
    assert run("user", "revoke", "ri", "--scope", "KP-04").out.strip() == (
        "scopes of ri: KP-01, KP-02"
    )
    missing = run("user", "revoke", "ri", "--scope", "KP-04")
    assert _error(missing) == "error: 'ri' has no scope KP-04 (their scopes: KP-01, KP-02)"
    unknown = run("user", "grant", "ri", "--scope", "ZZ")
    assert (
        _error(unknown)
        == "error: unknown org unit code(s): 'ZZ' (`sitroom places tree` lists them)"
    )
    none = run("user", "grant", "ri")
    assert (none.code, _error(none)) == (1, "error: give at least one --scope CODE")


def test_tokens_are_shown_once_listed_and_revoked(run):
    _create(run, "ri", "--scope", "KP-04")
    made = run("token", "create", "ri", "--name", "laptop", "--expires-days", "7")
    assert made.code == 0
    token = made.out.strip()
    assert re.fullmatch(r"st_[A-Za-z0-9_-]{43}", token)
    assert "It is not shown again" in made.err
    assert "valid 7 days" in made.err

    listed = json.loads(run("token", "list", "--owner", "ri", "--json").out)
    assert [(t["name"], t["prefix"], t["status"]) for t in listed] == [
        ("laptop", token[:8], "active")
    ]
    table = run("token", "list").out
    assert token[:8] + "..." in table
    assert token not in table + json.dumps(listed)

    duplicate = run("token", "create", "ri", "--name", "laptop")
    assert duplicate.code == 1
    assert "already has a token named 'laptop'" in duplicate.err
    too_long = run("token", "create", "ri", "--name", "x", "--expires-days", "0")
    assert _error(too_long) == "error: expires_days must be between 1 and 3650, not 0"

    revoked = run("token", "revoke", str(listed[0]["id"]))
    assert revoked.out.strip() == f"revoked token {listed[0]['id']} 'laptop' of ri"
    again = run("token", "revoke", str(listed[0]["id"]))
    assert again.code == 1
    assert "already revoked" in again.err
    unknown = run("token", "revoke", "999")
    assert _error(unknown) == "error: unknown token 999 (`sitroom token list` shows them)"
    by_name = run("token", "revoke", "laptop", "--owner", "ri")
    assert _error(by_name) == (
        "error: no active token named 'laptop' of 'ri' (`sitroom token list` shows them)"
    )
    assert json.loads(run("token", "list", "--json").out)[0]["status"] == "revoked"


def test_the_token_signs_in_as_its_user(run, db_url):
    from sqlalchemy.orm import Session

    from sitroom.auth.service import authenticate_token
    from sitroom.db import create_db_engine

    _create(run, "ri", "--scope", "KP-04")
    token = run("token", "create", "ri").out.strip()
    engine = create_db_engine(db_url)
    with Session(engine) as session:
        assert authenticate_token(session, token).scope_codes == ("KP-04",)
    engine.dispose()


def test_import_with_user_checks_the_role_and_scope(run, tmp_path):
    """The command line's ``--user`` meets the same checks as the server."""
    assert _create(run, "rex", "--scope", "KP-04").code == 0
    assert run("user", "create", "vi", "--role", "viewer", "--scope", "KP").code == 0
    theirs = tmp_path / "theirs.json"
    theirs.write_text(
        '{"dataValues": [{"dataElement": "new_fever", "period": "20220520",'
        ' "orgUnit": "KP-03", "value": "5"}]}',
        encoding="utf-8",
    )
    mine = tmp_path / "mine.json"
    mine.write_text(theirs.read_text(encoding="utf-8").replace("KP-03", "KP-04"), encoding="utf-8")
    refused = run("--user", "rex", "import", str(theirs))
    assert refused.code == 1
    assert "KP-03" in refused.err or "scope" in refused.err
    assert "Nothing was imported" in refused.err
    assert run("--user", "rex", "import", str(mine)).code == 0
    assert run("--user", "vi", "import", str(mine)).code == 1
    # A name with no role is the local operator, as before.
    assert run("--user", "operator", "import", str(theirs)).code == 0
