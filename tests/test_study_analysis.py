"""Study analysis without training: target crossings, run records, the fastest-run selection,
multi-target B_simple, fits that fail, and the example study analysed again."""

import dataclasses
import json
import math
import statistics
from pathlib import Path

import pytest
from study_fakes import CFG, records, summary

from rlnoise.study.analysis import analyse, crossing_update, noise_up_to, run_record, thin
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


def test_fastest_run_per_batch_makes_the_front():
    cfg = dataclasses.replace(CFG, n_envs=(1, 4, 16, 64), targets=(100.0,))
    # S = 10 (1 + 512/B) with B = 128 n: 50, 20, 12.5, 10.6 -> B_crit = 512
    ideal = {1: 50, 4: 20, 16: 13, 64: 11}
    table = {}
    for n, s in ideal.items():
        table[(n, 0, 0)] = (s + 7, 900)  # slower seed
        table[(n, 0, 1)] = (s + 3, 800)
        table[(n, 1, 0)] = (s, 500 + n)  # the fastest
        table[(n, -1, 1)] = (None, 5)  # never reached
    out = analyse(cfg, records(cfg, table), n_boot=200)
    fit = out.fits[0]
    assert fit.ok, fit.error
    assert [f.k for f in fit.front] == [1, 1, 1, 1]
    assert [f.steps for f in fit.front] == [50, 20, 13, 11]
    assert out.b_crit == pytest.approx(512, rel=0.15)
    lo, hi = out.b_crit_interval
    assert lo <= out.b_crit * 1.01 and hi >= out.b_crit * 0.99
    # headline B_simple: median over the front of the policy run average
    assert out.b_simple == pytest.approx(statistics.median([501, 504, 516, 564]))
    assert out.ratio == pytest.approx(out.b_simple / out.b_crit)
    assert out.verdict == "consistent"
    row = fit.per_batch[0]
    assert row.edge == "top" and row.n_reached == 3
    seeds = next(x for x in row.by_lr if x.k == 0).steps_by_seed
    assert seeds == [57, 53]
    assert fit.notes and "temperature" in fit.notes[0]
    assert TargetFit.from_json(json.loads(json.dumps(fit.to_json()))) == fit


def test_ties_go_to_the_central_lr():
    cfg = dataclasses.replace(CFG, n_envs=(1, 4), targets=(100.0,), seeds=1)
    table = {(1, 1, 0): (30, 1), (1, 0, 0): (30, 2), (4, 0, 0): (12, 3), (4, -1, 0): (15, 4)}
    fit = analyse(cfg, records(cfg, table), n_boot=50).fits[0]
    assert [f.k for f in fit.front] == [0, 0]


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
