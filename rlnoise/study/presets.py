"""Built-in studies. `rlnoise study` with no arguments runs PRESETS["cartpole"].

Each preset fills every study field that the command line leaves out. Sizes were chosen by
measuring runs on the development machine (2 shared cores, no GPU), never by looking at whether
B_simple and B_crit agree.

cartpole (the default; sized for about 10 minutes on 2 cores)
    PPO on CartPole-v1, n_envs 2..64 (B = 256..8,192 observations), 5 seeds per (B, lr),
    target 475 (mean of the last 20 whole episodes), an lr grid with x2 spacing around the
    sqrt rule from 5.66e-3 at B = 256 (the old x4 grid's best lrs at B = 256-8,192 lay within
    a factor 2-4 of it), widened at most 3 times where the best lr (median over seeds) sits on
    an edge, constant lr, at most 600k steps per run; non-central lrs stop at 2x the best
    lr's median steps and count as censored there. Why 5 seeds and 600k steps (2026-11-28):
    with 3 seeds and 300k, three repeats gave B_crit 1,094, 1,408 and 1,615; at B = 8,192 the
    300k budget (36 updates) sat at the median run's S, so the median was often censored.
    benchmarks/study_repeatability.py (pooled seeds split into disjoint halves) and the
    synthetic model (rlnoise.study.synthetic) agree that seeds buy repeatability slowly:
    two studies land within 25% of each other with each interval covering the other in 46%
    (old default) / 66% (5 seeds, 600k) of real splits, and 54% / 69% / 83% of synthetic pairs
    at 5 / 10 / 20 seeds (benchmarks/results/study_repeatability_cpu_2026-11-28*.json). 5 seeds
    keep the study near 10 minutes (7.5 min measured on the 2-core VM with little else
    running); the interval's coverage stays near 90% (89% at 3 seeds, 92% at 5, 800
    synthetic studies each). Other layouts at about this cost (wider B ranges, x4 spacing,
    more seeds at the ends) cut the synthetic spread by at most 14% at every true B_crit tried,
    and three-size layouts swung from much better to much worse on real runs with the sizes
    kept (benchmarks/study_design.py, benchmarks/RESULTS.md), so the six sizes stay.
    B_simple on the adaptive cadence
    (every update unless over 3% of wall time), B_noise every 10 updates. One environment
    (B = 128) is left out: an update costs ~0.2-0.3 s whatever the batch, a run there needs
    ~230 updates, and its B_simple would come from correlated time chunks.

minatar (PPO on MinAtar Breakout; sized for about 30 minutes on 2 cores)
    n_envs 8..128 with 128 steps (B = 1,024..16,384), 3 seeds, target 10 (mean of the last 20
    games), lr grid (x2) from 4.95e-3 at B = 1,024 (the line of the earlier 3.5e-3 at B = 512),
    at most 2M steps per run, B_simple on the adaptive cadence, B_noise every 16 updates.
    The target, measured (2026-11-28, the 2-core VM): two PPO runs of rlnoise for 5M steps,
    MinAtar's usual training length (`rlnoise train --env MinAtar/Breakout-v1 --n-envs 16
    --total-steps 5000000 --lr 5e-3 --anneal-lr --no-noise --seed S`, seeds 0 and 1), averaged
    27.8 and 34.7 over the updates of their last 0.5M steps (`python -m benchmarks.learning_curve
    RUN...`, benchmarks/results/minatar_reference_cpu_2026-11-28.json), still rising slowly. A
    quarter of that is 7-8.7: the earlier target 8 sat at 23-29% of it, not clearly above a
    quarter, so the target is 10 (29-36% of those runs, 20x random play ~0.5). The earlier
    target 5 was barely above random. The batch sizes: at target 10 the earlier sizes (B =
    512..4,096) put B_crit above the largest (11,400 [4,657-32,998], runs/minatar_v2, 16.5 min
    alone; S still fell 4x over the range), so the range moved up x2 and one size was added,
    as in the target-8 study over B = 1,024..16,384 (docs/findings.md); 2M steps give B =
    16,384 122 updates (600k gave 36, which censored runs there at target 8). Timed
    (2026-11-28): 26.9 min alone on the 2-core VM (seeds 0-2, 57 runs, runs/minatar_t10),
    B_crit 2,716 [1,932-4,199], inside the range. At target 8 the earlier preset took 11.2 min.

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

# The lr search of the small-task presets: a x2 grid with up to 3 widenings, each (B, lr) cell
# ranked by its median over seeds, other lrs capped at 2x the best cell's updates.
_ROBUST_GRID: dict = {
    "lr_rule": "grid",
    "grid_factor": 2.0,
    "max_widenings": 3,
    "cell_stat": "median",
    "cap_factor": 2.0,
}

PRESETS: dict[str, dict] = {
    "cartpole": {
        "env_id": "CartPole-v1",
        "algo": "ppo",
        "n_envs": (2, 4, 8, 16, 32, 64),
        "seeds": 5,
        "targets": (475.0,),
        "max_steps": 600_000,
        **_ROBUST_GRID,
        "lr": 5.66e-3,
        "n_steps": 128,
        "noise_every": None,
        "noise_groups": 8,
        "b_noise_every": 10,
        "episode_window": 20,
        "exec": {"device": "cpu", "threads_per_run": 1},
    },
    "minatar": {
        "env_id": "MinAtar/Breakout-v1",
        "algo": "ppo",
        "n_envs": (8, 16, 32, 64, 128),
        "seeds": 3,
        "targets": (10.0,),
        "max_steps": 2_000_000,
        **_ROBUST_GRID,
        "lr": 4.95e-3,
        "n_steps": 128,
        "noise_every": None,
        "noise_groups": 8,
        "b_noise_every": 16,
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
