"""Golden vectors of the reference implementations (see tests/data/epi/README.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

EPI = Path(__file__).parents[2] / "data" / "epi"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def column(rows: list[dict[str, str]], name: str) -> np.ndarray:
    return np.array([float(r[name]) if r[name] not in ("NA", "") else np.nan for r in rows])


def load_json(relative: str) -> Any:
    return json.loads((EPI / relative).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def flu2009() -> np.ndarray:
    return column(read_csv(EPI / "epiestim" / "Flu2009_incidence.csv"), "I")


@pytest.fixture(scope="session")
def epiestim_configs() -> dict[str, Any]:
    return load_json("epiestim/epiestim_test_configs.json")
