"""From suspected cases to infections and attack rates, with stated assumptions.

    infections = suspected cases x (share of suspected cases that are the disease)
                 / (share of infections that become suspected cases)

The two shares are uncertain and enter as ranges (uniform), or, when tests
and confirmations are given, the first is the test positivity with its
Beta(confirmed + 1, negative + 1) uncertainty. Intervals are quantiles of
Monte Carlo draws. Attack rate = infections / population, capped at 1 (a
draw above it is counted and reported: the assumptions then contradict the
data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sitroom.epi._checks import FloatArray


@dataclass(frozen=True)
class AscertainmentResult:
    """Per area: infections and attack rate (median and interval)."""

    infections: FloatArray  # shape (n_areas, 3): median, low, high
    attack_rate: FloatArray  # shape (n_areas, 3)
    share_over_population: FloatArray  # shape (n_areas,): share of draws above the population


class Ascertainment:
    """Estimate infections and attack rates from suspected cases.

    Parameters
    ----------
    detected_share : tuple of float, default (0.3, 0.7)
        Range of the share of infections that become suspected (here: fever)
        cases. Omicron infections cause fever in a minority to a majority
        depending on age and immunity; the default is deliberately wide.
    disease_share : tuple of float, default (0.8, 1.0)
        Range of the share of suspected cases that are the disease (used when
        no test data are given); fever has other causes.
    level : float, default 0.95
    n_samples : int, default 10000
    random_state : int, optional
    """

    def __init__(
        self,
        *,
        detected_share: tuple[float, float] = (0.3, 0.7),
        disease_share: tuple[float, float] = (0.8, 1.0),
        level: float = 0.95,
        n_samples: int = 10_000,
        random_state: int | None = None,
    ) -> None:
        self.detected_share = detected_share
        self.disease_share = disease_share
        self.level = level
        self.n_samples = n_samples
        self.random_state = random_state

    def fit(
        self,
        suspected: ArrayLike,
        population: ArrayLike,
        *,
        tested: ArrayLike | None = None,
        confirmed: ArrayLike | None = None,
    ) -> AscertainmentResult:
        """``suspected`` and ``population`` have one value per area (shape (n_areas,))."""
        cases = np.atleast_1d(np.asarray(suspected, dtype=float))
        pop = np.atleast_1d(np.asarray(population, dtype=float))
        if cases.shape != pop.shape or (cases < 0).any() or (pop <= 0).any():
            raise ValueError("suspected and population need one non-negative value per area")
        for low, high in (self.detected_share, self.disease_share):
            if not 0 < low <= high <= 1:
                raise ValueError("shares must be ranges within (0, 1]")
        rng = np.random.default_rng(self.random_state)
        n = self.n_samples
        detected = rng.uniform(*self.detected_share, size=(1, n))
        if tested is not None and confirmed is not None:
            t = np.atleast_1d(np.asarray(tested, dtype=float))
            c = np.atleast_1d(np.asarray(confirmed, dtype=float))
            if t.shape != cases.shape or (c > t).any():
                raise ValueError(
                    "tested and confirmed need one value per area, confirmed <= tested"
                )
            disease = rng.beta(c[:, None] + 1, t[:, None] - c[:, None] + 1, size=(cases.size, n))
        else:
            disease = rng.uniform(*self.disease_share, size=(1, n))
        infections = cases[:, None] * disease / detected
        over = (infections > pop[:, None]).mean(axis=1)
        attack = np.minimum(infections / pop[:, None], 1.0)
        q = [0.5, (1 - self.level) / 2, (1 + self.level) / 2]
        return AscertainmentResult(
            infections=np.quantile(infections, q, axis=1).T,
            attack_rate=np.quantile(attack, q, axis=1).T,
            share_over_population=over,
        )
