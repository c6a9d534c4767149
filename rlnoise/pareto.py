"""Steps-samples Pareto fit (McCandlish et al. 2018, arXiv 1812.06162, eqs. 2.11-2.12).

Runs that reach the same target with batch size B need S steps and E = B·S samples, with
(S/S_min − 1)(E/E_min − 1) = 1 (eq. 2.11), i.e. S = S_min·(1 + B_crit/B), and
B_crit = E_min/S_min (eq. 2.12). The fit is least squares in log S over (S_min, B_crit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BootstrapResult", "ParetoFit", "bootstrap_b_crit", "fit_b_crit_many", "fit_pareto"]

_RANGE = 1e3  # B_crit is searched over [min(B)/_RANGE, max(B)*_RANGE]
_GRID_STEP = 0.05  # coarse grid spacing in log B_crit; two 201-point zooms and a parabola follow


@dataclass(frozen=True)
class ParetoFit:
    """S = S_min + E_min/B fitted to one (S, E) point per batch size (eqs. 2.11–2.12).

    b_crit = e_min/s_min; rmse_log is the root-mean-square residual in log S; the data tuples
    are sorted by batch size B = E/S.
    """

    s_min: float
    e_min: float
    b_crit: float
    rmse_log: float
    n_points: int
    batch_sizes: tuple[float, ...]
    steps: tuple[float, ...]
    samples: tuple[float, ...]

    def steps_at(self, b: float) -> float:
        """Model steps S(B) = S_min·(1 + B_crit/B) (eq. 2.11)."""
        return self.s_min * (1.0 + self.b_crit / b)

    def samples_at(self, b: float) -> float:
        """Model samples E(B) = B·S(B) = E_min·(1 + B/B_crit) (eq. 2.11)."""
        return b * self.steps_at(b)


def _sse_and_log_smin(
    log_bc: np.ndarray, log_s: np.ndarray, b: np.ndarray, w: np.ndarray | None = None
):
    """For each log B_crit: the (weighted) residual sum of squares in log S and the optimal
    log S_min. w: one weight per point (1/sigma^2 of its log S), or None for equal weights."""
    shape = np.log1p(np.exp(np.asarray(log_bc)[..., None]) / b)  # log(1 + B_crit/B_i)
    resid = log_s - shape
    w = np.ones(b.shape) if w is None else w / w.mean()
    log_smin = (w * resid).sum(axis=-1) / w.sum()
    sse = (w * (resid - log_smin[..., None]) ** 2).sum(axis=-1)
    return sse, log_smin


def fit_pareto(
    steps: Sequence[float], samples: Sequence[float], weights: Sequence[float] | None = None
) -> ParetoFit:
    """Fit S = S_min·(1 + B_crit/B) (eq. 2.11) in log space; B_crit = E_min/S_min (eq. 2.12).

    One (S, E) pair per batch size B = E/S; `weights` (optional, one per pair, e.g. 1/sigma^2
    of each log S) weight the least squares. Raises ValueError on fewer than 2 points,
    non-positive or non-finite values, mismatched lengths, duplicate batch sizes, or data that
    do not bend (the best B_crit lies 1000x beyond the batch range). (Over 60 lines: the
    input checks, each with its own message, take a third of it.)
    """
    s = np.asarray(steps, dtype=np.float64).ravel()
    e = np.asarray(samples, dtype=np.float64).ravel()
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w is not None and (w.size != s.size or not (np.isfinite(w).all() and (w > 0).all())):
        raise ValueError("weights must be one positive finite number per point")
    if s.size != e.size:
        raise ValueError(f"steps has {s.size} values but samples has {e.size}")
    if s.size < 2:
        raise ValueError(f"need at least 2 (steps, samples) points to fit, got {s.size}")
    if not (np.isfinite(s).all() and np.isfinite(e).all()):
        raise ValueError("steps and samples must be finite (got nan or inf)")
    if not ((s > 0).all() and (e > 0).all()):
        raise ValueError("steps and samples must be positive")
    b = e / s
    order = np.argsort(b, kind="stable")
    s, e, b = s[order], e[order], b[order]
    w = None if w is None else w[order]
    dup = np.nonzero(np.diff(b) <= 1e-9 * b[1:])[0]
    if dup.size:
        raise ValueError(
            f"duplicate batch size {b[dup[0]]:g}: give one (S, E) point per batch size"
        )
    log_s = np.log(s)
    lo, hi = math.log(b[0] / _RANGE), math.log(b[-1] * _RANGE)
    grid = np.linspace(lo, hi, int(math.ceil((hi - lo) / _GRID_STEP)) + 1)
    sse, _ = _sse_and_log_smin(grid, log_s, b, w)
    i = int(np.argmin(sse))
    if i == 0:
        raise ValueError(
            "no steps-samples trade-off in the data: steps do not fall as the batch grows "
            f"(B_crit would be below the smallest batch by >{_RANGE:g}x)"
        )
    if i == grid.size - 1:
        raise ValueError(
            "no steps floor in the data: steps fall as 1/batch throughout, perfect linear "
            f"scaling (B_crit would be above the largest batch by >{_RANGE:g}x)"
        )
    # Zoom twice into the bracketing grid cells, then take the vertex of a parabola.
    for _ in range(2):
        grid = np.linspace(grid[i - 1], grid[i + 1], 201)
        sse, _ = _sse_and_log_smin(grid, log_s, b, w)
        i = min(max(int(np.argmin(sse)), 1), grid.size - 2)
    (x0, x1, _), (f0, f1, f2) = grid[i - 1 : i + 2], sse[i - 1 : i + 2]
    curv = f0 - 2.0 * f1 + f2
    log_bc = x1 + 0.5 * (x1 - x0) * (f0 - f2) / curv if curv > 0 else x1
    sse_best, log_smin = _sse_and_log_smin(np.array(log_bc), log_s, b, w)
    s_min, b_crit = math.exp(float(log_smin)), math.exp(log_bc)
    return ParetoFit(
        s_min=s_min,
        e_min=s_min * b_crit,
        b_crit=b_crit,
        rmse_log=math.sqrt(float(sse_best) / s.size),
        n_points=int(s.size),
        batch_sizes=tuple(float(x) for x in b),
        steps=tuple(float(x) for x in s),
        samples=tuple(float(x) for x in e),
    )


def fit_b_crit_many(
    log_s: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """B_crit of many fronts at once: log_s [R, n] at batch sizes b [n] (weights as in
    fit_pareto). A coarse grid in log B_crit and a parabola through the best grid point and
    its neighbours (within a few percent of fit_pareto's answer). Returns (b_crit [R],
    at_edge [R]): a front with no trade-off gets the search range's edge value and
    at_edge True (kept, not dropped, so a percentile interval stays honest about it)."""
    b = np.asarray(b, dtype=np.float64)
    lo, hi = math.log(b.min() / _RANGE), math.log(b.max() * _RANGE)
    grid = np.linspace(lo, hi, int(math.ceil((hi - lo) / _GRID_STEP)) + 1)
    sse, _ = _sse_and_log_smin(grid[None, :], log_s[:, None, :], b, weights)  # [R, G]
    i = np.argmin(sse, axis=1)
    edge = (i == 0) | (i == grid.size - 1)
    ic = np.clip(i, 1, grid.size - 2)
    r = np.arange(log_s.shape[0])
    f0, f1, f2 = sse[r, ic - 1], sse[r, ic], sse[r, ic + 1]
    curv = f0 - 2.0 * f1 + f2
    step = grid[1] - grid[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curv > 0, 0.5 * step * (f0 - f2) / curv, 0.0)
    log_bc = np.where(edge, grid[i], grid[ic] + np.clip(shift, -step, step))
    return np.exp(log_bc), edge


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap interval [lo, hi] and median of B_crit; n_failed replicates could not be fit."""

    lo: float
    hi: float
    median: float
    n_ok: int
    n_failed: int
    samples: tuple[float, ...] = field(default=(), repr=False)


def bootstrap_b_crit(
    runs_by_batch: Mapping[float, Sequence[tuple[float, float]]],
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.9,
    reduce: str = "min",
) -> BootstrapResult:
    """Percentile bootstrap of B_crit (eq. 2.12) resampling runs within each batch size.

    runs_by_batch maps a batch size to the (S, E) pairs of its runs (seeds or learning rates).
    Each replicate resamples every batch size's runs with replacement, keeps the fastest run
    (reduce="min") or the median S and E (reduce="median"), and calls fit_pareto; replicates
    whose fit raises ValueError are dropped and counted in n_failed.
    """
    if reduce not in ("min", "median"):
        raise ValueError(f"reduce must be 'min' or 'median', got {reduce!r}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    if len(runs_by_batch) < 2:
        raise ValueError(f"need runs at at least 2 batch sizes, got {len(runs_by_batch)}")
    runs = []
    for batch, pairs in runs_by_batch.items():
        if len(pairs) == 0:
            raise ValueError(f"batch size {batch!r} has no runs")
        arr = np.asarray(pairs, dtype=np.float64).reshape(len(pairs), 2)
        if not (np.isfinite(arr).all() and (arr > 0).all()):
            raise ValueError(f"batch size {batch!r}: steps and samples must be finite and positive")
        runs.append(arr)
    rng = np.random.default_rng(seed)
    b_crits: list[float] = []
    n_failed = 0
    for _ in range(n_boot):
        steps, samples = [], []
        for arr in runs:
            pick = arr[rng.integers(0, len(arr), size=len(arr))]
            if reduce == "min":
                s, e = pick[int(np.argmin(pick[:, 0]))]
            else:
                s, e = np.median(pick[:, 0]), np.median(pick[:, 1])
            steps.append(s)
            samples.append(e)
        try:
            b_crits.append(fit_pareto(steps, samples).b_crit)
        except ValueError:
            n_failed += 1
    if not b_crits:
        raise ValueError(f"all {n_boot} bootstrap fits failed: the data do not fit eq. 2.11")
    vals = np.asarray(b_crits)
    tail = 50.0 * (1.0 - ci)
    lo, med, hi = np.percentile(vals, [tail, 50.0, 100.0 - tail])
    return BootstrapResult(
        lo=float(lo),
        hi=float(hi),
        median=float(med),
        n_ok=len(b_crits),
        n_failed=n_failed,
        samples=tuple(float(x) for x in vals),
    )
