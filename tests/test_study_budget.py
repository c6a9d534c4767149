"""The time budget (`rlnoise study --budget-minutes`) and `--workers auto`: the estimate and the
shrink order on synthetic SPS tables with known answers, the plan printout, the budget in
study.json and report.md, bad input, and the threads each run gets. No training."""

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from test_study_e2e import _one_line_error
from test_study_runner import TINY, FakeExecutor

from rlnoise.cli import main
from rlnoise.study import runner
from rlnoise.study.budget import (
    Calibration,
    Fit,
    Workers,
    auto_workers,
    budget_doc,
    budget_line,
    close_budget,
    estimate,
    fit_budget,
    plan_lines,
    planned_runs,
    simulate,
)
from rlnoise.study.config import ExecOptions, StudyConfig, StudyError, lr_for
from rlnoise.study.plan import PlanResult, plan, run_name

REPO = Path(__file__).resolve().parents[1]
TWO = StudyConfig(n_envs=(1, 2), n_steps=10, max_steps=1000, seeds=2, lr_rule="sqrt",
                  targets=(5.0,))  # fmt: skip
CAL2 = Calibration({1: 10.0, 2: 20.0})  # every run of TWO: 1,000 steps = 100 s at 1 env, 50 at 2
SIX = StudyConfig(n_envs=(1, 2, 4, 8, 16, 32), n_steps=10, max_steps=10_000, seeds=2,
                  lr_rule="sqrt", lr=1e-3, targets=(5.0,))  # fmt: skip
CAL6 = Calibration({n: 10.0 * n for n in SIX.n_envs})  # a run at n envs: floor(1000/n) s


# ----------------------------------------------------------------------------- the estimate


@pytest.mark.parametrize("workers, seconds", [(1, 300.0), (2, 150.0), (3, 100.0), (4, 100.0)])
def test_simulate_list_schedules_in_plan_order(workers, seconds):
    # 2 workers: both 1-env runs (100 s), then both 2-env runs (50 s); 3 workers: the third
    # starts the first 2-env run, which ends at 50 s and frees its worker for the last one
    assert simulate(planned_runs(TWO), CAL2, workers) == pytest.approx(seconds)


def test_simulate_shares_a_cap_and_charges_startup():
    capped = dataclasses.replace(CAL2, cap=15.0)  # two runs at once would want 20 or 40 obs/s
    assert simulate(planned_runs(TWO), capped, 2) == pytest.approx(4000 / 15)
    slow_start = dataclasses.replace(CAL2, startup={1: 5.0, 2: 1.0})
    assert simulate(planned_runs(TWO), slow_start, 1) == pytest.approx(300.0 + 2 * 5 + 2 * 1)


def test_grid_stages_wait_for_the_central_lr():
    cfg = dataclasses.replace(TWO, lr_rule="grid", seeds=1, max_widenings=2)
    runs = planned_runs(cfg)
    assert [(r.n_envs, r.stage, r.k) for r in runs] == [
        (1, 1, -1), (1, 1, 1), (1, 0, 0), (2, 1, -1), (2, 1, 1), (2, 0, 0),
    ]  # fmt: skip
    # 3 workers: only the two central runs can start; the 2-env grid (50..100 s) runs before
    # the 1-env grid, which waits for its central run (100 s) and ends at 200 s
    assert simulate(runs, CAL2, 3) == pytest.approx(200.0)
    assert simulate(runs, CAL2, 1) == pytest.approx(3 * 100 + 3 * 50)
    est = estimate(cfg, CAL2, 1)
    assert (est.runs, est.steps) == (6, 6000)
    assert est.widening_runs == 4  # 2 env counts x 2 widenings x 1 seed
    assert est.widening_seconds == pytest.approx(2 * 100 + 2 * 50)


def test_planned_runs_are_the_planners_base_grid():
    cfg = StudyConfig(n_envs=(1, 4), n_steps=16, max_steps=16_000, seeds=2, lr_rule="grid")
    every = {(r.n_envs, r.k, r.seed) for r in planned_runs(cfg)}
    first = plan(cfg, {})
    assert {(s.n_envs, s.k, s.seed) for s in first} < every  # the central lr first
    # every lr of the base grid finished, the central one fastest: no widening
    done = {}
    for n, k, s in every:
        done[run_name(n, lr_for(cfg, n, k), s)] = PlanResult(10 if k == 0 else 20, 1.0)
    assert {(s.n_envs, s.k, s.seed) for s in plan(cfg, done)} == every
    assert all(r.steps == 16_000 for r in planned_runs(cfg))


# ----------------------------------------------------------------------------- shrinking


def test_a_plan_that_fits_is_not_shrunk():
    fit = fit_budget(SIX, CAL6, 1, 70)  # 2 x (1000 + 500 + 250 + 125 + 62 + 31) s = 65.6 min
    assert fit.cfg == SIX and fit.shrink == ()
    assert fit.estimate.seconds == pytest.approx(3936.0)


def test_fewer_seeds_first():
    fit = fit_budget(SIX, CAL6, 1, 40)
    assert fit.cfg.seeds == 1 and fit.shrink == ("seeds 2 -> 1",)
    assert fit.estimate.seconds == pytest.approx(1968.0)


def test_then_the_env_count_that_saves_more_keeping_a_16x_span():
    fit = fit_budget(SIX, CAL6, 1, 20)
    # dropping 1 env saves 1,000 s, dropping 32 envs 31 s: 1 goes; 2..32 spans 16x
    assert fit.cfg.n_envs == (2, 4, 8, 16, 32)
    assert fit.shrink == ("seeds 2 -> 1", "dropped n_envs 1 (16x span left)")
    for n in fit.cfg.n_envs:  # the lr at every batch size is unchanged
        assert lr_for(fit.cfg, n, 0) == pytest.approx(lr_for(SIX, n, 0), rel=1e-5)
    # the calibration's time counts against the budget: 40 min less 10 spent is 1,800 s
    assert fit_budget(SIX, CAL6, 1, 40, spent=600).cfg.n_envs == (2, 4, 8, 16, 32)


def test_then_a_lower_step_cap():
    fit = fit_budget(SIX, CAL6, 1, 10)  # 600 s: no env count can go (the span would be 8x)
    # sum of floor(cap / (10 n)) over n = 2..32 is 600 at cap 6,239 and 604 at 6,240: the
    # cap is the highest that fits, rounded down to 3 significant digits
    assert fit.cfg.max_steps == 6230 and fit.cfg.n_envs == (2, 4, 8, 16, 32)
    assert fit.shrink[-1] == "step cap 10,000 -> 6,230 observations per run"
    assert fit.estimate.seconds <= 600


def test_a_budget_too_short_for_the_smallest_plan_is_refused():
    # the cap may fall at most 10x: at 1,000 steps the runs still need 96 s > 60 s
    with pytest.raises(StudyError, match="--budget-minutes 1 is too short.*1.6 min"):
        fit_budget(SIX, CAL6, 1, 1)


def test_fewer_than_three_env_counts_are_never_dropped():
    cfg = dataclasses.replace(SIX, n_envs=(1, 4, 16))
    fit = fit_budget(cfg, CAL6, 1, 5)
    assert fit.cfg.n_envs == (1, 4, 16) and fit.shrink[-1].startswith("step cap")


# ----------------------------------------------------------------------------- workers


def test_auto_workers_on_cpu_one_torch_thread_per_core():
    w = auto_workers("cpu", 2)
    assert (w.count, w.env_threads, w.torch_threads) == (2, (1, 1), 1)
    w = auto_workers("cpu", 16, threads_per_run=4)
    assert w.count * w.torch_threads <= 16 and w.count == 4


def test_auto_workers_on_a_faked_16_core_cuda_machine():
    cal = Calibration({8: 500.0, 64: 4000.0, 256: 11000.0, 1024: 20000.0})
    w = auto_workers("cuda", 16, cal=cal)
    assert w.count == math.ceil(20000 / 7500)  # fastest / median run
    assert w.env_threads == (6, 5, 5) and sum(w.env_threads) <= 16 and w.torch_threads == 1
    many = auto_workers("cuda", 16, cal=Calibration({8: 100.0, 16: 200.0, 1024: 50000.0}))
    assert many.count == 16 and many.env_threads == (1,) * 16  # never more runs than cores
    with pytest.raises(ValueError):
        auto_workers("cuda", 16)


# ----------------------------------------------------------------------------- printing


def test_the_plan_printout():
    w = Workers(2, (1, 1), 1, "asked for")
    fit = Fit(TWO, estimate(TWO, CAL2, 2), ("seeds 3 -> 2",))
    lines = plan_lines(TWO, dataclasses.replace(CAL2, seconds=30.0), w, fit, 5)
    text = "\n".join(lines)
    assert lines[0] == (
        "plan: PPO on CartPole-v1, target(s) 5, 2 seed(s), step cap 1,000 observations per "
        "run, lr rule sqrt"
    )
    assert lines[2].split() == ["1", "10", "10", "2.50e-04", "2", "1.7"]
    assert lines[3].split() == ["2", "20", "20", "3.54e-04", "2", "0.8"]
    assert "4 runs (2 env counts x 1 lr(s) x 2 seed(s)) on 2 worker(s)" in text
    assert "estimate: 2.5 min + calibration 0.5 min = 3.0 min of the 5 budgeted" in text
    assert "shrunk to fit: seeds 3 -> 2" in text


def test_budget_doc_and_its_line():
    w = Workers(2, (1, 1), 1, "asked for")
    fit = Fit(TWO, estimate(TWO, CAL2, 2), ())
    b = budget_doc(5, w, fit, dataclasses.replace(CAL2, seconds=30.0), TWO)
    assert b["estimate_minutes"] == pytest.approx(2.5) and b["actual_minutes"] is None
    assert Calibration.from_json(json.loads(json.dumps(b["calibration"]))).sps == CAL2.sps
    assert "actual: not finished" in budget_line(b)
    close_budget(b, 180.0)
    assert b["actual_minutes"] == pytest.approx(3.0) and b["ratio"] == pytest.approx(1.2)
    assert "actual 3.0 min (1.20x the estimate)" in budget_line(b)


def test_the_budget_module_imports_no_torch():
    code = "import sys, rlnoise.study.budget; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.stdout.strip() == "False", res.stderr


# ----------------------------------------------------------------------------- in a study

CAL_TINY = Calibration({1: 100.0, 2: 200.0, 4: 400.0}, seconds=1.0)  # 200 / 100 / 50 s per run


def _fake_study(monkeypatch, cal=CAL_TINY, device="cpu", cores=2):
    jobs = []

    def make(backend, count, *a):
        fake = FakeExecutor(workers=count)
        fake.jobs = jobs
        return fake

    def calibrate(*a):
        if cal is None:
            raise AssertionError("calibrated again")
        return cal

    monkeypatch.setattr(runner, "make_executor", make)
    monkeypatch.setattr(runner, "calibrate", calibrate)
    monkeypatch.setattr(runner, "_device_type", lambda ex: device)
    monkeypatch.setattr(runner, "usable_cores", lambda: cores)
    return jobs


def test_a_budgeted_study_records_its_estimate_and_actual_time(tmp_path, monkeypatch):
    jobs = _fake_study(monkeypatch)
    out, lines = tmp_path / "s", []
    ex = ExecOptions(workers=2, budget_minutes=10)
    study = runner.run_study(TINY, ex, out, "cmd", lines.append)
    assert len(jobs) == 3
    assert any(ln.startswith("plan: PPO on CartPole-v1") for ln in lines)
    b = json.loads((out / "study.json").read_text())["budget"]
    assert b["minutes"] == 10 and b["shrink"] == [] and b["runs"] == 3 and b["workers"] == 2
    assert b["estimate_minutes"] == pytest.approx(200 / 60)  # 1 env alone; 2 then 4 beside
    assert b["calibration"]["sps"] == {"1": 100.0, "2": 200.0, "4": 400.0}
    assert b["actual_minutes"] is not None and b["ratio"] == pytest.approx(
        b["actual_minutes"] / b["estimate_minutes"]
    )
    assert study.doc["budget"] == b
    report = (out / "report.md").read_text()
    assert "- Time budget: budget 10 min; estimated 3.3 min for 3 runs on 2 worker(s)" in report
    assert f"actual {b['actual_minutes']:,.1f} min" in report


def test_a_shrunk_study_continues_with_its_plan(tmp_path, monkeypatch):
    jobs = _fake_study(monkeypatch)
    out = tmp_path / "s"
    ex = ExecOptions(workers=2, budget_minutes=2)  # 119 s left after the calibration
    runner.run_study(TINY, ex, out, "cmd", print)
    doc = json.loads((out / "study.json").read_text())
    cap = doc["config"]["max_steps"]
    assert doc["budget"]["shrink"] == [f"step cap 20,000 -> {cap:,} observations per run"]
    assert cap < 20_000 and doc["budget"]["requested"]["max_steps"] == 20_000
    assert doc["budget"]["estimate_minutes"] <= 2 - 1 / 60
    for job in jobs:
        b = job["config"]["n_envs"] * 32
        assert job["config"]["total_steps"] == cap // b * b
    # the same command again: the stored plan, no new calibration, nothing to train
    jobs2 = _fake_study(monkeypatch, cal=None)
    study = runner.run_study(TINY, ex, out, "cmd", print)
    assert jobs2 == [] and study.cfg.max_steps == cap
    # the same command with more seeds grows the shrunk plan (its step cap kept)
    actual = json.loads((out / "study.json").read_text())["budget"]["actual_minutes"]
    jobs3 = _fake_study(monkeypatch, cal=None)
    grown = runner.run_study(dataclasses.replace(TINY, seeds=2), ex, out, "cmd2", print)
    assert {j["config"]["seed"] for j in jobs3} == {1} and len(jobs3) == 3
    assert grown.cfg.max_steps == cap and grown.cfg.seeds == 2
    assert all(j["config"]["total_steps"] < 20_000 for j in jobs3)
    # the budget's figures stay those of the plan it sized, and say so
    b = grown.doc["budget"]
    assert b["before_growing"] and b["actual_minutes"] == actual
    assert budget_line(b).endswith("all of this before more seeds were added")


@pytest.mark.parametrize(
    "device, cores, cal, threads",
    [
        ("cpu", 2, None, [1, 1]),  # one torch thread per core; no calibration needed
        ("cuda", 16, Calibration({1: 1000.0, 2: 2000.0, 4: 5000.0}, cap=5000.0), [6, 5, 5]),
    ],
)
def test_workers_auto_gives_each_run_its_share_of_the_cores(
    tmp_path, monkeypatch, device, cores, cal, threads
):
    jobs = _fake_study(monkeypatch, cal=cal, device=device, cores=cores)
    runner.run_study(TINY, ExecOptions(workers="auto"), tmp_path / "s", "cmd", print)
    # the first runs in flight together: env threads as split by the slots, <= the cores
    first = [j["config"] for j in jobs[: len(threads)]]
    assert [c["env_threads"] for c in first] == threads and sum(threads) <= cores
    assert all(c["torch_threads"] == 1 for c in first)
    ex = json.loads((tmp_path / "s" / "study.json").read_text())["execution"]
    assert ex["workers"] == len(threads) and ex["env_threads"] == threads


STUDY = ["study", "--n-envs", "1,2,4", "--n-steps", "32", "--target", "40", "--seeds", "1",
         "--max-steps", "20000", "--lr-rule", "sqrt", "--lr", "4e-3"]  # fmt: skip


def test_a_budget_that_is_not_a_number_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main([*STUDY, "--budget-minutes", "ten"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "--budget-minutes" in err and "\n" not in err


def test_a_budget_too_short_exits_2_before_any_run(tmp_path, monkeypatch, capsys):
    jobs = _fake_study(monkeypatch)
    out = tmp_path / "s"
    assert main([*STUDY, "--workers", "2", "--budget-minutes", "0.2", "--out", str(out)]) == 2
    assert "is too short" in _one_line_error(capsys)
    assert jobs == [] and not (out / "study.json").exists()
