"""The figures of a cell: rate with its Wilson interval, delay quartiles."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate

#: Two-sided 95 %: the 0.975 quantile of the standard normal distribution.
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson, 1927; Brown, Cai and
    DasGupta, 2001): unlike the normal approximation it stays within [0, 1] and keeps its
    coverage near 0 and 1 and for small cohorts."""
    if n <= 0:
        raise ValueError("the cohort is empty")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At p = 0 and p = 1 the bounds are exactly 0 and 1 (not 1 − ε by rounding).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def quantile_months(histogram: Sequence[int], q: float) -> int | None:
    """The ``q`` quantile (nearest rank) of delays given as counts per whole month."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    running = 0
    for month, count in enumerate(histogram):
        running += count
        if running >= rank:
            return month
    raise AssertionError("unreachable: the ranks are within the total")


def quartiles_months(histogram: Sequence[int]) -> dict[str, int | None]:
    """First quartile, median and third quartile (nearest rank): the first month whose
    running count reaches each rank."""
    return quartiles(list(accumulate(histogram)))


def quartiles(running: Sequence[int]) -> dict[str, int | None]:
    """`quartiles_months` of the running counts of a histogram (``accumulate``)."""
    total = running[-1] if running else 0
    if total == 0:
        return {"q1": None, "median": None, "q3": None}
    return {name: bisect_left(running, max(1, math.ceil(q * total)))
            for name, q in (("q1", 0.25), ("median", 0.5), ("q3", 0.75))}
