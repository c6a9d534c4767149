"""The robust front's parts with known answers (rlnoise.study.front): the Huber cell value,
the curvature shared by every batch size, the planner's caps in the bootstrap."""

import dataclasses
import math

import numpy as np
import pytest
from study_fakes import CFG, records

from rlnoise.study.analysis import front_cells
from rlnoise.study.front import (
    HUBER_K,
    Cell,
    _resampled_caps,
    cell_values,
    curvature,
    fit_front,
    seed_scale,
    smooth_min,
    window,
)

INF = math.inf


def test_huber_caps_an_outlier_seed():
    """Four seeds near 1 and one at 5, scale 0.1: the outlier pulls by k*scale only.
    By hand: (1 + 1.1 + 0.9 + 1.0 - 4 mu) + 0.1345 = 0 -> mu = 1.033625 (every inlier within
    0.1345 of it). The median says 1.0, the mean 1.8."""
    v, cens = cell_values(np.array([1.0, 1.1, 0.9, 1.0, 5.0]), np.array(INF), scale=0.1)
    assert not cens
    assert v == pytest.approx(1.0 + HUBER_K * 0.1 / 4, abs=1e-9)


def test_seeds_that_agree_take_their_mean():
    x = np.array([[3.0, 3.2, 3.1], [2.0, 2.3, 2.1]])
    v, _ = cell_values(x, np.array([INF, INF]), scale=0.3)
    assert v == pytest.approx(x.mean(axis=1))


def test_a_run_that_did_not_reach_makes_the_cell_a_median():
    """One censored run of three: the median (ranked above the others), not a mean; two of
    three: the cell is censored at its budget."""
    v, cens = cell_values(np.array([[2.0, 2.6, INF], [2.0, INF, INF]]), np.array([4.0, 4.5]), 0.3)
    assert v.tolist() == [2.6, 4.5] and cens.tolist() == [False, True]


def test_without_a_scale_cells_are_medians():
    v, _ = cell_values(np.array([1.0, 1.1, 5.0]), np.array(INF), scale=None)
    assert v == pytest.approx(1.1)


def test_seed_scale_is_the_mad_of_the_residuals():
    assert seed_scale(np.array([-1.0, 1.0, -1.0, 1.0])) == pytest.approx(1.4826)
    assert seed_scale(np.array([0.5, -0.5])) is None  # too few


def test_shared_curvature_recovers_an_exact_bowl():
    """log S = s_B + 0.3 (u - m_B)^2 on three lr cells per B, the vertex m_B off the grid:
    the shared fit gives c = 0.3, and each B's minimum and its lr exactly."""
    x = np.log(2.0) * np.array([-1.0, 0.0, 1.0])
    truth = {128: (5.0, 0.2), 512: (4.0, -0.3), 2048: (3.3, 0.45)}
    wins = []
    for s, m in truth.values():
        y = s + 0.3 * (x - m) ** 2
        wins.append(window(x, y[None], np.zeros((1, 3), bool)))
    c = curvature(wins)
    assert c == pytest.approx([0.3])
    for win, (s, m) in zip(wins, truth.values()):
        ys, xs, _ = smooth_min(win, c)
        assert ys[0] == pytest.approx(s) and xs[0] == pytest.approx(m)


def test_a_peak_gives_no_curvature_and_the_lowest_cell():
    """Cells that rise in the middle (a peak): c is floored at 0, a flat front, and the minimum
    sits at the lower end of the line through the cells."""
    x = np.array([0.0, 1.0, 2.0])
    win = window(x, np.array([[3.0, 3.5, 3.2]]), np.zeros((1, 3), bool))
    c = curvature([win])
    assert c.tolist() == [0.0]
    ys, xs, best = smooth_min(win, c)
    # the line through the cells: mean 9.7 / 3 at u = 1, slope 0.1 -> 9.7 / 3 - 0.1 at u = 0
    assert best[0] == 0 and xs[0] == 0.0 and ys[0] == pytest.approx(9.7 / 3 - 0.1)


def test_censored_cells_stay_out_of_the_fit():
    """A censored cell only bounds the search: the curve comes from the others."""
    x = np.log(2.0) * np.array([-1.0, 0.0, 1.0])
    y = 4.0 + 0.3 * x**2
    cens = np.array([[False, False, True]])
    win = window(x, np.array([[y[0], y[1], 1.0]]), cens)  # its value (a bound) is ignored
    assert win.w[0].tolist() == [1.0, 1.0, 0.0]
    ys, xs, _ = smooth_min(win, np.array([0.3]))
    assert ys[0] == pytest.approx(4.0) and xs[0] == pytest.approx(0.0)


def test_the_planners_caps_move_with_the_best_cell_in_a_resample():
    """Cell 1 is the best (full budget log 100); cells 0 and 2 were capped at 2x its median.
    In a resample whose best-cell median is 0.5 higher the caps rise by 0.5, never above the
    full budget; a resample of the best cell that is censored lifts the caps to the full one."""
    caps = np.log([60.0, 100.0, 60.0])
    base = np.log([[40.0, 45.0, 50.0], [28.0, 30.0, 32.0], [42.0, 44.0, 70.0]])
    center = np.array([math.log(45.0), math.log(30.0), math.log(44.0)])
    cens = np.zeros(3, bool)
    draws = np.stack([base + 0.5, base + 0.5])
    draws[1, 1] = INF  # second resample: the best cell never reached
    out = _resampled_caps(caps, base, center, cens, draws)
    moved = math.log(60.0) + 0.5  # 98.9 updates, under the full 100
    assert out[0] == pytest.approx([moved, math.log(100), moved])
    assert out[1] == pytest.approx([math.log(100)] * 3)


def test_a_cell_that_reached_still_carries_its_budget():
    """The bootstrap can censor a capped cell only if the cell knows its budget, also when
    every run of it reached the target."""
    cfg = dataclasses.replace(CFG, n_envs=(1, 4), targets=(100.0,), seeds=2)
    table = {(n, k, s): (30 + k, 1) for n in (1, 4) for k in (-1, 0, 1) for s in range(2)}
    cells = front_cells(records(cfg, table), 100.0)
    assert all(c.log_cap == math.log(200) for cs in cells.values() for c in cs)


def test_fit_front_reports_the_scale_it_used():
    rng = np.random.default_rng(0)
    cells = {
        b: [
            Cell(math.log(lr), np.log(20 * (1 + 1000 / b)) + 0.1 * rng.standard_normal(5), INF)
            for lr in (1e-3, 2e-3, 4e-3)
        ]
        for b in (256, 1024, 4096)
    }
    fit = fit_front(cells, n_boot=50)
    assert fit.b_crit is not None and fit.scale == pytest.approx(0.1, rel=0.5)
