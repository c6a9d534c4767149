"""What rlnoise.hardware decides, and that the trainer applies, records and prints it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rlnoise import hardware
from rlnoise.config import TrainConfig
from rlnoise.hardware import resolve_precision, resolve_rollout
from rlnoise.train import Trainer, start


@pytest.mark.parametrize(
    ("requested", "device", "cuda_bf16", "flags", "want"),
    [
        ("fp32", "cuda", True, set(), "fp32"),
        ("bf16", "cpu", False, set(), "bf16"),
        ("auto", "cuda", True, set(), "bf16"),
        ("auto", "cuda", False, set(), "fp32"),
        ("auto", "cpu", False, {"amx_bf16", "avx512_bf16"}, "bf16"),
        ("auto", "cpu", False, {"avx512_bf16"}, "fp32"),
        ("auto", "cpu", False, {"avx2"}, "fp32"),
    ],
)
def test_resolve_precision(monkeypatch, requested, device, cuda_bf16, flags, want):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    got, why = resolve_precision(requested, device, cuda_bf16)
    assert got == want and why


@pytest.mark.parametrize(
    ("requested", "device", "cores", "n", "async_env", "tensor_env", "want"),
    [
        ("double", "cpu", 2, 8, True, True, "device"),  # a tensor env always uses its device
        ("auto", "cuda", 16, 64, False, True, "device"),
        ("sync", "cuda", 16, 64, True, False, "sync"),  # asked for: honoured
        ("double", "cpu", 2, 8, True, False, "double"),
        ("auto", "cuda", 16, 64, True, False, "double"),
        ("auto", "cuda", 16, 1, True, False, "sync"),  # one env has no halves
        ("auto", "cuda", 2, 64, True, False, "sync"),  # too few cores for two halves in flight
        ("auto", "cuda", 16, 64, False, False, "sync"),  # env steps in the calling thread
        ("auto", "cpu", 2, 16, True, False, "sync"),
        ("auto", "cpu", 16, 16, True, False, "sync"),
    ],
)
def test_resolve_rollout(requested, device, cores, n, async_env, tensor_env, want):
    got, why = resolve_rollout(requested, device, cores, n, async_env, tensor_env)
    assert got == want and why


def _fake_cuda(cfg: TrainConfig) -> SimpleNamespace:
    """A stand-in trainer on a CUDA device for `Trainer._hardware` (nothing touches the GPU)."""
    t = SimpleNamespace(device=torch.device("cuda"))
    Trainer._hardware(t, cfg)
    return t


def test_cuda_runs_default_to_one_torch_thread(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    torch.set_num_threads(2)
    t = _fake_cuda(TrainConfig(env_id="ALE/Pong-v5", n_envs=64))
    assert torch.get_num_threads() == 1 and torch.backends.cudnn.benchmark
    assert t.precision == "bf16" and "CUDA" in t.precision_reason
    _fake_cuda(TrainConfig(env_id="ALE/Pong-v5", torch_threads=2))
    assert torch.get_num_threads() == 2
    a2c = _fake_cuda(TrainConfig(algo="a2c"))
    assert a2c.precision == "fp32" and "A2C" in a2c.precision_reason


def test_cpu_run_picks_threads_records_and_prints(tmp_path, capsys):
    """A CartPole run on the CPU uses one torch thread unless asked (rlnoise.hardware
    .resolve_threads), records every choice with its reason and prints them."""
    torch.set_num_threads(2)
    try:
        cfg = TrainConfig(
            n_envs=2,
            n_steps=16,
            total_steps=32,
            noise=False,
            progress=False,
            run_dir=str(tmp_path / "r"),
        )
        t = start(cfg)
        assert torch.get_num_threads() == 1
        written = json.loads((Path(cfg.run_dir) / "config.json").read_text())
        for k in ("precision", "rollout", "torch_threads"):
            assert written[f"{k}_resolved"] == t.hardware_info()[f"{k}_resolved"]
            assert written[f"{k}_reason"]
        assert written["precision_resolved"] in ("fp32", "bf16")
        assert written["rollout_resolved"] == "sync"  # CartPole steps in the calling thread
        t.run()
        out = capsys.readouterr().out
        assert f"precision {t.precision} ({t.precision_reason})" in out and "rollout sync" in out
        assert "1 torch thread (auto: 1 for a small network" in out
        asked = dataclasses.replace(cfg, torch_threads=2, run_dir=str(tmp_path / "r2"))
        assert start(asked).hardware_info()["torch_threads_resolved"] == 2
    finally:
        torch.set_num_threads(2)


def test_threads_default_to_one_for_small_networks_and_cuda_and_honour_a_request():
    from rlnoise.hardware import resolve_threads

    assert resolve_threads(None, "cpu", "gymnasium")[0] == 1
    assert resolve_threads(None, "cpu", "minatar")[0] == 1
    assert resolve_threads(None, "cuda", "atari")[0] == 1
    threads, why = resolve_threads(None, "cpu", "atari")
    assert threads is None and "torch's own" in why
    assert resolve_threads(3, "cpu", "gymnasium") == (3, "asked for")
