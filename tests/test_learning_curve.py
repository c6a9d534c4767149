"""benchmarks/learning_curve.py: the return at milestones read from a finished run's summary."""

import json

import pytest

from benchmarks.learning_curve import milestones, read_run, tail_mean

CURVE = [[100, 1, None], [200, 2, 1.5], [300, 3, 4.0], [400, 4, 3.0]]


def test_milestones_take_the_last_update_at_or_before_each_step():
    got = milestones(CURVE, [50, 100, 250, 300, 399, 400, 401])
    assert got == {50: None, 100: None, 250: 1.5, 300: 4.0, 399: 4.0, 400: 3.0, 401: None}


def test_the_tail_mean_averages_the_last_tenth_of_steps():
    curve = [[s, s, float(s)] for s in range(1, 101)]  # steps 1..100, return = step
    assert tail_mean(curve) == pytest.approx(sum(range(91, 101)) / 10)
    assert tail_mean([]) is None


def test_a_run_reads_end_best_and_the_target_fractions(tmp_path):
    summary = {
        "curve": CURVE,
        "recent_mean_return": 3.0,
        "env": "MinAtar/Breakout-v1",
        "algo": "ppo",
        "n_envs": 1,
        "lr": 5e-3,
        "seed": 0,
        "global_step": 400,
        "episodes": 9,
        "episode_window": 20,
        "wall_seconds": 1.0,
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    r = read_run(tmp_path, [300], target=1.0)
    assert (r["end"], r["best"], r["at"]) == (3.0, 4.0, {300: 4.0})
    assert r["last10"] == 3.0  # the updates after step 360: the last one
    assert r["target_over_end"] == pytest.approx(1 / 3) and r["target_over_best"] == 0.25


def test_a_run_without_a_summary_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no summary.json"):
        read_run(tmp_path, [1], None)
