"""Study analysis without training: target crossings, run records, the fastest-run selection,
multi-target B_simple, fits that fail, and the example study analysed again."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
from study_fakes import CFG, records, summary

from rlnoise.study.analysis import analyse, crossing_update, noise_up_to, run_record, thin
from rlnoise.study.config import lr_for
from rlnoise.study.plan import RunSpec
from rlnoise.study.records import RunRecord, TargetFit
from rlnoise.study.store import load_study

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-study"

# ----------------------------------------------------------------------------- one run


def test_crossing_needs_a_full_window():
    curve = [[32 * u, u, r] for u, r in enumerate([0, 60, 10, 20, 45, 50, 80], start=1)]
    # update 2 reads 60 from a part-full window; the window is full from update 3 on
    assert crossing_update(curve, 40, first_full_update=3) == 5
    assert crossing_update(curve, 40, first_full_update=1) == 2
    assert crossing_update(curve, 70, first_full_update=3) == 7
    assert crossing_update(curve, 90, first_full_update=3) is None
    assert crossing_update(curve, 10, first_full_update=None) is None
    assert crossing_update([[1, 1, float("nan")], [2, 2, 5]], 1, 1) == 2


def test_run_record_reads_each_target_and_averages_noise_up_to_it():
    cfg = dataclasses.replace(CFG, targets=(20.0, 40.0))
    spec = RunSpec(4, 0, 0, 1e-3, 512, 100, 0)
    returns = [5, 10, 25, 30, 41, 50]
    g = [1.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    tr = [100.0, 100.0, 200.0, 400.0, 800.0, 800.0]
    tr[3] = 1000.0  # a noisy measurement after the lower target
    rec = run_record(cfg, spec, summary(5, 512, returns, g, tr, target_update=5), 1, "runs/x")
    assert isinstance(rec, RunRecord)
    lo, hi = rec.targets
    assert (lo.steps, lo.samples) == (3, 3 * 512)
    assert (hi.steps, hi.samples) == (5, 5 * 512)
    # up to target 20 (updates 1..3 -> measurements 0..2): sum(trace)/sum(grad_sq) = 400/4
    assert lo.noise["policy"]["run_avg"] == pytest.approx(100.0)
    assert hi.noise["policy"]["run_avg"] == pytest.approx(2200 / 16)
    assert rec.steps_to_target == 5 and rec.samples_to_target == 2560
    assert rec.b_simple == pytest.approx(2200 / 16)
    assert rec.best_return == 41
    assert RunRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


def test_noise_up_to_handles_no_signal():
    hist = [
        {"update": 0, **{p: {"grad_sq": -1.0, "trace": 5.0} for p in ("policy", "value", "total")}}
    ]
    for p in ("policy", "value", "total"):
        hist[0][p] |= {"b_simple": math.inf, "ema_b_simple": math.inf}
    out = noise_up_to(hist, None)
    assert out["policy"]["run_avg"] is None  # inf (|G|^2 <= 0) is stored as null
    assert noise_up_to([], None)["policy"]["n_measurements"] == 0


def test_thin_keeps_ends():
    xs = list(range(1000))
    t = thin(xs, 50)
    assert len(t) <= 50 and t[0] == 0 and t[-1] == 999
    assert thin(xs[:10], 50) == xs[:10]


# ----------------------------------------------------------------------------- the study


def _shaped_table(ideal: dict, seeds: int = 3) -> dict:
    """lr cells k = -1, 0, 1 at every n: k = 0 is best (S = ideal), the others 30% slower;
    seed noise of a few percent."""
    table = {}
    for n, s in ideal.items():
        for k in (-1, 0, 1):
            for seed in range(seeds):
                table[(n, k, seed)] = (round(s * (1.3 if k else 1.0) * (1 + 0.04 * (seed - 1))),
                                       400 + 10 * k + n)  # fmt: skip
    return table


def test_robust_front_takes_medians_and_a_smooth_lr():
    cfg = dataclasses.replace(CFG, n_envs=(1, 4, 16, 64), targets=(100.0,), seeds=3)
    # S = 20 (1 + 512/B) with B = 128 n: 100, 40, 25, 21.2 -> B_crit = 512
    ideal = {1: 100, 4: 40, 16: 25, 64: 21.2}
    out = analyse(cfg, records(cfg, _shaped_table(ideal)), n_boot=200)
    fit = out.fits[0]
    assert fit.ok, fit.error
    assert [f.k for f in fit.front] == [0, 0, 0, 0]
    for f, s in zip(fit.front, ideal.values()):
        assert s * 0.93 <= f.steps <= s * 1.01  # the parabola's minimum: at or just below
        assert f.lr == pytest.approx(f.lr_cell, rel=0.05)  # symmetric cells: the centre lr
        assert f.steps_sigma is not None and f.steps_sigma > 0
        assert f.seed == 1  # the cell's median run
    assert out.b_crit == pytest.approx(512, rel=0.15)
    lo, hi = out.b_crit_interval
    assert lo <= out.b_crit <= hi
    names = [p["name"] for p in out.predictors]
    assert names == ["b_simple_front", "b_simple_temperature", "b_simple_last10", "b_noise"]
    front = out.predictors[0]
    assert front["value"] == pytest.approx(math.sqrt(404 * 416))  # median in log space
    assert front["lo"] <= front["value"] <= front["hi"]
    assert front["ratio_lo"] <= front["ratio"] <= front["ratio_hi"]
    assert front["within_2x"] is True and out.predictors[3]["within_2x"] is None  # no B_noise
    assert "Within 2x of B_crit" in fit.predictor_verdict[0]
    assert TargetFit.from_json(json.loads(json.dumps(fit.to_json()))) == fit


def test_a_lucky_seed_does_not_make_the_front():
    """A cell whose median run did not reach is censored: never the front, even when one of its
    seeds was the fastest run at that batch size (the old minimum over runs took it)."""
    cfg = dataclasses.replace(CFG, n_envs=(1, 4, 16), targets=(100.0,), seeds=3)
    table = _shaped_table({1: 100, 4: 40, 16: 25})
    table |= {(4, 1, 0): (20, 1), (4, 1, 1): (None, 1), (4, 1, 2): (None, 1)}
    fit = analyse(cfg, records(cfg, table), n_boot=100).fits[0]
    assert fit.front_at(512).k == 0 and fit.front_at(512).steps > 30


def test_the_front_point_takes_its_runs_from_the_lr_nearest_the_fit():
    """Where the smooth fit moves the lr away from the best raw cell, B_simple and the seed
    come from the cell nearest the fitted lr (the lr the point stands for)."""
    cfg = dataclasses.replace(CFG, n_envs=(1, 4, 16), targets=(100.0,), seeds=3)
    table = _shaped_table({1: 100, 4: 40, 16: 25})
    # at n = 4: cells k = -2 .. 1 with medians 44, 41, 40, 80 and B_simple 50, 100, 200, 300;
    # the least-squares parabola through them has its minimum near k = -1 (best raw cell: 0)
    for k, (s, bs) in {-2: (44, 50), -1: (41, 100), 0: (40, 200), 1: (80, 300)}.items():
        for seed in range(3):
            table[(4, k, seed)] = (s - 1 + seed, bs)
    fit = analyse(cfg, records(cfg, table), n_boot=100).fits[0]
    f = fit.front_at(512)
    lrs = {k: lr_for(cfg, 4, k) for k in (-1, 0)}
    assert lrs[-1] < f.lr < lrs[0]
    near = min(lrs, key=lambda k: abs(math.log(f.lr / lrs[k])))
    assert near == -1  # the fixture does what it says
    assert f.k == -1 and f.lr_cell == pytest.approx(lrs[-1])
    assert f.noise["policy"]["run_avg"] == pytest.approx(100)
    assert fit.per_batch[1].edge is None  # the best raw cell (k = 0) is not on the grid's edge
    assert f.steps < 40  # the parabola's minimum


def test_a_b_crit_at_the_edge_of_the_batch_sizes_is_flagged():
    cfg = dataclasses.replace(CFG, n_envs=(1, 4, 16, 64), targets=(100.0,), seeds=3)
    # S = 20 (1 + 100/B) with B = 128 n: B_crit = 100, below the smallest B (128)
    fit = analyse(cfg, records(cfg, _shaped_table({1: 36, 4: 24, 16: 21, 64: 20})), 100).fits[0]
    assert fit.ok and fit.b_crit < 256
    assert any("smallest batch size on the front" in n for n in fit.notes)
    assert not any("largest batch size" in n for n in fit.notes)
    # B_crit = 512 inside 128..8,192: no such note
    ideal = {1: 100, 4: 40, 16: 25, 64: 21.2}
    fit = analyse(cfg, records(cfg, _shaped_table(ideal)), n_boot=100).fits[0]
    assert not any("batch size on the front" in n for n in fit.notes)


def test_noise_up_to_gives_a_lower_bound_where_the_signal_is_lost():
    hist = [
        {"update": u, **{p: {"grad_sq": -0.05 + 0.01 * u, "trace": 5.0} for p in ("policy", "value", "total")}}
        for u in range(5)
    ]  # fmt: skip  # |gbar|^2 = grad_sq + trace/64 > 0, as a squared norm is
    for h in hist:
        for p in ("policy", "value", "total"):
            h[p] |= {"b_simple": math.inf, "ema_b_simple": math.inf}
    out = noise_up_to(hist, None, big_batch=64)["policy"]
    assert out["run_avg_bound"] == "lower" and 0 < out["run_avg"] < math.inf
    assert out["run_avg_hi"] is None


@pytest.mark.parametrize(
    "steps, msg",
    [
        ({1: 40, 4: 40, 16: 40}, "no B_crit could be fitted"),  # no trade-off
        ({1: None, 4: None, 16: None}, "no run reached"),
        ({1: 30, 4: None, 16: None}, "only one batch size"),
    ],
)
def test_fit_failures_are_reported(steps, msg):
    cfg = dataclasses.replace(CFG, targets=(100.0,), seeds=1)
    recs = records(cfg, {(n, 0, 0): (s, 100) for n, s in steps.items()})
    out = analyse(cfg, recs, n_boot=20)
    assert out.b_crit is None and msg in out.errors[0]


def test_the_example_study_analysed_again_gives_its_numbers():
    """docs/example-study: the analysis of its runs reproduces the fits study.json holds."""
    study = load_study(EXAMPLE)
    again = analyse(study.cfg, study.runs).to_json()
    for k, v in again.items():
        assert _close(v, study.doc[k]), k


def _close(a, b) -> bool:
    """Equal, with floats to 1e-9 (the fit's optimiser differs in the last digits across
    numpy builds)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    return a == b


def test_front_runs_reading_b_noise_at_or_below_zero_are_counted_and_left_out():
    """B_noise weights by the Hessian, which need not be positive in RL: a run can read <= 0.
    Such runs stay out of the log-space median and the row says how many there were."""
    from rlnoise.study.report import predictor_line

    cfg = dataclasses.replace(CFG, n_envs=(1, 4, 16, 64), targets=(100.0,), seeds=3)
    recs = records(cfg, _shaped_table({1: 100, 4: 40, 16: 25, 64: 21.2}))
    planted = {0: -50.0, 1: 200.0, 2: 800.0}  # by seed, the same at every cell
    for r in recs:
        r.targets[-1].noise["b_noise"] = planted[r.seed]
    out = analyse(cfg, recs, n_boot=100)
    row = out.predictors[3]
    assert row["name"] == "b_noise"
    assert (row["n_nonpositive"], row["n_runs"]) == (4, 12)  # one seed per front cell
    assert row["value"] == pytest.approx(400.0)  # sqrt(200 * 800), the -50 left out
    assert "4 of the front's 12 runs read <= 0" in predictor_line(row)
    front = out.predictors[0]
    assert front["n_nonpositive"] == 0 and front["n_runs"] == 12
    assert "left out" not in predictor_line(front)
