"""Partners and their contacts (issue #12, item 1).

A partner is a government, a UN agency, an NGO or the Red Cross movement,
with a short code (``CN``, ``KR-MOU``, ``WHO``) the other commands name it by.
Its contacts say who is reached through which channel (a diplomatic note, the
liaison office, a UN agency, the phone, e-mail). Partners are national: any
coordinator with ``aid.write`` over the country registers them; every reader
with ``aid.read`` sees them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal
from sitroom.db import DEFAULT_LOCK_TIMEOUT, utcnow
from sitroom.errors import ConflictError

from . import common
from .models import CHANNELS, PARTNER_KINDS, Contact, Partner

#: A partner's code: letters, digits, dots, dashes and underscores.
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ContactView:
    name: str
    title: str | None
    channel: str
    address: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "channel": self.channel,
            "address": self.address,
        }


@dataclass(frozen=True, slots=True)
class PartnerView:
    code: str
    name: str
    kind: str
    country: str | None
    notes: str | None
    illustrative: bool
    contacts: tuple[ContactView, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "country": self.country,
            "notes": self.notes,
            "illustrative": self.illustrative,
            "contacts": [c.to_dict() for c in self.contacts],
        }


def _view(session: Session, partner: Partner) -> PartnerView:
    contacts = session.scalars(
        select(Contact).where(Contact.partner_id == partner.id).order_by(Contact.id)
    ).all()
    return PartnerView(
        partner.code,
        partner.name,
        partner.kind,
        partner.country,
        partner.notes,
        partner.illustrative,
        tuple(ContactView(c.name, c.title, c.channel, c.address) for c in contacts),
    )


def _national(session: Session, principal: Principal | None, action: str) -> None:
    common.authorize(principal, Permission.AID_WRITE, common.org_unit(session, None).path, action)


def add_partner(
    session: Session,
    code: str,
    name: str,
    kind: str,
    *,
    user: str,
    principal: Principal | None = None,
    country: str | None = None,
    notes: str | None = None,
    illustrative: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> PartnerView:
    """Register a partner; refused for a code in use, an unknown kind, empty names."""

    def step() -> PartnerView:
        _national(session, principal, f"register partner {code!r}")
        reasons: list[str] = []
        if not CODE.match(code or ""):
            reasons.append(
                f"the code {code!r} must be 1-64 letters, digits, dots, dashes or underscores"
            )
        clean_name = common.text(name, "the name", reasons, required=True, most=200)
        common.choice(kind, PARTNER_KINDS, "partner kind", reasons)
        clean_country = common.text(country, "the country", reasons, required=False, most=8)
        if clean_country and not re.fullmatch(r"[A-Za-z]{2}", clean_country):
            reasons.append(
                f"the country {clean_country!r} is not an ISO 3166-1 alpha-2 code (CN, KR)"
            )
        clean_notes = common.text(notes, "the notes", reasons, required=False)
        if reasons:
            raise common.AidRefused(f"partner {code}", reasons)
        if session.scalar(select(Partner.id).where(Partner.code == code)) is not None:
            raise ConflictError(f"partner {code!r} exists already: nothing was written")
        partner = Partner(
            code=code,
            name=clean_name,
            kind=kind,
            country=clean_country.upper() if clean_country else None,
            notes=clean_notes,
            created_by=user,
            created_at=now(),
            illustrative=illustrative,
        )
        session.add(partner)
        session.flush()
        common.record(
            session,
            "partner",
            partner.id,
            by=user,
            at=partner.created_at,
            to_status="registered",
            note=f"{partner.name} ({kind})",
            now=now,
        )
        return _view(session, partner)

    return common.write(
        session, step, what=f"registering partner {code}", lock_timeout=lock_timeout
    )


def add_contact(
    session: Session,
    partner: str,
    name: str,
    channel: str,
    *,
    user: str,
    principal: Principal | None = None,
    title: str | None = None,
    address: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> PartnerView:
    """Add a contact (a person or an office, and its channel) to a partner."""

    def step() -> PartnerView:
        _national(session, principal, f"add a contact to partner {partner!r}")
        found = common.partner(session, partner)
        reasons: list[str] = []
        clean_name = common.text(name, "the contact's name", reasons, required=True, most=200)
        common.choice(channel, CHANNELS, "channel", reasons)
        clean_title = common.text(title, "the title", reasons, required=False, most=200)
        clean_address = common.text(address, "the address", reasons, required=False, most=300)
        if reasons:
            raise common.AidRefused(f"partner {partner}", reasons)
        session.add(
            Contact(
                partner_id=found.id,
                name=clean_name,
                title=clean_title,
                channel=channel,
                address=clean_address,
                created_by=user,
                created_at=now(),
            )
        )
        session.flush()
        return _view(session, found)

    return common.write(
        session, step, what=f"adding a contact to {partner}", lock_timeout=lock_timeout
    )


def get_partner(session: Session, code: str, *, principal: Principal | None = None) -> PartnerView:
    common.require(principal, Permission.AID_READ)
    return _view(session, common.partner(session, code))


def list_partners(
    session: Session, *, kind: str | None = None, principal: Principal | None = None
) -> list[PartnerView]:
    common.require(principal, Permission.AID_READ)
    query = select(Partner).order_by(Partner.code)
    if kind is not None:
        query = query.where(Partner.kind == kind)
    return [_view(session, p) for p in session.scalars(query)]
