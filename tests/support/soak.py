"""CI size or soak size for the reliability tests.

CI runs every reliability test at a size that finishes in a few minutes; the
long soak is the same tests at full size::

    BUCKETQ_SOAK=1 python -m pytest tests/functional -k "chaos or crash or fault or scale or skew"

``docs/reliability.md`` records the figures of the last soak.
"""

from __future__ import annotations

import os

SOAK = os.environ.get("BUCKETQ_SOAK", "") not in ("", "0")


def scale(ci: int, soak: int) -> int:
    """``soak`` when ``BUCKETQ_SOAK`` is set, else ``ci``."""
    return soak if SOAK else ci


def scale_float(ci: float, soak: float) -> float:
    return soak if SOAK else ci
