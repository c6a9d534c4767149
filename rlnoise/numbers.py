"""Small number helpers shared by logging, run summaries and studies; torch-free."""

from __future__ import annotations

import math


def finite(x: object) -> float | None:
    """x as a float, or None when it is None, nan or inf (JSON has no inf)."""
    if x is None:
        return None
    x = float(x)  # type: ignore[arg-type]
    return x if math.isfinite(x) else None
