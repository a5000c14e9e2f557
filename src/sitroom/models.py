"""Every mapped table, imported in one place for Alembic and the tests."""

from sitroom.places.models import OrgUnit
from sitroom.surveillance.models import DataElement, DataValue, DataValueAudit, ImportRun
from sitroom.users.models import AppUser

__all__ = ["AppUser", "DataElement", "DataValue", "DataValueAudit", "ImportRun", "OrgUnit"]
