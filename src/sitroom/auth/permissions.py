"""Permissions, roles and the one authorisation check.

Every permission is named once, in :class:`Permission`, as
``<resource>.<action>``; a role is a named set of them (:data:`ROLES`). A
check is a permission and, for data of a place, the org unit: the user's role
must grant the permission and one of the user's scopes must contain the unit.
:func:`authorize` is that check, for the API, the pages, the command line and
the services alike. Nothing here touches the database: a :class:`Principal` is
built by ``sitroom.auth.service.principal_for``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sitroom.errors import ForbiddenError, SitroomError


class Permission(StrEnum):
    """What a user may do; kept sorted."""

    AID_READ = "aid.read"
    AID_WRITE = "aid.write"
    ANALYSIS_READ = "analysis.read"
    AUDIT_READ = "audit.read"
    DATA_APPROVE = "data.approve"
    DATA_READ = "data.read"
    DATA_WRITE = "data.write"
    EVENTS_WRITE = "events.write"
    REPORT_PUBLISH = "report.publish"
    STOCK_DISPENSE = "stock.dispense"
    STOCK_READ = "stock.read"
    STOCK_WRITE = "stock.write"
    USERS_MANAGE = "users.manage"


P = Permission

#: Each role and the permissions it grants, in the order the docs list them.
ROLES: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "epidemiologist": frozenset(
        {
            P.DATA_READ,
            P.DATA_WRITE,
            P.DATA_APPROVE,
            P.ANALYSIS_READ,
            P.REPORT_PUBLISH,
            P.EVENTS_WRITE,
            P.AUDIT_READ,
            P.STOCK_READ,
            P.AID_READ,
        }
    ),
    "reporter": frozenset({P.DATA_READ, P.DATA_WRITE, P.ANALYSIS_READ}),
    "logistician": frozenset({P.STOCK_READ, P.STOCK_WRITE, P.DATA_READ, P.ANALYSIS_READ}),
    "pharmacist": frozenset({P.STOCK_READ, P.STOCK_DISPENSE, P.DATA_READ}),
    "coordinator": frozenset({P.AID_READ, P.AID_WRITE, P.STOCK_READ, P.DATA_READ, P.ANALYSIS_READ}),
    "viewer": frozenset({P.DATA_READ, P.ANALYSIS_READ, P.STOCK_READ, P.AID_READ}),
}

_PERMISSION_NAMES = frozenset(p.value for p in Permission)

#: The role names, for messages and the schema's check constraint.
ROLE_NAMES: tuple[str, ...] = tuple(ROLES)


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`; a :class:`SitroomError` naming them if not."""
    if role not in ROLES:
        raise SitroomError(f"unknown role {role!r}: choose one of {', '.join(ROLE_NAMES)}")
    return role


def _as_prefix(path: str) -> str:
    """A materialised path with its closing separator (``/KP/KP-04/``)."""
    return path if path.endswith("/") else path + "/"


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user as the checks see them.

    ``scope_paths`` are the materialised paths (``org_unit.path``, "/KP/KP-04/")
    of the org units whose subtrees the user acts in, ``scope_codes`` the same
    units' codes, for messages. ``role`` is None for a user registered by the
    command line's ``--user``, who may do nothing.
    """

    username: str
    role: str | None
    scope_paths: tuple[str, ...] = ()
    scope_codes: tuple[str, ...] = ()

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLES.get(self.role or "", frozenset())

    def can(self, permission: str) -> bool:
        """True when the user's role grants ``permission`` (anywhere in their scopes)."""
        return permission in self.permissions

    def covers(self, org_unit_path: str) -> bool:
        """True when the org unit of ``org_unit_path`` is one of the scopes or below one.

        Paths are slash-framed codes from the root (``/KP/KP-04/KP-04-KANGGYE/``),
        so a prefix that ends at a separator is a subtree: ``/KP/KP-0/`` is not
        a prefix of ``/KP/KP-04/``.
        """
        path = _as_prefix(org_unit_path)
        return any(path.startswith(_as_prefix(scope)) for scope in self.scope_paths)


def authorize(principal: Principal, permission: str, org_unit_path: str | None) -> None:
    """Return if ``principal`` may use ``permission`` on the org unit; raise ForbiddenError if not.

    Without an org unit (``None``: managing users, reading the audit) only the
    role is checked. With one, the unit must also lie inside one of the user's
    scopes: every role, admin included, acts only inside its scopes (national
    staff are given the country).
    """
    if permission not in _PERMISSION_NAMES:
        raise ValueError(f"unknown permission {permission!r}")
    if not principal.can(permission):
        role = f"role {principal.role}" if principal.role else "no role"
        raise ForbiddenError(
            f"user {principal.username!r} ({role}) does not have the permission {permission}"
        )
    if org_unit_path is not None and not principal.covers(org_unit_path):
        unit = org_unit_path.strip("/").rsplit("/", 1)[-1] or org_unit_path
        scopes = ", ".join(principal.scope_codes) or "none"
        raise ForbiddenError(
            f"user {principal.username!r} may not use {permission} on org unit {unit}:"
            f" outside their scopes ({scopes})"
        )


def refusal(principal: Principal, permission: str, org_unit_path: str) -> str | None:
    """Why ``principal`` may not use ``permission`` on the unit, or None: the importer's check."""
    try:
        authorize(principal, permission, org_unit_path)
    except ForbiddenError as exc:
        return str(exc)
    return None


def markdown_table() -> str:
    """The roles-and-permissions table of docs/security.md (a test keeps them equal)."""
    roles = list(ROLES)
    lines = [
        "| permission | " + " | ".join(roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        marks = ["yes" if permission in ROLES[role] else "" for role in roles]
        lines.append(f"| `{permission.value}` | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"
