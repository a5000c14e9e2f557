"""Fixtures of the auth tests: a small hierarchy, and hashing cheap enough to test.

argon2-cffi's default parameters take about 0.3 s a hash on the project's
machine; the lock-out tests hash dozens of times. ``fast_hashing`` swaps in
the same algorithm (argon2id) with the smallest memory and time costs. The
tests of the hasher itself use the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import pytest
from argon2 import PasswordHasher

from sitroom.auth import passwords
from sitroom.places.models import OrgUnit

#: Cheap argon2id parameters for tests (never for production).
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    monkeypatch.setattr(passwords, "hasher", lambda: FAST)
    return FAST


@dataclass
class Places:
    country: OrgUnit
    chagang: OrgUnit
    kanggye: OrgUnit
    pyongyang: OrgUnit


@pytest.fixture
def places(factories: ModuleType) -> Places:
    """KP > KP-04 (Chagang) > KP-04-KANGGYE, and KP > KP-01 (Pyongyang)."""
    country = factories.OrgUnitFactory(code="KP")
    chagang = factories.OrgUnitFactory(code="KP-04", parent=country)
    kanggye = factories.OrgUnitFactory(code="KP-04-KANGGYE", parent=chagang)
    pyongyang = factories.OrgUnitFactory(code="KP-01", parent=country)
    return Places(country, chagang, kanggye, pyongyang)
