"""Every mapped table, imported in one place for Alembic and the tests."""

from sitroom.auth.models import ApiToken, AuthEvent, UserScope
from sitroom.events.models import Event
from sitroom.places.models import OrgUnit
from sitroom.publication.models import Edition, EditionFile, PublicationClaim
from sitroom.supply.models import (
    Case,
    CaseNote,
    DistributionOrder,
    Facility,
    Inspection,
    Item,
    Lot,
    OrderEvent,
    OrderLine,
    Route,
    StockBalance,
    StockBatch,
    StockEntry,
)
from sitroom.surveillance.models import (
    Approval,
    DataElement,
    DataSet,
    DataValue,
    DataValueAudit,
    ImportRun,
)
from sitroom.users.models import AppUser

__all__ = [
    "ApiToken",
    "AppUser",
    "Approval",
    "AuthEvent",
    "Case",
    "CaseNote",
    "DataElement",
    "DataSet",
    "DataValue",
    "DataValueAudit",
    "DistributionOrder",
    "Edition",
    "EditionFile",
    "Event",
    "Facility",
    "ImportRun",
    "Inspection",
    "Item",
    "Lot",
    "OrderEvent",
    "OrderLine",
    "OrgUnit",
    "PublicationClaim",
    "Route",
    "StockBalance",
    "StockBatch",
    "StockEntry",
    "UserScope",
]
