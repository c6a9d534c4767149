"""The rollout phase: where each step lands in storage, reward clipping, and the episodes that
end, with a numpy env and with a tensor env (both fakes with known outputs)."""

import numpy as np
import pytest
import torch

from rlnoise.rollout import Episode, RolloutCollector

T, N = 3, 2


class _Space:
    shape, dtype = (1,), np.float32


class _Actions:
    n = 2


class _NumpyEnv:
    """Observation at step t is t + 1 for every env; reward 10 t + i (-5 for env 1 at t=1);
    env 0's episode ends at t=1 with return 7 and length 4, env 1's at t=2 (return 8, length 5)."""

    single_observation_space = _Space()
    single_action_space = _Actions()
    reward_clip = False

    def __init__(self):
        self.t, self.actions = 0, []

    def send(self, action):
        self._pending = action

    def recv(self):
        return self.step(self._pending)

    def step(self, action):
        self.actions.append(np.asarray(action).tolist())
        t, self.t = self.t, self.t + 1
        reward = np.array([10.0 * t, -5.0 if t == 1 else 10.0 * t + 1], dtype=np.float32)
        term = np.array([t == 1, False])
        trunc = np.array([False, t == 2])
        done = term | trunc
        info = {
            "episode_done": done,
            "episode_return": np.where(done, [7.0, 8.0], np.nan),
            "episode_length": np.where(done, [4, 5], 0),
        }
        return np.full((N, 1), t + 1, dtype=np.float32), reward, term, trunc, info


class _TensorEnv(_NumpyEnv):
    is_torch = True
    device = torch.device("cpu")

    def step(self, action):
        assert isinstance(action, torch.Tensor)
        obs, reward, term, trunc, info = super().step(action)
        info = {k: torch.as_tensor(v) for k, v in info.items()}
        return (*map(torch.as_tensor, (obs, reward, term, trunc)), info)


class _Model:
    """Action = env index; log-prob -1; value = the observation."""

    def act(self, obs, u):
        assert u.shape == (N, 2) and ((0 <= u) & (u < 1)).all()
        return torch.arange(N), torch.full((N,), -1.0), obs[:, 0].float()


@pytest.mark.parametrize("env_cls", [_NumpyEnv, _TensorEnv])
@pytest.mark.parametrize("clip", [False, True])
def test_collect_fills_storage_and_reports_episodes(env_cls, clip):
    env = env_cls()
    env.reward_clip = clip
    c = RolloutCollector(env, T, N, torch.device("cpu"))
    obs, episodes = c.collect(_Model(), c.to_device(np.zeros((N, 1), dtype=np.float32)))
    s = c.storage
    # step t stores the observation it acted on: 0 (the reset), then 1, 2
    assert s.obs[:, :, 0].tolist() == [[0, 0], [1, 1], [2, 2]]
    assert s.values.tolist() == [[0, 0], [1, 1], [2, 2]]
    assert s.actions.tolist() == [[0, 1]] * T and env.actions == [[0, 1]] * T
    raw = [[0, 1], [10, -5], [20, 21]]
    assert s.rewards.tolist() == ([[0, 1], [1, -1], [1, 1]] if clip else raw)  # sign(r)
    assert s.dones.tolist() == [[False, False], [True, False], [False, True]]  # term or trunc
    assert obs[:, 0].tolist() == [3, 3]
    assert episodes == [Episode(1, 7.0, 4), Episode(2, 8.0, 5)]
