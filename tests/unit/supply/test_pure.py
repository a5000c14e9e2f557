"""The numeric supply modules stay pure: numpy, scipy and the standard library only."""

import ast
import sys
from pathlib import Path

import pytest

from sitroom import supply

PURE = ["demand.py", "allocation.py", "leadtimes.py", "stock_indicators.py"]


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_database_or_web(name):
    tree = ast.parse((Path(supply.__file__).parent / name).read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    allowed = {"numpy", "scipy"} | set(sys.stdlib_module_names)
    assert roots <= allowed, roots - allowed
