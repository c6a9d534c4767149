"""The torch MinAtar vector env: interface, statistics, seeding, errors, and random play vs the
original package's distributions. Game rules are checked step for step in test_minatar_torch_<game>.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import envs
from envs.catalog import MINATAR_GAMES
from envs.minatar_torch import game_class

GAME_IDS = [f"MinAtar/{name}-v1" for name in MINATAR_GAMES]


def _have(env_id: str) -> bool:
    try:
        game_class(envs.catalog.MINATAR_IDS[env_id])
    except ModuleNotFoundError:
        return False
    return True


def _random_actions(venv, gen: torch.Generator) -> torch.Tensor:
    n = int(venv.single_action_space.n)
    return torch.randint(0, n, (venv.num_envs,), generator=gen)


@pytest.mark.parametrize("env_id", GAME_IDS)
def test_interface_and_episode_statistics(env_id):
    if not _have(env_id):
        pytest.skip(f"{env_id} not built")
    with envs.make(env_id, 16, seed=0) as venv:
        assert venv.spec_info["backend"] == "torch" and venv.obs_kind == "minatar"
        obs = venv.reset()
        c = venv.single_observation_space.shape[0]
        assert obs.dtype == torch.uint8 and obs.shape == (16, c, 10, 10)
        gen = torch.Generator().manual_seed(0)
        acc = torch.zeros(16, dtype=torch.float64)
        length = torch.zeros(16, dtype=torch.int64)
        ended = 0
        for _ in range(300):
            obs, r, term, trunc, info = venv.step(_random_actions(venv, gen))
            assert r.dtype == torch.float32 and term.dtype == torch.bool and not trunc.any()
            acc += r
            length += 1
            done = info["episode_done"]
            assert torch.equal(done, term)
            assert torch.isnan(info["episode_return"][~done]).all()
            assert (info["episode_length"][~done] == 0).all()
            torch.testing.assert_close(info["episode_return"][done].double(), acc[done])
            assert torch.equal(info["episode_length"][done], length[done])
            acc[done], length[done] = 0, 0
            ended += int(done.sum())
        assert ended > 0 or env_id.startswith("MinAtar/Freeway")


def test_seeded_reset_repeats_and_seeds_differ():
    def run(seed):
        venv = envs.make("MinAtar/Breakout-v1", 8, seed=seed)
        frames = [venv.reset()]
        gen = torch.Generator().manual_seed(1)
        for _ in range(50):
            frames.append(venv.step(_random_actions(venv, gen))[0])
        return torch.stack(frames)

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_auto_picks_torch_and_the_original_stays_available():
    assert envs.make("MinAtar/Breakout-v1", 2, 0).spec_info["backend"] == "torch"
    pytest.importorskip("minatar")
    assert envs.make("MinAtar/Breakout-v1", 2, 0, backend="minatar").spec_info["backend"] == (
        "minatar"
    )


@pytest.mark.parametrize(
    ("actions", "needle"),
    [
        (np.zeros(4, dtype=np.int64), "torch tensor"),
        (torch.zeros(3, dtype=torch.int64), "shape"),
        (torch.zeros(4), "integer"),
    ],
)
def test_bad_actions(actions, needle):
    venv = envs.make("MinAtar/Breakout-v1", 4, 0)
    with pytest.raises(envs.EnvError, match="reset"):
        venv.step(torch.zeros(4, dtype=torch.int64))
    venv.reset()
    with pytest.raises(envs.EnvError, match=needle):
        venv.step(actions)


def test_bad_device_is_an_env_error():
    with pytest.raises(envs.EnvError, match="device"):
        envs.make("MinAtar/Breakout-v1", 2, 0, backend="torch", device="nonsense")
    if not torch.cuda.is_available():
        with pytest.raises(envs.EnvError, match="CUDA"):
            envs.make("MinAtar/Breakout-v1", 2, 0, backend="torch", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("env_id", GAME_IDS)
def test_cpu_and_cuda_agree_on_the_same_draws(env_id):
    cpu = envs.make(env_id, 256, 0, backend="torch", device="cpu")
    gpu = envs.make(env_id, 256, 0, backend="torch", device="cuda")
    cpu.reset()
    gpu.reset()
    gpu.state = {k: v.cuda() for k, v in cpu.state.items()}
    gen = torch.Generator().manual_seed(0)
    for _ in range(500):
        executed = cpu.action_set[_random_actions(cpu, gen)]
        u = torch.rand(cpu.num_envs, cpu._width, generator=gen)
        a = cpu.step_with(executed, u)
        b = gpu.step_with(executed.cuda(), u.cuda())
        for x, y in zip(a[:4], b[:4], strict=True):
            assert torch.equal(x, y.cpu())
        for k, v in cpu.state.items():
            assert torch.equal(v, gpu.state[k].cpu()), k


def _episodes_torch(env_id, n_envs, episodes, seed):
    venv = envs.make(env_id, n_envs, seed, backend="torch")
    venv.reset()
    gen = torch.Generator().manual_seed(seed)
    returns, lengths = [], []
    while len(returns) < episodes:
        _, _, _, _, info = venv.step(_random_actions(venv, gen))
        done = info["episode_done"]
        returns += info["episode_return"][done].tolist()
        lengths += info["episode_length"][done].tolist()
    return np.array(returns[:episodes]), np.array(lengths[:episodes])


def _episodes_original(env_id, n_envs, episodes, seed):
    venv = envs.make(env_id, n_envs, seed, backend="minatar")
    venv.reset()
    rng = np.random.default_rng(seed)
    returns, lengths = [], []
    while len(returns) < episodes:
        a = rng.integers(0, venv.single_action_space.n, n_envs)
        _, _, _, _, info = venv.step(a)
        done = info["episode_done"]
        returns += info["episode_return"][done].tolist()
        lengths += info["episode_length"][done].tolist()
    return np.array(returns[:episodes]), np.array(lengths[:episodes])


# episodes per game: enough for a tight mean; Freeway's games are 2,500 steps each
_EPISODES = {"Freeway": 48, "SpaceInvaders": 300, "Seaquest": 600, "Asterix": 400, "Breakout": 600}


@pytest.mark.parametrize("env_id", GAME_IDS)
def test_random_play_matches_the_original_distribution(env_id):
    """Mean return and length of random play agree with the original within 4 standard errors."""
    pytest.importorskip("minatar")
    if not _have(env_id):
        pytest.skip(f"{env_id} not built")
    n = _EPISODES[env_id.split("/")[1].split("-")[0]]
    r_t, l_t = _episodes_torch(env_id, 48, n, seed=11)
    r_o, l_o = _episodes_original(env_id, 48, n, seed=12)
    for name, a, b in (("return", r_t, r_o), ("length", l_t, l_o)):
        se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        diff = abs(a.mean() - b.mean())
        assert diff <= 4 * se + 1e-9, (
            f"{env_id} {name}: torch {a.mean():.3f} original {b.mean():.3f}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("env_id", GAME_IDS)
def test_compiled_steps_equal_eager(env_id):
    """compile=True (torch.compile of the whole transition) gives the same games as eager."""
    from envs.backend_minatar_torch import MinAtarTorchVecEnv

    eager = MinAtarTorchVecEnv(env_id, 16, 5)
    compiled = MinAtarTorchVecEnv(env_id, 16, 5, compile=True)
    assert torch.equal(eager.reset(), compiled.reset())
    gen = torch.Generator().manual_seed(2)
    for _ in range(200):
        actions = _random_actions(eager, gen)
        ra, rb = eager.step(actions), compiled.step(actions.clone())
        for x, y in zip(ra[:4], rb[:4], strict=True):
            assert torch.equal(x, y)
    for k, v in eager.state.items():
        assert torch.equal(v, compiled.state[k]), k
