"""The public face of sitroom.epi, and its promise of purity."""

import ast
from pathlib import Path

from sitroom import epi

EPI = Path(epi.__file__).parent


def test_public_names_are_exported_and_exist():
    assert sorted(epi.__all__) == epi.__all__
    for name in epi.__all__:
        assert getattr(epi, name) is not None


def test_estimators_follow_the_fit_convention():
    for name in ("CoriRt", "LogLinearGrowth", "RenewalForecast", "ChainLadderNowcast"):
        cls = getattr(epi, name)
        assert callable(cls.fit)


def test_the_package_imports_no_database_web_or_cli_code():
    forbidden = (
        "sqlalchemy",
        "fastapi",
        "starlette",
        "jinja2",
        "typer",
        "rich",
        "sitroom.db",
        "sitroom.surveillance",
        "sitroom.places",
        "sitroom.cli",
        "sitroom.analysis",
    )
    for path in EPI.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
