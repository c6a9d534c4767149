"""Does B_crit's 90% interval cover the truth about 90% of the time? Synthetic studies from a
known S(B) (rlnoise.study.synthetic: lr-dependent S, log-normal seed noise, censoring at the
budget and at the planner's cap); the robust front (rlnoise.study.front) fits each one."""

import math

import numpy as np
import pytest

from rlnoise.study.presets import PRESETS
from rlnoise.study.synthetic import SyntheticStudy, coverage, repeat_agreement, simulate

DEFAULT = PRESETS["cartpole"]


def test_synthetic_design_is_the_default_studys():
    s = SyntheticStudy()
    assert s.max_steps == DEFAULT["max_steps"]
    assert s.batch_sizes == tuple(n * DEFAULT["n_steps"] for n in DEFAULT["n_envs"])
    assert s.cap_factor == DEFAULT["cap_factor"]


def test_simulate_censors_at_the_budget():
    study = SyntheticStudy(max_steps=256 * 50, sigma=0.0, centre_miss=0.0)
    cells = simulate(np.random.default_rng(0), 3, study)
    # B = 256: S_true = 20 * (1 + 1500/256) = 137 > 50 updates of budget: every run censored
    assert all(np.isinf(c.log_s).all() for c in cells[256])
    assert all(c.log_cap <= math.log(50) for c in cells[256])


@pytest.mark.parametrize("seeds", [3, DEFAULT["seeds"]])
def test_interval_covers_truth_85_to_95_percent(seeds):
    cov, err = coverage(n_studies=300, n_boot=200, seed=1, seeds=seeds)
    assert 0.85 <= cov <= 0.95, cov
    assert err < 0.35  # the point estimate is near the truth too


def test_interval_covers_truth_on_a_three_lr_grid():
    """The default grid starts with three lrs per B (x1/2, 1, 2); the shared curvature then
    rests on three cells per B."""
    study = SyntheticStudy(ks=(-1, 0, 1))
    cov, _ = coverage(n_studies=300, n_boot=200, seed=1, seeds=DEFAULT["seeds"], study=study)
    assert 0.85 <= cov <= 0.95, cov


def test_coverage_check_can_fail():
    """With the residual pool emptied (one seed per cell) and no lr dependence modelled, the
    same check must be able to report under-coverage: here with 1 seed per cell."""
    cov, _ = coverage(n_studies=60, n_boot=200, seed=2, seeds=1)
    assert cov < 0.85, cov


def test_more_seeds_bring_repeats_closer():
    """Two independent studies disagree less with more seeds per cell (point estimates)."""
    few = repeat_agreement(150, seeds=2, seed=4)
    many = repeat_agreement(150, seeds=8, seed=5)
    assert np.sqrt(np.mean(many**2)) < 0.8 * np.sqrt(np.mean(few**2))


@pytest.mark.slow
def test_interval_covers_truth_many_studies():
    cov, _ = coverage(n_studies=1000, n_boot=1000, seed=3, seeds=DEFAULT["seeds"])
    assert 0.85 <= cov <= 0.95, cov
