"""Synthetic studies with a known B_crit, for checking the robust front (rlnoise.study.front):
S(B) = S_min (1 + B_crit/B) (McCandlish et al. 2018, eq. 2.11) with an lr-dependent S,
log-normal seed noise and censoring at the run budget and at the planner's cap; pure numpy.

The defaults mirror the default CartPole study (batch sizes 256..8,192, a x2 lr grid of five
cells around a centre that misses the best lr by up to 0.7 grid steps, non-central lrs capped
at 2x the centre's median steps). SIGMA 0.3 is a little above the seed noise measured in the
default studies (pooled residual sd of log S 0.26 over 9 seeds, benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rlnoise.study.front import Cell, fit_front, percentile_interval


@dataclass(frozen=True)
class SyntheticStudy:
    """The truth and the study design that the synthetic runs are drawn from."""

    s_min: float = 20.0
    b_crit: float = 1500.0
    batch_sizes: tuple[int, ...] = tuple(256 * 2**i for i in range(6))
    max_steps: int = 600_000  # budget per run, observations
    ks: tuple[int, ...] = (-2, -1, 0, 1, 2)  # x2 lr grid around the centre
    curvature: float = 0.15  # log S rises by this * (log2 lr/lr*)^2: x2 off +16%, x4 off +83%
    sigma: float = 0.3  # seed noise of log S
    cap_factor: float = 2.0  # non-central lrs stop at this x the central lr's median steps
    centre_miss: float = 0.7  # the grid's centre misses the best lr by up to this many steps


def simulate(
    rng: np.random.Generator, seeds: int, study: SyntheticStudy = SyntheticStudy()
) -> dict[int, list[Cell]]:
    """One study's cells per batch size, drawn from `study`'s truth."""
    out = {}
    for b in study.batch_sizes:
        s_true = study.s_min * (1 + study.b_crit / b)
        offset = rng.uniform(-study.centre_miss, study.centre_miss)
        budget = study.max_steps // b
        steps = {}
        for k in study.ks:
            mean = math.log(s_true) + study.curvature * (k - offset) ** 2
            steps[k] = np.exp(mean + study.sigma * rng.standard_normal(seeds))
        central = np.median(np.where(steps[0] <= budget, steps[0], np.inf))
        cells = []
        for k in study.ks:
            cap = budget
            if k != 0 and np.isfinite(central):
                cap = min(budget, study.cap_factor * central)
            s = np.ceil(steps[k])
            log_s = np.where(s <= cap, np.log(s), np.inf)
            cells.append(Cell(log_lr=k * math.log(2), log_s=log_s, log_cap=math.log(cap), k=k))
        out[b] = cells
    return out


def coverage(
    n_studies: int,
    n_boot: int,
    seed: int,
    seeds: int,
    study: SyntheticStudy = SyntheticStudy(),
) -> tuple[float, float]:
    """(share of 90% intervals that cover the true B_crit, median |log error| of the point)."""
    rng = np.random.default_rng(seed)
    hits, errs = 0, []
    for i in range(n_studies):
        fit = fit_front(simulate(rng, seeds, study), n_boot=n_boot, seed=i)
        iv = percentile_interval(fit.samples, 0.9)
        if fit.b_crit is None or iv is None:
            raise ValueError(f"synthetic study {i} gave no fit: {fit.error}")
        hits += iv[0] <= study.b_crit <= iv[2]
        errs.append(abs(math.log(fit.b_crit / study.b_crit)))
    return hits / n_studies, float(np.median(errs))


def repeat_agreement(
    n_pairs: int, seeds: int, seed: int, study: SyntheticStudy = SyntheticStudy()
) -> np.ndarray:
    """|log(B_crit_a / B_crit_b)| of n_pairs independent pairs of studies (point estimates)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_pairs):
        a = fit_front(simulate(rng, seeds, study), n_boot=2).b_crit
        b = fit_front(simulate(rng, seeds, study), n_boot=2).b_crit
        if a is None or b is None:
            raise ValueError("a synthetic study gave no fit")
        out.append(abs(math.log(a / b)))
    return np.array(out)
