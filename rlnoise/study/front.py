"""The robust steps-samples front: per (batch size, lr) the median of log S over seeds with
runs that did not reach the target treated as censored, the lr per batch size from a smooth fit
of log S against log lr around the best lr, and a bootstrap of B_crit that re-selects the lr in
every resample; pure numpy, torch-free.

Why not the fastest run per batch size (the paper's 'best run')? With a few seeds and a coarse
lr grid the minimum over (lr, seed) picks up luck: the front is not monotone and B_crit moves
by tens of percent between repeats (/work/shared/DESIGN.md, section 1, update of 2026-11-28).

- A cell is one (B, lr) with n seeds. Its value is the median of log S, a run that did not
  reach the target ranked above every run that did (right-censored: it would have needed more
  than its budget). When the median falls on such a run the cell is censored: all we know is
  log S > log(budget), and that lower bound is what it contributes to the smooth fit; it is
  never the best cell.
- The lr per B: the best (lowest) uncensored cell j, then a least-squares quadratic in
  log lr through the cells within two grid steps of j (fewer points: a line or the cell
  itself; a censored cell enters at no less than cell j's value); the front's log S is the
  quadratic's minimum between the window's uncensored cells, its lr the argmin.
- Uncertainty: a residual bootstrap. Residuals of log S about each cell's mean (cells with two
  or more runs that reached, scaled by sqrt(n/(n-1))) are pooled over the study; a resample
  redraws every uncensored cell's seeds as its median plus pooled residuals, censors them at
  the cell's budget, recomputes the cell medians and re-selects the lr. The spread of each B's
  resampled log S weights the Pareto fit (1/sigma^2), and the resampled fronts, fitted with the
  same weights, give B_crit's percentile interval. Pooling residuals over the study is what
  makes 3 seeds per cell enough (a within-cell bootstrap of 3 values understates the spread).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlnoise.pareto import fit_b_crit_many, fit_pareto

WINDOW = 2  # grid steps either side of the best cell in the smooth lr fit
SIGMA_FLOOR = 0.02  # log S; a front point whose resamples never move does not get all weight
_RIDGE = 1e-9


@dataclass
class Cell:
    """One (batch size, lr): log lr, each seed's log S (inf: did not reach), and the log of
    the update budget of its censored runs (their lower bound)."""

    log_lr: float
    log_s: np.ndarray  # [n] inf where the run did not reach the target
    log_cap: float  # log of the smallest budget among the cell's censored runs (inf if none)
    k: int = 0


@dataclass
class FrontEstimate:
    """The robust front at one batch size (None values: no cell reached the target)."""

    batch_size: int
    log_s: float | None  # smooth-fit minimum of the cell medians
    log_lr: float | None  # where it lies
    best: int | None  # index of the best cell
    sigma: float | None = None  # bootstrap sd of log_s


def cell_values(log_s: np.ndarray, log_cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median over the last axis of log S (inf = censored); returns (value for the smooth fit,
    censored). A censored cell's value is its lower bound log_cap."""
    med = np.median(log_s, axis=-1)
    cens = ~np.isfinite(med)
    return np.where(cens, log_cap, med), cens


def smooth_min(x: np.ndarray, y: np.ndarray, cens: np.ndarray) -> tuple[np.ndarray, ...]:
    """Smooth-fit minimum per row. x [C] log lr of the cells (sorted, evenly spaced), y and
    cens [R, C]. Returns (log S*, log lr*, best cell) [R]; nan / -1 where every cell is
    censored."""
    r, c = y.shape
    masked = np.where(cens, np.inf, y)
    j = np.argmin(masked, axis=1)
    ok = np.isfinite(masked[np.arange(r), j])
    idx = np.arange(c)
    w = (np.abs(idx[None, :] - j[:, None]) <= WINDOW).astype(np.float64)
    u = x[None, :] - x[j][:, None]  # [R, C], 0 at the best cell
    # a censored cell was not the best: it enters at no less than the best cell's value
    y_best = np.where(ok, masked[np.arange(r), j], 0.0)
    y = np.where(cens, np.maximum(y, y_best[:, None]), y)
    w = np.where(np.isfinite(y), w, 0.0)
    basis = np.stack([np.ones_like(u), u, u * u], axis=-1)  # [R, C, 3]
    a = np.einsum("rc,rci,rcj->rij", w, basis, basis) + _RIDGE * np.diag([0.0, 1.0, 1.0])
    rhs = np.einsum("rc,rci,rc->ri", w, basis, np.where(np.isfinite(y), y, 0.0))
    coef = np.linalg.solve(a, rhs[..., None])[..., 0]
    # the minimum is searched between the uncensored cells of the window only
    span = (w > 0) & ~cens
    lo = np.where(span, u, 0.0).min(axis=1)
    hi = np.where(span, u, 0.0).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(coef[:, 2] > 0, -coef[:, 1] / (2 * coef[:, 2]), lo)
    cand = np.stack([lo, hi, np.clip(vertex, lo, hi)], axis=1)  # [R, 3]
    vals = coef[:, :1] + coef[:, 1:2] * cand + coef[:, 2:3] * cand**2
    pick = np.argmin(vals, axis=1)
    y_star = vals[np.arange(r), pick]
    x_star = cand[np.arange(r), pick] + x[j]
    return (
        np.where(ok, y_star, np.nan),
        np.where(ok, x_star, np.nan),
        np.where(ok, j, -1),
    )


def pooled_residuals(cells_by_b: Sequence[Sequence[Cell]]) -> np.ndarray:
    """Residuals of log S about each cell's mean over its runs that reached, from cells with
    at least two such runs, scaled by sqrt(n/(n-1)); pooled over every batch size."""
    out = []
    for cells in cells_by_b:
        for cell in cells:
            v = cell.log_s[np.isfinite(cell.log_s)]
            if v.size >= 2:
                out.append((v - v.mean()) * math.sqrt(v.size / (v.size - 1)))
    return np.concatenate(out) if out else np.zeros(0)


def estimate(cells: Sequence[Cell], batch_size: int) -> FrontEstimate:
    """The front point at one batch size from its cells (sorted by lr)."""
    if not cells:
        return FrontEstimate(batch_size, None, None, None)
    x = np.array([c.log_lr for c in cells])
    y, cens = cell_values(_pad(cells)[None], np.array([c.log_cap for c in cells])[None])
    ys, xs, j = smooth_min(x, y, cens)
    if not np.isfinite(ys[0]):
        return FrontEstimate(batch_size, None, None, None)
    return FrontEstimate(batch_size, float(ys[0]), float(xs[0]), int(j[0]))


def _pad(cells: Sequence[Cell]) -> np.ndarray:
    """[C, n_max] log S, cells with fewer seeds padded by repeating their median (so the
    median is unchanged); used only where every cell has its seeds."""
    n = max(c.log_s.size for c in cells)
    rows = []
    for c in cells:
        v = np.sort(c.log_s)
        if v.size < n:
            med = np.median(v)
            fill = med if np.isfinite(med) else np.inf
            v = np.concatenate([v, np.full(n - v.size, fill)])
        rows.append(v)
    return np.stack(rows)


def resample_b(
    cells: Sequence[Cell], resid: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Resampled front log S at one batch size: [n_boot] (nan where no cell reached)."""
    x = np.array([c.log_lr for c in cells])
    caps = np.array([c.log_cap for c in cells])
    base = _pad(cells)  # [C, n]
    center, cens = cell_values(base[None], caps[None])
    center, cens = center[0], cens[0]
    n = base.shape[1]
    if resid.size:
        draws = center[None, :, None] + rng.choice(resid, size=(n_boot, len(cells), n))
    else:  # nothing to pool (one seed per cell): resample each cell's own runs
        pick = rng.integers(0, n, size=(n_boot, len(cells), n))
        draws = np.take_along_axis(np.broadcast_to(base, (n_boot, *base.shape)), pick, axis=2)
    draws = np.where(draws > caps[None, :, None], np.inf, draws)
    draws = np.where(cens[None, :, None], np.inf, draws)  # censored cells stay censored
    y, c = cell_values(draws, np.broadcast_to(caps, (n_boot, len(cells))))
    return smooth_min(x, y, c)[0]


@dataclass
class FrontFit:
    points: list[FrontEstimate]  # one per batch size with cells, sorted by B
    b_crit: float | None
    s_min: float | None
    rmse_log: float | None
    samples: np.ndarray  # B_crit per resample (nan: no front in that resample)
    n_failed: int  # resamples whose fit found no trade-off (kept at the search's edge)
    error: str | None = None


def fit_front(cells_by_b: dict[int, list[Cell]], n_boot: int = 1000, seed: int = 0) -> FrontFit:
    """The robust front, its weighted Pareto fit and the resampled B_crit values."""
    bs = sorted(cells_by_b)
    points = [estimate(cells_by_b[b], b) for b in bs]
    ok = [p for p in points if p.log_s is not None]
    if len(ok) < 2:
        return FrontFit(points, None, None, None, np.zeros(0), 0, "fewer than 2 front points")
    resid = pooled_residuals([cells_by_b[p.batch_size] for p in ok])
    rng = np.random.default_rng(seed)
    boot = np.stack([resample_b(cells_by_b[p.batch_size], resid, n_boot, rng) for p in ok], 1)
    for i, p in enumerate(ok):
        col = boot[:, i][np.isfinite(boot[:, i])]
        p.sigma = max(float(col.std()) if col.size > 1 else 0.0, SIGMA_FLOOR)
    b = np.array([p.batch_size for p in ok], dtype=np.float64)
    w = np.array([1.0 / p.sigma**2 for p in ok])  # type: ignore[operator]
    s = np.exp([p.log_s for p in ok])
    try:
        pf = fit_pareto(s, s * b, weights=w)
    except ValueError as e:
        return FrontFit(points, None, None, None, np.zeros(0), 0, str(e))
    full = np.isfinite(boot).all(axis=1)
    vals, edge = fit_b_crit_many(np.where(full[:, None], boot, 0.0), b, w)
    vals = np.where(full, vals, np.nan)
    return FrontFit(points, pf.b_crit, pf.s_min, pf.rmse_log, vals, int((edge & full).sum()))


def percentile_interval(samples: np.ndarray, ci: float) -> tuple[float, float, float] | None:
    """(lo, median, hi) of the finite samples, or None when there are none."""
    v = samples[np.isfinite(samples)]
    if v.size == 0:
        return None
    tail = 50.0 * (1.0 - ci)
    lo, med, hi = np.percentile(v, [tail, 50.0, 100.0 - tail])
    return float(lo), float(med), float(hi)
