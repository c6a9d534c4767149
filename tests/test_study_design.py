"""benchmarks/study_design.py: its cost model and per-size seed counts, on hand-made input."""

import math

import numpy as np
import pytest

from benchmarks.study_design import (
    DESIGNS,
    evaluate,
    fit_update_seconds,
    run_cost,
    simulate_design,
)
from rlnoise.study.front import Cell
from rlnoise.study.synthetic import SyntheticStudy


def test_update_seconds_recovers_a_known_line():
    a, b = 0.2, 5e-5
    rows = [(u, bs, u * (a + b * bs)) for u, bs in [(100, 256), (40, 4096), (25, 8192), (60, 1024)]]
    fa, fb = fit_update_seconds(rows)
    assert fa == pytest.approx(a) and fb == pytest.approx(b)


def test_run_cost_counts_a_stopped_run_at_its_cap():
    # one run reached in 100 updates, one stopped at its cap of 50: 150 updates at B = 256
    cells = {256: [Cell(log_lr=0.0, log_s=np.array([math.log(100), np.inf]), log_cap=math.log(50))]}
    secs, samples = run_cost(cells, 0.2, 1e-4)
    assert secs == pytest.approx(150 * (0.2 + 1e-4 * 256))
    assert samples == pytest.approx(150 * 256)


def test_each_size_gets_its_own_seed_count():
    sizes, seeds = DESIGNS["ends"]
    study = SyntheticStudy(batch_sizes=sizes)
    cells = simulate_design(np.random.default_rng(0), study, seeds)
    assert sorted(cells) == list(sizes)
    for b, n in zip(sizes, seeds, strict=True):
        assert {len(c.log_s) for c in cells[b]} == {n}
        assert len(cells[b]) == len(study.ks)


def test_more_seeds_bring_two_studies_closer():
    # pairs of studies of one truth with 5 and with 7 seeds per cell: more seeds, less spread
    few = evaluate("default", 1500.0, pairs=40, n_boot=20, seed=3, cost=(0.2, 1e-4))
    many = evaluate("seeds7", 1500.0, pairs=40, n_boot=20, seed=3, cost=(0.2, 1e-4))
    assert few["design"] == "default" and few["seeds"] == [5] * 6
    assert 0.0 <= few["share_within_25pct"] <= 1.0 and few["mean_run_seconds"] > 0
    assert many["rms_log_ratio"] < few["rms_log_ratio"]
