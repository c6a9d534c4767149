"""`rlnoise study` / `rlnoise report` end to end on tiny CartPole studies: outputs, report
regeneration, resuming after SIGKILL, and bad input (exit 2, one line, nothing lost)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlnoise.cli import main
from rlnoise.study.analysis import crossing_update

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--n-envs", "1,2,4", "--n-steps", "32", "--target", "30", "--target", "40",
    "--max-steps", "20000", "--seeds", "1", "--lr-rule", "sqrt", "--lr", "4e-3",
]  # fmt: skip
DESIGN_FIELDS = ("b_crit", "s_min", "e_min", "b_simple", "target", "env", "algo", "runs")
RUN_FIELDS = ("n_envs", "seed", "batch_size", "lr", "steps_to_target", "samples_to_target",
              "b_simple")  # fmt: skip
OUTPUTS = ("study.json", "runs.csv", "report.md", "pareto.png", "noise.png", "speedup.png")


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "tiny"
    assert main(["study", *TINY, "--workers", "2", "--out", str(out)]) == 0
    return out


def test_tiny_study_writes_every_output(tiny_study):
    import pandas as pd

    for name in OUTPUTS:
        assert (tiny_study / name).is_file() and (tiny_study / name).stat().st_size > 0, name
    doc = json.loads((tiny_study / "study.json").read_text())
    for k in DESIGN_FIELDS:
        assert k in doc, k
    assert doc["env"] == "CartPole-v1" and doc["algo"] == "ppo" and doc["target"] == 40
    assert doc["b_crit"] > 0 and doc["s_min"] > 0 and doc["e_min"] > 0 and doc["b_simple"] > 0
    assert doc["b_crit"] == pytest.approx(doc["e_min"] / doc["s_min"])
    assert [f["target"] for f in doc["fits"]] == [30, 40]
    runs = doc["runs"]
    assert sorted(r["n_envs"] for r in runs) == [1, 2, 4]
    for r in runs:
        for k in RUN_FIELDS:
            assert k in r, k
        assert r["batch_size"] == 32 * r["n_envs"]
        assert r["samples_to_target"] == r["steps_to_target"] * r["batch_size"]
        lo, hi = r["targets"]
        assert lo["steps"] <= hi["steps"]  # the lower target is crossed first
        assert r["curve"] and r["noise_trace"]["rows"]
        events = list((tiny_study / r["run_dir"]).glob("events.out.tfevents.*"))
        assert events, r["name"]
        # the crossing read from the curve agrees with the trainer's own stop at the target,
        # and B_simple up to the target is the trainer's run average (the run stops there)
        summary = json.loads((tiny_study / r["run_dir"] / "summary.json").read_text())
        first_full = json.loads((tiny_study / r["run_dir"] / "study_run.json").read_text())
        s = crossing_update(summary["curve"], 40, first_full["first_full_update"])
        assert s == summary["target_update"] == r["steps_to_target"]
        assert r["b_simple"] == pytest.approx(summary["noise"]["policy"]["run_avg"])
    csv = pd.read_csv(tiny_study / "runs.csv")
    assert len(csv) == 3 and set(csv["n_envs"]) == {1, 2, 4}
    assert csv["on_front"].all()
    report = (tiny_study / "report.md").read_text()
    for s in ("![](pareto.png)", "![](noise.png)", "![](speedup.png)", "B_crit", "Machine:"):
        assert s in report


def test_report_command_regenerates_the_same_report(tiny_study, capsys):
    before = (tiny_study / "report.md").read_bytes()
    for name in ("report.md", "pareto.png", "noise.png", "speedup.png"):
        (tiny_study / name).unlink()
    assert main(["report", str(tiny_study)]) == 0
    assert (tiny_study / "report.md").read_bytes() == before
    for name in ("pareto.png", "noise.png", "speedup.png"):
        assert (tiny_study / name).stat().st_size > 1000
    assert "report:" in capsys.readouterr().out


def test_rerun_of_a_finished_study_trains_nothing(tiny_study):
    runs = {p: t for p, t in _snapshot(tiny_study).items() if p.startswith("runs/")}
    assert main(["study", *TINY, "--out", str(tiny_study)]) == 0
    after = _snapshot(tiny_study)
    assert {p: after[p] for p in runs} == runs


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlnoise: error:") and "\n" not in err, err
    return err


def test_a_different_study_in_the_directory_is_refused(tiny_study, capsys):
    before = _snapshot(tiny_study)
    study = (tiny_study / "study.json").read_bytes()
    args = [a if a != "1,2,4" else "1,2" for a in TINY]
    assert main(["study", *args, "--out", str(tiny_study)]) == 2
    assert "different study" in _one_line_error(capsys)
    assert _snapshot(tiny_study) == before
    assert (tiny_study / "study.json").read_bytes() == study


def test_report_of_a_directory_without_a_study(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "study.json" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--n-envs", "2,2,4"], "more than once"),
        (["--n-envs", "4"], "at least 2"),
        (["--n-envs", "a,b"], "comma-separated"),
        (["--lr-rule", "cubic"], "lr-rule"),
        (["--backend", "slurm"], "backend"),
        (["--preset", "nope"], "preset"),
        (["--env", "CartPol-v1", "--target", "10"], "CartPole-v1"),
        (["--env", "Acrobot-v1"], "--target is required"),
        (["--ray-address", "auto"], "--backend ray"),
        (["--max-steps", "100"], "max-steps"),
        (["--workers", "0"], "--workers"),
        (["--workers", "many"], "--workers takes a number or auto"),
        (["--workers", "auto", "--backend", "ray"], "--workers auto is for the local backend"),
        *[
            (["--budget-minutes", m], "--budget-minutes must be a positive")
            for m in ("0", "-3", "nan")
        ],
        (["--checkpoint-seconds", "-1"], "--checkpoint-seconds must be >= 0"),
        (["--threads-per-run", "-1"], "--threads-per-run"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, msg):
    out = tmp_path / "s"
    assert main(["study", *args, "--out", str(out)]) == 2
    assert msg in _one_line_error(capsys)
    assert not out.exists()


def test_missing_ray_gives_install_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["study", *TINY, "--backend", "ray", "--out", str(tmp_path / "s")]) == 2
    assert "pip install 'rlnoise[ray]'" in _one_line_error(capsys)


def test_target_no_run_reaches_keeps_the_runs(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["--n-envs", "1,2", "--n-steps", "16", "--target", "10000", "--max-steps", "320",
            "--seeds", "1", "--lr-rule", "const", "--lr", "1e-3", "--out", str(out)]  # fmt: skip
    assert main(["study", *args]) == 2
    assert "no run reached target 10000" in _one_line_error(capsys)
    doc = json.loads((out / "study.json").read_text())
    assert len(doc["runs"]) == 2 and doc["b_crit"] is None
    assert all(r["steps_to_target"] is None and r["updates"] > 0 for r in doc["runs"])
    assert (out / "runs.csv").is_file() and (out / "report.md").is_file()


def _finished(out: Path) -> list[dict]:
    try:
        return json.loads((out / "study.json").read_text())["runs"]
    except (OSError, ValueError, KeyError):
        return []


def test_killed_study_resumes_without_rerunning_finished_runs(tmp_path):
    out = tmp_path / "s"
    args = ["--n-envs", "1,2,4", "--n-steps", "32", "--target", "40", "--max-steps", "20000",
            "--seeds", "1", "--lr-rule", "sqrt", "--lr", "4e-3", "--workers", "2",
            "--out", str(out)]  # fmt: skip
    cmd = [sys.executable, "-m", "rlnoise.cli", "study", *args]
    env = os.environ | {"RLNOISE_NO_PROGRESS": "1"}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.time() + 120
    while not _finished(out) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {r["name"]: r for r in _finished(out)}
    assert done_before, proc.stdout.read().decode()[-2000:]
    started = [  # runs in flight at the kill: they must be restarted or resumed, not skipped
        d.name
        for d in (out / "runs").iterdir()
        if (d / "config.json").exists() and not (d / "summary.json").exists()
    ]
    mtimes = {n: (out / "runs" / n / "summary.json").stat().st_mtime_ns for n in done_before}
    time.sleep(0.5)  # the workers die with the study (PR_SET_PDEATHSIG)
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "continuing the study" in res.stdout
    doc = json.loads((out / "study.json").read_text())
    names = [r["name"] for r in doc["runs"]]
    assert len(names) == len(set(names)) == 3
    assert sorted(names) == sorted(p.name for p in (out / "runs").iterdir())
    for n, t in mtimes.items():
        assert (out / "runs" / n / "summary.json").stat().st_mtime_ns == t, n
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("[")]
    by_run = {r["name"]: r for r in doc["runs"]}
    # only the unfinished runs were trained; a run that wrote its summary just before the kill,
    # before the study recorded it, is adopted from disk instead of trained again
    m = re.search(r"\((\d+) found finished on disk\)", res.stdout)
    adopted = int(m.group(1)) if m else 0
    assert len(lines) == 3 - len(done_before) - adopted, res.stdout
    for n in done_before:
        assert by_run[n]["how"] == done_before[n]["how"] == "started"
    for n in started:
        assert by_run[n]["how"] in ("restarted", "resumed"), n


@pytest.mark.slow
def test_ray_backend_runs_a_tiny_study(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "s"
    args = ["--n-envs", "1,2", "--n-steps", "32", "--target", "40", "--max-steps", "20000",
            "--seeds", "1", "--lr-rule", "sqrt", "--lr", "4e-3", "--backend", "ray",
            "--workers", "2", "--out", str(out)]  # fmt: skip
    cmd = [sys.executable, "-m", "rlnoise.cli", "study", *args]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    doc = json.loads((out / "study.json").read_text())
    assert len(doc["runs"]) == 2 and doc["b_crit"] > 0


def _checkpoint_update(run_dir: Path) -> int | None:
    from rlnoise.checkpoint import CheckpointError, load_checkpoint

    try:
        return int(load_checkpoint(run_dir / "checkpoint.pt")["update"])
    except CheckpointError:
        return None


def test_a_study_killed_mid_run_resumes_that_run_from_its_checkpoint(tmp_path):
    """SIGKILL of the study process while a run is past its first checkpoint; the rerun
    continues that run from its checkpoint (recorded as resumed, at that update), and the
    updates before it are not trained again."""
    out = tmp_path / "s"
    args = ["--n-envs", "1,2", "--n-steps", "32", "--target", "500", "--max-steps", "1920",
            "--seeds", "1", "--lr-rule", "const", "--lr", "1e-3", "--workers", "1",
            "--checkpoint-seconds", "0", "--out", str(out)]  # fmt: skip
    cmd = [sys.executable, "-m", "rlnoise.cli", "study", *args]
    env = os.environ | {"RLNOISE_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    first = out / "runs" / "n001-lr1.00e-03-s0"  # the smallest batch starts first
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (first / "checkpoint.pt").exists() and (_checkpoint_update(first) or 0) >= 10:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the worker dies with the study (PR_SET_PDEATHSIG)
    at_kill = _checkpoint_update(first)
    assert at_kill is not None and 10 <= at_kill < 60, proc.stdout.read().decode()[-2000:]
    assert not (first / "summary.json").exists()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    # no run reaches 500: the study ends with exit 2 after writing its runs
    assert res.returncode == 2 and "no run reached target 500" in res.stderr, res.stderr[-2000:]
    runs = {r["name"]: r for r in json.loads((out / "study.json").read_text())["runs"]}
    rec = runs[first.name]
    assert rec["how"] == "resumed" and rec["resumed_at"] == at_kill
    assert rec["updates"] == 60  # 1,920 steps of 32: the whole budget, over two sessions
    assert f"(resumed at update {at_kill})" in res.stdout
    summary = json.loads((first / "summary.json").read_text())
    assert [u for _, u, _ in summary["curve"]] == list(range(1, 61))  # each update once
    assert runs["n002-lr1.00e-03-s0"]["how"] == "started"
