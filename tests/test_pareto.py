"""Tests for rlnoise.pareto: the eq. 2.11 steps-samples fit and the B_crit bootstrap."""

import math

import numpy as np
import pytest

from rlnoise.pareto import BootstrapResult, ParetoFit, bootstrap_b_crit, fit_pareto

BATCHES = 2.0 ** np.arange(3, 11)  # 8 .. 1024, eight points


def _front(s_min: float, b_crit: float, batches=BATCHES) -> tuple[np.ndarray, np.ndarray]:
    """Exact (S, E) on S = S_min·(1 + B_crit/B) (eq. 2.11)."""
    steps = s_min * (1.0 + b_crit / batches)
    return steps, steps * batches


@pytest.mark.parametrize("b_crit", [4.0, 20.0, 256.0, 1000.0, 4000.0])
def test_exact_front_recovered(b_crit):
    steps, samples = _front(150.0, b_crit)
    fit = fit_pareto(steps, samples)
    assert isinstance(fit, ParetoFit)
    assert fit.s_min == pytest.approx(150.0, rel=1e-9)
    assert fit.b_crit == pytest.approx(b_crit, rel=1e-9)
    assert fit.e_min == pytest.approx(150.0 * b_crit, rel=1e-9)
    assert fit.e_min == pytest.approx(fit.s_min * fit.b_crit, rel=1e-12)
    assert fit.rmse_log < 1e-6
    assert fit.n_points == len(BATCHES)
    assert fit.batch_sizes == pytest.approx(tuple(BATCHES))
    # At B = B_crit the model needs 2·S_min steps and 2·E_min samples.
    assert fit.steps_at(fit.b_crit) == pytest.approx(2 * fit.s_min)
    assert fit.samples_at(fit.b_crit) == pytest.approx(2 * fit.e_min)
    assert fit.steps_at(64.0) == pytest.approx(150.0 * (1 + b_crit / 64.0), rel=1e-6)


def test_points_in_any_order_are_sorted_by_batch():
    steps, samples = _front(10.0, 100.0)
    perm = np.random.default_rng(0).permutation(len(steps))
    fit = fit_pareto(list(steps[perm]), list(samples[perm]))
    assert fit.b_crit == pytest.approx(100.0, rel=1e-6)
    assert list(fit.batch_sizes) == sorted(fit.batch_sizes)
    assert fit.steps == pytest.approx(tuple(steps))


def test_fit_is_the_log_space_least_squares_optimum():
    rng = np.random.default_rng(3)
    steps, _ = _front(80.0, 300.0)
    noisy = steps * np.exp(0.1 * rng.normal(size=steps.size))
    fit = fit_pareto(noisy, noisy * BATCHES)

    def rmse(s_min, b_crit):
        resid = np.log(noisy) - np.log(s_min * (1 + b_crit / BATCHES))
        return math.sqrt(float(np.mean(resid**2)))

    assert fit.rmse_log == pytest.approx(rmse(fit.s_min, fit.b_crit), rel=1e-12)
    for ds, db in [(1.001, 1.0), (0.999, 1.0), (1.0, 1.001), (1.0, 0.999), (1.001, 1.001)]:
        assert rmse(fit.s_min * ds, fit.b_crit * db) > fit.rmse_log


def test_two_points_are_exactly_determined():
    # S = S_min + E_min/B through (B=10, S=30) and (B=40, S=15): E_min = 200, S_min = 10.
    fit = fit_pareto([30.0, 15.0], [300.0, 600.0])
    assert fit.s_min == pytest.approx(10.0, rel=1e-6)
    assert fit.e_min == pytest.approx(200.0, rel=1e-6)
    assert fit.b_crit == pytest.approx(20.0, rel=1e-6)


@pytest.mark.parametrize("b_crit, tol", [(8.0, 0.3), (64.0, 0.2), (256.0, 0.2), (1024.0, 0.3)])
def test_noisy_front_recovered(b_crit, tol):
    """5% lognormal noise on S. Tolerances (in log) sit near the 99th percentile over seeds:
    B_crit is least determined at the ends of the batch range (8 and 1024 here)."""
    rng = np.random.default_rng(int(b_crit))
    steps, _ = _front(200.0, b_crit)
    noisy = steps * np.exp(0.05 * rng.normal(size=steps.size))
    fit = fit_pareto(noisy, noisy * BATCHES)
    assert abs(math.log(fit.b_crit / b_crit)) < tol
    assert abs(math.log(fit.s_min / 200.0)) < 0.25
    assert abs(math.log(fit.e_min / (200.0 * b_crit))) < tol + 0.25
    assert 0.01 < fit.rmse_log < 0.1


@pytest.mark.parametrize(
    "steps, samples, match",
    [
        ([10.0], [100.0], "at least 2"),
        ([], [], "at least 2"),
        ([10.0, 5.0], [100.0], "has 2 values"),
        ([10.0, 0.0], [100.0, 200.0], "positive"),
        ([10.0, 5.0], [100.0, -200.0], "positive"),
        ([10.0, math.nan], [100.0, 200.0], "finite"),
        ([10.0, 5.0], [100.0, math.inf], "finite"),
        ([10.0, 5.0, 20.0], [100.0, 200.0, 200.0], "duplicate batch size 10"),
    ],
)
def test_bad_input_raises(steps, samples, match):
    with pytest.raises(ValueError, match=match):
        fit_pareto(steps, samples)


def test_flat_steps_do_not_bend():
    steps = np.full(BATCHES.size, 50.0)
    with pytest.raises(ValueError, match="steps do not fall as the batch grows"):
        fit_pareto(steps, steps * BATCHES)
    # Steps that grow with the batch have no trade-off either.
    steps = 50.0 * BATCHES**0.1
    with pytest.raises(ValueError, match="no steps-samples trade-off"):
        fit_pareto(steps, steps * BATCHES)


def test_perfect_linear_scaling_does_not_bend():
    steps = 1e6 / BATCHES  # S·B constant: no floor S_min in the data
    with pytest.raises(ValueError, match="perfect linear scaling"):
        fit_pareto(steps, steps * BATCHES)


def _runs(b_crit: float, seed: int, n_seeds: int = 3, sigma: float = 0.1):
    """Synthetic runs: n_seeds noisy (S, E) per batch size around S_min·(1 + B_crit/B)."""
    rng = np.random.default_rng(seed)
    steps, _ = _front(100.0, b_crit)
    runs = {}
    for batch, s in zip(BATCHES, steps, strict=True):
        noisy = s * np.exp(sigma * rng.normal(size=n_seeds))
        runs[float(batch)] = [(float(x), float(x * batch)) for x in noisy]
    return runs


@pytest.mark.parametrize("reduce", ["min", "median"])
def test_bootstrap_interval_contains_truth(reduce):
    result = bootstrap_b_crit(_runs(128.0, seed=1), n_boot=200, seed=0, reduce=reduce)
    assert isinstance(result, BootstrapResult)
    assert result.lo <= result.median <= result.hi
    assert result.lo < 128.0 < result.hi
    assert result.hi / result.lo < 4.0  # informative, not just wide
    assert result.n_ok + result.n_failed == 200 and result.n_ok >= 190
    assert len(result.samples) == result.n_ok
    # Same seed, same answer.
    again = bootstrap_b_crit(_runs(128.0, seed=1), n_boot=200, seed=0, reduce=reduce)
    assert (again.lo, again.hi, again.median) == (result.lo, result.hi, result.median)


def test_bootstrap_coverage_over_datasets():
    """The 90% interval covers the truth in most synthetic datasets (about 90% with the median
    of 3 seeds; resampling 3 runs understates the spread a little, so allow some misses)."""
    covered = 0
    for seed in range(10):
        r = bootstrap_b_crit(_runs(128.0, seed=100 + seed), n_boot=60, seed=seed, reduce="median")
        covered += r.lo < 128.0 < r.hi
    assert covered >= 7


def test_bootstrap_counts_failed_fits():
    # At B = 8 the fast run (S = 40) makes steps rise with the batch: those replicates fail.
    runs = {8.0: [(100.0, 800.0), (40.0, 320.0)], 16.0: [(60.0, 960.0)]}
    result = bootstrap_b_crit(runs, n_boot=400, seed=0)
    assert result.n_ok + result.n_failed == 400
    assert 0.6 < result.n_failed / 400 < 0.9  # P(resample contains the fast run) = 3/4
    # The replicates that fit use S = 100 at B = 8 and S = 60 at B = 16: B_crit = 640/20.
    assert result.lo == pytest.approx(32.0, rel=1e-6)
    assert result.hi == pytest.approx(32.0, rel=1e-6)


def test_bootstrap_bad_input():
    runs = _runs(128.0, seed=2)
    with pytest.raises(ValueError, match="reduce"):
        bootstrap_b_crit(runs, reduce="mean")
    with pytest.raises(ValueError, match="ci"):
        bootstrap_b_crit(runs, ci=1.0)
    with pytest.raises(ValueError, match="at least 2 batch sizes"):
        bootstrap_b_crit({8.0: [(10.0, 80.0)]})
    with pytest.raises(ValueError, match="no runs"):
        bootstrap_b_crit({8.0: [(10.0, 80.0)], 16.0: []})
    with pytest.raises(ValueError, match="finite and positive"):
        bootstrap_b_crit({8.0: [(10.0, 80.0)], 16.0: [(math.nan, 16.0)]})
    flat = {float(b): [(50.0, 50.0 * b)] for b in BATCHES}
    with pytest.raises(ValueError, match="all 20 bootstrap fits failed"):
        bootstrap_b_crit(flat, n_boot=20)


def test_weights_and_the_many_fronts_fit():
    import numpy as np

    from rlnoise.pareto import fit_b_crit_many

    b = np.array([256, 512, 1024, 2048, 4096, 8192.0])
    s = 20 * (1 + 1500 / b)
    bad = s.copy()
    bad[0] *= 2  # one outlier
    plain = fit_pareto(bad, bad * b).b_crit
    weighted = fit_pareto(bad, bad * b, weights=[1e-3, 1, 1, 1, 1, 1]).b_crit
    assert abs(weighted - 1500) < abs(plain - 1500) and weighted == pytest.approx(1500, rel=0.05)
    with pytest.raises(ValueError, match="weights"):
        fit_pareto(s, s * b, weights=[1, 1])
    rng = np.random.default_rng(0)
    logs = np.log(s)[None] + rng.normal(0, 0.1, (20, 6))
    many, edge = fit_b_crit_many(logs, b)
    one = [fit_pareto(np.exp(x), np.exp(x) * b).b_crit for x in logs]
    assert not edge.any() and many == pytest.approx(one, rel=0.03)
    flat, edge = fit_b_crit_many(np.full((1, 6), 3.0), b)  # no trade-off: kept, at the edge
    assert edge[0] and flat[0] < b[0]
