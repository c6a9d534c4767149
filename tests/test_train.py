"""Training: learning, determinism, checkpoint/resume round trips, bad input, NaN handling."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rlnoise.checkpoint import CHECKPOINT_NAME, load_checkpoint
from rlnoise.cli import main
from rlnoise.config import TrainConfig
from rlnoise.errors import UserError
from rlnoise.summary import RunSummary
from rlnoise.train import ConfigError, resume, start, validate


def small_cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(
        env_id="CartPole-v1",
        n_envs=2,
        n_steps=32,
        total_steps=2 * 32 * 4,
        seed=0,
        run_dir=str(tmp_path / "run"),
        progress=False,
        noise_every=1,
        noise_groups=2,
        checkpoint_every=2,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_ppo_learns_cartpole(tmp_path):
    cfg = small_cfg(
        tmp_path,
        n_envs=4,
        n_steps=128,
        total_steps=100_000,
        lr=1e-3,
        target_return=195,
        anneal_lr=False,
        noise_every=10,
        noise_groups=4,
    )
    summary = start(cfg).run()
    assert summary["target_update"] is not None, summary["curve"][-1]
    assert summary["global_step"] <= 100_000
    assert summary["recent_mean_return"] >= 195


def test_a2c_learns_cartpole(tmp_path):
    cfg = small_cfg(
        tmp_path,
        algo="a2c",
        n_envs=8,
        n_steps=5,
        total_steps=300_000,
        target_return=195,
        noise_every=20,
        noise_groups=4,
    )
    summary = start(cfg).run()
    assert summary["target_update"] is not None, summary["curve"][-1]


def _params(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / CHECKPOINT_NAME)["model"]


@pytest.mark.parametrize(("algo", "rollout"), [("ppo", "auto"), ("a2c", "auto"), ("ppo", "double")])
def test_same_seed_same_updates(tmp_path, algo, rollout):
    kw = dict(algo=algo, rollout=rollout)
    a = start(small_cfg(tmp_path, **kw, run_dir=str(tmp_path / "a"))).run()
    b = start(small_cfg(tmp_path, **kw, run_dir=str(tmp_path / "b"))).run()
    c = start(small_cfg(tmp_path, **kw, seed=1, run_dir=str(tmp_path / "c"))).run()
    pa, pb, pc = (_params(Path(s["run_dir"])) for s in (a, b, c))
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], rtol=0, atol=0)
    assert any(not torch.equal(pa[k], pc[k]) for k in pa)
    assert a["noise_history"] == b["noise_history"]


def test_resume_restores_everything(tmp_path):
    cfg = small_cfg(tmp_path, total_steps=2 * 32 * 4)
    first = start(cfg).run()
    assert first["updates"] == 4
    written = json.loads((Path(cfg.run_dir) / "summary.json").read_text())
    assert set(written) == set(first) == {f.name for f in dataclasses.fields(RunSummary)}
    t = resume(cfg.run_dir, total_steps=2 * 32 * 6)
    assert (t.update, t.global_step) == (4, 256)
    assert t.history.noise == first["noise_history"]
    st = load_checkpoint(Path(cfg.run_dir) / CHECKPOINT_NAME)
    for k, v in t.model.state_dict().items():
        assert torch.equal(v, st["model"][k])
    assert torch.equal(torch.get_rng_state(), st["rng_torch"])
    assert t.optimizer.state_dict()["state"][0]["step"] == st["optimizer"]["state"][0]["step"]
    s2 = t.run()
    assert (s2["updates"], s2["global_step"]) == (6, 384)
    assert len(s2["noise_history"]) == 6


def _train_args(run: Path, total: int, n_steps: int, *extra: str) -> list[str]:
    """`rlnoise train` arguments for CartPole with 2 envs, without a progress bar."""
    return [
        "train",
        "--env",
        "CartPole-v1",
        "--n-envs",
        "2",
        "--n-steps",
        str(n_steps),
        "--total-steps",
        str(total),
        "--logdir",
        str(run),
        "--no-progress",
        *extra,
    ]


def _cli_train(run: Path, total: int, checkpoint_every: int) -> list[str]:
    """`rlnoise train` (64 steps per env) as a subprocess command line."""
    return [sys.executable, "-m", "rlnoise.cli"] + _train_args(
        run, total, 64, "--checkpoint-every", str(checkpoint_every), "--torch-threads", "1"
    )


def test_kill_and_resume_reaches_total(tmp_path):
    run = tmp_path / "killed"
    total = 2 * 64 * 60
    cmd = _cli_train(run, total, checkpoint_every=5)
    env = dict(os.environ, RLNOISE_NO_PROGRESS="1")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while not (run / CHECKPOINT_NAME).exists():
        assert p.poll() is None, p.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.2)
    time.sleep(0.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = load_checkpoint(run / CHECKPOINT_NAME)["global_step"]
    assert 0 < killed_at < total
    r = subprocess.run(
        cmd[:4] + ["--resume", str(run), "--no-progress"], capture_output=True, env=env, timeout=300
    )
    assert r.returncode == 0, r.stderr.decode()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["global_step"] == total
    assert summary["updates"] == total // 128


def test_sigterm_saves_and_resumes(tmp_path):
    run = tmp_path / "term"
    total = 2 * 64 * 400
    cmd = _cli_train(run, total, checkpoint_every=1000)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not list(run.glob("events.*")):
        assert time.time() < deadline and p.poll() is None
        time.sleep(0.2)
    time.sleep(2.0)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err.decode()
    assert "--resume" in err.decode() and "Traceback" not in err.decode()
    st = load_checkpoint(run / CHECKPOINT_NAME)
    assert st["global_step"] == st["update"] * 128 > 0
    r = subprocess.run(
        cmd[:4] + ["--resume", str(run), "--total-steps", str(st["global_step"] + 256)],
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["updates"] == st["update"] + 2


def test_atari_smoke_writes_tags_and_resumes(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = small_cfg(
        tmp_path,
        env_id="ALE/Breakout-v5",
        n_envs=4,
        n_steps=32,
        total_steps=4 * 32 * 2,
        noise_groups=4,
    )
    s = start(cfg).run()
    run = Path(s["run_dir"])
    assert (run / CHECKPOINT_NAME).exists() and (run / "config.json").exists()
    acc = EventAccumulator(str(run)).Reload()
    tags = set(acc.Tags()["scalars"])
    want = {"charts/sps", "charts/learning_rate", "losses/policy", "losses/value", "losses/entropy"}
    want |= {f"noise/{p}/{q}" for p in ("policy", "value", "total") for q in ("grad_sq", "trace")}
    assert want <= tags, want - tags
    t = resume(run, total_steps=4 * 32 * 3)
    assert (t.update, t.global_step) == (2, 256)
    s2 = t.run()
    assert (s2["updates"], s2["global_step"]) == (3, 384)
    cfg_json = json.loads((run / "config.json").read_text())
    assert cfg_json["env_spec"]["protocol"] == "cleanrl"


BAD = [
    (["--env", "ALE/Pongg-v5"], "ALE/Pong-v5"),
    (["--env", "CartPol-v1"], "CartPole-v1"),
    (["--n-envs", "0"], "n-envs"),
    (["--total-steps", "10"], "one rollout"),
    (["--num-minibatches", "3"], "does not divide"),
    (["--algo", "dqn"], "algo"),
    (["--backend", "nope"], "backend"),
    (["--device", "tpu"], "device"),
    (["--noise-groups", "1"], "noise-groups"),
]


@pytest.mark.parametrize("extra,needle", BAD)
def test_bad_input_one_line_exit_2(tmp_path, capsys, extra, needle):
    argv = _train_args(tmp_path / "r", 64, 16, *extra)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_config_errors_are_user_errors(tmp_path):
    assert issubclass(ConfigError, UserError)
    with pytest.raises(ConfigError, match="n-envs"):
        validate(small_cfg(tmp_path, n_envs=0))
    with pytest.raises(UserError, match="unknown config keys"):
        TrainConfig.from_dict({"env_id": "CartPole-v1", "n_env": 2})


def test_cuda_absent_is_bad_input(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = ["train", "--device", "cuda", "--total-steps", "1024", "--logdir", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "CUDA" in capsys.readouterr().err


def test_unwritable_logdir_and_existing_run(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("keep me")
    assert main(["train", "--total-steps", "1024", "--logdir", str(f / "run")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert f.read_text() == "keep me"
    cfg = small_cfg(tmp_path)
    start(cfg).run()
    before = (Path(cfg.run_dir) / CHECKPOINT_NAME).read_bytes()
    assert main(["train", "--total-steps", "1024", "--logdir", cfg.run_dir]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (Path(cfg.run_dir) / CHECKPOINT_NAME).read_bytes() == before


def test_missing_and_corrupt_checkpoint(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no run directory" in capsys.readouterr().err
    d = tmp_path / "corrupt"
    d.mkdir()
    (d / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    assert main(["train", "--resume", str(d)]) == 2
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and len(err.strip().splitlines()) == 1
    assert main(["evaluate", str(d)]) == 2
    assert (d / CHECKPOINT_NAME).read_bytes() == b"not a checkpoint"


def test_console_script_exit_status(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "rlnoise.cli", "train", "--n-envs", "0"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_nan_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch, capsys):
    import agents.ppo as ppo

    real = ppo.ppo_loss_parts
    calls = {"n": 0}

    def poisoned(*a, **k):
        parts = real(*a, **k)
        calls["n"] += 1
        if calls["n"] > 2 * 4 * 4:  # after two updates (4 epochs x 4 minibatches each)
            parts["value"] = parts["value"] * float("nan")
        return parts

    monkeypatch.setattr(ppo, "ppo_loss_parts", poisoned)
    run = tmp_path / "nan"
    argv = _train_args(run, 64 * 10, 32, "--checkpoint-every", "2")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "non-finite" in err and "last good checkpoint" in err
    st = load_checkpoint(run / CHECKPOINT_NAME)
    assert st["update"] == 2
    assert all(torch.isfinite(v).all() for v in st["model"].values())


def test_evaluate_reports_whole_games(tmp_path, capsys):
    cfg = small_cfg(tmp_path)
    start(cfg).run()
    assert main(["evaluate", cfg.run_dir, "--episodes", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    r = json.loads(out[-1])
    assert r["episodes"] == 3 and r["mean_return"] > 0


class _ShortAndLongGames:
    """Env 0's games last 1 step and return 1, env 1's last 5 steps and return 5."""

    obs_kind = "vector"

    def __init__(self, n: int) -> None:
        from gymnasium import spaces

        assert n == 2
        self.num_envs, self.t = n, 0
        self.single_observation_space = spaces.Box(-1, 1, shape=(4,), dtype=np.float32)
        self.single_action_space = spaces.Discrete(2)

    def reset(self, seed=None):
        return np.zeros((2, 4), np.float32)

    def step(self, actions):
        self.t += 1
        done = np.array([True, self.t % 5 == 0])
        info = {"episode_done": done, "episode_return": np.array([1.0, 5.0]) * done}
        info["episode_length"] = np.array([1, 5]) * done
        return self.reset(), np.zeros(2), done, np.zeros(2, bool), info

    def close(self):
        pass


def test_evaluate_counts_as_many_games_per_env_whatever_their_length(tmp_path, monkeypatch):
    """Counting the first games to finish would take env 0's four 1-step games (mean 1)."""
    from rlnoise import evaluate as E

    cfg = small_cfg(tmp_path)
    start(cfg).run()
    monkeypatch.setattr(E.envs, "make", lambda env_id, n, *a, **k: _ShortAndLongGames(n))
    r = E.evaluate(Path(cfg.run_dir), episodes=4, n_envs=2)
    assert sorted(r["returns"]) == [1.0, 1.0, 5.0, 5.0] and r["mean_return"] == 3.0
    assert E.game_quotas(10, 8) == [2, 2, 1, 1, 1, 1, 1, 1] and E.game_quotas(3, 8)[3:] == [0] * 5


@pytest.mark.parametrize("env_id", ["MinAtar/Breakout-v1", "Acrobot-v1"])
@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_small_tasks_train_and_evaluate(tmp_path, capsys, env_id, algo):
    cfg = small_cfg(tmp_path, env_id=env_id, algo=algo, n_envs=4, n_steps=16, total_steps=128)
    s = start(cfg).run()
    assert s["updates"] == 2 and s["global_step"] == 128
    assert all(s["noise"][p]["n_measurements"] == 2 for p in ("policy", "value", "total"))
    assert main(["evaluate", cfg.run_dir, "--episodes", "1"]) == 0


def test_resume_with_more_steps_updates_config_json_and_fewer_than_trained_is_refused(
    tmp_path, capsys
):
    cfg = small_cfg(tmp_path, total_steps=2 * 32 * 4)
    start(cfg).run()
    config = Path(cfg.run_dir) / "config.json"
    resume(cfg.run_dir, total_steps=2 * 32 * 6).run()
    assert json.loads(config.read_text())["total_steps"] == 2 * 32 * 6
    before = config.read_bytes()
    argv = ["train", "--resume", cfg.run_dir, "--total-steps", str(2 * 32 * 5)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--total-steps 320 is below the 384 steps this run has trained" in err, err
    assert config.read_bytes() == before


def test_resume_keeps_the_checkpointed_updates_tensorboard_points(tmp_path):
    """The resumed writer purges the events logged after the checkpoint, not those of the
    checkpointed update itself (they sit at its global step)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = small_cfg(tmp_path, total_steps=2 * 32 * 4)
    start(cfg).run()
    resume(cfg.run_dir, total_steps=2 * 32 * 6).run()
    acc = EventAccumulator(str(cfg.run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    steps = [e.step for e in acc.Scalars("charts/learning_rate")]
    assert steps == [64 * u for u in range(1, 7)], steps
