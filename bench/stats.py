"""Percentiles shared by the benchmarks."""

from __future__ import annotations

import numpy as np


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values, dtype=float), q))


def summary_ms(times_ms: list[float]) -> dict[str, float]:
    if not times_ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0, "mean_ms": 0.0}
    return {
        "p50_ms": round(percentile(times_ms, 50), 3),
        "p95_ms": round(percentile(times_ms, 95), 3),
        "max_ms": round(max(times_ms), 3),
        "mean_ms": round(float(np.mean(times_ms)), 3),
    }
