"""Sync and double-buffered rollouts fill the same storage; the graphed policy acts as the
model does (its CUDA graph replaced by eager runs on this CPU)."""

from __future__ import annotations

import pytest
import torch

from rlnoise.config import TrainConfig
from rlnoise.rollout import GraphedPolicy
from rlnoise.tblog import MetricsSink
from rlnoise.train import ConfigError, Trainer, start, validate

FIELDS = ("obs", "actions", "rewards", "dones", "logprobs", "values")


def _cfg(tmp_path, name: str, env_id: str, n: int, **kw) -> TrainConfig:
    return TrainConfig(
        env_id=env_id,
        n_envs=n,
        n_steps=48,
        total_steps=10**6,
        seed=3,
        noise=False,
        progress=False,
        run_dir=str(tmp_path / name),
        **kw,
    )


def _rollouts(t: Trainer, k: int = 2) -> list[dict]:
    """`k` consecutive rollouts (the second starts from the first's last observation): storage,
    the next observation, and the episodes the trainer recorded."""
    obs = t.to_device(t.env.reset(seed=t.cfg.seed))
    out = []
    for _ in range(k):
        obs = t.rollout(obs, MetricsSink.null())
        got = {f: getattr(t.storage, f).clone() for f in FIELDS}
        got["next_obs"] = obs.clone()
        got["episodes"] = (t.history.episodes, list(t.recent))
        out.append(got)
    t.env.close()
    return out


def _assert_same(a: list[dict], b: list[dict]) -> None:
    for ra, rb in zip(a, b, strict=True):
        for k in ("obs", "actions", "rewards", "dones", "next_obs"):
            assert torch.equal(ra[k], rb[k]), k
        for k in ("logprobs", "values"):  # the forward at half the batch: equal to rounding
            torch.testing.assert_close(ra[k], rb[k], rtol=1e-5, atol=1e-5)
        assert ra["episodes"] == rb["episodes"]


@pytest.mark.parametrize(("env_id", "n"), [("ALE/Breakout-v5", 4), ("CartPole-v1", 5)])
def test_double_fills_the_same_storage_as_sync(tmp_path, env_id, n):
    runs = {}
    for mode in ("sync", "double"):
        t = start(_cfg(tmp_path, mode, env_id, n, rollout=mode))
        assert t.rollout_mode == mode and t.collector.parts == (
            (slice(0, n),) if mode == "sync" else (slice(0, n // 2), slice(n // 2, n))
        )
        runs[mode] = _rollouts(t)
    _assert_same(runs["sync"], runs["double"])
    last = runs["sync"][-1]
    assert last["dones"].any()  # episodes (or lives) ended, so autoreset was compared too
    assert (last["obs"][1:] != last["obs"][:-1]).any()  # the observations really moved


class _Eager:
    """Stands in for `cuda_graph_capture`: 'replay' reruns the function on its static buffers."""

    def __init__(self) -> None:
        self.captured = 0

    def __call__(self, fn):
        self.captured += 1
        fn()
        return fn


def test_graphed_policy_acts_like_the_model(tmp_path):
    base = _rollouts(start(_cfg(tmp_path, "plain", "CartPole-v1", 5, rollout="double")))
    t = start(_cfg(tmp_path, "graphed", "CartPole-v1", 5, rollout="double"))
    capture = _Eager()
    t.policy = GraphedPolicy(t.model, capture)
    _assert_same(base, _rollouts(t))
    assert capture.captured == 2 and set(t.policy.graphs) == {2, 3}  # one per half size
    (obs_in, u_in), out, _ = t.policy.graphs[2]
    a, lp, v = t.policy.act(obs_in, u_in)
    assert a is out[0] and lp is out[1] and v is out[2]  # static outputs, overwritten per replay
    assert capture.captured == 2  # no new capture at a known batch size


def test_cuda_graph_and_rollout_flags_are_checked(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="needs --device cuda"):
        validate(_cfg(tmp_path, "g", "CartPole-v1", 2, cuda_graph=True))
    with pytest.raises(ConfigError, match="unknown rollout"):
        validate(_cfg(tmp_path, "r", "CartPole-v1", 2, rollout="triple"))
    with pytest.raises(ConfigError, match="n-envs >= 2"):
        validate(_cfg(tmp_path, "one", "CartPole-v1", 1, rollout="double"))
    with pytest.raises(ConfigError, match="torch backend"):
        validate(_cfg(tmp_path, "m", "MinAtar/Breakout-v1", 4, rollout="double"))


def test_minatar_torch_backend_keeps_its_device_path(tmp_path):
    t = start(_cfg(tmp_path, "m", "MinAtar/Breakout-v1", 4))
    assert t.rollout_mode == "device" and t.collector.tensor_env
    (r,) = _rollouts(t, 1)
    assert r["actions"].shape == (48, 4)
