"""Evaluate a saved policy on whole-game, unclipped episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import envs
from agents.networks import make_network
from rlnoise.checkpoint import CHECKPOINT_NAME, load_checkpoint
from rlnoise.config import ConfigError, TrainConfig


def game_quotas(episodes: int, n_envs: int) -> list[int]:
    """How many games each env plays: fixed before any game starts, so that the games counted
    do not depend on their length. Counting the first `episodes` games to finish instead would
    over-count short games, whose envs finish more of them (a low-biased mean return)."""
    return [episodes // n_envs + (1 if i < episodes % n_envs else 0) for i in range(n_envs)]


def evaluate(
    run_dir: Path, episodes: int = 10, seed: int = 12345, greedy: bool = False, n_envs: int = 8
) -> dict:
    """Mean and std of the return over `episodes` whole games with the run's protocol."""
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1 (got {episodes})")
    state = load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
    cfg = TrainConfig.from_dict(json.loads(state["config"]))
    n = min(n_envs, episodes)
    env = envs.make(cfg.env_id, n, seed, cfg.backend, cfg.protocol, cfg.env_threads)
    model = make_network(
        env.obs_kind, env.single_observation_space.shape, int(env.single_action_space.n)
    )
    model.load_state_dict(state["model"])
    model.eval()
    torch.manual_seed(seed)
    obs = env.reset(seed=seed)
    returns: list[float] = []
    lengths: list[int] = []
    quota = game_quotas(episodes, n)
    played = [0] * n
    tensor_env = getattr(env, "is_torch", False)  # e.g. MinAtar on torch
    while len(returns) < episodes:
        with torch.inference_mode():
            x = torch.as_tensor(obs)
            action = model.greedy(x) if greedy else model.act(x)[0]
        obs, _, _, _, info = env.step(action if tensor_env else action.numpy())
        done = np.asarray(torch.as_tensor(info["episode_done"]).cpu())
        for i in np.flatnonzero(done):
            if played[i] < quota[i]:
                played[i] += 1
                returns.append(float(info["episode_return"][i]))
                lengths.append(int(info["episode_length"][i]))
    env.close()
    return {
        "run_dir": str(run_dir),
        "env": cfg.env_id,
        "episodes": episodes,
        "policy": "greedy" if greedy else "sampled",
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "mean_length": float(np.mean(lengths)),
        "returns": returns,
        "update": int(state["update"]),
        "global_step": int(state["global_step"]),
    }
