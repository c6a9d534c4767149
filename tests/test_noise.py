"""Tests for rlnoise.noise: the App. A.1 estimators, the trackers, and B_noise (eq. 2.8)."""

import math

import numpy as np
import pytest
import torch

from rlnoise.noise import (
    BNoiseEstimate,
    NoiseEstimate,
    NoiseScaleAverage,
    NoiseScaleTracker,
    estimate_b_noise,
    estimate_from_groups,
    estimate_from_norms,
)

torch.set_num_threads(1)


def _random_cov(rng: np.random.Generator, p: int, spread: float) -> np.ndarray:
    """A random SPD matrix with eigenvalues log-uniform over `spread` decades."""
    q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    eig = 10.0 ** rng.uniform(-spread, 0.0, size=p)
    return (q * eig) @ q.T


def _rel_se(x: np.ndarray, w: np.ndarray) -> float:
    """Standard error of the w-weighted mean of x, relative to that mean (independent draws)."""
    w = w / w.sum()
    mean = float(w @ x)
    return math.sqrt(float(w @ w) * float(np.var(x, ddof=1))) / abs(mean)


# ---------------------------------------------------------------- estimate_from_norms


def test_estimate_from_norms_hand_computed():
    # |G|² = 2, tr Σ = 40: E|G_10|² = 2 + 4 = 6, E|G_40|² = 2 + 1 = 3.
    grad_sq, trace = estimate_from_norms(6.0, 3.0, 10, 40)
    assert grad_sq == pytest.approx(2.0, rel=1e-12)
    assert trace == pytest.approx(40.0, rel=1e-12)
    # Hand-computed with the formulas: (100*5 - 20*9)/80 = 4, (9 - 5)/(1/20 - 1/100) = 100.
    grad_sq, trace = estimate_from_norms(9.0, 5.0, 20, 100)
    assert grad_sq == pytest.approx(4.0, rel=1e-12)
    assert trace == pytest.approx(100.0, rel=1e-12)
    # Big batch norm above the small one: trace estimate negative, grad_sq above both.
    grad_sq, trace = estimate_from_norms(1.0, 2.0, 1, 2)
    assert (grad_sq, trace) == (pytest.approx(3.0), pytest.approx(-2.0))


@pytest.mark.parametrize(
    "args",
    [(1.0, 1.0, 8, 8), (1.0, 1.0, 16, 8), (1.0, 1.0, 0, 8), (1.0, 1.0, -1, 8), (math.nan, 1, 1, 2)],
)
def test_estimate_from_norms_rejects_bad_input(args):
    with pytest.raises(ValueError):
        estimate_from_norms(*args)


# ---------------------------------------------------------------- estimate_from_groups


def test_groups_equal_sizes_match_design_formula():
    rng = np.random.default_rng(0)
    k, b, p = 6, 32, 40
    g = rng.normal(size=(k, p)) + 0.7
    est = estimate_from_groups(torch.tensor(g, dtype=torch.float32), b)
    g32 = g.astype(np.float32).astype(np.float64)  # what the float32 tensor holds
    g_bar = g32.mean(axis=0)
    trace = b * ((g32 - g_bar) ** 2).sum() / (k - 1)
    grad_sq = g_bar @ g_bar - trace / (k * b)
    assert isinstance(est, NoiseEstimate)
    assert est.trace == pytest.approx(trace, rel=1e-12)
    assert est.grad_sq == pytest.approx(grad_sq, rel=1e-12)
    assert est.b_simple == pytest.approx(trace / grad_sq, rel=1e-12)
    assert est.big_sq == pytest.approx(g_bar @ g_bar, rel=1e-12)
    assert (est.n_groups, est.group_size) == (k, b)
    # K = 2 is the smallest allowed and agrees with the two-batch formula of App. A.1.
    est2 = estimate_from_groups(torch.tensor(g[:2]), b)
    small_sq = float((g[:2] ** 2).sum(axis=1).mean())
    big_sq = float((g[:2].mean(axis=0) ** 2).sum())
    ref = estimate_from_norms(small_sq, big_sq, b, 2 * b)
    assert (est2.grad_sq, est2.trace) == (pytest.approx(ref[0]), pytest.approx(ref[1]))


def test_groups_sequence_of_equal_sizes_equals_int_size():
    g = torch.randn(5, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = estimate_from_groups(g, 12)
    b = estimate_from_groups(g, [12] * 5)
    assert a.grad_sq == pytest.approx(b.grad_sq, rel=1e-13)
    assert a.trace == pytest.approx(b.trace, rel=1e-13)
    assert b.group_size == 12.0


def test_groups_unequal_sizes_closed_form():
    rng = np.random.default_rng(2)
    sizes = np.array([2.0, 3.0, 5.0, 6.0])
    g = rng.normal(size=(4, 20)) + 0.3
    est = estimate_from_groups(torch.tensor(g), sizes.tolist())
    total = sizes.sum()
    g_bar = (sizes[:, None] * g).sum(axis=0) / total
    trace = (sizes * ((g - g_bar) ** 2).sum(axis=1)).sum() / (len(sizes) - 1)
    assert est.trace == pytest.approx(trace, rel=1e-12)
    assert est.grad_sq == pytest.approx(g_bar @ g_bar - trace / total, rel=1e-12)
    assert est.big_sq == pytest.approx(g_bar @ g_bar, rel=1e-12)
    assert est.group_size == pytest.approx(total / 4)


def test_groups_unequal_sizes_unbiased():
    """Planted N(G, Σ/b_k) group gradients: the averages hit |G|² and tr Σ."""
    rng = np.random.default_rng(3)
    p, draws = 50, 4000
    sizes = np.array([2.0, 3.0, 5.0, 6.0])
    cov = _random_cov(rng, p, 1.0)
    trace_true = float(np.trace(cov))
    g_true = rng.normal(size=p)
    g_true *= math.sqrt(trace_true / 16.0) / np.linalg.norm(g_true)  # B_simple = 16 = B
    chol = np.linalg.cholesky(cov)
    z = rng.normal(size=(draws, len(sizes), p)) @ chol.T
    grads = torch.tensor(g_true + z / np.sqrt(sizes)[None, :, None])
    ests = [estimate_from_groups(grads[i], sizes.tolist()) for i in range(draws)]
    gs = np.array([e.grad_sq for e in ests])
    tr = np.array([e.trace for e in ests])
    w = np.ones(draws)
    # The tolerances are several standard errors wide; an equal-size formula with the mean
    # size would be biased by about 27% in the trace here.
    assert 4 * _rel_se(gs, w) < 0.04 and 4 * _rel_se(tr, w) < 0.02
    assert gs.mean() == pytest.approx(g_true @ g_true, rel=0.04)
    assert tr.mean() == pytest.approx(trace_true, rel=0.02)


def test_groups_b_simple_inf_when_signal_estimate_non_positive():
    g = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # mean zero: grad_sq = -trace/B < 0
    est = estimate_from_groups(g, 4)
    assert est.grad_sq < 0 and est.trace > 0
    assert est.b_simple == math.inf


def test_groups_accuracy_with_large_common_component():
    """Deviation form: a huge shared gradient does not swamp the trace in float64."""
    rng = np.random.default_rng(4)
    g = 1e6 + rng.normal(size=(8, 100))
    est = estimate_from_groups(torch.tensor(g), 10)
    dev = g - g.mean(axis=0)
    assert est.trace == pytest.approx(10 * (dev**2).sum() / 7, rel=1e-6)


@pytest.mark.parametrize(
    "grads, size, match",
    [
        (torch.zeros(1, 5), 4, "at least 2 groups"),
        (torch.zeros(5), 4, "2-D"),
        (torch.zeros(2, 3, 4), 4, "2-D"),
        (torch.zeros(3, 5), 0, "positive"),
        (torch.zeros(3, 5), -2, "positive"),
        (torch.zeros(3, 5), [4, 4], "3 groups"),
        (torch.zeros(3, 5), [4, 0, 4], "positive"),
        (torch.tensor([[1.0, math.nan], [0.0, 1.0]]), 4, "nan or inf"),
        (torch.tensor([[1.0, math.inf], [0.0, 1.0]]), 4, "nan or inf"),
    ],
)
def test_groups_rejects_bad_input(grads, size, match):
    with pytest.raises(ValueError, match=match):
        estimate_from_groups(grads, size)


# ---------------------------------------------------------------- planted noise + trackers


@pytest.mark.parametrize("anisotropic", [False, True])
@pytest.mark.parametrize("b_simple_true", [1.0, 1e2, 1e4, 1e6])
def test_planted_noise_tracker_and_average(b_simple_true, anisotropic):
    """K group gradients from N(G, Σ/b): tracked B_simple within 5% of tr(Σ)/|G|²."""
    rng = np.random.default_rng(int(b_simple_true) + 7 * anisotropic)
    p, k, n, decay = (200 if anisotropic else 100), 8, 2000, 0.999
    # Σ diagonal (variances over 1.5 decades) or isotropic; the estimators are rotation
    # invariant, so a diagonal Σ with G in a random direction loses no generality.
    var = 10.0 ** rng.uniform(-1.5, 0.0, size=p) if anisotropic else np.full(p, 0.3)
    trace_true = float(var.sum())
    g_true = rng.normal(size=p)
    g_true *= math.sqrt(trace_true / b_simple_true) / np.linalg.norm(g_true)
    b = max(1, round(b_simple_true / k))  # big batch K·b ≈ B_simple: noise ≈ signal
    z = rng.normal(size=(n, k, p)) * np.sqrt(var / b)
    grads = torch.tensor(g_true + z, dtype=torch.float32)

    tracker, average = NoiseScaleTracker(decay), NoiseScaleAverage()
    gs, tr = np.empty(n), np.empty(n)
    for i in range(n):
        est = estimate_from_groups(grads[i], b)
        gs[i], tr[i] = est.grad_sq, est.trace
        tracker.update(est.grad_sq, est.trace)
        average.update(est.grad_sq, est.trace)

    # The trackers hold exactly the bias-corrected EMA and the plain mean.
    w_ema = decay ** np.arange(n - 1, -1, -1.0)
    assert tracker.grad_sq == pytest.approx(w_ema @ gs / w_ema.sum(), rel=1e-9)
    assert tracker.trace == pytest.approx(w_ema @ tr / w_ema.sum(), rel=1e-9)
    assert average.grad_sq == pytest.approx(gs.mean(), rel=1e-9)
    assert average.trace == pytest.approx(tr.mean(), rel=1e-9)
    assert tracker.n_updates == average.n_updates == n

    # Linearized relative standard error of the ratio; 5% must be at least 4 of them.
    z_ratio = tr / tr.mean() - gs / gs.mean()
    for w in (w_ema, np.ones(n)):
        w = w / w.sum()
        assert 4 * math.sqrt(float(w @ w) * float(np.var(z_ratio, ddof=1))) < 0.05
    assert tracker.b_simple == pytest.approx(b_simple_true, rel=0.05)
    assert average.b_simple == pytest.approx(b_simple_true, rel=0.05)


def test_linear_regression_population_truth():
    """Groups drawn from a finite dataset; autograd group gradients; estimates match truth."""
    gen = torch.Generator().manual_seed(5)
    n_data, d, k, b, draws = 400, 32, 8, 16, 800
    x = torch.randn(n_data, d, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(d, generator=gen, dtype=torch.float64) + 0.5 * torch.randn(
        n_data, generator=gen, dtype=torch.float64
    )
    model = torch.nn.Linear(d, 1, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, d, generator=gen, dtype=torch.float64))
        model.bias.fill_(0.8)

    # Truth from the closed-form per-example gradients of 0.5*(w·x + c - y)^2; the dataset is
    # the population, so Σ is the 1/N covariance of the per-example gradients.
    with torch.no_grad():
        r = (x @ model.weight[0] + model.bias - y).numpy()
    per_example = np.concatenate([r[:, None] * x.numpy(), r[:, None]], axis=1)
    g_true = per_example.mean(axis=0)
    trace_true = float(((per_example - g_true) ** 2).sum(axis=1).mean())
    assert 0.1 < trace_true / (g_true @ g_true) / (k * b) < 1.0  # noise below signal at K·b

    # Each draw: K groups of b examples sampled with replacement; one autograd call gives the
    # K group-mean gradients (batched over the K group losses).
    idx = torch.randint(0, n_data, (draws, k, b), generator=gen)
    eye = torch.eye(k, dtype=torch.float64)
    ests = []
    for i in range(draws):
        xb, yb = x[idx[i]], y[idx[i]]
        losses = 0.5 * ((model(xb).squeeze(-1) - yb) ** 2).mean(dim=1)
        gw, gc = torch.autograd.grad(
            losses, [model.weight, model.bias], grad_outputs=eye, is_grads_batched=True
        )
        grads = torch.cat([gw.flatten(1), gc], dim=1)
        if i == 0:  # autograd agrees with the closed form
            ref = per_example[idx[0].numpy()].mean(axis=1)
            assert np.allclose(grads.numpy(), ref, rtol=1e-10, atol=1e-12)
        ests.append(estimate_from_groups(grads, b))
    gs = np.array([e.grad_sq for e in ests])
    tr = np.array([e.trace for e in ests])
    w = np.ones(draws)
    assert 4 * _rel_se(gs, w) < 0.06 and 4 * _rel_se(tr, w) < 0.04
    assert gs.mean() == pytest.approx(g_true @ g_true, rel=0.06)
    assert tr.mean() == pytest.approx(trace_true, rel=0.04)
    assert tr.mean() / gs.mean() == pytest.approx(trace_true / (g_true @ g_true), rel=0.07)


def test_tracker_first_value_equals_first_input_and_ema_weights():
    t = NoiseScaleTracker(0.9)
    assert math.isnan(t.b_simple) and math.isnan(t.grad_sq) and t.n_updates == 0
    t.update(2.0, 10.0)
    assert (t.grad_sq, t.trace, t.b_simple) == (2.0, 10.0, 5.0)
    t.update(4.0, 30.0)  # bias-corrected: (d*x1 + x2)/(1 + d)
    assert t.grad_sq == pytest.approx((0.9 * 2.0 + 4.0) / 1.9)
    assert t.trace == pytest.approx((0.9 * 10.0 + 30.0) / 1.9)
    assert t.b_simple == pytest.approx(t.trace / t.grad_sq)
    t0 = NoiseScaleTracker(0.0)  # decay 0 keeps only the latest value
    t0.update(1.0, 2.0)
    t0.update(3.0, 5.0)
    assert (t0.grad_sq, t0.trace) == (3.0, 5.0)


@pytest.mark.parametrize("make", [lambda: NoiseScaleTracker(0.5), NoiseScaleAverage])
def test_tracker_negative_and_non_finite(make):
    t = make()
    t.update(-1.0, 5.0)  # a negative signal estimate is valid and averaged
    assert t.grad_sq == -1.0 and t.b_simple == math.inf
    t.update(3.0, 5.0)
    assert t.grad_sq > 0 and t.b_simple == pytest.approx(5.0 / t.grad_sq)
    before = t.state_dict()
    for bad in [(math.nan, 1.0), (1.0, math.inf), (-math.inf, 1.0)]:
        t.update(*bad)
    assert t.n_skipped == 3 and t.n_updates == 2
    assert (t.grad_sq, t.trace) == (before["grad_sq"], before["trace"])
    t.update(-100.0, 5.0)
    assert t.grad_sq < 0 and t.b_simple == math.inf
    z = make()
    z.update(0.0, 5.0)  # exactly zero signal: inf, not ZeroDivisionError
    assert z.b_simple == math.inf


def test_average_is_the_plain_mean():
    a = NoiseScaleAverage()
    for gs, tr in [(1.0, 10.0), (-0.5, 20.0), (2.5, 30.0)]:
        a.update(gs, tr)
    assert (a.grad_sq, a.trace) == (pytest.approx(1.0), pytest.approx(20.0))
    assert a.b_simple == pytest.approx(20.0)


@pytest.mark.parametrize("make", [lambda: NoiseScaleTracker(0.99), NoiseScaleAverage])
def test_tracker_state_dict_round_trip(make):
    rng = np.random.default_rng(6)
    t = make()
    for _ in range(7):
        t.update(rng.normal(1.0), rng.uniform(5, 10))
    t.update(math.nan, 1.0)
    state = t.state_dict()
    assert all(isinstance(v, (int, float)) for v in state.values())
    u = make()
    u.load_state_dict(dict(state))
    assert u.state_dict() == state
    t.update(0.7, 8.0)
    u.update(0.7, 8.0)
    assert (u.grad_sq, u.trace, u.n_updates, u.n_skipped) == (t.grad_sq, t.trace, 8, 1)


def test_tracker_rejects_bad_decay_and_mismatched_state():
    for decay in (1.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="decay"):
            NoiseScaleTracker(decay)
    with pytest.raises(ValueError, match="decay"):
        NoiseScaleTracker(0.9).load_state_dict(NoiseScaleTracker(0.5).state_dict())


# ---------------------------------------------------------------- B_noise (eq. 2.8)


def test_b_noise_quadratic_model():
    """Loss ½(θ−x)ᵀA(θ−x), x ~ N(μ, C): B_noise = tr(A·ACA)/(GᵀAG) recovered on average."""
    rng = np.random.default_rng(8)
    p, k, b, draws = 20, 4, 8, 3000
    a_mat = _random_cov(rng, p, 1.0) * 10.0
    c_mat = _random_cov(rng, p, 1.0)
    mu = rng.normal(size=p)
    g_true_dir = np.linalg.eigh(a_mat)[1][:, -1]  # along the highest curvature
    sigma = a_mat @ c_mat @ a_mat
    # Place θ so that B_noise = 8, a quarter of the big batch K·b = 32.
    scale = math.sqrt(np.trace(a_mat @ sigma) / 8.0 / (g_true_dir @ a_mat @ g_true_dir))
    theta = mu + np.linalg.solve(a_mat, scale * g_true_dir)
    g_true = a_mat @ (theta - mu)
    b_noise_true = float(np.trace(a_mat @ sigma) / (g_true @ a_mat @ g_true))
    assert b_noise_true == pytest.approx(8.0)

    x = mu + rng.normal(size=(draws, k, b, p)) @ np.linalg.cholesky(c_mat).T
    g = (theta - x.mean(axis=2)) @ a_mat.T  # group mean of per-sample grads A(θ − x)
    g_bar = g.mean(axis=1)
    q_small = np.einsum("dkp,pq,dkq->dk", g, a_mat, g)
    q_big = np.einsum("dp,pq,dq->d", g_bar, a_mat, g_bar)
    ests = [estimate_b_noise(q_small[i], q_big[i], b) for i in range(draws)]
    assert isinstance(ests[0], BNoiseEstimate)
    ghg = np.array([e.g_h_g for e in ests])
    thg = np.array([e.trace_h_sigma for e in ests])
    w = np.ones(draws)
    assert 4 * _rel_se(ghg, w) < 0.05 and 4 * _rel_se(thg, w) < 0.05
    assert ghg.mean() == pytest.approx(g_true @ a_mat @ g_true, rel=0.05)
    assert thg.mean() == pytest.approx(np.trace(a_mat @ sigma), rel=0.05)
    assert thg.mean() / ghg.mean() == pytest.approx(b_noise_true, rel=0.07)
    # B_simple of the same gradients differs here: H is far from ∝ I.
    b_simple_true = np.trace(sigma) / (g_true @ g_true)
    assert abs(b_simple_true / b_noise_true - 1) > 0.2


@pytest.mark.parametrize("sizes", [16, [3, 5, 8, 16]])
def test_b_noise_equals_b_simple_when_hessian_is_identity(sizes):
    rng = np.random.default_rng(9)
    g = rng.normal(size=(4, 25)) + 0.5
    est = estimate_from_groups(torch.tensor(g), sizes)
    w = np.full(4, 16.0) if isinstance(sizes, int) else np.asarray(sizes, dtype=float)
    g_bar = (w[:, None] * g).sum(axis=0) / w.sum()
    c = 3.0  # H = c·I
    bn = estimate_b_noise(c * (g**2).sum(axis=1), c * g_bar @ g_bar, sizes)
    assert bn.b_noise == pytest.approx(est.b_simple, rel=1e-10)
    assert bn.g_h_g == pytest.approx(c * est.grad_sq, rel=1e-10)
    assert bn.trace_h_sigma == pytest.approx(c * est.trace, rel=1e-10)


def test_b_noise_inf_and_bad_input():
    assert estimate_b_noise([1.0, 1.0], 0.0, 4).b_noise == math.inf
    with pytest.raises(ValueError, match="at least 2"):
        estimate_b_noise([1.0], 1.0, 4)
    with pytest.raises(ValueError, match="nan or inf"):
        estimate_b_noise([1.0, math.nan], 1.0, 4)
    with pytest.raises(ValueError, match="entries"):
        estimate_b_noise([1.0, 2.0], 1.0, [4, 4, 4])
    with pytest.raises(ValueError, match="positive"):
        estimate_b_noise([1.0, 2.0], 1.0, 0)
