"""The user's scopes and org-unit subtrees as SQL conditions, for the supply's reads.

Org units carry their materialised path (``/KP/KP-04/KP-04-KANGGYE/``), so a
subtree is a prefix. The prefix is matched with ``LIKE``, its ``%`` and ``_``
escaped (``autoescape``): a code holding either would otherwise match other
units. Filtering in SQL lets the database count and page only what the user
may see, instead of reading the whole country to drop most of it here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_

from sitroom.auth.permissions import Principal
from sitroom.places.models import OrgUnit


def _prefix(path: str) -> str:
    """A materialised path with its closing separator: ``/KP/KP-0`` is not ``/KP/KP-04/``'s."""
    return path if path.endswith("/") else path + "/"


def below(path: str, column: Any = OrgUnit.path) -> Any:
    """``column`` (an org unit's path) is ``path``'s unit or one under it."""
    return column.startswith(_prefix(path), autoescape=True)


def within(principal: Principal, column: Any = OrgUnit.path) -> Any:
    """``column`` (an org unit's path) lies in one of the user's scopes (none: false):
    the SQL twin of :meth:`Principal.covers`. The role is the caller's to check."""
    if not principal.scope_paths:
        return false()
    return or_(*(below(path, column) for path in principal.scope_paths))


__all__ = ["below", "within"]
