"""Nature CNN forward+backward+Adam step, samples/s, for each speed option, interleaved.

    python benchmarks/cnn_update.py [--minibatch 512] [--repeats 3] [--threads N]

Prints one row per variant (fp32, channels_last, bf16 autocast, both) with the median over
repeats and the ratio to fp32. Decides which options `--precision auto` turns on for this CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from agents.networks import NatureCNN
from benchmarks._machine import machine_line


def step_rate(mb: int, channels_last: bool, bf16: bool, iters: int) -> float:
    torch.manual_seed(0)
    model = NatureCNN(4, 6)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=2.5e-4, eps=1e-5)
    obs = torch.randint(0, 255, (mb, 4, 84, 84), dtype=torch.uint8)
    if channels_last:
        obs = obs.contiguous(memory_format=torch.channels_last)
    actions = torch.randint(0, 6, (mb,))
    ctx = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if bf16
        else torch.autocast("cpu", enabled=False)
    )

    def one() -> None:
        with ctx:
            logp, ent, v = model.evaluate(obs, actions)
            loss = (
                -(logp.float().mean()) + 0.5 * (v.float() ** 2).mean() - 0.01 * ent.float().mean()
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one()
    t0 = time.perf_counter()
    for _ in range(iters):
        one()
    return mb * iters / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minibatch", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    variants = {
        "fp32": (False, False),
        "channels_last": (True, False),
        "bf16 autocast": (False, True),
        "channels_last+bf16": (True, True),
    }
    res: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(a.repeats):  # interleaved so load changes hit every variant alike
        for k, (cl, bf) in variants.items():
            res[k].append(step_rate(a.minibatch, cl, bf, a.iters))
    print(machine_line(), f"| torch {torch.__version__}, {a.threads} threads")
    print(f"Nature CNN fwd+bwd+Adam, minibatch {a.minibatch}, median of {a.repeats}")
    base = statistics.median(res["fp32"])
    print(f"{'variant':<22}{'samples/s':>12}{'vs fp32':>10}")
    for k, v in res.items():
        m = statistics.median(v)
        print(f"{k:<22}{m:>12,.0f}{m / base:>10.2f}")


if __name__ == "__main__":
    main()
