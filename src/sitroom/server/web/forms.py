"""Reading the pages' forms, and the sign-in form's token against login CSRF.

Forms are ``application/x-www-form-urlencoded`` (no file uploads yet), read
here with the standard library rather than python-multipart: a small body
limit, strict UTF-8, a bound on the number of fields, and no NUL characters
(PostgreSQL text cannot hold them).

The sign-in form cannot carry a session's CSRF token: there is no session
yet. It is protected against login CSRF (a foreign site signing the browser
in as the attacker) by a double-submit token: a random nonce in the form,
and the same nonce in a short-lived cookie signed with HMAC-SHA256 over the
server's secret key. A foreign site can neither read the cookie nor forge
one that verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qsl

from starlette.requests import Request

#: Largest form body read (a sign-in or password form is far smaller).
MAX_FORM_BYTES = 16 * 1024
#: Most fields a form may have.
MAX_FIELDS = 20
#: The cookie of the sign-in form's token ...
SIGNIN_COOKIE = "sitroom_signin"
#: ... and how long it lasts (seconds): the time to fill the form in.
SIGNIN_TOKEN_SECONDS = 3600
#: A token issued this far in the future is refused (clocks of several machines).
CLOCK_SKEW_SECONDS = 60


class FormError(Exception):
    """A form that cannot be read: the status to answer and a sentence for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request, *, max_fields: int = MAX_FIELDS) -> dict[str, str]:
    """The fields of an urlencoded form (the first value of each name); FormError if bad.

    ``max_fields`` bounds the number of fields (the data entry form has more
    than a sign-in form)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError(413, "The form is too large. Go back and check what you entered.")
    if not body and not kind:
        return {}  # an empty form (all its fields missing): the page says what is missing
    if kind != "application/x-www-form-urlencoded":
        raise FormError(415, "This page accepts only its own form. Go back and send it again.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=max_fields,
            encoding="utf-8",
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise FormError(400, "The form could not be read. Go back and send it again.") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise FormError(400, "The form contains a character that is not allowed (NUL).")
        fields.setdefault(name, value)
    return fields


def _signature(secret: str, nonce: str, issued: int) -> str:
    message = f"sitroom sign-in form|{nonce}|{issued}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def issue_signin_token(secret: str, now: float | None = None) -> tuple[str, str]:
    """A new sign-in token: (the form's nonce, the cookie's signed value)."""
    nonce = secrets.token_urlsafe(32)
    issued = int(time.time() if now is None else now)
    return nonce, f"{nonce}.{issued}.{_signature(secret, nonce, issued)}"


def signin_token_ok(
    secret: str, cookie: str | None, form_value: str | None, now: float | None = None
) -> bool:
    """True when the cookie is ours, recent, and holds the form's nonce (constant-time checks)."""
    if not secret or not cookie or not form_value:
        return False
    nonce, _, rest = cookie.partition(".")
    issued_text, _, signature = rest.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    expected = _signature(secret, nonce, issued)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return False
    now = time.time() if now is None else now
    if not (now - SIGNIN_TOKEN_SECONDS <= issued <= now + CLOCK_SKEW_SECONDS):
        return False
    return hmac.compare_digest(nonce.encode("utf-8"), form_value.encode("utf-8"))
