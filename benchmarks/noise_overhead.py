"""Wall-time cost of the noise measurement: the same PPO run with noise at the default
`--noise-every`, at `--noise-every 1`, and with `--no-noise`, interleaved, median of repeats.

    python -m benchmarks.noise_overhead [--repeats 3] [--cartpole-updates 40] [--pong-updates 10]
                                        [--skip-pong]

Prints the median wall time of each setting and its ratio to --no-noise (goal: <= 1.05 at
the default). Same seed, same steps in every repeat; the measurement runs at theta_old with
K = 8 env groups and three loss parts (policy, value, entropy -> total).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from benchmarks._machine import machine_line
from rlnoise.config import NOISE_BUDGET, TrainConfig
from rlnoise.train import start


def wall(env_id: str, n_envs: int, updates: int, noise: bool, every: int | None) -> float:
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(
            env_id=env_id,
            n_envs=n_envs,
            total_steps=n_envs * 128 * updates,
            noise=noise,
            noise_every=every,
            progress=False,
            run_dir=f"{d}/run",
            checkpoint_every=10**9,
        )
        t = start(cfg)
        t0 = time.perf_counter()
        t.run()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cartpole-updates", type=int, default=40)
    ap.add_argument("--pong-updates", type=int, default=10)
    ap.add_argument("--skip-pong", action="store_true")
    a = ap.parse_args()
    print(machine_line(), f"| torch {torch.__version__}, {torch.get_num_threads()} threads")
    cases = [("CartPole-v1", 8, a.cartpole_updates)]
    if not a.skip_pong:
        cases.append(("ALE/Pong-v5", 8, a.pong_updates))
    settings = {
        "--no-noise": (False, None),
        f"default (adaptive, budget {NOISE_BUDGET:.0%})": (True, None),
        "--noise-every 1": (True, 1),
    }
    for env_id, n, updates in cases:
        times: dict[str, list[float]] = {k: [] for k in settings}
        for _ in range(a.repeats):
            for k, (noise, every) in settings.items():
                times[k].append(wall(env_id, n, updates, noise, every))
        base = statistics.median(times["--no-noise"])
        print(f"\nPPO {env_id}, {n} envs x 128 steps, {updates} updates, median of {a.repeats}")
        print(f"{'setting':<28}{'wall s':>9}{'ratio':>8}")
        for k, v in times.items():
            m = statistics.median(v)
            print(f"{k:<28}{m:>9.2f}{m / base:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
