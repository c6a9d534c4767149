"""The study runner without training: a fake executor stands in for the process pool, so the
session loop, the stop request, failed runs and the outputs are tested in a second."""

import dataclasses
import json
import signal

import pytest
from study_fakes import CFG, records, summary

from envs.errors import EnvError
from rlnoise.cli import main
from rlnoise.study import runner
from rlnoise.study.config import ExecOptions, StudyConfig, StudyError
from rlnoise.study.store import FORMAT

TINY = StudyConfig(
    n_envs=(1, 2, 4), n_steps=32, targets=(40.0,), max_steps=20_000, seeds=1,
    lr_rule="sqrt", lr=4e-3,
)  # fmt: skip
STEPS = {1: 40, 2: 22, 4: 14}  # updates to the target per n_envs: B_crit = 32 * 1.3


class FakeExecutor:
    """Runs each job when its result is asked for, FIFO; `on_result(n, job)` may raise or
    signal before the n-th result (0-based) is returned."""

    name = "fake"

    def __init__(self, workers=2, on_result=None):
        self.workers, self.on_result = workers, on_result
        self.jobs, self.results, self.stop_requested, self.shut = [], 0, False, None

    def submit(self, job):
        self.jobs.append(job)
        return len(self.jobs) - 1

    def wait(self, handles, timeout=None):
        return [min(handles)]

    def result(self, h):
        job = self.jobs[h]["config"]
        n, self.results = self.results, self.results + 1
        if self.on_result:
            self.on_result(n, job)
        steps, b = STEPS[job["n_envs"]], job["n_envs"] * job["n_steps"]
        ret = [41.0 if u >= steps else 1.0 for u in range(1, steps + 1)]
        s = summary(steps, b, ret, [1.0] * steps, [50.0 * b] * steps, target_update=steps)
        return {"summary": s, "first_full_update": 1, "how": "started", "seconds": 0.5}

    def request_stop(self):
        self.stop_requested = True

    def shutdown(self, cancel=False):
        self.shut = "cancel" if cancel else "wait"


def _run(tmp_path, monkeypatch, fake):
    monkeypatch.setattr(runner, "make_executor", lambda *a: fake)
    lines = []
    out = tmp_path / "s"
    return out, lines, lambda: runner.run_study(TINY, ExecOptions(), out, "cmd", lines.append)


def test_a_session_trains_the_plan_and_records_every_run(tmp_path, monkeypatch):
    fake = FakeExecutor()
    out, lines, go = _run(tmp_path, monkeypatch, fake)
    study = go()
    assert len(fake.jobs) == 3 and fake.shut == "wait"
    assert [r.steps_to_target for r in study.runs] == [40, 22, 14]
    assert study.top.ok and study.doc["status"] == "complete"
    doc = json.loads((out / "study.json").read_text())
    assert doc["b_crit"] == pytest.approx(study.top.b_crit)
    assert [r["how"] for r in doc["runs"]] == ["started"] * 3
    assert sum(ln.startswith("[") for ln in lines) == 3
    for name in ("runs.csv", "report.md", "pareto.png"):
        assert (out / name).is_file()
    # the same study again: nothing to train
    fake2 = FakeExecutor()
    monkeypatch.setattr(runner, "make_executor", lambda *a: fake2)
    runner.run_study(TINY, ExecOptions(), out, "cmd", lines.append)
    assert fake2.jobs == []


def test_the_first_signal_lets_runs_in_flight_finish_and_submits_no_more(tmp_path, monkeypatch):
    def on_result(n, job):
        if n == 0:
            signal.raise_signal(signal.SIGINT)  # the study's handler: request a stop

    fake = FakeExecutor(workers=2, on_result=on_result)
    out, lines, go = _run(tmp_path, monkeypatch, fake)
    with pytest.raises(runner.TrainingInterrupted, match="continue with the same command"):
        go()
    assert fake.stop_requested and len(fake.jobs) == 2  # the third run was never submitted
    assert any(ln.startswith("stopping:") for ln in lines)
    doc = json.loads((out / "study.json").read_text())
    assert len(doc["runs"]) == 2 and doc["status"] == "stopped"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    # continuing it: running while it runs, complete at the end
    fake2 = FakeExecutor(workers=2)
    monkeypatch.setattr(runner, "make_executor", lambda *a: fake2)
    seen = []
    real_save = runner.save_study
    monkeypatch.setattr(
        runner, "save_study", lambda o, d, *a: (seen.append(d["status"]), real_save(o, d, *a))
    )
    runner.run_study(TINY, ExecOptions(), out, "cmd", lines.append)
    assert seen[0] == "running" and json.loads((out / "study.json").read_text())["status"] == (
        "complete"
    )


def test_a_second_signal_stops_at_once(tmp_path, monkeypatch):
    def on_result(n, job):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)

    fake = FakeExecutor(on_result=on_result)
    out, _, go = _run(tmp_path, monkeypatch, fake)
    with pytest.raises(runner.TrainingInterrupted, match="study stopped; 0 runs finished"):
        go()
    assert fake.shut == "cancel"
    doc = json.loads((out / "study.json").read_text())
    assert doc["runs"] == [] and doc["status"] == "stopped"


@pytest.mark.parametrize(
    "error, expected, match",
    [
        (RuntimeError("worker died"), runner.StudyRunError, "failed .RuntimeError: worker died"),
        (EnvError("bad env"), EnvError, "bad env"),  # user errors pass through: exit 2
    ],
)
def test_a_failed_run_stops_the_study_and_keeps_the_others(
    tmp_path, monkeypatch, error, expected, match
):
    def on_result(n, job):
        if n == 1:
            raise error

    fake = FakeExecutor(workers=1, on_result=on_result)
    out, _, go = _run(tmp_path, monkeypatch, fake)
    with pytest.raises(expected, match=match):
        go()
    assert fake.stop_requested and len(fake.jobs) == 2
    doc = json.loads((out / "study.json").read_text())
    assert len(doc["runs"]) == 1 and doc["status"] == "failed"


def test_the_cli_maps_stops_and_failures_to_exit_statuses(tmp_path, monkeypatch, capsys):
    args = ["study", "--n-envs", "1,2,4", "--n-steps", "32", "--target", "40", "--seeds", "1",
            "--max-steps", "20000", "--lr-rule", "sqrt", "--lr", "4e-3"]  # fmt: skip

    def fail(n, job):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "make_executor", lambda *a: FakeExecutor(on_result=fail))
    assert main([*args, "--out", str(tmp_path / "a")]) == 1
    assert "rlnoise: error: run n001" in capsys.readouterr().err

    def stop(n, job):
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(runner, "make_executor", lambda *a: FakeExecutor(on_result=stop))
    assert main([*args, "--out", str(tmp_path / "b")]) == 130
    assert "study stopped" in capsys.readouterr().err

    monkeypatch.setattr(runner, "make_executor", lambda *a: FakeExecutor())
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "target 40: the front per batch size" in out and "B_crit = " in out


def test_finish_writes_everything_then_raises_when_no_fit(tmp_path):
    import pandas as pd

    cfg = dataclasses.replace(CFG, targets=(100.0,), seeds=1)
    recs = records(cfg, {(n, 0, 0): (40, 100) for n in (1, 4, 16)})
    doc = {"format": FORMAT, "config": cfg.to_json(), "env": cfg.env_id, "algo": cfg.algo,
           "target": 100.0, "command": "rlnoise study", "runs": []}  # fmt: skip
    with pytest.raises(StudyError, match="no B_crit could be fitted"):
        runner.finish(tmp_path, doc, {r.name: r for r in recs}, 1.0)
    saved = json.loads((tmp_path / "study.json").read_text())
    assert len(saved["runs"]) == 3 and saved["b_crit"] is None
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 3
    assert "No B_crit" in (tmp_path / "report.md").read_text()
    for name in ("pareto.png", "noise.png", "speedup.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_calibration_times_a_few_updates_of_the_real_loop(tmp_path, monkeypatch):
    from rlnoise.study.executor import measure_sps

    monkeypatch.setattr(runner, "CALIBRATION_SECONDS", 0.2)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    lines = []
    cal = runner.calibrate(TINY, ExecOptions(), "cpu", lines.append)
    assert sorted(cal.sps) == [1, 2, 4] and all(v > 0 for v in cal.sps.values())
    assert all(cal.updates[n] >= 2 for n in (1, 2, 4)) and cal.cap is None
    assert len(lines) == 4 and "steps/s" in lines[1]
    assert list(tmp_path.glob("rlnoise-calibration-*")) == []  # the throwaway runs are gone
    with pytest.raises(StudyError, match="at least 2 updates"):  # a cap shorter than the timing
        measure_sps(runner.train_config(TINY, _spec(TINY, 1, updates=1), ExecOptions(), tmp_path))


def _spec(cfg, n, updates):
    from rlnoise.study.plan import RunSpec

    return RunSpec(n, 0, 0, cfg.lr, n * cfg.n_steps, updates, 0)


def test_a_larger_seeds_grows_the_study_and_keeps_its_runs(tmp_path, monkeypatch):
    grid = dataclasses.replace(
        TINY, lr_rule="grid", seeds=2, cell_stat="median", cap_factor=2.0, max_widenings=1
    )
    out, lines = tmp_path / "s", []
    fake = FakeExecutor()
    monkeypatch.setattr(runner, "make_executor", lambda *a: fake)
    first = runner.run_study(grid, ExecOptions(), out, "cmd", lines.append)
    old = {r.name: r.wall_seconds for r in first.runs}
    assert {r.seed for r in first.runs} == {0, 1}
    cells = {(r.n_envs, r.k) for r in first.runs}

    fake2 = FakeExecutor()
    monkeypatch.setattr(runner, "make_executor", lambda *a: fake2)
    grown = dataclasses.replace(grid, seeds=3)
    study = runner.run_study(grown, ExecOptions(), out, "cmd3", lines.append)
    # only seed 2 trains, on every (B, lr) cell the first two seeds ran; nothing is retrained
    assert {j["config"]["seed"] for j in fake2.jobs} == {2}
    assert len(fake2.jobs) == len(cells)
    assert {(r.n_envs, r.k) for r in study.runs if r.seed == 2} == cells
    assert {r.name: r.wall_seconds for r in study.runs if r.seed < 2} == old
    doc = json.loads((out / "study.json").read_text())
    assert doc["config"]["seeds"] == 3 and doc["status"] == "complete"
    assert doc["seeds_grown"][0] | {"at": None} == {
        "seeds_from": 2, "seeds_to": 3, "at": None, "command": "cmd3"
    }  # fmt: skip
    assert any(ln.startswith("adding seeds 2..2") for ln in lines)
    counts = [ln.split("]")[0][1:].split("/") for ln in lines if ln.startswith("[")][-len(cells) :]
    assert all(int(a) <= int(b) for a, b in counts)  # progress never above the runs known
    assert counts[-1] == [str(len(study.runs))] * 2
    assert "- Seeds grown from 2 to 3 on " in (out / "report.md").read_text()
    assert study.top.ok

    # the grown study again: nothing to train; fewer seeds: refused, nothing touched
    fake3 = FakeExecutor()
    monkeypatch.setattr(runner, "make_executor", lambda *a: fake3)
    runner.run_study(grown, ExecOptions(), out, "cmd3", lines.append)
    assert fake3.jobs == []
    before = (out / "study.json").read_bytes()
    with pytest.raises(StudyError, match="can grow it but not shrink it to 2"):
        runner.run_study(grid, ExecOptions(), out, "cmd", lines.append)
    assert (out / "study.json").read_bytes() == before
