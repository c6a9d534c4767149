"""Two fixed halves step the same trajectories as one instance under the same actions."""

from __future__ import annotations

import numpy as np
import pytest

import envs


def _trajectory(venv, actions: np.ndarray, double_buffered: bool) -> dict[str, np.ndarray]:
    """Step `actions` [T, N]; with double_buffered, act half by half as the trainer does."""
    obs = [venv.reset()]
    rewards, terms, returns = [], [], []
    for a in actions:
        if double_buffered:
            parts = []
            for h, sl in enumerate(venv.slices):
                venv.send_half(h, a[sl])
            for h in (0, 1):
                parts.append(venv.recv_half(h))
            o, r, term = (np.concatenate([p[i] for p in parts]) for i in range(3))
            ret = np.concatenate([p[4]["episode_return"] for p in parts])
        else:
            o, r, term, _, info = venv.step(a)
            ret = info["episode_return"]
        obs.append(o)
        rewards.append(r)
        terms.append(term)
        returns.append(ret)
    return {
        "obs": np.stack(obs),
        "reward": np.stack(rewards),
        "term": np.stack(terms),
        "ret": np.stack(returns),
    }


@pytest.mark.parametrize(
    ("env_id", "n", "steps"),
    [("ALE/Breakout-v5", 5, 120), ("CartPole-v1", 6, 300)],
)
def test_halves_match_one_instance(env_id, n, steps):
    rng = np.random.default_rng(0)
    with envs.make(env_id, n, seed=7) as one:
        actions = rng.integers(0, one.single_action_space.n, (steps, n))
        want = _trajectory(one, actions, False)
    for double in (False, True):
        with envs.make(env_id, n, seed=7, halves=True) as two:
            assert two.spec_info["halves"] == [n // 2, n - n // 2]
            got = _trajectory(two, actions, double)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert want["term"].any()  # episodes ended inside the window, so autoreset was compared


def test_halves_errors():
    with pytest.raises(envs.EnvError, match="n_envs >= 2"):
        envs.make("CartPole-v1", 1, 0, halves=True)
    with pytest.raises(envs.EnvError, match="halves"):
        envs.make("MinAtar/Breakout-v1", 4, 0, backend="torch", halves=True)
