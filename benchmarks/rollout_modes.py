"""Rollout phase only, sync vs double-buffered (`--rollout`), obs/s and the ratio, in one run.

    python -m benchmarks.rollout_modes [--envs 8,16] [--rollouts 4] [--repeats 3] [--device cpu]
                                       [--game ALE/Pong-v5] [--threads N]

For each env count: an rlnoise PPO trainer per variant (the real collector, Nature CNN, noise
off), one warm-up rollout, then `--rollouts` timed rollouts of 128 steps; variants interleaved
over `--repeats` (a fresh trainer each time, the others' envs closed), median obs/s per variant
and its ratio to sync. Variants: sync (min(n, cores) emulator threads); double (the trainer's
default: cores/2 emulator threads per half); double/c (cores threads per half, twice the cores in
all). Then the acting step alone: the old sampler (softmax + multinomial) against
Gumbel-max (`ActorCritic.act`) at batch n_envs, microseconds per call. `rlnoise.hardware`'s
`resolve_rollout` rule cites what this prints.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from agents.networks import make_network
from benchmarks._machine import machine_line
from rlnoise.config import TrainConfig
from rlnoise.hardware import usable_cores
from rlnoise.tblog import MetricsSink
from rlnoise.train import start


def rollout_rate(
    mode: str, env_threads: int | None, n: int, rollouts: int, device: str, game: str
) -> float:
    """Observations per second of `rollouts` rollouts after one warm-up."""
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(
            env_id=game,
            n_envs=n,
            total_steps=10**9,
            noise=False,
            progress=False,
            device=device,
            rollout=mode,
            env_threads=env_threads,
            run_dir=f"{d}/run",
        )
        t = start(cfg)
        w = MetricsSink.null()
        obs = t.to_device(t.env.reset(seed=0))
        obs = t.rollout(obs, w)
        _sync(t.device)
        t0 = time.perf_counter()
        for _ in range(rollouts):
            obs = t.rollout(obs, w)
        _sync(t.device)
        rate = rollouts * t.cfg.batch_size / (time.perf_counter() - t0)
        t.env.close()
    return rate


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def act_us(n: int, device: str, reps: int = 50) -> tuple[float, float]:
    """Microseconds per acting call at batch n: (softmax + multinomial, Gumbel-max)."""
    model = make_network("frames", (4, 84, 84), 6, channels_last=True).to(device)
    obs = torch.randint(0, 255, (n, 4, 84, 84), dtype=torch.uint8, device=device)
    u = torch.rand(n, 6, device=device)

    def multinomial():
        logits, value = model(obs)
        logp_all = torch.log_softmax(logits, dim=-1)
        action = torch.multinomial(logp_all.exp(), 1).squeeze(-1)
        return action.cpu(), logp_all.gather(-1, action[:, None]), value

    def gumbel():
        u.uniform_()
        action, logp, value = model.act(obs, u)
        return action.cpu(), logp, value

    out = []
    with torch.inference_mode():
        for fn in (multinomial, gumbel):
            fn()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            out.append((time.perf_counter() - t0) / reps * 1e6)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", default="8,16")
    ap.add_argument("--rollouts", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--game", default="ALE/Pong-v5")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(machine_line(), f"| torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"{a.game}, PPO rollout phase (128 steps), {a.device}, obs/s, median of {a.repeats} "
        f"interleaved, {a.rollouts} rollouts each"
    )
    cores = usable_cores()
    variants = {"sync": ("sync", None), "double": ("double", None), "double/c": ("double", cores)}
    print(f"double: {max(1, cores // 2)} env threads per half; double/c: {cores}; ratios to sync")
    print(f"{'n_envs':>7}" + "".join(f"{k:>10}" for k in variants) + "    ratios")
    for n in [int(x) for x in a.envs.split(",")]:
        rates: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(a.repeats):
            for k, (mode, threads) in variants.items():
                rates[k].append(rollout_rate(mode, threads, n, a.rollouts, a.device, a.game))
        med = {k: statistics.median(v) for k, v in rates.items()}
        ratios = " / ".join(f"{med[k] / med['sync']:.2f}" for k in variants)
        print(f"{n:>7}" + "".join(f"{v:>10,.0f}" for v in med.values()) + f"    {ratios}")
    print(
        f"acting alone, us per call at batch n_envs:\n{'n_envs':>7}{'multinom':>10}{'gumbel':>10}"
        f"{'ratio':>10}"
    )
    for n in [int(x) for x in a.envs.split(",")]:
        m, g = act_us(n, a.device)
        print(f"{n:>7}{m:>10,.0f}{g:>10,.0f}{g / m:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
