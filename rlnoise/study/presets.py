"""Built-in studies. `rlnoise study` with no arguments runs PRESETS["cartpole"].

Each preset fills every study field that the command line leaves out. Sizes were chosen by
measuring runs on the development machine (2 shared cores, no GPU), never by looking at whether
B_simple and B_crit agree.

cartpole (the default; about 10 minutes on 2 cores)
    PPO on CartPole-v1, n_envs 2..64 (B = 256..8,192 observations), 2 seeds, target 475 (mean
    of the last 20 whole episodes), lr grid around the sqrt rule from 4e-3 at B = 256, constant
    lr, B_simple measured every update, at most 300k steps per run: 40 runs, 9.6 minutes on the
    development machine while other work shared its 2 cores. One environment (B = 128) is left
    out: an update costs ~0.2-0.3 s whatever the batch, and a run there needed 805 updates (270 s)
    at lr 2.5e-4; its B_simple would also come from correlated time chunks. The base lr 4e-3 is
    where calibration runs were fastest at B = 256 (S = 126 at 4e-3 vs 314 at 1e-3), so the
    grid's centre is not wasted; the grid and its widening still pick the lr at every B.

minatar (PPO on MinAtar Breakout; about 35-45 minutes on 2 CPU cores, estimated)
    n_envs 2..32 with 128 steps (B = 256..4,096), 2 seeds, target 5 (mean of the last 20
    games; random play scores ~0.5), lr grid from 2.5e-3 at B = 256, at most 500k steps per run,
    B_simple every 4 updates (on the small CNN one measurement with K = 8 groups costs about half
    an update). Calibration runs with B_simple every 2 updates on the loaded development machine:
    2 envs at lr 2.5e-3 ran 335 steps/s and passed 5 at ~42k steps; 8 envs at lr 5e-3 ran 840
    steps/s and passed 5.5 at ~94k steps (6 at ~120k). Target 10 would need several times more
    steps per run than an hour allows on 2 cores.

minatar-gpu (MinAtar Breakout on the GPU; for GPU machines)
    As minatar (same settings and target) with the torch backend stepping on the GPU,
    n_envs 8..4,096 (B = 1,024..524,288 observations), 3 seeds, at most 5M steps per run, runs
    sharing the card. A CPU dry run at small sizes: rlnoise study --preset minatar-gpu
    --device cpu --n-envs 8,32 --seeds 1.

atari-a2c (A2C as in the paper; for GPU machines)
    A2C (RMSProp, 5 steps per env) on one of the paper's seven games (--env Pong by default;
    Alien, BeamRider, Breakout, Pong, Qbert, Seaquest, SpaceInvaders), n_envs 8..1,024
    (B = 40..5,120 observations), 2 seeds, at most 10M steps (40M frames) per run, lr grid from
    7e-4 at B = 40, B_simple every 10 updates, 4 threads per run. Targets (mean of the last 20
    whole games, unclipped score) are our choice: about half of what public A2C baselines reach
    in 10M steps, rounded -- see ATARI_TARGETS.
"""

from __future__ import annotations

from rlnoise.study.config import StudyError

# Paper's seven A2C games -> target (unclipped game score, mean of the last 20 whole games).
ATARI_TARGETS: dict[str, float] = {
    "Alien": 800.0,
    "BeamRider": 1500.0,
    "Breakout": 150.0,
    "Pong": 10.0,
    "Qbert": 2000.0,
    "Seaquest": 800.0,
    "SpaceInvaders": 400.0,
}

PRESETS: dict[str, dict] = {
    "cartpole": {
        "env_id": "CartPole-v1",
        "algo": "ppo",
        "n_envs": (1, 2, 4, 8, 16, 32, 64),
        "seeds": 2,
        "targets": (475.0,),
        "max_steps": 300_000,
        "lr_rule": "grid",
        "lr": 4e-3,
        "n_steps": 128,
        "noise_every": 1,
        "noise_groups": 8,
        "episode_window": 20,
        "exec": {"device": "cpu", "threads_per_run": 1},
    },
    "minatar": {
        "env_id": "MinAtar/Breakout-v1",
        "algo": "ppo",
        "n_envs": (2, 4, 8, 16, 32),
        "seeds": 2,
        "targets": (5.0,),
        "max_steps": 500_000,
        "lr_rule": "grid",
        "lr": 2.5e-3,
        "n_steps": 128,
        "noise_every": 4,
        "noise_groups": 8,
        "episode_window": 20,
        "exec": {"device": "cpu", "threads_per_run": 1},
    },
    "atari-a2c": {
        "env_id": "ALE/Pong-v5",
        "algo": "a2c",
        "n_envs": (8, 16, 32, 64, 128, 256, 512, 1024),
        "seeds": 2,
        "targets": None,  # per game: ATARI_TARGETS
        "max_steps": 10_000_000,
        "lr_rule": "grid",
        "lr": 7e-4,
        "n_steps": 5,
        "noise_every": 10,
        "noise_groups": 8,
        "episode_window": 20,
        "exec": {"device": "auto", "threads_per_run": 4},
    },
}
# The GPU version of "minatar": the same game, algorithm settings and target, on the torch
# backend stepping on the GPU, over env counts up to 4,096 (B = 1,024 .. 524,288 observations)
# with several runs sharing the card at once. Sized for one H100/H200 in about 10 minutes;
# unverified on a GPU so far (only CPU dry runs at small sizes).
PRESETS["minatar-gpu"] = {
    **PRESETS["minatar"],
    "n_envs": (8, 32, 128, 512, 2048, 4096),
    "seeds": 3,
    "max_steps": 5_000_000,
    "lr": 2.5e-3,  # at the smallest B; the grid and its widening pick the lr at every B
    "noise_every": 1,
    "exec": {"device": "cuda", "threads_per_run": 1},
}
DEFAULT_PRESET = "cartpole"


def atari_env_id(name: str) -> str:
    """'Pong', 'pong' or 'ALE/Pong-v5' -> 'ALE/Pong-v5'."""
    if name.startswith("ALE/"):
        return name
    for game in ATARI_TARGETS:
        if game.lower() == name.lower():
            return f"ALE/{game}-v5"
    return f"ALE/{name}-v5"


def atari_target(env_id: str) -> float | None:
    game = env_id.removeprefix("ALE/").removesuffix("-v5")
    return ATARI_TARGETS.get(game)


def get_preset(name: str) -> dict:
    if name not in PRESETS:
        raise StudyError(f"unknown --preset {name!r}; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS[name])
