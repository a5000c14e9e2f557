"""Schemathesis against the server's own OpenAPI document (issue #9, item 9).

Every operation the document describes is called with requests generated from
its schema, signed in as an admin of the whole country (HTTP Basic) and, for a
part, as a reporter of Chagang (an API token), on the DPRK configuration with
the 2022 national and regional counts stored (so that the bulletin and the
analyses answer too). Every answer must be no server error, carry a
status the document declares for the operation, a content type it declares
for that status, and a body that conforms to the declared schema. At least
1,000 requests are sent; the count is asserted.

Generation is derandomised (Hypothesis's ``derandomize``: examples follow from
the test's name), so a run is repeatable. The argon2 parameters are lowered
for this test only: a password check at production cost (about 50 ms) a
request would make 1,000 requests a minute of hashing and test nothing more.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from sitroom.auth import passwords
from sitroom.auth import service as auth
from sitroom.config import PACKAGE_DATA
from sitroom.context import AppContext
from sitroom.country import Country
from sitroom.server.app import create_app
from sitroom.surveillance.imports import Importer
from tests.functional.api_world import stock_world

PASSWORD = "a long enough passphrase 42"
#: Examples per operation: as the admin (positive and negative data), as the reporter.
ADMIN_EXAMPLES = 30
NEGATIVE_EXAMPLES = 10
REPORTER_EXAMPLES = 10
MIN_REQUESTS = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schemathesis.serializer("application/csv")
def _csv(_: Any, value: Any) -> bytes:
    """The DHIS2 CSV body: the generated string as it is."""
    return value.encode("utf-8") if isinstance(value, str) else str(value).encode("utf-8")


@schemathesis.serializer("text/csv")
def _text_csv(_: Any, value: Any) -> bytes:
    """The stock events CSV body (``POST /supply/movements``): the generated string as it is."""
    return value.encode("utf-8") if isinstance(value, str) else str(value).encode("utf-8")


def basic(name: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()


@pytest.fixture
def server(
    db_url: str, loaded: Session, country: Country, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app on the loaded DPRK, with the 2022 counts and two users (the admin manages users)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: cheap)
    # National and regional counts: the bulletin and the analyses answer, not only refuse.
    for name in ("fever_national.csv", "fever_by_region.csv"):
        summary = Importer(loaded, country, user="test").run(PACKAGE_DATA / "dprk2022" / name)
        assert summary.ok, summary.rejections
    stock_world(loaded)  # the supply routes read stock, not only an empty ledger
    auth.create_user(loaded, "ada", role="admin", scopes=["KP"], password=PASSWORD, actor="t")
    auth.create_user(loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="t")
    token = auth.create_token(loaded, "rex", "fuzz")
    loaded.commit()
    context = AppContext.from_overrides(database_url=db_url, secret_key="f" * 40)
    yield create_app(context), {"ada": basic("ada"), "rex": f"ApiToken {token}"}
    context.close()


def _run(
    operation: Any,
    authorization: str,
    mode: schemathesis.GenerationMode,
    examples: int,
    calls: Counter[str],
    failures: list[str],
) -> None:
    label = f"{operation.label} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        headers = {"Authorization": authorization}
        response = case.call(headers=headers)
        calls[operation.label] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        fuzz()
    except Unsatisfiable:
        # Nothing to negate in an operation without parameters or body.
        if mode is not schemathesis.GenerationMode.NEGATIVE:
            failures.append(f"{label}: no request could be generated")
    except Exception as exc:  # collect every operation's failure, then fail once
        failures.append(f"{label}: {exc}")


def test_every_operation_answers_as_its_schema_says(server: tuple[Any, dict[str, str]]) -> None:
    app, authorization = server
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    calls: Counter[str] = Counter()
    failures: list[str] = []
    for operation in operations:
        _run(
            operation,
            authorization["ada"],
            schemathesis.GenerationMode.POSITIVE,
            ADMIN_EXAMPLES,
            calls,
            failures,
        )
        _run(
            operation,
            authorization["ada"],
            schemathesis.GenerationMode.NEGATIVE,
            NEGATIVE_EXAMPLES,
            calls,
            failures,
        )
        _run(
            operation,
            authorization["rex"],
            schemathesis.GenerationMode.POSITIVE,
            REPORTER_EXAMPLES,
            calls,
            failures,
        )
    print(f"{sum(calls.values())} requests:", dict(calls))
    assert not failures, "\n\n".join(failures)
    assert set(calls) == {operation.label for operation in operations}
    assert sum(calls.values()) >= MIN_REQUESTS, calls
