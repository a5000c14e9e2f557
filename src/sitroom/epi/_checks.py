"""Input checks shared by the estimators (the boundary between callers and numpy)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def as_counts(values: ArrayLike, name: str = "incidence", *, allow_nan: bool = False) -> FloatArray:
    """A float array of shape (n_series, n_days) of non-negative counts.

    A 1-D input becomes one series. Raises ValueError naming ``name`` otherwise.
    """
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n_days,) or (n_series, n_days)")
    if allow_nan:
        if np.isinf(array).any():
            raise ValueError(f"{name} holds infinite values")
        if (np.nan_to_num(array) < 0).any():
            raise ValueError(f"{name} holds negative counts")
        return array
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    if (array < 0).any():
        raise ValueError(f"{name} holds negative counts")
    return array


def as_distribution(values: ArrayLike, name: str = "distribution") -> FloatArray:
    """A 1-D array of non-negative probabilities."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name} must hold non-negative finite probabilities")
    return array


def squeeze_like(value: Any, one_series: bool) -> Any:
    """Drop the series axis again when the caller gave one series."""
    return value[0] if one_series else value
