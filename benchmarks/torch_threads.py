"""Training SPS of the small CPU tasks with one torch thread against all cores, on a quiet
machine and beside busy processes: what the CPU default of `--torch-threads` is chosen from.

    python -m benchmarks.torch_threads [--tasks cartpole,minatar] [--busy 0,1,2] [--rounds 2]
                                       [--iters 3] [--json FILE]

Per task (CartPole-v1 PPO at 4 envs; MinAtar/Breakout-v1 PPO at 8 envs on the torch backend)
and per load (0, 1 or 2 processes spinning on a core beside it, standing in for another run or
a study's second worker), the training loop's steady SPS (rollout, advantages, noise
measurement, update; `benchmarks.train_throughput.loop_sps`) with `torch_threads` 1 and then
os.cpu_count(), in alternating rounds. Prints the ratio threads=1 / threads=all per row; the
figures in benchmarks/RESULTS.md come from it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
from pathlib import Path

from benchmarks._machine import close, machine_line
from benchmarks.train_throughput import loop_sps
from rlnoise.config import TrainConfig

TASKS = {
    "cartpole": dict(env_id="CartPole-v1", n_envs=4, n_steps=128),
    "minatar": dict(env_id="MinAtar/Breakout-v1", n_envs=8, n_steps=128),
}


def _spin() -> None:  # pragma: no cover - runs in a child process until terminated
    while True:
        pass


def sps(task: str, threads: int, iters: int) -> float:
    cfg = TrainConfig(**TASKS[task], torch_threads=threads, progress=False, device="cpu")
    return loop_sps(cfg, iters)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="cartpole,minatar")
    ap.add_argument("--busy", default="0,1,2", help="comma list of spinning processes")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3, help="updates timed per measurement")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    rows = []
    for busy in (int(x) for x in a.busy.split(",")):
        spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            for task in a.tasks.split(","):
                one, all_ = [], []
                for _ in range(a.rounds):
                    one.append(sps(task, 1, a.iters))
                    all_.append(sps(task, cores, a.iters))
                row = {
                    "task": task,
                    "busy_processes": busy,
                    "sps_threads_1": statistics.median(one),
                    f"sps_threads_{cores}": statistics.median(all_),
                    "ratio_1_over_all": statistics.median(one) / statistics.median(all_),
                    "rounds": a.rounds,
                }
                rows.append(row)
                print(
                    f"{task:9s} busy {busy}: 1 thread {row['sps_threads_1']:9,.0f} SPS, "
                    f"{cores} threads {row[f'sps_threads_{cores}']:9,.0f} SPS, "
                    f"ratio {row['ratio_1_over_all']:.2f}",
                    flush=True,
                )
        finally:
            for p in spinners:
                p.terminate()
                p.join()
    close({"machine": machine_line(), "cores": cores, "rows": rows}, a.json)


if __name__ == "__main__":
    main()
