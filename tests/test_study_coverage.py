"""Does B_crit's 90% interval cover the truth about 90% of the time? Synthetic studies from a
known S(B) = S_min + E_min/B with an lr-dependent S, log-normal seed noise and censoring at the
budget and at the planner's cap; the robust front (rlnoise.study.front) fits each one."""

import math

import numpy as np
import pytest

from rlnoise.study.front import Cell, fit_front, percentile_interval

S_MIN, B_CRIT = 20.0, 1500.0
BATCHES = tuple(256 * 2**i for i in range(6))  # 256 .. 8,192, the default study's
MAX_STEPS = 300_000  # budget per run, observations (the default study's)
KS = (-2, -1, 0, 1, 2)  # x2 lr grid around the centre
CURV = 0.15  # log S rises by CURV * (log2 lr/lr*)^2: x2 off +16%, x4 off +83%
SIGMA = 0.3  # seed noise of log S
CAP_FACTOR = 2.0  # non-central lrs stop at 2x the central lr's median steps


def simulate(rng: np.random.Generator, seeds: int = 3) -> dict[int, list[Cell]]:
    """One study: per batch size, the cells of a x2 lr grid whose centre misses the best lr
    by up to 0.7 grid steps."""
    out = {}
    for b in BATCHES:
        s_true = S_MIN * (1 + B_CRIT / b)
        offset = rng.uniform(-0.7, 0.7)
        budget = MAX_STEPS // b
        steps = {}
        for k in KS:
            mean = math.log(s_true) + CURV * (k - offset) ** 2
            steps[k] = np.exp(mean + SIGMA * rng.standard_normal(seeds))
        central = np.median(np.where(steps[0] <= budget, steps[0], np.inf))
        cells = []
        for k in KS:
            cap = budget if k == 0 or not np.isfinite(central) else min(budget, 2 * central)
            s = np.ceil(steps[k])
            log_s = np.where(s <= cap, np.log(s), np.inf)
            cells.append(Cell(log_lr=k * math.log(2), log_s=log_s, log_cap=math.log(cap), k=k))
        out[b] = cells
    return out


def coverage(n_studies: int, n_boot: int, seed: int, seeds: int = 3) -> tuple[float, float]:
    """(share of 90% intervals that cover B_CRIT, median |log error| of the point estimate)."""
    rng = np.random.default_rng(seed)
    hits, errs = 0, []
    for i in range(n_studies):
        fit = fit_front(simulate(rng, seeds), n_boot=n_boot, seed=i)
        iv = percentile_interval(fit.samples, 0.9)
        assert fit.b_crit is not None and iv is not None
        hits += iv[0] <= B_CRIT <= iv[2]
        errs.append(abs(math.log(fit.b_crit / B_CRIT)))
    return hits / n_studies, float(np.median(errs))


def test_interval_covers_truth_85_to_95_percent():
    cov, err = coverage(n_studies=200, n_boot=300, seed=1)
    assert 0.85 <= cov <= 0.95, cov
    assert err < 0.35  # the point estimate is near the truth too


def test_coverage_check_can_fail():
    """With the residual pool emptied (one seed per cell) and no lr dependence modelled, the
    same check must be able to report under-coverage: here with 1 seed per cell."""
    cov, _ = coverage(n_studies=60, n_boot=200, seed=2, seeds=1)
    assert cov < 0.85, cov


@pytest.mark.slow
def test_interval_covers_truth_many_studies():
    cov, _ = coverage(n_studies=1000, n_boot=1000, seed=3)
    assert 0.85 <= cov <= 0.95, cov
