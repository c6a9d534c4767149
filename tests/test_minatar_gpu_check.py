"""benchmarks/minatar_gpu_check.py as a CPU dry run at tiny sizes: every phase leaves numbers (or
a listed skip) in its JSON, and --budget 0 starts no phase."""

import json

import pytest
import torch

from benchmarks.minatar_gpu_check import ENV_GOALS, PPO_GOAL, main

TINY = ["--device", "cpu", "--envs", "16", "--ppo-envs", "4", "--seconds", "0.2"]
TINY += ["--games", "Breakout,Seaquest", "--modes", "eager"]
PHASES = ["env-only Breakout eager 16", "env-only Seaquest eager 16", "ppo MinAtar/Breakout-v1 4"]


def _run(tmp_path, *extra):
    r = main(["--out", str(tmp_path), *TINY, *extra])
    on_disk = json.loads((tmp_path / "minatar_gpu_check.json").read_text())
    assert on_disk == json.loads(json.dumps(r))  # the file holds the final state
    return on_disk


def test_dry_run_fills_every_phase(tmp_path):
    r = _run(tmp_path)
    info = r["info"]
    assert info["device"] == "cpu" and info["dry_run"] and "cores" in info["machine"]
    assert r["errors"] == [] and r["skipped"] == [] and r["complete"]

    rows = {(x["game"], x["mode"]): x for x in r["env_only"]}
    assert set(rows) == {("Breakout", "eager"), ("Seaquest", "eager")}
    for row in rows.values():
        assert row["n_envs"] == 16 and row["steps_per_s"] > 0
        assert row["build_s"] >= 0 and row["warmup_s"] >= 0 and row["timed_s"] == 0.2
    for game, goal in ENV_GOALS.items():
        g = r["env_goals"][game]
        assert g["steps_per_s"] == rows[(game, "eager")]["steps_per_s"]
        assert g["goal_steps_per_s"] == goal
        assert g["met"] is None and "dry run" in g["met_note"]  # a CPU run never meets a GPU goal

    p = r["ppo"]
    assert p["env_id"] == "MinAtar/Breakout-v1" and p["algo"] == "ppo" and p["n_envs"] == 4
    assert p["rollout"] == "device"  # the torch env on the learner's device
    assert p["sps"] > 0 and p["iterations_timed"] >= 1 and p["goal_sps"] == PPO_GOAL
    assert p["met"] is None

    i = r["identity"]
    assert "skipped_reason" not in i, i  # pytest runs these tests
    assert i["returncode"] == 0 and i["failed"] == 0 and i["errors"] == 0, i["tail"]
    if torch.cuda.is_available():
        assert i["passed"] == 5 and i["skipped"] == 0 and i["met"] is True
    else:
        assert i["passed"] == 0 and i["skipped"] == 5 and i["met"] is None

    assert len(r["goals"]) == 4
    assert [g["measured"] is not None for g in r["goals"]] == [True] * 4
    assert all("met" in g for g in r["goals"])


def test_budget_zero_starts_no_phase(tmp_path):
    r = _run(tmp_path, "--budget", "0")
    assert r["skipped"] == [*PHASES, "identity"]
    assert r["env_only"] == [] and r["env_goals"] == {}
    assert r["ppo"] is None and r["identity"] is None
    assert [g["measured"] for g in r["goals"]] == [None] * 4
    assert not r["complete"]


def test_bad_modes_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--device", "cpu", "--modes", "eager,jit"])
