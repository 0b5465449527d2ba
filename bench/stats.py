"""Small statistics over lists of samples."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1); NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 0.5)


def ratio(value: float, base: float) -> float:
    """``value / base``; NaN when either is missing or the base is zero."""
    if math.isnan(value) or math.isnan(base) or base == 0:
        return math.nan
    return value / base
