"""A plain single-file fp32 PPO on ale-py's vector env: the reference rlnoise must beat.

    python -m benchmarks.plain_ppo [--envs 64] [--seconds 30] [--device cuda]

Nothing tuned, as a newcomer writes it: synchronous `env.step`, a `torch.tensor(obs).to(device)`
per step, `Categorical(logits).sample()`, the Nature CNN in fp32 with the public PPO Atari defaults
(the same Nature CNN as rlnoise, 128 steps, 4 epochs x 4 minibatches, Adam 2.5e-4, clip 0.1, entropy 0.01, value 0.5, grad norm
0.5, gamma 0.99, lambda 0.95). Prints SPS over `--seconds` after one warm-up iteration, and
returns it from `plain_ppo_sps` for benchmarks/gpu_check.py, which runs it beside rlnoise.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from ale_py.vector_env import AtariVectorEnv
from torch import nn
from torch.distributions import Categorical

from agents.networks import NatureCNN


def plain_ppo_sps(n_envs: int, seconds: float, device: str, game: str = "pong") -> float:
    """Agent steps per second of the plain loop, timed after one warm-up iteration.

    Deliberately one long function: the plain single-file reference reads top to bottom, as a
    newcomer writes it.
    """
    env = AtariVectorEnv(
        game,
        n_envs,
        num_threads=min(n_envs, os.cpu_count() or 1),
        autoreset_mode="SameStep",
        episodic_life=True,
        reward_clipping=True,
    )
    dev = torch.device(device)
    agent = NatureCNN(4, int(env.single_action_space.n)).to(dev)  # rlnoise's network, fp32
    opt = torch.optim.Adam(agent.parameters(), lr=2.5e-4, eps=1e-5)
    T, n = 128, n_envs
    obs_buf = torch.zeros((T, n, 4, 84, 84), device=dev)
    act_buf = torch.zeros((T, n), dtype=torch.long, device=dev)
    logp_buf, rew_buf, done_buf, val_buf = (torch.zeros((T, n), device=dev) for _ in range(4))
    obs, _ = env.reset(seed=0)
    next_obs = torch.tensor(obs, dtype=torch.float32).to(dev)
    next_done = torch.zeros(n, device=dev)
    steps, start = 0, None
    while start is None or time.perf_counter() - start < seconds:
        for t in range(T):
            obs_buf[t], done_buf[t] = next_obs, next_done
            with torch.no_grad():
                logits, value = agent(next_obs)
                dist = Categorical(logits=logits)
                action = dist.sample()
            act_buf[t], logp_buf[t], val_buf[t] = action, dist.log_prob(action), value
            obs, reward, term, trunc, _ = env.step(action.cpu().numpy())
            rew_buf[t] = torch.tensor(reward, dtype=torch.float32).to(dev)
            next_obs = torch.tensor(obs, dtype=torch.float32).to(dev)
            next_done = torch.tensor(np.logical_or(term, trunc), dtype=torch.float32).to(dev)
        with torch.no_grad():
            next_value = agent(next_obs)[1]
            adv = torch.zeros_like(rew_buf)
            last = torch.zeros(n, device=dev)
            for t in reversed(range(T)):
                nonterm = 1.0 - (next_done if t == T - 1 else done_buf[t + 1])
                nv = next_value if t == T - 1 else val_buf[t + 1]
                delta = rew_buf[t] + 0.99 * nv * nonterm - val_buf[t]
                last = delta + 0.99 * 0.95 * nonterm * last
                adv[t] = last
            ret = adv + val_buf
        b_obs, b_act = obs_buf.reshape(-1, 4, 84, 84), act_buf.reshape(-1)
        b_logp, b_adv = logp_buf.reshape(-1), adv.reshape(-1)
        b_ret, b_val = ret.reshape(-1), val_buf.reshape(-1)
        mb = T * n // 4
        for _ in range(4):
            for idx in torch.randperm(T * n, device=dev).split(mb):
                logits, v = agent(b_obs[idx])
                dist = Categorical(logits=logits)
                ratio = (dist.log_prob(b_act[idx]) - b_logp[idx]).exp()
                a = b_adv[idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                pg = torch.max(-a * ratio, -a * ratio.clamp(0.9, 1.1)).mean()
                v_clip = b_val[idx] + (v - b_val[idx]).clamp(-0.1, 0.1)
                vl = 0.5 * torch.max((v - b_ret[idx]) ** 2, (v_clip - b_ret[idx]) ** 2).mean()
                loss = pg - 0.01 * dist.entropy().mean() + 0.5 * vl
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
                opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if start is None:  # the first iteration warms up (cuDNN, allocator)
            start = time.perf_counter()
        else:
            steps += T * n
    env.close()
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    print(
        f"plain PPO, {a.envs} envs, {a.device}: {plain_ppo_sps(a.envs, a.seconds, a.device):,.0f} SPS"
    )


if __name__ == "__main__":
    main()
