"""The web pages: sign-in, sign-out, the account page, the password change.

Thin, as the API's routes are: each page reads its form, checks its CSRF
token, and calls ``sitroom.auth`` (sessions, sign-in, the throttle); the
templates only format the dataclasses of ``pages``. Database work runs in a
worker thread (``run_in_threadpool``); the delay before answering a failed
sign-in is an ``asyncio`` sleep, which holds no thread.

Every POST carries a CSRF token: the session's on the pages of a signed-in
user, a signed double-submit token on the sign-in form (``forms``). A wrong
or missing one is a 403 page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from sitroom.auth import passwords, sessions, throttle
from sitroom.auth import service as auth
from sitroom.errors import AuthenticationError, SitroomError, WeakPasswordError
from sitroom.server.deps import (
    SESSION_COOKIE,
    client_address,
    context,
    lifetime,
)
from sitroom.server.deps import throttle as throttle_of
from sitroom.server.web import forms
from sitroom.server.web.pages import (
    FONTS_PATH,
    STATIC,
    STATIC_PATH,
    HomePage,
    MessagePage,
    PasswordPage,
    SignInPage,
    Viewer,
    render,
)

router = APIRouter(include_in_schema=False)

#: What a refused sign-in says, whatever the reason (but a lock): as the API's
#: message, it does not tell whether the user name exists.
REFUSED = (
    "Sign-in refused: wrong user name or password, or this account cannot sign in."
    " Check what you typed and try again."
)
CSRF_REFUSED = (
    "This form was not accepted: it has expired, or it was not sent from a sitroom page."
    " Go back, reload the page, and send the form again."
)


def install(app: FastAPI) -> None:
    """Add the pages and their static files to ``app``."""
    from sitroom.server.web import aid, dashboard, dispense, entry, reports, review, supply
    from sitroom.sitrep.fonts import FONTS

    app.include_router(router)
    app.include_router(dashboard.router)
    app.include_router(entry.router)
    app.include_router(review.router)
    app.include_router(reports.router)
    app.include_router(supply.router)
    app.include_router(aid.router)
    app.include_router(dispense.router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="static")
    # The report's Noto Sans KR subset, for the pages' @font-face (Hangul names).
    app.mount(FONTS_PATH, StaticFiles(directory=FONTS), name="fonts")


def _sentence(message: str) -> str:
    """A service's message as a sentence for a page: capital first, full stop last."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    """The session's cookie: script cannot read it, other sites' requests do not send it
    (but top-level links), and over HTTPS only when the server is behind TLS."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        path="/",
        secure=context(request).settings.behind_tls,
    )


def _forget_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=context(request).settings.behind_tls,
    )


def _lookup(request: Request) -> sessions.SignedIn | None:
    """The live session of the request's cookie, or None (in a worker thread)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with context(request).session(write=True) as db:
        return sessions.authenticate_session(db, token, lifetime=lifetime(request))


def _signed_in_now(request: Request) -> sessions.SignedIn | None:
    """The request's live session, looked up once per request (``/`` hands the request
    on to the page it shows, which asks again). In a worker thread."""
    state = request.scope.setdefault("state", {})
    if "signed_in" in state:
        known: sessions.SignedIn | None = state["signed_in"]
        return known
    signed_in = _lookup(request)
    state["signed_in"] = signed_in
    if signed_in is not None:
        state["user"] = signed_in.principal.username
    return signed_in


async def _signed_in(request: Request) -> sessions.SignedIn | None:
    """:func:`_signed_in_now` from the event loop."""
    state = request.scope.get("state", {})
    if "signed_in" in state:
        known: sessions.SignedIn | None = state["signed_in"]
        return known
    return await run_in_threadpool(_signed_in_now, request)


def _viewer(signed_in: sessions.SignedIn) -> Viewer:
    who = signed_in.principal
    return Viewer(
        who.username,
        signed_in.csrf_token,
        can_report=who.can("data.write"),
        can_review=who.can("data.read"),
        can_analyse=who.can("analysis.read"),
        can_stock=who.can("stock.read"),
        can_dispense=who.can("stock.dispense") or who.can("stock.write"),
        can_aid=who.can("aid.read"),
    )


def _message(
    status: int, title: str, message: str, *, viewer: Viewer | None = None, **extra: Any
) -> Response:
    return render(MessagePage(title, message, viewer=viewer, **extra), status=status)


def _form_refused(error: forms.FormError, viewer: Viewer | None = None) -> Response:
    return _message(error.status, "The form could not be read", error.message, viewer=viewer)


def _csrf_refused(viewer: Viewer | None = None) -> Response:
    return _message(403, "Form refused", CSRF_REFUSED, viewer=viewer)


def _rate_limited(wait: int, viewer: Viewer | None = None) -> Response:
    minutes = -(-wait // 60)
    response = _message(
        429,
        "Too many failed sign-ins",
        f"There have been too many failed sign-ins from your network address. Try again in"
        f" {minutes} minute{'' if minutes == 1 else 's'}.",
        viewer=viewer,
        link="/signin",
        link_text="Back to the sign-in page",
    )
    response.headers["Retry-After"] = str(wait)
    return response


# Sign-in ----------------------------------------------------------------------


def _signin_form(
    request: Request,
    *,
    status: int = 200,
    username: str = "",
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    """The sign-in form with a fresh login-CSRF token (and its cookie)."""
    secret = context(request).settings.secret_key
    if not secret:
        return _message(
            503,
            "Sign-in is not available",
            "The server has no secret key (SITROOM_SECRET_KEY), so it cannot sign anyone in"
            " on the web. Ask its administrator.",
        )
    nonce, cookie = forms.issue_signin_token(secret)
    page = SignInPage(form_token=nonce, username=username, error=error, notice=notice)
    response = render(page, status=status)
    response.set_cookie(
        forms.SIGNIN_COOKIE,
        cookie,
        max_age=forms.SIGNIN_TOKEN_SECONDS,
        httponly=True,
        samesite="strict",
        path="/signin",
        secure=context(request).settings.behind_tls,
    )
    return response


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    if await _signed_in(request) is not None:
        return _see_other("/")
    notice = "You have signed out." if request.query_params.get("signed_out") == "1" else None
    return _signin_form(request, notice=notice)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a sign-in or password change attempt came to (from the worker thread)."""

    started: sessions.NewSession | None = None
    retry_after: int | None = None
    error: str | None = None
    field: str | None = None
    delay: float = 0.0


def _sign_in(request: Request, username: str, password: str) -> _Outcome:
    """Check the client's rate limit, then the password; start a session (worker thread)."""
    client = client_address(request)
    limits = throttle_of(request)
    with context(request).session(write=True) as db:
        wait = throttle.retry_after(db, client, throttle=limits, username=username)
        if wait is not None:
            return _Outcome(retry_after=wait)
        try:
            principal = auth.authenticate_password(db, username, password, client=client)
        except AuthenticationError as exc:
            return _Outcome(
                error=_refusal(db, username, str(exc)),
                delay=throttle.failure_delay(db, client, throttle=limits),
            )
        # A session the browser already had ends: a sign-in never keeps an old token.
        sessions.end_session(db, request.cookies.get(SESSION_COOKIE), client=client)
        started = sessions.start_session(db, principal, client=client, lifetime=lifetime(request))
        db.commit()
    return _Outcome(started=started)


def _refusal(db: Any, username: str, message: str) -> str:
    """The page's words for a refused sign-in: the lock, if the service said so; else REFUSED."""
    if message == auth.SIGN_IN_REFUSED:
        return REFUSED
    lock = throttle.account_lock(db, username)
    if lock is None:  # the lock ran out meanwhile
        return REFUSED
    return (
        f"This account is locked until {lock.until:%H:%M} UTC ({lock.until:%d %B %Y})"
        f" after {lock.failures} failed sign-ins. Try again then, or ask an administrator"
        " to unlock it."
    )


@router.post("/signin")
async def signin(request: Request) -> Response:
    try:
        form = await forms.read_form(request)
    except forms.FormError as exc:
        return _form_refused(exc)
    settings = context(request).settings
    username = form.get("username", "").strip()
    if not forms.signin_token_ok(
        settings.secret_key, request.cookies.get(forms.SIGNIN_COOKIE), form.get("csrf_token")
    ):
        return _signin_form(request, status=403, username=username, error=CSRF_REFUSED)
    password = form.get("password", "")
    if not username or not password:
        return _signin_form(
            request, status=400, username=username, error="Enter your user name and password."
        )
    outcome = await run_in_threadpool(_sign_in, request, username, password)
    if outcome.retry_after is not None:
        return _rate_limited(outcome.retry_after)
    if outcome.started is None:
        if outcome.delay > 0:
            await asyncio.sleep(outcome.delay)
        return _signin_form(request, status=401, username=username, error=outcome.error)
    request.scope["state"]["user"] = outcome.started.signed_in.principal.username
    response = _see_other("/")
    _set_session_cookie(request, response, outcome.started.token)
    response.delete_cookie(forms.SIGNIN_COOKIE, path="/signin")
    return response


# Sign-out ---------------------------------------------------------------------


def _sign_out(request: Request) -> None:
    with context(request).session(write=True) as db:
        sessions.end_session(
            db, request.cookies.get(SESSION_COOKIE), client=client_address(request)
        )
        db.commit()


@router.post("/signout")
async def signout(request: Request) -> Response:
    try:
        form = await forms.read_form(request)
    except forms.FormError as exc:
        return _form_refused(exc)
    signed_in = await _signed_in(request)
    if signed_in is None:
        # Nothing to end (expired, or signed out in another tab): forget the cookie.
        response = _see_other("/signin?signed_out=1")
        _forget_session_cookie(request, response)
        return response
    if not signed_in.csrf_ok(form.get("csrf_token")):
        return _csrf_refused(_viewer(signed_in))
    await run_in_threadpool(_sign_out, request)
    response = _see_other("/signin?signed_out=1")
    _forget_session_cookie(request, response)
    return response


# The account page ---------------------------------------------------------------
# ``/`` is the dashboard's (``dashboard.start``): the overview, the user's region, or this.


@router.get("/account")
async def account(request: Request) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    who = signed_in.principal
    docs = request.app.docs_url or "/api/v1/docs"
    return render(
        HomePage(
            viewer=_viewer(signed_in),
            role=who.role,
            scopes=who.scope_codes,
            permissions=tuple(sorted(who.permissions)),
            session_ends=signed_in.expires_at,
            docs_url=docs,
        )
    )


# The password change ---------------------------------------------------------------


def _password_form(signed_in: sessions.SignedIn, *, status: int = 200, **fields: Any) -> Response:
    page = PasswordPage(viewer=_viewer(signed_in), min_length=passwords.MIN_LENGTH, **fields)
    return render(page, status=status)


@router.get("/account/password")
async def password_page(request: Request) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    return _password_form(signed_in, done=request.query_params.get("changed") == "1")


def _change_password(request: Request, username: str, current: str, new: str) -> _Outcome:
    client = client_address(request)
    limits = throttle_of(request)
    with context(request).session(write=True) as db:
        wait = throttle.retry_after(db, client, throttle=limits, username=username)
        if wait is not None:
            return _Outcome(retry_after=wait)
        try:
            started = sessions.change_password(
                db, username, current, new, client=client, lifetime=lifetime(request)
            )
        except AuthenticationError as exc:
            message = _refusal(db, username, str(exc))
            if message == REFUSED:
                message = "The current password is wrong."
            return _Outcome(
                error=message,
                field="current",
                delay=throttle.failure_delay(db, client, throttle=limits),
            )
        except WeakPasswordError as exc:
            return _Outcome(error=_sentence(str(exc)), field="new")
        except SitroomError as exc:
            db.rollback()
            return _Outcome(error=_sentence(str(exc)), field="new")
    return _Outcome(started=started)


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    try:
        form = await forms.read_form(request)
    except forms.FormError as exc:
        return _form_refused(exc)
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    if not signed_in.csrf_ok(form.get("csrf_token")):
        return _csrf_refused(_viewer(signed_in))
    current, new, repeat = (form.get(name, "") for name in ("current", "new", "repeat"))
    errors = {}
    if not current:
        errors["current"] = "Enter your current password."
    if not new:
        errors["new"] = "Enter a new password."
    elif new != repeat:
        errors["repeat"] = "The two new passwords differ: type the same one twice."
    if errors:
        return _password_form(signed_in, status=400, errors=errors)
    username = signed_in.principal.username
    outcome = await run_in_threadpool(_change_password, request, username, current, new)
    if outcome.retry_after is not None:
        return _rate_limited(outcome.retry_after, _viewer(signed_in))
    if outcome.started is None:
        if outcome.delay > 0:
            await asyncio.sleep(outcome.delay)
        field = outcome.field or "new"
        status = 401 if field == "current" else 400
        return _password_form(signed_in, status=status, errors={field: outcome.error or ""})
    response = _see_other("/account/password?changed=1")
    _set_session_cookie(request, response, outcome.started.token)
    return response
