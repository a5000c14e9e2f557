"""What each page's template is given (one documented dataclass a page), and rendering.

Templates get exactly these fields (and ``static``, the path of the static
files); they only format them. Jinja2 escapes every value (autoescape on for
all templates, whatever their name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import HTMLResponse

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
#: Where the static files are served.
STATIC_PATH = "/static"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user as the page header shows them, with the sign-out form's token."""

    username: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class SignInPage:
    """``signin.html``: the sign-in form.

    ``form_token`` is the login-CSRF nonce (also in the signed cookie);
    ``username`` is what was typed, shown again after a refusal; ``error``
    is announced (role="alert"), ``notice`` is not an error (signed out).
    """

    form_token: str
    username: str = ""
    error: str | None = None
    notice: str | None = None
    viewer: Viewer | None = None
    title: str = "Sign in"


@dataclass(frozen=True, slots=True)
class HomePage:
    """``home.html``: who is signed in, with what role and scopes, and until when."""

    viewer: Viewer
    role: str | None
    scopes: tuple[str, ...]
    permissions: tuple[str, ...]
    session_ends: datetime
    docs_url: str
    title: str = "Home"


@dataclass(frozen=True, slots=True)
class PasswordPage:
    """``password.html``: the password change form.

    ``errors`` maps a field name (``current``, ``new``, ``repeat``) to its
    message; ``error`` is a message for the whole form; ``done`` says the
    change went through.
    """

    viewer: Viewer
    min_length: int
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    done: bool = False
    title: str = "Change your password"


@dataclass(frozen=True, slots=True)
class MessagePage:
    """``message.html``: a refusal or an error, with where to go next."""

    title: str
    message: str
    link: str = "/"
    link_text: str = "Go to the start page"
    viewer: Viewer | None = None


Page = SignInPage | HomePage | PasswordPage | MessagePage

_TEMPLATE_OF: dict[type, str] = {
    SignInPage: "signin.html",
    HomePage: "home.html",
    PasswordPage: "password.html",
    MessagePage: "message.html",
}


@cache
def environment() -> Environment:
    """The templates' environment: autoescape on, undefined names an error."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(page: Page, *, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The page as an HTML response; never cached (it shows who is signed in)."""
    template = environment().get_template(_TEMPLATE_OF[type(page)])
    html = template.render(page=page, static=STATIC_PATH)
    sent = {"Cache-Control": "no-store", **(headers or {})}
    return HTMLResponse(html, status_code=status, headers=sent)
