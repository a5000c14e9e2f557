"""``sitroom user`` and ``sitroom token``: users, roles, scopes, passwords and API tokens.

The command line is trusted (whoever reaches the database may change it), so
these commands check no permission; the actor recorded in the security audit
is ``--user``. Each command calls one service of ``sitroom.auth.service`` and
commits.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from sitroom.cli.app import app, app_context, console, err_console, print_json
from sitroom.cli.commands import announce_write
from sitroom.cli.options import JsonOpt
from sitroom.cli.text import clean
from sitroom.errors import SitroomError

if TYPE_CHECKING:
    from sitroom.auth.service import UserRecord

user_app = typer.Typer(
    help="Users: create them, give roles and scopes, set passwords, disable.",
    no_args_is_help=True,
)
app.add_typer(user_app, name="user")
token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")

#: Recorded as the client of changes made from the command line.
CLIENT = "cli"

NameArg = Annotated[str, typer.Argument(help="User name.")]
ScopeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scope", help="Org-unit code the user acts in, with everything below it; repeatable."
    ),
]
# Not --user: that is the global option naming who acts, accepted anywhere on the line.
OwnerOpt = Annotated[str | None, typer.Option("--owner", help="Only the tokens of this user.")]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (for scripts).",
    ),
]


def _read_password(from_stdin: bool) -> str | None:
    """The new password: from standard input, asked twice on a terminal, or None."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise SitroomError("--password-stdin: standard input holds no password")
        return password
    if not sys.stdin.isatty():
        return None
    import getpass

    first = getpass.getpass("New password: ")
    if getpass.getpass("The same again: ") != first:
        raise SitroomError("the two passwords differ: nothing was changed")
    return first


def _status(user: UserRecord) -> str:
    if user.disabled:
        return "disabled"
    if user.locked():
        return f"locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
    if user.role is None:
        return "no role"
    if not user.has_password:
        return "no password"
    return "active"


def _print_user(user: UserRecord) -> None:
    rows = [
        ("user", user.username),
        ("display name", user.display_name or ""),
        ("role", user.role or "none (cannot sign in)"),
        ("scopes", ", ".join(user.scopes) or "none"),
        ("status", _status(user)),
        ("failed sign-ins", str(user.failed_logins)),
        ("created", f"{user.created_at:%Y-%m-%d %H:%M} UTC"),
        (
            "password set",
            f"{user.password_changed_at:%Y-%m-%d %H:%M} UTC" if user.password_changed_at else "no",
        ),
    ]
    for label, value in rows:
        console.print(f"{label + ':':<17}{clean(value)}")


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    name: NameArg,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="admin, epidemiologist, reporter, logistician, pharmacist, coordinator or viewer.",
        ),
    ],
    scope: ScopeOpt = None,
    password_stdin: PasswordStdinOpt = False,
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="The person's name, as shown.")
    ] = None,
) -> None:
    """Create a user with a role and scopes; asks for a password on a terminal."""
    from sitroom.auth.permissions import check_role
    from sitroom.auth.service import create_user

    check_role(role)  # before asking for a password
    password = _read_password(password_stdin)
    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        user = create_user(
            session,
            name,
            role=role,
            scopes=scope or [],
            password=password,
            display_name=display_name,
            actor=rt.settings.user,
            client=CLIENT,
            lock_timeout=rt.settings.lock_timeout,
        )
        session.commit()
    scopes = ", ".join(user.scopes) or "none"
    console.print(clean(f"created user {user.username}: role {user.role}, scopes {scopes}"))
    if password is None:
        err_console.print(
            "No password was set (standard input is not a terminal): the user cannot sign in"
            f" until one is (`sitroom user reset-password {clean(name)} --password-stdin`)."
        )
    if not user.scopes:
        err_console.print("No scope: the user can use no org unit's data (`sitroom user grant`).")


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every user, with role, scopes and status (users registered by --user too)."""
    from rich.table import Table

    from sitroom.auth.service import list_users

    rt = app_context(ctx)
    with rt.session() as session:
        users = list_users(session)
    if as_json:
        print_json([u.to_dict() for u in users])
        return
    table = Table("user", "role", "scopes", "status", "display name")
    for user in users:
        table.add_row(
            clean(user.username),
            user.role or "",
            ", ".join(user.scopes),
            _status(user),
            clean(user.display_name or ""),
        )
    console.print(table)


@user_app.command("show")
def user_show(
    ctx: typer.Context,
    name: NameArg,
    events: Annotated[
        int, typer.Option("--events", help="How many of the latest security events to show.")
    ] = 10,
    as_json: JsonOpt = False,
) -> None:
    """One user: role, scopes, status and their latest security events."""
    from sitroom.auth.service import auth_events, get_user

    rt = app_context(ctx)
    with rt.session() as session:
        user = get_user(session, name)
        recent = auth_events(session, username=name, limit=max(0, events))
    if as_json:
        print_json({**user.to_dict(), "events": [e.to_dict() for e in recent]})
        return
    _print_user(user)
    if recent:
        console.print("latest events:")
    for event in recent:
        detail = f": {event.detail}" if event.detail else ""
        by = f" by {event.actor}" if event.actor and event.actor != event.username else ""
        console.print(clean(f"  {event.time:%Y-%m-%d %H:%M:%S} {event.event}{by}{detail}"))


@user_app.command("disable")
def user_disable(ctx: typer.Context, name: NameArg) -> None:
    """Stop a user signing in (by password or token) at once."""
    from sitroom.auth.service import disable_user

    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        disable_user(session, name, actor=rt.settings.user, client=CLIENT)
        session.commit()
    console.print(clean(f"disabled user {name}"))


@user_app.command("enable")
def user_enable(ctx: typer.Context, name: NameArg) -> None:
    """Let a disabled or locked-out user sign in again."""
    from sitroom.auth.service import enable_user

    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        enable_user(session, name, actor=rt.settings.user, client=CLIENT)
        session.commit()
    console.print(clean(f"enabled user {name} (failed sign-ins cleared)"))


@user_app.command("reset-password")
def user_reset_password(
    ctx: typer.Context, name: NameArg, password_stdin: PasswordStdinOpt = False
) -> None:
    """Set a user's password (asked twice on a terminal); clears a lock-out."""
    from sitroom.auth.service import set_password

    password = _read_password(password_stdin)
    if password is None:
        raise SitroomError(
            "standard input is not a terminal to ask for the password: use --password-stdin"
        )
    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        set_password(session, name, password, actor=rt.settings.user, client=CLIENT)
        session.commit()
    console.print(clean(f"password of {name} set"))


def _need_scopes(scope: list[str] | None) -> list[str]:
    if not scope:
        raise SitroomError("give at least one --scope CODE")
    return scope


@user_app.command("grant")
def user_grant(ctx: typer.Context, name: NameArg, scope: ScopeOpt = None) -> None:
    """Add org units to a user's scopes."""
    from sitroom.auth.service import grant_scope

    codes = _need_scopes(scope)
    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        user = grant_scope(session, name, codes, actor=rt.settings.user, client=CLIENT)
        session.commit()
    console.print(clean(f"scopes of {name}: {', '.join(user.scopes)}"))


@user_app.command("revoke")
def user_revoke(ctx: typer.Context, name: NameArg, scope: ScopeOpt = None) -> None:
    """Remove org units from a user's scopes."""
    from sitroom.auth.service import revoke_scope

    codes = _need_scopes(scope)
    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        user = revoke_scope(session, name, codes, actor=rt.settings.user, client=CLIENT)
        session.commit()
    console.print(clean(f"scopes of {name}: {', '.join(user.scopes) or 'none'}"))


@user_app.command("set-role")
def user_set_role(
    ctx: typer.Context,
    name: NameArg,
    role: Annotated[str, typer.Argument(help="The new role.")],
) -> None:
    """Give a user another role (or a first one, for a name registered by --user)."""
    from sitroom.auth.service import set_role

    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        user = set_role(session, name, role, actor=rt.settings.user, client=CLIENT)
        session.commit()
    console.print(clean(f"role of {name}: {user.role}"))


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: NameArg,
    label: Annotated[
        str | None,
        typer.Option("--name", help="What the token is for (default: its creation time)."),
    ] = None,
    expires_days: Annotated[
        int, typer.Option("--expires-days", help="Days until it expires (1-3650).")
    ] = 90,
) -> None:
    """Create an API token for a user; it is printed once and never shown again."""
    from sitroom.auth.service import create_token
    from sitroom.db import utcnow

    rt = app_context(ctx)
    announce_write(rt)
    label = label or f"token {utcnow():%Y-%m-%d %H:%M:%S}"
    with rt.session(write=True) as session:
        token = create_token(
            session, name, label, expires_days=expires_days, actor=rt.settings.user, client=CLIENT
        )
        session.commit()
    # The token alone on standard output, so that a script can capture it.
    sys.stdout.write(token + "\n")
    err_console.print(
        clean(
            f"Token {label!r} for {name}, valid {expires_days} days. It is not shown again:"
            " store it now (sitroom keeps only its hash)."
        )
    )


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    owner: OwnerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """API tokens (never the tokens themselves: their first 8 characters)."""
    from rich.table import Table

    from sitroom.auth.service import list_tokens

    rt = app_context(ctx)
    with rt.session() as session:
        tokens = list_tokens(session, owner)
    if as_json:
        print_json([t.to_dict() for t in tokens])
        return

    def day(value: object) -> str:
        return "" if value is None else f"{value:%Y-%m-%d %H:%M}"

    table = Table("id", "user", "name", "starts", "status", "created", "expires", "last used")
    for t in tokens:
        table.add_row(
            str(t.id),
            clean(t.username),
            clean(t.name),
            t.prefix + "...",
            t.status(),
            day(t.created_at),
            day(t.expires_at) or "never",
            day(t.last_used_at),
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token's id (`token list`) or name.")],
    owner: OwnerOpt = None,
) -> None:
    """Revoke an API token: it is refused from now on."""
    from sitroom.auth.service import revoke_token

    rt = app_context(ctx)
    announce_write(rt)
    with rt.session(write=True) as session:
        revoked = revoke_token(
            session, token, username=owner, actor=rt.settings.user, client=CLIENT
        )
        session.commit()
    console.print(clean(f"revoked token {revoked.id} {revoked.name!r} of {revoked.username}"))
