"""`rlnoise train` steady-state SPS next to the compute-bound limit measured in the same run.

    python -m benchmarks.train_throughput [--envs 1,4,16,64] [--algos ppo,a2c] [--iters 2]
                                          [--baseline] [--small] [--rollout auto]

For each (algo, n_envs) on Pong: SPS of the training loop (rollout + advantages + update, noise
off, after one warm-up iteration), and the limit 1 / (t_env + t_act + epochs * t_update) per
observation, each term timed by a microbenchmark at the same sizes with the same network and
settings: t_env = raw AtariVectorEnv step per observation at n_envs, t_act = inference forward
per observation at batch n_envs, t_update = forward+backward+optimizer step per sample at the
run's minibatch size. `--baseline` adds a plain fp32 PPO (rlnoise with every speed option off)
at 16 envs; `--small` adds CartPole and MinAtar SPS.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from agents.networks import make_network
from benchmarks._machine import machine_line
from benchmarks.env_throughput import raw_rate
from rlnoise.config import TrainConfig
from rlnoise.tblog import MetricsSink
from rlnoise.train import start


def loop_sps(cfg: TrainConfig, iters: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        cfg.run_dir = f"{d}/run"
        t = start(cfg)
        w = MetricsSink.null()
        obs = t.to_device(t.env.reset(seed=0))

        def one(obs):
            obs = t.rollout(obs, w)
            t.advantages(obs)
            m = t.measure_noise(w) if cfg.noise else None
            t.learn(m)
            return obs

        obs = one(obs)  # warm-up
        t0 = time.perf_counter()
        for _ in range(iters):
            obs = one(obs)
        sps = iters * t.cfg.batch_size / (time.perf_counter() - t0)
        t.env.close()
    return sps


def t_env(n: int, seconds: float = 1.5) -> float:
    """Seconds per observation of the raw emulator at n envs."""
    return 1.0 / raw_rate(n, seconds)


def t_act(model, n: int, reps: int = 20) -> float:
    obs = torch.randint(0, 255, (n, 4, 84, 84), dtype=torch.uint8)
    with torch.inference_mode():
        model.act(obs)
        t0 = time.perf_counter()
        for _ in range(reps):
            model.act(obs)
    return (time.perf_counter() - t0) / (reps * n)


def t_update(model, opt, mb: int, autocast, reps: int = 3) -> float:
    obs = torch.randint(0, 255, (mb, 4, 84, 84), dtype=torch.uint8)
    actions = torch.randint(0, 6, (mb,))

    def one():
        with autocast if autocast is not None else torch.autocast("cpu", enabled=False):
            logp, ent, v = model.evaluate(obs, actions)
            loss = -(logp.float()).mean() + 0.5 * (v.float() ** 2).mean() - 0.01 * ent.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()

    one()
    t0 = time.perf_counter()
    for _ in range(reps):
        one()
    return (time.perf_counter() - t0) / (reps * mb)


def limit(cfg: TrainConfig) -> tuple[float, dict]:
    c = cfg.resolved()
    model = make_network("frames", (4, 84, 84), 6, c.channels_last is not False)
    opt = (
        torch.optim.Adam(model.parameters(), lr=c.lr, eps=1e-5)
        if c.algo == "ppo"
        else torch.optim.RMSprop(model.parameters(), lr=c.lr, alpha=0.99, eps=1e-5)
    )
    epochs = c.update_epochs if c.algo == "ppo" else 1
    mb = c.batch_size // (c.num_minibatches if c.algo == "ppo" else 1)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if c.precision == "bf16" else None
    terms = {"env": t_env(c.n_envs), "act": t_act(model, c.n_envs)}
    terms["update"] = epochs * t_update(model, opt, mb, autocast)
    return 1.0 / sum(terms.values()), terms


def main() -> None:
    """A benchmark's main: argument parsing and the measurement table in one place, run top to
    bottom."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", default="1,4,16,64")
    ap.add_argument("--algos", default="ppo,a2c")
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--rollout", default="auto", help="auto, sync or double (the Pong runs)")
    a = ap.parse_args()
    print(machine_line(), f"| torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("Pong (ALE/Pong-v5), noise off, steady-state SPS vs compute-bound limit")
    head = f"{'algo':<6}{'n_envs':>7}{'SPS':>9}{'limit':>9}{'ratio':>7}"
    print(head + "   per-obs ms: env / act / update")
    for algo in a.algos.split(","):
        for n in [int(x) for x in a.envs.split(",")]:
            cfg = TrainConfig(
                env_id="ALE/Pong-v5",
                algo=algo,
                n_envs=n,
                total_steps=10**9,
                noise=False,
                progress=False,
                rollout=a.rollout,
            )
            sps = loop_sps(cfg, a.iters)
            lim, terms = limit(cfg)
            ms = " / ".join(f"{v * 1e3:.3f}" for v in terms.values())
            print(f"{algo:<6}{n:>7}{sps:>9,.0f}{lim:>9,.0f}{sps / lim:>7.2f}   {ms}", flush=True)
    if a.baseline:
        base = TrainConfig(
            env_id="ALE/Pong-v5",
            n_envs=16,
            total_steps=10**9,
            noise=False,
            progress=False,
            precision="fp32",
            channels_last=False,
        )
        fast = TrainConfig(
            env_id="ALE/Pong-v5", n_envs=16, total_steps=10**9, noise=False, progress=False
        )
        b, f = [], []
        for _ in range(2):  # interleaved
            b.append(loop_sps(base, a.iters))
            f.append(loop_sps(fast, a.iters))
        print(
            f"PPO 16 envs: plain fp32 {np.median(b):,.0f} SPS, shipped default "
            f"{np.median(f):,.0f} SPS, ratio {np.median(f) / np.median(b):.2f}"
        )
    if a.small:
        for env_id, n in (("CartPole-v1", 8), ("MinAtar/Breakout-v1", 8)):
            for algo in ("ppo", "a2c"):
                cfg = TrainConfig(
                    env_id=env_id,
                    algo=algo,
                    n_envs=n,
                    total_steps=10**9,
                    noise=False,
                    progress=False,
                )
                print(
                    f"{env_id} {algo.upper()} {n} envs: {loop_sps(cfg, 5 if algo == 'ppo' else 200):,.0f} SPS"
                )


if __name__ == "__main__":
    main()
