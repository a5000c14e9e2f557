"""Role and scope over a named org unit: the check the routes and the CLI's --user share."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal, authorize
from sitroom.country import Country
from sitroom.places.models import OrgUnit


def resolve_unit(session: Session, country: Country, label: str | None) -> OrgUnit:
    """The org unit named by code, name or alias (the country if None); NotFoundError if none."""
    from sitroom.places.service import org_unit_code

    code = org_unit_code(session, country, label)
    return session.scalars(select(OrgUnit).where(OrgUnit.code == code)).one()


def authorized_unit(
    session: Session, country: Country, principal: Principal, permission: str, label: str | None
) -> OrgUnit:
    """The org unit named (the country by default), once ``principal`` may use ``permission`` on it.

    The role is checked before the unit is looked up, so that a role without
    the permission is told so whatever it names.
    """
    authorize(principal, permission, None)
    unit = resolve_unit(session, country, label)
    authorize(principal, permission, unit.path)
    return unit


def check_acting_user(
    session: Session,
    country: Country,
    username: str,
    permission: str,
    label: str | None,
    *,
    scoped: bool = True,
) -> None:
    """The command line's check: ``--user`` naming a user with a role acts within it.

    A name without a role is the local operator, who holds the database
    itself and is not restricted (see docs/security.md). ``scoped=False``
    checks the role only (for what is not about one unit's data).
    """
    from sitroom.auth.service import acting_principal

    principal = acting_principal(session, username)
    if principal is None:
        return
    if scoped:
        authorized_unit(session, country, principal, permission, label)
    else:
        authorize(principal, permission, None)
