"""How B_simple moves as the agent improves: CartPole PPO, per tenth of training.

    python -m benchmarks.noise_trace [--seeds 0,1,2] [--steps 150000] [--n-envs 8] [--lr 1e-3]

For each seed, prints per tenth of the run the mean recent return and B_simple of the policy
and value losses from that tenth's averaged grad_sq and trace (K = 8 env groups, every update,
constant lr), then the ratio of the late (last half) to the early (first fifth) policy B_simple.
"""

from __future__ import annotations

import argparse
import math
import tempfile

from benchmarks._machine import machine_line
from rlnoise.config import TrainConfig
from rlnoise.train import start


def ratio(records: list[dict], part: str) -> float:
    g = sum(r[part]["grad_sq"] for r in records) / len(records)
    t = sum(r[part]["trace"] for r in records) / len(records)
    return t / g if g > 0 else math.inf


def trace(seed: int, steps: int, n_envs: int, lr: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(
            env_id="CartPole-v1",
            n_envs=n_envs,
            total_steps=steps,
            seed=seed,
            lr=lr,
            anneal_lr=False,
            noise_every=1,
            progress=False,
            run_dir=f"{d}/run",
            torch_threads=1,
        )
        s = start(cfg).run()
    h, curve = s["noise_history"], s["curve"]
    n = len(h)
    rows = []
    for i in range(10):
        chunk = h[i * n // 10 : (i + 1) * n // 10]
        c = curve[i * n // 10 : (i + 1) * n // 10]
        rows.append((sum(x[2] for x in c) / len(c), ratio(chunk, "policy"), ratio(chunk, "value")))
    early, late = ratio(h[: n // 5], "policy"), ratio(h[n // 2 :], "policy")
    return {"rows": rows, "early": early, "late": late}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=150_000)
    ap.add_argument("--n-envs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    print(machine_line())
    print(f"CartPole-v1 PPO, {a.n_envs} envs x 128 steps (B = {a.n_envs * 128}), lr {a.lr:g} const")
    for seed in (int(x) for x in a.seeds.split(",")):
        r = trace(seed, a.steps, a.n_envs, a.lr)
        print(f"\nseed {seed}: tenth  mean return  B_simple(policy)  B_simple(value)")
        for i, (ret, pol, val) in enumerate(r["rows"]):
            print(f"          {i + 1:>4}  {ret:>11.1f}  {pol:>16,.0f}  {val:>15,.0f}")
        print(
            f"  policy B_simple: first fifth {r['early']:,.0f}, last half {r['late']:,.0f}, "
            f"ratio {r['late'] / r['early']:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
