"""Epidemiological estimators: pure numpy and scipy, no database, no web.

Every estimator takes one series of shape ``(n_days,)`` or many of shape
``(n_series, n_days)`` and, in the scikit-learn manner, stores options in
``__init__``, validates data in ``fit`` and returns results in attributes
ending in ``_``. See docs/methods.md for the methods and their references.
"""

from sitroom.epi.alerts import AlertResult, cusum, ears
from sitroom.epi.ascertainment import Ascertainment, AscertainmentResult
from sitroom.epi.backtest import BacktestResult, backtest, weighted_interval_score
from sitroom.epi.cfr import (
    Severity,
    cfr_rolling,
    cfr_static,
    cfr_time_varying,
    expected_outcomes,
    gamma_density,
)
from sitroom.epi.credibility import (
    CheckResult,
    dispersion_check,
    fatality_check,
    identity_check,
    last_digit_check,
    repeat_check,
    weekday_check,
)
from sitroom.epi.forecast import RenewalForecast, project
from sitroom.epi.growth import LogLinearGrowth, reproduction_from_growth
from sitroom.epi.nowcast import ChainLadderNowcast, apply_delay, estimate_delay
from sitroom.epi.rt import CoriRt, ratio_quantiles, total_infectiousness
from sitroom.epi.serial_interval import discr_si, parametric_si, read_distribution, si_moments

__all__ = [
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
