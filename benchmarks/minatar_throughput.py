"""Torch MinAtar vs the original package: env steps per second with random actions.

    python -m benchmarks.minatar_throughput [--games all] [--envs 1024] [--seconds 3]
        [--device cpu|cuda] [--compile] [--threads N] [--json PATH]

The original is one `minatar.Environment` stepping in a Python loop and building the observation
an agent acts on (`state()`) every step, as a training loop does (its single-process rate);
the torch backend steps `--envs` games per call on `--device`, eager and (with --compile) under
torch.compile. Prints steps/s and the ratio torch / original per game (issue goal: >= 5x at
1,024 envs on 2 CPU cores), and writes the figures as JSON with the machine they came from.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import envs
from benchmarks._machine import machine_line
from envs.catalog import MINATAR_GAMES


def original_rate(game: str, seconds: float) -> float:
    """Steps/s of one original MinAtar game with random actions: act, observe, autoreset."""
    from minatar import Environment

    env = Environment(game)
    env.seed(0)
    env.reset()
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 6, 1_000_000)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in actions[n % 900_000 : n % 900_000 + 1000]:
            _, done = env.act(int(a))
            env.state()
            if done:
                env.reset()
        n += 1000
    return n / (time.perf_counter() - start)


def torch_rate(env_id: str, n_envs: int, seconds: float, device: str, compile: bool) -> float:
    """Env steps/s of the torch backend: n_envs games per step, random actions on the device."""
    venv = envs.make(env_id, n_envs, 0, backend="torch", device=device)
    if compile:
        venv = type(venv)(env_id, n_envs, 0, device=device, compile=True)
    venv.reset()
    n_act = int(venv.single_action_space.n)
    gen = torch.Generator(device=device).manual_seed(0)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(20):  # warm-up (and compilation)
        venv.step(torch.randint(0, n_act, (n_envs,), generator=gen, device=device))
    sync()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            venv.step(torch.randint(0, n_act, (n_envs,), generator=gen, device=device))
        sync()
        steps += 10
    return steps * n_envs / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--games", default="all", help="comma list of Breakout,Asterix,... or all")
    p.add_argument("--envs", default="1024", help="comma list of env counts")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--compile", action="store_true", help="also measure torch.compile")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--no-original", action="store_true", help="skip the original's rate")
    p.add_argument("--json", default=None, help="write the figures here")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    games = list(MINATAR_GAMES) if a.games == "all" else a.games.split(",")
    counts = [int(x) for x in a.envs.split(",")]
    machine = machine_line()
    print(f"# {machine} | torch {torch.__version__}, {torch.get_num_threads()} threads, {a.device}")
    rows = []
    for name in games:
        env_id = f"MinAtar/{name}-v1"
        orig = None if a.no_original else original_rate(MINATAR_GAMES[name], a.seconds)
        for n in counts:
            modes = [False, True] if a.compile else [False]
            for compiled in modes:
                rate = torch_rate(env_id, n, a.seconds, a.device, compiled)
                row = {
                    "game": name,
                    "n_envs": n,
                    "compiled": compiled,
                    "torch_steps_per_s": round(rate),
                    "original_steps_per_s": None if orig is None else round(orig),
                    "ratio": None if orig is None else round(rate / orig, 2),
                }
                rows.append(row)
                print(
                    f"{name:14s} n={n:6d} {'compiled' if compiled else 'eager   '} "
                    f"torch {rate:12,.0f}/s"
                    + (
                        ""
                        if orig is None
                        else f"  original {orig:9,.0f}/s  ratio {rate / orig:6.1f}x"
                    ),
                    flush=True,
                )
    if a.json:
        doc = {"machine": machine, "torch": torch.__version__, "device": a.device, "rows": rows}
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()
