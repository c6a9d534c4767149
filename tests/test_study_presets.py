"""Built-in studies and the `rlnoise study` flags that override them."""

import dataclasses

import pytest

from rlnoise.cli import build_parser
from rlnoise.study.cli import config_from_args
from rlnoise.study.config import StudyError, validate_study
from rlnoise.study.presets import PRESETS
from rlnoise.study.runner import check_runnable


def _parse(*argv):
    return config_from_args(build_parser().parse_args(["study", *argv]))


def test_default_study_is_the_cartpole_preset():
    cfg, ex = _parse()
    assert (cfg.env_id, cfg.algo, cfg.lr_rule, cfg.targets) == (
        "CartPole-v1",
        "ppo",
        "grid",
        (475.0,),
    )
    assert cfg.n_steps == 128 and cfg.noise_every is None and not cfg.anneal_lr  # adaptive
    assert cfg.seeds >= 3 and len(cfg.n_envs) >= 5 and cfg.seed_start == 0
    assert (cfg.grid_factor, cfg.cell_stat, cfg.cap_factor) == (2.0, "median", 2.0)
    assert cfg.b_noise_every > 0  # B_noise is one of the predictors
    assert ex.backend == "local" and ex.threads_per_run == 1 and ex.device == "cpu"


def test_presets_and_overrides():
    cfg, ex = _parse("--preset", "atari-a2c", "--env", "breakout")
    assert cfg.env_id == "ALE/Breakout-v5" and cfg.algo == "a2c" and cfg.n_steps == 5
    assert cfg.targets == (150.0,) and cfg.lr == 7e-4 and ex.device == "auto"
    cfg, _ = _parse("--preset", "atari-a2c")
    assert cfg.env_id == "ALE/Pong-v5" and cfg.targets == (10.0,)
    with pytest.raises(StudyError, match="--target is required"):
        _parse("--preset", "atari-a2c", "--env", "Tennis")
    cfg, _ = _parse("--preset", "minatar", "--target", "3", "--target", "2")
    assert cfg.env_id == "MinAtar/Breakout-v1" and cfg.targets == (3.0, 2.0)
    cfg, _ = _parse("--algo", "a2c", "--env", "Acrobot-v1", "--target", "-100")
    assert cfg.n_steps == 5 and cfg.lr == 7e-4  # the algorithm's defaults, not CartPole's
    cfg, _ = _parse("--n-envs", "1,2", "--lr", "1e-3", "--lr-rule", "const", "--seeds", "3")
    assert cfg.n_envs == (1, 2) and cfg.lr == 1e-3 and cfg.seeds == 3


def test_every_preset_is_runnable_as_configured():
    """Every preset, minatar-gpu included, validates and its envs build (on the CPU here)."""
    for name in PRESETS:
        cfg, ex = _parse("--preset", name)
        check_runnable(validate_study(cfg), dataclasses.replace(ex, device="cpu"))


def test_the_gpu_minatar_preset_spans_the_huge_batch_regime():
    cfg, ex = _parse("--preset", "minatar-gpu")
    assert cfg.env_id == PRESETS["minatar"]["env_id"] and cfg.targets == (10.0,)
    assert min(cfg.n_envs) <= 8 and max(cfg.n_envs) >= 4096
    assert max(cfg.n_envs) * cfg.n_steps >= 100_000  # B up to ~10^5 observations or beyond
    assert ex.device == "cuda"


def test_seed_start_and_minatar_target():
    cfg, _ = _parse("--seed-start", "100", "--seeds", "3")
    assert list(cfg.seed_list) == [100, 101, 102]
    cfg, _ = _parse("--seed-start", "100")
    assert list(cfg.seed_list) == list(range(100, 100 + PRESETS["cartpole"]["seeds"]))
    cfg, _ = _parse("--preset", "minatar")
    assert cfg.targets == (10.0,) and cfg.seeds >= 3
    with pytest.raises(StudyError, match="seed-start"):
        validate_study(dataclasses.replace(cfg, seed_start=-1))


def test_a_gpu_preset_without_cuda_names_device_cpu_or_warns(tmp_path, monkeypatch, capsys):
    import torch

    from rlnoise.cli import main
    from rlnoise.study import runner

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def would_run(*a):
        raise AssertionError("the study would run")

    monkeypatch.setattr(runner, "run_study", would_run)
    assert main(["study", "--preset", "minatar-gpu", "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device cpu runs it on the CPU" in err, err
    assert not (tmp_path / "g").exists()
    with pytest.raises(AssertionError, match="would run"):  # atari-a2c on the CPU: a note
        main(["study", "--preset", "atari-a2c", "--out", str(tmp_path / "a")])
    assert "sized for a GPU machine" in capsys.readouterr().out
