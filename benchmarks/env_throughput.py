"""rlnoise's env layer vs raw ale-py AtariVectorEnv, same settings, interleaved, obs/s.

    python -m benchmarks.env_throughput [--envs 1,4,16,64,256] [--seconds 2] [--repeats 3]

Random actions on Pong with the standard preprocessing (84x84 gray, 4-frame stack, frame skip
4 with max-pool, 30 no-ops, unclipped rewards, same-step autoreset). Observations per second,
median over repeats, and the ratio envs.make / raw (goal >= 0.95).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from ale_py.vector_env import AtariVectorEnv

import envs
from benchmarks._machine import machine_line


def raw_env(n: int, seed: int) -> AtariVectorEnv:
    return AtariVectorEnv(
        "pong",
        n,
        num_threads=min(n, os.cpu_count() or 1),
        episodic_life=False,
        reward_clipping=False,
        autoreset_mode="SameStep",
        repeat_action_probability=0.0,
        noop_max=30,
    )


def raw_rate(n: int, seconds: float) -> float:
    """Observations per second of a fresh raw AtariVectorEnv with n envs, random actions."""
    env = raw_env(n, 0)
    r = rate(env, n, seconds, 0, True)
    env.close()
    return r


def rate(env, n: int, seconds: float, seed: int, raw: bool) -> float:
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 6, size=(1024, n))
    env.reset(seed=seed)
    for i in range(5):
        env.step(actions[i])
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        env.step(actions[steps % 1024])
        steps += 1
    return steps * n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", default="1,4,16,64,256")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(machine_line())
    print(f"Pong, random actions, obs/s (median of {a.repeats}, {a.seconds:g} s each, interleaved)")
    print(f"{'n_envs':>7}{'raw ALE':>12}{'rlnoise envs':>14}{'ratio':>8}")
    for n in [int(x) for x in a.envs.split(",")]:
        raw, ours = raw_env(n, 0), envs.make("ALE/Pong-v5", n, 0)
        r_raw, r_ours = [], []
        for rep in range(a.repeats):
            r_raw.append(rate(raw, n, a.seconds, rep, True))
            r_ours.append(rate(ours, n, a.seconds, rep, False))
        raw.close()
        ours.close()
        m_raw, m_ours = statistics.median(r_raw), statistics.median(r_ours)
        print(f"{n:>7}{m_raw:>12,.0f}{m_ours:>14,.0f}{m_ours / m_raw:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
