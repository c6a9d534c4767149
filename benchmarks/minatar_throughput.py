"""Torch MinAtar vs the original package: env steps per second with random actions.

    python -m benchmarks.minatar_throughput [--games all] [--envs 1024] [--seconds 3]
        [--rounds 5] [--device cpu|cuda] [--compile] [--threads N] [--json PATH]

The original is one `minatar.Environment` stepping in a Python loop and building the observation
an agent acts on (`state()`) every step, as a training loop does (its single-process rate);
the torch backend steps `--envs` games per call on `--device`, eager and (with --compile) under
torch.compile. The two take turns, `--rounds` times per game (each round `--seconds / --rounds`
of each), so a change in the machine's load hits both alike; the figures are the medians over the
rounds, the ratio the median of the per-round ratios (issue goal: >= 5x at 1,024 envs on 2 CPU
cores). Writes the figures as JSON with the machine and its load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from benchmarks._machine import machine_line
from envs.backend_minatar_torch import MinAtarTorchVecEnv
from envs.catalog import MINATAR_GAMES


class Original:
    """One original MinAtar game with random actions: act, observe, autoreset."""

    def __init__(self, game: str) -> None:
        from minatar import Environment

        self.env = Environment(game)
        self.env.seed(0)
        self.env.reset()
        self.actions = np.random.default_rng(0).integers(0, 6, 100_000).tolist()
        self.n = 0

    def rate(self, seconds: float) -> float:
        env, n, start = self.env, 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            i = self.n % 90_000
            for a in self.actions[i : i + 500]:
                _, done = env.act(a)
                env.state()
                if done:
                    env.reset()
            self.n += 500
            n += 500
        return n / (time.perf_counter() - start)


class Torch:
    """The torch backend: n_envs games per step, random actions drawn on the device."""

    def __init__(self, env_id: str, n_envs: int, device: str, compile: bool) -> None:
        self.venv = MinAtarTorchVecEnv(env_id, n_envs, 0, device=device, compile=compile)
        self.venv.reset()
        self.n_act = int(self.venv.single_action_space.n)
        self.gen = torch.Generator(device=device).manual_seed(0)
        self.device = device
        start = time.perf_counter()
        for _ in range(20):  # warm-up (and compilation)
            self._step()
        self._sync()
        self.warmup_s = time.perf_counter() - start

    def _step(self) -> None:
        v = self.venv
        v.step(torch.randint(0, self.n_act, (v.num_envs,), generator=self.gen, device=self.device))

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def rate(self, seconds: float) -> float:
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(10):
                self._step()
            self._sync()
            steps += 10
        return steps * self.venv.num_envs / (time.perf_counter() - start)


def main() -> None:
    """A benchmark's main: argument parsing, the interleaved measurements and the JSON in one place,
    run top to bottom."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--games", default="all", help="comma list of Breakout,Asterix,... or all")
    p.add_argument("--envs", default="1024", help="comma list of env counts")
    p.add_argument("--seconds", type=float, default=3.0, help="per game, env count and mode")
    p.add_argument("--rounds", type=int, default=5, help="turns of original and torch")
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
    load_before = os.getloadavg()
    print(
        f"# {machine} | torch {torch.__version__}, {torch.get_num_threads()} threads, {a.device}"
        f" | load average {load_before[0]:.2f}"
    )
    per_turn = a.seconds / a.rounds
    rows = []
    for name in games:
        env_id = f"MinAtar/{name}-v1"
        original = None if a.no_original else Original(MINATAR_GAMES[name])
        for n in counts:
            for compiled in [False, True] if a.compile else [False]:
                side = Torch(env_id, n, a.device, compiled)
                torch_rates, orig_rates = [], []
                for _ in range(a.rounds):
                    if original is not None:
                        orig_rates.append(original.rate(per_turn))
                    torch_rates.append(side.rate(per_turn))
                rate = statistics.median(torch_rates)
                orig = statistics.median(orig_rates) if orig_rates else None
                ratio = (
                    statistics.median(t / o for t, o in zip(torch_rates, orig_rates, strict=True))
                    if orig_rates
                    else None
                )
                row = {
                    "game": name,
                    "n_envs": n,
                    "compiled": compiled,
                    "torch_steps_per_s": round(rate),
                    "original_steps_per_s": None if orig is None else round(orig),
                    "ratio": None if ratio is None else round(ratio, 2),
                    "warmup_s": round(side.warmup_s, 1),
                }
                rows.append(row)
                print(
                    f"{name:14s} n={n:6d} {'compiled' if compiled else 'eager   '} "
                    f"torch {rate:12,.0f}/s"
                    + ("" if orig is None else f"  original {orig:9,.0f}/s  ratio {ratio:6.1f}x")
                    + (f"  (warm-up incl. compile {side.warmup_s:.1f} s)" if compiled else ""),
                    flush=True,
                )
    load_after = os.getloadavg()
    print(f"# load average after: {load_after[0]:.2f}")
    if a.json:
        doc = {
            "machine": machine,
            "torch": torch.__version__,
            "device": a.device,
            "threads": torch.get_num_threads(),
            "load_average_1min": {"before": load_before[0], "after": load_after[0]},
            "seconds": a.seconds,
            "rounds": a.rounds,
            "rows": rows,
        }
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()
