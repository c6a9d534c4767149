"""Behaviour of `envs`: shapes, seeding, same-step autoreset, episodic life, episode statistics."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

import envs

HAS_ENVPOOL = importlib.util.find_spec("envpool") is not None
HAS_CV2 = importlib.util.find_spec("cv2") is not None
ATARI_BACKENDS = [
    "ale",
    pytest.param("envpool", marks=pytest.mark.skipif(not HAS_ENVPOOL, reason="needs envpool")),
    pytest.param("gymnasium", marks=pytest.mark.skipif(not HAS_CV2, reason="needs opencv")),
]


def rollout(venv: envs.VecEnv, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random actions for `steps` steps; stacks every output into arrays [T, N, ...]."""
    rng = np.random.default_rng(seed)
    keys = ("obs", "reward", "terminated", "truncated", "done", "ret", "length")
    out: dict[str, list] = {k: [] for k in keys}
    for _ in range(steps):
        actions = rng.integers(0, venv.single_action_space.n, venv.num_envs)
        obs, reward, terminated, truncated, info = venv.step(actions)
        for k, v in zip(keys, (obs, reward, terminated, truncated), strict=False):
            out[k].append(v)
        out["done"].append(info["episode_done"])
        out["ret"].append(info["episode_return"])
        out["length"].append(info["episode_length"])
    return {k: np.stack(v) for k, v in out.items()}


def check_step_types(venv: envs.VecEnv, obs_dtype: type) -> None:
    obs, reward, terminated, truncated, info = venv.step(np.zeros(venv.num_envs, dtype=np.int64))
    n = venv.num_envs
    assert obs.shape == (n, *venv.single_observation_space.shape) and obs.dtype == obs_dtype
    assert reward.shape == (n,) and reward.dtype == np.float32
    assert terminated.dtype == bool and truncated.dtype == bool
    assert terminated.shape == truncated.shape == (n,)
    assert info["episode_done"].dtype == bool and info["episode_done"].shape == (n,)
    assert info["episode_return"].dtype == np.float64
    assert info["episode_length"].dtype == np.int64
    json.dumps(venv.spec_info)


def check_episode_stats(r: dict[str, np.ndarray]) -> int:
    """Returns and lengths in info equal our own sums of raw rewards and step counts."""
    n = r["reward"].shape[1]
    acc_ret, acc_len, finished = np.zeros(n), np.zeros(n, dtype=np.int64), 0
    for t in range(len(r["reward"])):
        acc_ret += r["reward"][t]
        acc_len += 1
        for i in np.nonzero(r["done"][t])[0]:
            assert r["ret"][t, i] == pytest.approx(acc_ret[i])
            assert r["length"][t, i] == acc_len[i]
            acc_ret[i], acc_len[i], finished = 0.0, 0, finished + 1
        assert np.isnan(r["ret"][t][~r["done"][t]]).all()
    return finished


# ---- CartPole --------------------------------------------------------------------------------
def test_cartpole_shapes_and_spec() -> None:
    with envs.make("CartPole-v1", 4, seed=0) as venv:
        assert venv.num_envs == 4 and venv.obs_kind == "vector" and not venv.reward_clip
        assert venv.single_action_space.n == 2
        obs = venv.reset()
        assert obs.shape == (4, 4) and obs.dtype == np.float32
        check_step_types(venv, np.float32)
        assert venv.spec_info["env_id"] == "CartPole-v1"


def test_cartpole_seeding_is_repeatable() -> None:
    a, b = envs.make("CartPole-v1", 4, seed=7), envs.make("CartPole-v1", 4, seed=7)
    np.testing.assert_array_equal(a.reset(), b.reset())  # the make seed seeds the first reset
    obs_a, obs_b = a.reset(seed=3), b.reset(seed=3)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert not np.array_equal(obs_a[0], obs_a[1])  # env i is seeded seed + i
    ra, rb = rollout(a, 120), rollout(b, 120)
    for k in ra:
        np.testing.assert_array_equal(ra[k], rb[k])
    assert not np.array_equal(a.reset(seed=4), obs_a)
    a.close()
    b.close()


def test_cartpole_episodes_and_same_step_autoreset() -> None:
    with envs.make("CartPole-v1", 4, seed=1) as venv:
        venv.reset()
        r = rollout(venv, 200)
    np.testing.assert_array_equal(r["done"], r["terminated"] | r["truncated"])
    assert check_episode_stats(r) >= 8
    done = r["done"]
    np.testing.assert_array_equal(r["ret"][done], r["length"][done])  # +1 per step
    assert (np.abs(r["obs"][done]) <= 0.05).all()  # already the next episode's reset state


# ---- Atari -----------------------------------------------------------------------------------
def is_fresh_stack(stack: np.ndarray) -> bool:
    """A just-reset frame stack: older frames zero (ale) or copies of the first (envpool, gym)."""
    return bool((stack[:-1] == 0).all() or (stack == stack[-1]).all())


@pytest.mark.parametrize("backend", ATARI_BACKENDS)
def test_atari_cleanrl_episodic_life(backend: str) -> None:
    with envs.make("ALE/Breakout-v5", 2, seed=1, backend=backend) as venv:
        assert venv.obs_kind == "frames" and venv.reward_clip
        assert venv.single_action_space.n == 4  # minimal action set
        assert venv.spec_info["protocol"] == "cleanrl"
        obs = venv.reset()
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        check_step_types(venv, np.uint8)
        venv.reset()
        r = rollout(venv, 400)
    assert check_episode_stats(r) >= 2
    life_loss = r["terminated"] & ~r["done"]
    assert life_loss.any()  # a life loss ends the learning episode, the game goes on
    assert (r["terminated"] | r["truncated"])[r["done"]].all()
    for i in range(2):  # every complete game is 5 lives: 4 life losses and the game over
        ends = np.nonzero(r["done"][:, i])[0]
        for start, end in zip(np.r_[0, ends[:-1] + 1], ends, strict=True):
            assert r["terminated"][start : end + 1, i].sum() == 5
            assert r["length"][end, i] == end - start + 1
        for t in ends:  # same-step autoreset: the new game's first observation
            assert is_fresh_stack(r["obs"][t, i])


@pytest.mark.parametrize("backend", ATARI_BACKENDS[:2])  # the life logic is backend-independent
def test_atari_machado_protocol(backend: str) -> None:
    with envs.make("ALE/Breakout-v5", 2, seed=2, backend=backend, protocol="machado") as venv:
        assert venv.single_action_space.n == 18
        assert venv.spec_info["protocol_settings"]["repeat_action_probability"] == 0.25
        venv.reset()
        r = rollout(venv, 250)
    assert check_episode_stats(r) >= 1
    np.testing.assert_array_equal(r["terminated"] | r["truncated"], r["done"])  # no life signal


def test_atari_seeding_and_raw_rewards() -> None:
    with envs.make("ALE/SpaceInvaders-v5", 2, seed=5) as venv:
        assert venv.spec_info["rom"] == "space_invaders"
        first = venv.reset(seed=5)
        ra = rollout(venv, 150)
        np.testing.assert_array_equal(venv.reset(seed=5), first)
        rb = rollout(venv, 150)
    np.testing.assert_array_equal(ra["obs"], rb["obs"])
    np.testing.assert_array_equal(ra["reward"], rb["reward"])
    assert ra["reward"].max() > 1  # raw, unclipped (invaders are worth 5-30 points)


@pytest.mark.skipif(not HAS_ENVPOOL, reason="needs envpool")
def test_envpool_seeded_reset_is_repeatable() -> None:
    with envs.make("ALE/Pong-v5", 1, seed=0, backend="envpool") as venv:
        first = venv.reset(seed=9)
        rollout(venv, 20)
        np.testing.assert_array_equal(venv.reset(seed=9), first)


def test_async_send_recv_matches_step() -> None:
    with envs.make("ALE/Pong-v5", 2, seed=0) as venv:
        venv.reset()
        venv.send(np.array([0, 1]))
        obs, reward, *_ = venv.recv()
        assert obs.shape == (2, 4, 84, 84)
        with pytest.raises(envs.EnvError):
            venv.recv()


# ---- MinAtar ---------------------------------------------------------------------------------
def test_minatar_breakout() -> None:
    pytest.importorskip("minatar")
    with envs.make("MinAtar/Breakout-v1", 3, seed=0, backend="minatar") as venv:
        assert venv.obs_kind == "minatar" and venv.single_action_space.n == 3
        obs = venv.reset()
        assert obs.shape == (3, 4, 10, 10) and obs.dtype == np.uint8
        assert set(np.unique(obs)) <= {0, 1}
        check_step_types(venv, np.uint8)
        assert venv.spec_info["sticky_action_prob"] == 0.1
        first = venv.reset(seed=4)
        r = rollout(venv, 200)
        np.testing.assert_array_equal(venv.reset(seed=4), first)
        np.testing.assert_array_equal(rollout(venv, 200)["obs"], r["obs"])
    assert check_episode_stats(r) >= 3
    np.testing.assert_array_equal(r["terminated"], r["done"])


# ---- catalogue and errors --------------------------------------------------------------------
def test_catalogue() -> None:
    ids = envs.list_env_ids()
    for env_id in ("ALE/Pong-v5", "ALE/SpaceInvaders-v5", "MinAtar/Breakout-v1", "CartPole-v1"):
        assert env_id in ids
    assert "Pendulum-v1" not in ids  # continuous actions
    assert envs.is_atari("ALE/Pong-v5") and not envs.is_atari("CartPole-v1")
    assert set(envs.ATARI_PROTOCOLS) == {"cleanrl", "machado"}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"env_id": "ALE/Pongg-v5"}, "ALE/Pong-v5"),
        ({"env_id": "CartPol-v1"}, "CartPole-v1"),
        ({"env_id": "PongNoFrameskip-v4"}, "ALE/Pong-v5"),
        ({"n_envs": 0}, "n_envs"),
        ({"backend": "nope"}, "ale"),
        ({"protocol": "nope"}, "cleanrl"),
        ({"backend": "envpool"}, "gymnasium"),
        ({"env_id": "Pendulum-v1"}, "Discrete"),
        ({"env_id": "MinAtar/Breakout-v1", "backend": "ale"}, "minatar"),
    ],
)
def test_bad_input_raises_env_error(kwargs: dict, needle: str) -> None:
    args = {"env_id": "CartPole-v1", "n_envs": 2, "seed": 0, **kwargs}
    with pytest.raises(envs.EnvError, match=needle) as exc:
        envs.make(**args)
    assert isinstance(exc.value, ValueError) and "\n" not in str(exc.value)


def test_bad_actions_raise_env_error() -> None:
    with envs.make("CartPole-v1", 2, seed=0) as venv:
        with pytest.raises(envs.EnvError, match="reset"):
            venv.step(np.zeros(2, dtype=np.int64))
        venv.reset()
        for bad in (np.zeros(3, dtype=np.int64), np.array([0, 2]), np.array([0.0, 1.0])):
            with pytest.raises(envs.EnvError):
                venv.step(bad)
