"""What each page's template is given (one documented dataclass a page), and rendering.

Templates get exactly these fields (and ``static``, the path of the static
files); they only format them. Jinja2 escapes every value (autoescape on for
all templates, whatever their name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import HTMLResponse

if TYPE_CHECKING:
    from jinja2 import Environment
    from markupsafe import Markup

    from sitroom.server.web.dashboard_context import Dashboard
    from sitroom.supply.dispensing import DaySheet, Place
    from sitroom.surveillance.entry import EntryField, EntryForm, RuleCheck
    from sitroom.surveillance.review import PeriodReview

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
#: Where the static files are served.
STATIC_PATH = "/static"
#: Where the fonts (``sitroom/data/fonts``) are served, for sitroom.css's @font-face.
FONTS_PATH = "/fonts"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user as the page header shows them, with the sign-out form's token.

    ``can_report`` and ``can_review`` decide which links the navigation
    (``_nav.html``) offers: the day's form needs ``data.write``, the review
    ``data.read``.
    """

    username: str
    csrf_token: str
    can_report: bool = False
    can_review: bool = False
    #: The dashboard's pages need ``data.read``; analytics ``analysis.read`` too.
    can_analyse: bool = False
    #: The supply pages need ``stock.read``; the dispensing form ``stock.dispense`` or
    #: ``stock.write``.
    can_stock: bool = False
    can_dispense: bool = False
    #: Aid coordination's pages need ``aid.read``.
    can_aid: bool = False


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


#: A unit a user may choose: (code, English name, local name).
UnitChoice = tuple[str, str, str | None]


@dataclass(frozen=True, slots=True)
class ChoosePage:
    """``report_choose.html``: pick the org unit and period of the form."""

    viewer: Viewer
    units: tuple[UnitChoice, ...]
    period: str
    latest: str
    error: str | None = None
    title: str = "Choose the report"


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One field of the form as the template lays it out (computed by :class:`EntryPage`)."""

    field: EntryField
    value: str
    error: str | None
    checks: tuple[RuleCheck, ...]
    described_by: str
    invalid: bool
    conflict: bool

    @property
    def id(self) -> str:
        return f"value_{self.field.element}"


@dataclass(frozen=True, slots=True)
class EntryPage:
    """``report.html``: the day's form of one unit and period.

    ``entered`` holds what the inputs show (the stored values on a first
    visit, what was typed after a refusal); ``errors`` maps form fields
    (``value_<element>``, ``reason_<rule>``, ``correction``) to messages;
    ``checks`` are the rules failing on the submitted values; ``status`` is
    the submission's outcome (None on a plain visit), told by ``message``.
    """

    viewer: Viewer
    form: EntryForm
    entered: Mapping[str, str]
    units: tuple[UnitChoice, ...] = ()
    errors: Mapping[str, str] = field(default_factory=dict)
    checks: tuple[RuleCheck, ...] = ()
    conflicts: tuple[str, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)
    correction: str = ""
    status: str | None = None
    message: str | None = None
    title: str = "Day's report"

    def rows(self) -> list[FieldRow]:
        """The fields with their value, error, rules and what describes them."""
        rows = []
        for f in self.form.fields:
            name = f"value_{f.element}"
            error = self.errors.get(name)
            anchored = tuple(c for c in self.checks if c.anchor == f.element)
            if any(c.blocking and c.sentence == error for c in anchored):
                error = None  # a rule's error is told by its box (``rule_<code>``)
            naming = [c for c in self.checks if f.element in c.elements]
            described = [f"hint_{f.element}"]
            if error:
                described.append(f"error_{name}")
            described += [f"rule_{c.rule}" for c in naming]
            rows.append(
                FieldRow(
                    field=f,
                    value=self.entered.get(f.element, ""),
                    error=error,
                    checks=anchored,
                    described_by=" ".join(dict.fromkeys(described)),
                    invalid=bool(error) or any(c.blocking for c in naming),
                    conflict=f.element in self.conflicts,
                )
            )
        return rows

    def summary(self) -> list[tuple[str, str]]:
        """The error summary: (field id to link to, message), in the form's order."""
        out = []
        for f in self.form.fields:
            name = f"value_{f.element}"
            if name in self.errors:
                out.append((name, self.errors[name]))
            for check in self.checks:
                reason = f"reason_{check.rule}"
                if check.anchor == f.element and reason in self.errors:
                    out.append((reason, f"{check.name}: {self.errors[reason]}"))
        if "correction" in self.errors:
            out.append(("correction", self.errors["correction"]))
        return out

    @property
    def show_correction(self) -> bool:
        """Whether the correction's reason is asked: a past period with values stored."""
        return self.form.is_past and self.form.entered and not self.form.read_only


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """``review.html``: a period's reports over the user's scope, with the approve buttons.

    ``done`` is the outcome of the last approval or un-approval (told with
    role="status"), ``error`` a refusal; ``reason_for`` names the unit whose
    un-approval lacked a reason (its form is shown open, with the message).
    """

    viewer: Viewer
    review: PeriodReview
    done: str | None = None
    error: str | None = None
    reason_for: str | None = None
    title: str = "Review"


@dataclass(frozen=True, slots=True)
class DispenseChoosePage:
    """``dispense_choose.html``: find the pharmacy or hospital, and the day.

    ``places`` are the first matches of ``search`` among the facilities the
    user may dispense at, ``matches`` how many there are in all.
    """

    viewer: Viewer
    places: tuple[Place, ...]
    matches: int
    search: str
    day: str
    today: str
    error: str | None = None
    title: str = "Choose the pharmacy"


@dataclass(frozen=True, slots=True)
class DispensePage:
    """``dispense.html``: a facility's day of dispensing (``sheet``), the form and the
    batches recorded.

    ``units`` and ``patients`` hold what the inputs show (empty on a visit: the
    form adds to the day); ``errors`` maps a field (``units_<item>``,
    ``patients_<item>``, ``form``, ``reason_<batch>``) to its message;
    ``status`` is the outcome told by ``message`` (saved, corrected, invalid,
    refused); ``open_batch`` is the batch whose correction form is shown open.
    """

    viewer: Viewer
    sheet: DaySheet
    units: Mapping[str, str] = field(default_factory=dict)
    patients: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    status: str | None = None
    message: str | None = None
    open_batch: int | None = None
    reason: str = ""
    title: str = "Dispensing"

    def described_by(self, name: str, item: str) -> str:
        ids = [f"hint_{item}"]
        if f"{name}_{item}" in self.errors:
            ids.append(f"error_{name}_{item}")
        return " ".join(ids)

    def summary(self) -> list[tuple[str, str]]:
        """The error summary: (field id to link to, message), in the form's order."""
        out = []
        if "form" in self.errors:
            out.append(
                (
                    f"units_{self.sheet.items[0].item}" if self.sheet.items else "main",
                    self.errors["form"],
                )
            )
        for line in self.sheet.items:
            for name in ("units", "patients"):
                key = f"{name}_{line.item}"
                if key in self.errors:
                    out.append((key, f"{line.item}: {self.errors[key]}"))
        for key, text in self.errors.items():
            if key.startswith("reason_"):
                out.append((key, text))
        return out


@dataclass(frozen=True, slots=True)
class Notice:
    """A line above a dashboard page's content that leads to another page: the
    overview's count of overdue aid answers. Made for the user on each request (it
    depends on their permissions and on the clock), never cached with the content."""

    #: What it is about ("Aid"), then the link, then what the link counts.
    topic: str
    link_text: str
    href: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class DashboardPage:
    """``dashboard.html``: one dashboard page around its content.

    ``title`` is the navigation's name of the page (Overview, Region, ...);
    ``body`` is the content, ``dashboard_body.html`` rendered from the
    context alone by :func:`dashboard_body` (and cached with it: it does
    not depend on who is signed in); ``notices`` are the user's own
    (:class:`Notice`).
    """

    viewer: Viewer
    body: Markup
    title: str
    notices: tuple[Notice, ...] = ()


def dashboard_body(board: Dashboard, json_url: str) -> Markup:
    """The content of a dashboard page: the context's numbers formatted, its charts' specs."""
    from markupsafe import Markup

    from sitroom.server.web.dashboard_view import board_view

    template = environment().get_template("dashboard_body.html")
    html = template.render(board=board, view=board_view(board), json_url=json_url)
    return Markup(html)


Page = (
    SignInPage
    | HomePage
    | PasswordPage
    | MessagePage
    | ChoosePage
    | EntryPage
    | ReviewPage
    | DashboardPage
    | DispenseChoosePage
    | DispensePage
)

_TEMPLATE_OF: dict[type, str] = {
    SignInPage: "signin.html",
    HomePage: "home.html",
    PasswordPage: "password.html",
    MessagePage: "message.html",
    ChoosePage: "report_choose.html",
    EntryPage: "report.html",
    ReviewPage: "review.html",
    DashboardPage: "dashboard.html",
    DispenseChoosePage: "dispense_choose.html",
    DispensePage: "dispense.html",
}


@cache
def environment() -> Environment:
    """The templates' environment: autoescape on, undefined names an error."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = _number
    return env


def _number(value: float | None) -> str:
    """A count for people: 392,920; a float that is whole without its ``.0``; blank for None."""
    if value is None:
        return ""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def render(page: Page, *, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The page as an HTML response; never cached (it shows who is signed in)."""
    template = environment().get_template(_TEMPLATE_OF[type(page)])
    html = template.render(page=page, static=STATIC_PATH)
    sent = {"Cache-Control": "no-store", **(headers or {})}
    return HTMLResponse(html, status_code=status, headers=sent)
