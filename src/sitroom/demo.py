"""The demo: the DPRK's 2022 wave loaded into a database, as a user would load it,
and one user per role to sign in with."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.analysis.series import Series
from sitroom.config import PACKAGE_DATA
from sitroom.country import Country
from sitroom.db import DEFAULT_LOCK_TIMEOUT, begin_write
from sitroom.errors import NotFoundError, SitroomError, WeakPasswordError
from sitroom.setup import setup_country
from sitroom.surveillance.bulletin import Bulletin, build_bulletin, latest_bulletin_period
from sitroom.surveillance.imports import Importer, ImportSummary

#: The outbreak's files, national first, as the broadcasts published them.
DEMO_FILES = ("fever_national.csv", "fever_by_region.csv")
DEMO_DATA = PACKAGE_DATA / "dprk2022"


@dataclass(frozen=True, slots=True)
class DemoResult:
    imports: list[ImportSummary]
    bulletin: Bulletin


def load_demo(
    session: Session,
    country: Country,
    *,
    user: str,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_import: Callable[[ImportSummary], None] | None = None,
) -> DemoResult:
    """Set up ``country`` and import the 2022 files; safe to run again (idempotent).

    Returns each import's summary and the bulletin of the latest period with
    regional reports.
    """
    setup_country(session, country, lock_timeout=lock_timeout)
    summaries = []
    for name in DEMO_FILES:
        importer = Importer(session, country, user=user, lock_timeout=lock_timeout)
        summary = importer.run(DEMO_DATA / name)
        if not summary.ok:
            raise SitroomError(f"demo data {name} was rejected: {summary.rejections[:3]}")
        summaries.append(summary)
        if on_import is not None:
            on_import(summary)
    # End on the latest day the regions reported too: the last broadcasts gave
    # national figures only, and "0 of 13 regions" is no way to end a demo.
    day = latest_bulletin_period(session, country, with_regions=True)
    return DemoResult(summaries, build_bulletin(session, country, day))


# Demo users -------------------------------------------------------------------

#: Letters and digits that cannot be mistaken for one another when copied by
#: hand from a screen (no 0/O, 1/l/I): 56 symbols.
PASSWORD_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
#: 20 symbols of 56: about 116 bits, far past guessing, and no shell quoting needed.
PASSWORD_LENGTH = 20
#: Display names of demo users start with this; it is how a later run tells a
#: demo user (whose password it may reset) from a real one (left alone).
DEMO_MARK = "sitroom demo: "
#: What the security audit says of a password the demo set again.
DEMO_PASSWORD_DETAIL = "new demo password, printed once by `sitroom demo`"


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A demo user and the password just set, to be shown once and then forgotten.

    The password is left out of the dataclass's ``repr`` so that it cannot
    reach a log or a traceback by accident.
    """

    username: str
    role: str
    scopes: tuple[str, ...]
    password: str = field(repr=False)
    created: bool = True


@dataclass(frozen=True, slots=True)
class _Account:
    username: str
    role: str
    scopes: tuple[str, ...]
    display_name: str


def demo_password(username: str) -> str:
    """A random password (``secrets``) that passes the password policy for ``username``."""
    from sitroom.auth.passwords import check_policy

    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        try:
            check_policy(password, username)
        except WeakPasswordError:  # pragma: no cover - about 1 in 10^24
            continue
        return password


def demo_accounts(session: Session, country: Country) -> list[_Account]:
    """The demo's users: one per role on the whole country, and a reporter per region.

    The regions are the units at the country's reporting level (the 13
    provinces and cities of the DPRK); each has a reporter named after its
    code (``reporter-kp-04`` for KP-04, Chagang). The other roles are named
    after the role and scoped to the country's root.
    """
    from sitroom.auth.permissions import ROLE_NAMES
    from sitroom.places.models import OrgUnit

    root = session.scalar(select(OrgUnit).where(OrgUnit.code == country.country.code))
    if root is None:
        raise NotFoundError(
            f"the country {country.country.code!r} is not set up: run `sitroom setup` first"
        )
    regions = session.scalars(
        select(OrgUnit)
        .where(
            OrgUnit.level == country.reporting.reporting_level,
            OrgUnit.path.startswith(root.path, autoescape=True),
        )
        .order_by(OrgUnit.code)
    ).all()
    accounts: list[_Account] = []
    for role in ROLE_NAMES:
        if role == "reporter":
            accounts.extend(
                _Account(
                    f"reporter-{region.code.lower()}",
                    role,
                    (region.code,),
                    f"{DEMO_MARK}reporter ({region.name})",
                )
                for region in regions
            )
        else:
            accounts.append(_Account(role, role, (root.code,), f"{DEMO_MARK}{role} (national)"))
    return accounts


def create_demo_users(
    session: Session,
    country: Country,
    *,
    actor: str,
    client: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> list[DemoUser]:
    """Create the demo's users (:func:`demo_accounts`) with new random passwords.

    Returns each user with the password just set: the caller shows it once;
    it is stored only as its argon2id hash and is never logged or audited.

    Safe to run again: a demo user that exists already is put back as the demo
    made it (role, scopes, enabled, not locked) and given a new password, so
    that whoever runs the demo can always sign in; each change is audited as
    the user commands' are, the password's with :data:`DEMO_PASSWORD_DETAIL`.
    A user of a demo name that the demo did not make (its display name does
    not start with :data:`DEMO_MARK`) is never touched: the call raises
    SitroomError naming it before changing anything. Does not commit.
    """
    from sitroom.auth import service
    from sitroom.users.models import AppUser

    accounts = demo_accounts(session, country)
    begin_write(session, lock_timeout)
    names = [account.username.lower() for account in accounts]
    existing = {
        user.username.lower(): user
        for user in session.scalars(select(AppUser).where(func.lower(AppUser.username).in_(names)))
    }
    foreign = sorted(
        user.username
        for user in existing.values()
        if not (user.display_name or "").startswith(DEMO_MARK)
    )
    if foreign:
        raise SitroomError(
            f"the user(s) {', '.join(foreign)} exist and were not made by the demo: it will not"
            " change their passwords (run `sitroom demo --no-users`, or use another database)"
        )
    made = []
    for account in accounts:
        password = demo_password(account.username)
        user = existing.get(account.username.lower())
        if user is None:
            service.create_user(
                session,
                account.username,
                role=account.role,
                scopes=account.scopes,
                password=password,
                display_name=account.display_name,
                actor=actor,
                client=client,
                lock_timeout=lock_timeout,
            )
        else:
            _restore(session, user.username, account, actor=actor, client=client)
            service.set_password(
                session,
                user.username,
                password,
                actor=actor,
                client=client,
                detail=DEMO_PASSWORD_DETAIL,
            )
        made.append(
            DemoUser(account.username, account.role, account.scopes, password, user is None)
        )
    return made


def _restore(
    session: Session, username: str, account: _Account, *, actor: str, client: str | None
) -> None:
    """Put an existing demo user back as the demo made it, through the audited services."""
    from sitroom.auth import service

    user = service.get_user(session, username)
    if user.role != account.role:
        service.set_role(session, username, account.role, actor=actor, client=client)
    extra = [code for code in user.scopes if code not in account.scopes]
    if extra:
        service.revoke_scope(session, username, extra, actor=actor, client=client)
    if any(code not in user.scopes for code in account.scopes):
        service.grant_scope(session, username, account.scopes, actor=actor, client=client)
    if user.disabled:
        service.enable_user(session, username, actor=actor, client=client)


def demo_case_series(element: str = "new_fever") -> dict[str, Series]:
    """The 2022 counts of ``element`` from the bundled files, without a database.

    "national" first, then the 13 regions by English name; days a region did
    not report are NaN (fill them with :meth:`Series.filled`). Each day is the
    24-hour window that closed at 18:00 on ``period_end``, as the import stores it.
    The forecast study (``bench/forecast_skill.py``) and its tests read these.
    """
    import csv

    import numpy as np

    by_name: dict[str, dict[date, float]] = {"national": {}}
    with (DEMO_DATA / "fever_national.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row[element]:
                by_name["national"][date.fromisoformat(row["period_end"])] = float(row[element])
    with (DEMO_DATA / "fever_by_region.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row[element]:
                days = by_name.setdefault(row["province_en"], {})
                days[date.fromisoformat(row["period_end"])] = float(row[element])
    out = {}
    for name in ["national", *sorted(n for n in by_name if n != "national")]:
        days = by_name[name]
        first, last = min(days), max(days)
        values = np.full((last - first).days + 1, np.nan)
        for day, value in days.items():
            values[(day - first).days] = value
        out[name] = Series(name, first, values)
    return out
