"""The robust steps-samples front: per (batch size, lr) a robust mean of log S over seeds (Huber)
with runs that did not reach the target treated as censored, the lr per batch size from a smooth
fit of log S against log lr around the best lr with one curvature shared by every batch size,
and a bootstrap of B_crit that re-selects the lr in every resample; pure numpy, torch-free.

Why not the fastest run per batch size (the paper's 'best run')? With a few seeds and a coarse
lr grid the minimum over (lr, seed) picks up luck: the front is not monotone and B_crit moves
by tens of percent between repeats (the project's design notes, DESIGN.md section 1, kept
beside the repository; update of 2026-11-28).

- A cell is one (B, lr) with n seeds. When every run reached the target, its value is the Huber
  M-estimate of log S (k = 1.345 times the study's seed-noise scale, 1.4826 MAD of the pooled
  residuals below): the mean where the seeds agree within 1.345 sd -- on normal seed noise 95% as
  efficient as the mean, where the median is ~70% at 5 seeds -- with an outlier seed's pull
  capped. CartPole's seed noise is close to normal (265 pooled residuals of three default
  studies: skew -0.09, excess kurtosis 0.43), so the median wasted seeds; MinAtar Breakout's
  has a heavy tail (81 residuals: skew 1.7, excess kurtosis 8.3), so not the plain mean.
  (`python -m benchmarks.study_repeatability --studies ... --sizes ""`, results in
  benchmarks/results/study_noise_shape_*.json.) With one or more runs that did not reach,
  the value is the median, such a run ranked above every run that did (right-censored: it
  would have needed more than its budget). When the median falls on such a run the cell is
  censored: all we know is log S > log(budget); it is never the best cell and stays out of the
  smooth fit. Without a scale (no cell with two runs that reached) every cell takes the median.
- The lr per B: the best (lowest) uncensored cell j and the uncensored cells within two grid
  steps of it; log S = a_B + b_B u + c u^2 (u = log lr - log lr_j) fitted by least squares with
  a line per batch size and one curvature c >= 0 for the study (c = 0: a flat front). The
  front's log S is the curve's minimum between the window's cells, its lr the argmin. Why one
  c: the default grid has three lrs per B (x1/2, 1, 2), so a quadratic per B interpolates three
  noisy cells and its minimum is as noisy as the cells. One c is a smoothing assumption, not a
  finding: per B, CartPole's own curvatures (15 seeds of three default studies) read 0.05,
  -0.04, 0.06, -0.31, 0.16 and 0.10, each +- 0.09 in log S per grid step^2 -- at B = 2,048 the
  middle lr is slower than both neighbours, in a second set of 9 seeds too. What it buys,
  measured together with the Huber cells: the rms log ratio of B_crit between disjoint-seed
  halves of real studies fell by 13-27% over the pools and seed counts measured (at 5 seeds:
  23% on the three studies it was chosen on, 13% once a fourth joined), with the 90%
  interval's synthetic coverage kept
  (benchmarks/RESULTS.md, "How repeatable is B_crit?").
- Uncertainty: a residual bootstrap. Residuals of log S about each cell's mean (cells with two
  or more runs that reached, scaled by sqrt(n/(n-1))) are pooled over the study; a resample
  redraws every uncensored cell's seeds as its value plus pooled residuals, censors them at the
  cell's budget -- a budget below the largest at that B is the planner's cap, which moves with
  the resampled best cell's median as it would in a repeat -- recomputes the cell values, the
  shared curvature and the lr. The spread of each B's resampled log S weights the Pareto fit
  (1/sigma^2), and the resampled fronts, fitted with the same weights, give B_crit's percentile
  interval. Pooling residuals over the study is what makes 3 seeds per cell enough (a
  within-cell bootstrap of 3 values understates the spread); moving the caps is what keeps the
  interval's coverage at 3 seeds (without it, 80% on synthetic studies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlnoise.pareto import fit_b_crit_many, fit_pareto

WINDOW = 2  # grid steps either side of the best cell in the smooth lr fit
HUBER_K = 1.345  # x the seed-noise scale: 95% efficiency of the mean on normal noise
_HUBER_ITERS = 30
SIGMA_FLOOR = 0.02  # log S; a front point whose resamples never move does not get all weight
_RIDGE = 1e-9


@dataclass
class Cell:
    """One (batch size, lr): log lr, each seed's log S (inf: did not reach), and the log of
    the cell's update budget (a censored run's lower bound)."""

    log_lr: float
    log_s: np.ndarray  # [n] inf where the run did not reach the target
    log_cap: float  # log of the smallest update budget among the cell's runs (inf: none)
    k: int = 0


@dataclass
class FrontEstimate:
    """The robust front at one batch size (None values: no cell reached the target)."""

    batch_size: int
    log_s: float | None  # smooth-fit minimum of the cell values
    log_lr: float | None  # where it lies
    best: int | None  # index of the best cell
    sigma: float | None = None  # bootstrap sd of log_s


def cell_values(
    log_s: np.ndarray, log_cap: np.ndarray, scale: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (last axis; nan = no such seed, inf = did not reach) the value for the smooth
    fit and whether it is censored: the Huber estimate of log S where every run reached and
    `scale` is given, else the median, a censored cell's value its lower bound log_cap."""
    valid = ~np.isnan(log_s)
    med = np.nanmedian(np.where(valid, log_s, np.nan), axis=-1)
    cens = ~np.isfinite(med)
    val = np.where(cens, log_cap, med)
    if scale is None or scale <= 0:
        return val, cens
    every = (np.isfinite(log_s) | ~valid).all(axis=-1) & ~cens
    return np.where(every, huber(log_s, valid & every[..., None], scale, med), val), cens


def huber(x: np.ndarray, valid: np.ndarray, scale: float, start: np.ndarray) -> np.ndarray:
    """Huber M-estimate of location over the last axis (k = HUBER_K * scale), iterated from
    `start` by the mean of the clipped residuals; rows with no valid entry keep `start`."""
    n = np.maximum(valid.sum(axis=-1), 1)
    x = np.where(valid, x, 0.0)
    mu = np.where(np.isfinite(start), start, 0.0)
    c = HUBER_K * scale
    for _ in range(_HUBER_ITERS):
        r = np.where(valid, np.clip(x - mu[..., None], -c, c), 0.0)
        mu = mu + r.sum(axis=-1) / n
    return np.where(valid.any(axis=-1), mu, start)


def seed_scale(resid: np.ndarray) -> float | None:
    """The seed-noise scale of log S: 1.4826 x the MAD of the pooled residuals (None when
    there are fewer than 4)."""
    if resid.size < 4:
        return None
    return float(1.4826 * np.median(np.abs(resid - np.median(resid))))


@dataclass
class Window:
    """One batch size's smooth-fit input per row (a resample): the cells' log lr relative
    to the best uncensored cell, their weights (1 for uncensored cells within WINDOW grid
    steps, 0 elsewhere or when no cell reached) and values (0 where the weight is 0)."""

    u: np.ndarray  # [R, C]
    w: np.ndarray  # [R, C]
    y: np.ndarray  # [R, C]
    x_best: np.ndarray  # [R] log lr of the best cell
    best: np.ndarray  # [R] its index, -1 where every cell is censored
    ok: np.ndarray  # [R]


def window(x: np.ndarray, y: np.ndarray, cens: np.ndarray) -> Window:
    """The smooth fit's window around the best cell per row. x [C] log lr of the cells
    (sorted, evenly spaced), y and cens [R, C]."""
    r, c = y.shape
    masked = np.where(cens, np.inf, y)
    j = np.argmin(masked, axis=1)
    ok = np.isfinite(masked[np.arange(r), j])
    idx = np.arange(c)
    w = (np.abs(idx[None, :] - j[:, None]) <= WINDOW).astype(np.float64)
    u = x[None, :] - x[j][:, None]  # [R, C], 0 at the best cell
    # a censored cell only bounds log S from below: it stays out of the fit
    w = np.where(np.isfinite(masked) & ok[:, None], w, 0.0)
    y = np.where(w > 0, y, 0.0)
    return Window(u, w, y, x[j], np.where(ok, j, -1), ok)


def _line(win: Window, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares fit of v [R, C] by a + b u within each row's window: (a, b) [R]."""
    basis = np.stack([np.ones_like(win.u), win.u], axis=-1)  # [R, C, 2]
    m = np.einsum("rc,rci,rcj->rij", win.w, basis, basis) + _RIDGE * np.eye(2)
    coef = np.linalg.solve(m, np.einsum("rc,rci,rc->ri", win.w, basis, v)[..., None])[..., 0]
    return coef[:, 0], coef[:, 1]


def _affine_residuals(win: Window, v: np.ndarray) -> np.ndarray:
    """v [R, C] minus its weighted least-squares line a + b u within each row's window."""
    a, b = _line(win, v)
    return v - a[:, None] - b[:, None] * win.u


def curvature(wins: Sequence[Window]) -> np.ndarray:
    """The curvature of log S in log lr shared by every batch size, per row: the weighted
    least-squares coefficient of u^2 in log S = a_B + b_B u + c u^2 (each window's own line,
    one c), floored at 0 (a flat front, never a peak); [R]."""
    num = den = 0.0
    for w in wins:
        ru = _affine_residuals(w, w.u**2)  # u^2 with each window's line taken out
        num = num + (w.w * ru * w.y).sum(axis=1)
        den = den + (w.w * ru**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 1e-12, np.maximum(num / den, 0.0), 0.0)


def smooth_min(win: Window, c: np.ndarray) -> tuple[np.ndarray, ...]:
    """Smooth-fit minimum per row given the shared curvature c [R]: log S = a + b u + c u^2
    fitted within the window, minimised between its uncensored cells. Returns (log S*,
    log lr*, best cell) [R]; nan / -1 where every cell is censored."""
    a0, b = _line(win, win.y - c[:, None] * win.u**2)
    rows = np.arange(win.u.shape[0])
    fitted = win.w > 0  # the minimum is searched between the cells fitted
    lo = np.where(fitted, win.u, 0.0).min(axis=1)
    hi = np.where(fitted, win.u, 0.0).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(c > 0, -b / (2 * c), lo)
    cand = np.stack([lo, hi, np.clip(vertex, lo, hi)], axis=1)  # [R, 3]
    vals = a0[:, None] + b[:, None] * cand + c[:, None] * cand**2
    pick = np.argmin(vals, axis=1)
    return (
        np.where(win.ok, vals[rows, pick], np.nan),
        np.where(win.ok, cand[rows, pick] + win.x_best, np.nan),
        win.best,
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


def _rows(cells: Sequence[Cell], scale: float | None) -> tuple[np.ndarray, ...]:
    """Cells (sorted by lr) as arrays: log lr [C], log caps [C], log S padded [C, n], and
    their values and censored flags [C]."""
    x = np.array([c.log_lr for c in cells])
    caps = np.array([c.log_cap for c in cells])
    base = _pad(cells)
    y, cens = cell_values(base, caps, scale)
    return x, caps, base, y, cens


def _pad(cells: Sequence[Cell]) -> np.ndarray:
    """[C, n_max] log S, cells with fewer seeds padded with nan (no such seed)."""
    n = max(c.log_s.size for c in cells)
    return np.stack(
        [np.pad(np.sort(c.log_s), (0, n - c.log_s.size), constant_values=np.nan) for c in cells]
    )


def resample_b(
    cells: Sequence[Cell],
    resid: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    scale: float | None = None,
) -> Window:
    """The smooth-fit window of n_boot resamples of one batch size's cells: every cell's
    seeds redrawn as its value plus pooled residuals and censored at its budget. A budget
    below the batch size's largest is the planner's cap (a multiple of the best lr's median
    updates): it moves with the resampled best cell's median, so which cells a study
    censors varies between resamples as it does between studies."""
    x, caps, base, center, cens = _rows(cells, scale)
    n = base.shape[1]
    if resid.size:
        draws = center[None, :, None] + rng.choice(resid, size=(n_boot, len(cells), n))
    else:  # nothing to pool (one seed per cell): resample each cell's own runs
        sizes = np.maximum((~np.isnan(base)).sum(axis=1), 1)
        pick = (rng.random((n_boot, len(cells), n)) * sizes[None, :, None]).astype(np.int64)
        draws = np.take_along_axis(np.broadcast_to(base, (n_boot, *base.shape)), pick, axis=2)
    draws = np.where(np.isnan(base)[None], np.nan, draws)  # a cell keeps its number of seeds
    caps_r = _resampled_caps(caps, base, center, cens, draws)
    draws = np.where(draws > caps_r[:, :, None], np.inf, draws)
    draws = np.where(cens[None, :, None], np.inf, draws)  # censored cells stay censored
    y, c = cell_values(draws, caps_r, scale)
    return window(x, y, c)


def _resampled_caps(
    caps: np.ndarray, base: np.ndarray, center: np.ndarray, cens: np.ndarray, draws: np.ndarray
) -> np.ndarray:
    """Each resample's log budget per cell [n_boot, C]: a cell capped below the largest
    budget moves by the resampled best cell's change of median log S (never above it)."""
    finite = caps[np.isfinite(caps)]
    if finite.size == 0 or cens.all():
        return np.broadcast_to(caps, (draws.shape[0], caps.size))
    full = finite.max()
    ref = int(np.argmin(np.where(cens, np.inf, center)))
    rule = np.isfinite(caps) & (caps < full) & (np.arange(caps.size) != ref)
    with np.errstate(invalid="ignore"):
        shift = np.nanmedian(draws[:, ref, :], axis=1) - np.nanmedian(base[ref])
    shift = np.where(np.isfinite(shift), shift, full - caps.min())  # best cell censored
    return np.where(rule[None], np.minimum(caps[None] + shift[:, None], full), caps[None])


@dataclass
class FrontFit:
    points: list[FrontEstimate]  # one per batch size with cells, sorted by B
    b_crit: float | None
    s_min: float | None
    rmse_log: float | None
    samples: np.ndarray  # B_crit per resample (nan: no front in that resample)
    n_failed: int  # resamples whose fit found no trade-off (kept at the search's edge)
    error: str | None = None
    scale: float | None = None  # seed-noise scale of log S the cells' Huber estimates used


def fit_front(cells_by_b: dict[int, list[Cell]], n_boot: int = 1000, seed: int = 0) -> FrontFit:
    """The robust front, its weighted Pareto fit and the resampled B_crit values."""
    bs = sorted(cells_by_b)
    scale = seed_scale(pooled_residuals([cells_by_b[b] for b in bs]))
    wins = {}
    for b in bs:
        if cells_by_b[b]:
            x, _, _, y, cens = _rows(cells_by_b[b], scale)
            wins[b] = window(x, y[None], cens[None])
    c = curvature(list(wins.values()))
    points = [FrontEstimate(b, None, None, None) for b in bs]
    for p in points:
        if p.batch_size in wins:
            ys, xs, j = smooth_min(wins[p.batch_size], c)
            if np.isfinite(ys[0]):
                p.log_s, p.log_lr, p.best = float(ys[0]), float(xs[0]), int(j[0])
    ok = [p for p in points if p.log_s is not None]
    if len(ok) < 2:
        return FrontFit(points, None, None, None, np.zeros(0), 0, "fewer than 2 front points")
    resid = pooled_residuals([cells_by_b[p.batch_size] for p in ok])
    rng = np.random.default_rng(seed)
    boot_wins = [resample_b(cells_by_b[p.batch_size], resid, n_boot, rng, scale) for p in ok]
    c_boot = curvature(boot_wins)
    boot = np.stack([smooth_min(w, c_boot)[0] for w in boot_wins], 1)
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
    n_failed = int((edge & full).sum())
    return FrontFit(points, pf.b_crit, pf.s_min, pf.rmse_log, vals, n_failed, scale=scale)


def percentile_interval(samples: np.ndarray, ci: float) -> tuple[float, float, float] | None:
    """(lo, median, hi) of the finite samples, or None when there are none."""
    v = samples[np.isfinite(samples)]
    if v.size == 0:
        return None
    tail = 50.0 * (1.0 - ci)
    lo, med, hi = np.percentile(v, [tail, 50.0, 100.0 - tail])
    return float(lo), float(med), float(hi)
