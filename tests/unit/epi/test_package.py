"""The public face of sitroom.epi, and its promise of purity."""

import ast
import inspect
from pathlib import Path

import numpy as np

from sitroom import epi

EPI = Path(epi.__file__).parent


PUBLIC = [
    "AlertResult",
    "Ascertainment",
    "AscertainmentResult",
    "BacktestResult",
    "ChainLadderNowcast",
    "CheckResult",
    "CoriRt",
    "LogLinearGrowth",
    "RenewalForecast",
    "Severity",
    "apply_delay",
    "backtest",
    "cfr_rolling",
    "cfr_static",
    "cfr_time_varying",
    "cusum",
    "discr_si",
    "dispersion_check",
    "ears",
    "estimate_delay",
    "expected_outcomes",
    "fatality_check",
    "gamma_density",
    "identity_check",
    "last_digit_check",
    "parametric_si",
    "project",
    "ratio_quantiles",
    "read_distribution",
    "repeat_check",
    "reproduction_from_growth",
    "si_moments",
    "total_infectiousness",
    "weekday_check",
    "weighted_interval_score",
]


def test_the_public_names_are_the_documented_ones():
    """Adding or removing a public name is a decision: this list changes with it."""
    assert epi.__all__ == PUBLIC
    for name in PUBLIC:
        value = getattr(epi, name)
        assert inspect.isclass(value) or callable(value) or name == "Severity", name


ESTIMATORS = {
    "CoriRt": ({"si_mean": 2.6, "si_sd": 1.5, "window": 3}, [3, 5, 8, 9, 12, 15, 14, 18]),
    "LogLinearGrowth": ({"window": 4}, [3, 5, 8, 9, 12, 15, 14, 18]),
    "RenewalForecast": (
        {"si_mean": 2.6, "si_sd": 1.5, "window": 3, "horizon": 2, "n_samples": 10},
        [3, 5, 8, 9, 12, 15, 14, 18],
    ),
    "ChainLadderNowcast": ({}, [[10, 5, 5], [20, 10, np.nan], [30, np.nan, np.nan]]),
}


def test_estimators_follow_the_scikit_learn_conventions():
    """Options are keyword-only and stored as given; fit returns self and adds results_."""
    for name, (options, data) in ESTIMATORS.items():
        cls = getattr(epi, name)
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters), name
        estimator = cls(**options)
        for key, value in options.items():
            assert getattr(estimator, key) == value, (name, key)
        assert not [a for a in vars(estimator) if a.endswith("_")], name
        assert estimator.fit(np.asarray(data, dtype=float)) is estimator, name
        assert [a for a in vars(estimator) if a.endswith("_")], name


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
