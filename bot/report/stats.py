"""The statistics behind the A/B and holdout lines: pure functions, no database.

Differences of two proportions get Newcombe's hybrid score interval (his method 10: the
Wilson score interval of each proportion, combined). Unlike the Wald interval it keeps its
95 % coverage with the small counts and rates near zero that conversion data has, and it is
defined when one arm has no conversions at all. Differences of two means (revenue per
message) get the Welch normal interval, which is fine at the sample sizes a decision needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 %
Z_80_POWER = 0.8416212335729143  # one-sided 80 %


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95 % confidence interval."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> Interval | None:
    """p1 − p2 with Newcombe's hybrid score interval; None when an arm has no trials."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(diff, low, high)


def welch_difference(
    n1: int, sum1: float, sumsq1: float, n2: int, sum2: float, sumsq2: float, z: float = Z_95
) -> Interval | None:
    """mean1 − mean2 of two samples given by count, sum and sum of squares (normal interval);
    None when an arm has fewer than two observations."""
    if n1 < 2 or n2 < 2:
        return None
    m1, m2 = sum1 / n1, sum2 / n2
    v1 = max(0.0, (sumsq1 - n1 * m1 * m1) / (n1 - 1))
    v2 = max(0.0, (sumsq2 - n2 * m2 * m2) / (n2 - 1))
    half = z * math.sqrt(v1 / n1 + v2 / n2)
    return Interval(m1 - m2, m1 - m2 - half, m1 - m2 + half)


def sample_size_per_arm(
    p1: float, p2: float, z_alpha: float = Z_95, z_power: float = Z_80_POWER
) -> int | None:
    """Shoppers per arm for a two-sided 5 % test to detect p1 vs p2 with 80 % power
    (the usual normal-approximation formula); None when the rates are equal."""
    if p1 == p2:
        return None
    p_bar = (p1 + p2) / 2
    numerator = z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_power * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil(numerator**2 / (p1 - p2) ** 2)
