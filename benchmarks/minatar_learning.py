"""PPO on MinAtar Breakout with the torch backend and with the original package, same settings.

    python -m benchmarks.minatar_learning [--steps 500000] [--seeds 3] [--n-envs 64]
        [--workers 2] [--json PATH]

Each run is `rlnoise train`'s PPO (defaults, lr 2.5e-4 annealed, n_envs x 128 steps) on
MinAtar/Breakout-v1 for --steps agent steps, once per backend and seed. The figure is the mean
return of the last 100 episodes at the end (the `recent` window widened for a steadier mean).
Prints per-backend mean +- standard error over seeds and the difference in units of its standard
error: the two backends agree when the difference lies within the seed noise (|z| < 2).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from benchmarks._machine import machine_line


def one_run(backend: str, seed: int, steps: int, n_envs: int) -> dict:
    import torch

    from rlnoise.config import TrainConfig
    from rlnoise.train import start

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(
            env_id="MinAtar/Breakout-v1",
            algo="ppo",
            n_envs=n_envs,
            total_steps=steps,
            seed=seed,
            backend=backend,
            episode_window=100,
            progress=False,
            noise=False,
            torch_threads=1,
            run_dir=f"{d}/run",
        )
        t0 = time.perf_counter()
        summary = start(cfg).run()
        return {
            "backend": backend,
            "seed": seed,
            "return_last100": summary["recent_mean_return"],
            "sps": summary["sps"],
            "seconds": round(time.perf_counter() - t0, 1),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=500_000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n-envs", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    jobs = [(b, s) for s in range(a.seeds) for b in ("torch", "minatar")]
    print(f"# {machine_line()}", flush=True)
    with ProcessPoolExecutor(a.workers) as pool:
        futures = [pool.submit(one_run, b, s, a.steps, a.n_envs) for b, s in jobs]
        rows = []
        for f in futures:
            rows.append(f.result())
            r = rows[-1]
            print(
                f"{r['backend']:8s} seed {r['seed']}: return {r['return_last100']:.2f} "
                f"({r['sps']:,.0f} SPS, {r['seconds']} s)",
                flush=True,
            )
    stats = {}
    for b in ("torch", "minatar"):
        xs = [r["return_last100"] for r in rows if r["backend"] == b]
        se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
        stats[b] = {"mean": statistics.fmean(xs), "se": se, "returns": xs}
        print(f"{b:8s}: {stats[b]['mean']:.2f} +- {se:.2f} (mean +- s.e. over {len(xs)} seeds)")
    diff = stats["torch"]["mean"] - stats["minatar"]["mean"]
    z = diff / math.hypot(stats["torch"]["se"], stats["minatar"]["se"])
    print(f"difference torch - original: {diff:+.2f} ({z:+.2f} standard errors)")
    if a.json:
        doc = {
            "machine": machine_line(),
            "settings": vars(a),
            "runs": rows,
            "stats": stats,
            "difference": diff,
            "z": z,
        }
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()
