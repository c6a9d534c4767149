"""Every noise-scale predictor of B_crit, side by side, each with a 90% interval and its ratio
to B_crit with an interval; torch-free.

Predictors (all in observations, all from the runs that reached the target, measured up to it):

- b_simple_front: B_simple (policy loss, run average: run-summed tr(Sigma) over run-summed
  |G|^2) at the front's lr: at each batch size the median over the seeds of the lr cell nearest
  the front's lr, then the median over batch sizes (the paper's convention: runs whose lr suits
  their batch size, averaged over the run up to the target).
- b_simple_temperature: B_simple at one common temperature T = lr/B across batch sizes (the
  paper: B_simple depends on the lr it is measured at; dividing lr/B by 16 raised it ~16x).
  T* is the median over the front of the front's lr/B (geometric); at each B the cells' B_simple
  (median over seeds, run average up to the target or the run's end) is interpolated linearly in
  log lr to lr = T* B (clamped to the lrs tried there), then the median over batch sizes.
- b_simple_last10: as b_simple_front over the last 10% of each run's measurements (near the
  target, where the paper says the noise scale has grown).
- b_noise: B_noise = tr(H Sigma)/(G^T H G) (eq. 2.8) of the total loss, as b_simple_front.

Medians are taken in log space. Intervals are Monte Carlo: every run's value is drawn log-normally from its own 90% interval
(block bootstrap over its measurements, rlnoise.history), the medians are recomputed per draw,
and each draw is divided by one of B_crit's bootstrap resamples for the ratio's interval. A run
whose pooled |G|^2 was <= 0 has a lower bound only; it is drawn above that bound (sd 1 in log).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from rlnoise.study.front import Cell
from rlnoise.study.records import RunRecord, TargetFit

CI = 0.9
WITHIN = 2.0  # "lands within 2x of B_crit"
_Z90 = 1.6449
_N_DRAWS = 1000

# name -> (label, part, statistic key, interval keys)
PREDICTORS: dict[str, tuple[str, str, str, tuple[str, str]]] = {
    "b_simple_front": (
        "B_simple, run average at the front's lr",
        "policy",
        "run_avg",
        ("run_avg_lo", "run_avg_hi"),
    ),
    "b_simple_temperature": (
        "B_simple at a common temperature lr/B",
        "policy",
        "run_avg",
        ("run_avg_lo", "run_avg_hi"),
    ),
    "b_simple_last10": (
        "B_simple over the last 10% (front's lr)",
        "policy",
        "last10_avg",
        ("last10_lo", "last10_hi"),
    ),
    "b_noise": (
        "B_noise (eq. 2.8, total loss, front's lr)",
        "",
        "b_noise",
        ("b_noise_lo", "b_noise_hi"),
    ),
}


def _gmedian(x: np.ndarray) -> np.ndarray:
    """Median over the first axis in log space (an even count takes the geometric mean of
    the middle two, so that the point value and the draws' median agree)."""
    return np.exp(np.median(np.log(x), axis=0))


def _draws(noise: Mapping, name: str, rng: np.random.Generator) -> np.ndarray | None:
    """_N_DRAWS log-normal draws of one run's statistic from its interval (None: not
    measured)."""
    _, part, key, (klo, khi) = PREDICTORS[name]
    d = noise[part] if part else noise
    v = d.get(key)
    if v is None or not v > 0:
        return None
    lo, hi = d.get(klo), d.get(khi)
    lower_bound = part and d.get("run_avg_bound") == "lower" and key == "run_avg"
    if lower_bound or (lo and not hi):
        return v * np.exp(np.abs(rng.standard_normal(_N_DRAWS)))
    if lo and hi and lo > 0:
        sd = max((math.log(hi) - math.log(lo)) / (2 * _Z90), 1e-3)
    else:  # no interval stored (older study.json or one measurement): wide
        sd = 1.0
    return v * np.exp(sd * rng.standard_normal(_N_DRAWS))


def _cell_draws(rs: Sequence[RunRecord], t: float, name: str, rng, reached: bool):
    """Median over a cell's runs (those that reached t, with `reached`) of their draws."""
    ds = [_draws(r.at(t).noise, name, rng) for r in rs if not reached or r.at(t).steps is not None]
    ds = [d for d in ds if d is not None]
    return _gmedian(np.stack(ds)) if ds else None


def _front_draws(fit: TargetFit, cells, name: str, rng) -> np.ndarray | None:
    """Per draw, the median over batch sizes of the front cell's median run value."""
    per_b = []
    for f in fit.front:
        cs = cells.get(f.batch_size) or []
        rs = next((rs for c, rs in cs if c.k == f.k), None)
        d = _cell_draws(rs, fit.target, name, rng, reached=True) if rs else None
        if d is not None:
            per_b.append(d)
    return _gmedian(np.stack(per_b)) if per_b else None


def _front_values(fit: TargetFit, cells, name: str) -> list[list[float]]:
    """Per front point, the statistic of each run of its cell that reached the target (each
    run's own estimate; None where it was not measured is left out)."""
    _, part, key, _ = PREDICTORS[name]
    out = []
    for f in fit.front:
        rs = next((rs for c, rs in cells.get(f.batch_size) or [] if c.k == f.k), None) or []
        vals = [
            (r.at(fit.target).noise[part] if part else r.at(fit.target).noise).get(key)
            for r in rs
            if r.at(fit.target).steps is not None
        ]
        out.append([v for v in vals if v is not None])
    return out


def _point(per_b: list[list[float]]) -> float | None:
    """The point value: the log-space medians (per batch size, then over batch sizes) of the
    runs' own estimates, those <= 0 left out (no log; see `nonpositive`)."""
    meds = [float(_gmedian(np.array(p))) for p in ([v for v in vs if v > 0] for vs in per_b) if p]
    return float(_gmedian(np.array(meds))) if meds else None


def nonpositive(per_b: list[list[float]]) -> tuple[int, int]:
    """(runs whose estimate is <= 0, runs measured) among the front's runs. B_noise's
    tr(H Sigma) and G^T H G are curvature-weighted and H need not be positive in RL, so a run
    can read B_noise <= 0: no noise scale, so it stays out of the median, and the report says
    how many did (the median of the rest is biased by leaving them out)."""
    flat = [v for vs in per_b for v in vs]
    return sum(1 for v in flat if not v > 0), len(flat)


def temperature(fit: TargetFit) -> float | None:
    """T* = geometric median over the front of lr/B."""
    ts = [math.log(f.lr / f.batch_size) for f in fit.front if f.lr]
    return math.exp(float(np.median(ts))) if ts else None


def _temperature_draws(
    fit: TargetFit, cells: Mapping[int, list[tuple[Cell, list[RunRecord]]]], rng, noisy: bool
) -> np.ndarray | None:
    """Per draw (or once, without noise), the median over B of B_simple interpolated in log lr
    to lr = T* B."""
    t_star = temperature(fit)
    if t_star is None:
        return None
    per_b = []
    for f in fit.front:
        xs, ys = [], []
        for c, rs in cells.get(f.batch_size) or []:
            if noisy:
                d = _cell_draws(rs, fit.target, "b_simple_temperature", rng, reached=False)
            else:
                v = [r.at(fit.target).noise["policy"]["run_avg"] for r in rs]
                v = [x for x in v if x is not None and x > 0]
                d = np.array([float(_gmedian(np.array(v)))]) if v else None
            if d is not None:
                xs.append(c.log_lr)
                ys.append(np.log(d))
        if not xs:
            continue
        x0 = math.log(t_star * f.batch_size)
        y = np.stack(ys)  # [C, draws]
        per_b.append(np.exp([np.interp(x0, xs, y[:, i]) for i in range(y.shape[1])]))
    return _gmedian(np.stack(per_b)) if per_b else None


def predictors(
    fit: TargetFit,
    cells: Mapping[int, list[tuple[Cell, list[RunRecord]]]],
    b_crit_samples: np.ndarray,
    seed: int = 0,
) -> list[dict]:
    """One row per predictor: value, interval, ratio to B_crit and its interval, within 2x."""
    assert fit.b_crit is not None
    rng = np.random.default_rng(seed)
    bc = b_crit_samples[np.isfinite(b_crit_samples)]
    bc = bc if bc.size else np.array([fit.b_crit])
    out = []
    for name, (label, *_rest) in PREDICTORS.items():
        if name == "b_simple_temperature":
            point = _temperature_draws(fit, cells, rng, noisy=False)
            value = None if point is None else float(point[0])
            draws = _temperature_draws(fit, cells, rng, noisy=True)
            counts = None
        else:
            per_b = _front_values(fit, cells, name)
            value = _point(per_b)
            draws = _front_draws(fit, cells, name, rng)
            counts = nonpositive(per_b)
        row: dict = {"name": name, "label": label, "value": value}
        if counts is not None:
            row["n_nonpositive"], row["n_runs"] = counts
        row |= dict.fromkeys(("lo", "hi", "ratio", "ratio_lo", "ratio_hi", "within_2x"))
        if value is not None and draws is not None:
            tail = 50.0 * (1 - CI)
            ratios = draws / rng.choice(bc, size=draws.size)
            lo, hi = (float(x) for x in np.percentile(draws, [tail, 100 - tail]))
            r_lo, r_hi = (float(x) for x in np.percentile(ratios, [tail, 100 - tail]))
            # Runs that give only a lower bound (|G|^2 <= 0 over the window) or a degenerate
            # interval shift or shrink the draws away from the point; never print an interval
            # that excludes its own estimate: widen it to reach the point.
            row["ratio"] = value / fit.b_crit
            row["lo"], row["hi"] = min(lo, value), max(hi, value)
            row["ratio_lo"], row["ratio_hi"] = min(r_lo, row["ratio"]), max(r_hi, row["ratio"])
            row["within_2x"] = 1 / WITHIN <= row["ratio"] <= WITHIN
        if name == "b_simple_temperature":
            row["temperature"] = temperature(fit)
        out.append(row)
    return out


def predictor_verdict(rows: Sequence[Mapping]) -> list[str]:
    """Which predictors land within 2x of B_crit and which do not (and which were not
    measured)."""
    within = [r["label"] for r in rows if r["within_2x"]]
    outside = [r["label"] for r in rows if r["within_2x"] is False]
    missing = [r["label"] for r in rows if r["within_2x"] is None]
    out = [
        "Within 2x of B_crit: " + ("; ".join(within) if within else "none") + ".",
        "Not within 2x: " + ("; ".join(outside) if outside else "none") + ".",
    ]
    if missing:
        out.append("Not measured: " + "; ".join(missing) + ".")
    return out
