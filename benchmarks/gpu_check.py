"""Short GPU check: PPO Pong training SPS and GPU utilisation at 64 and 256 envs, the raw ALE
ceiling on this machine's cores, and the noise measurement's overhead; JSON under --out.

    python -m benchmarks.gpu_check --out DIR [--device cuda] [--seconds 40] [--envs 64,256]

Written to finish in under 5 minutes on one H100 with 16 cores (run via gpu_check.sh).
With --device cpu it is a dry run of the same code path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._machine import machine_line
from benchmarks.env_throughput import raw_rate
from rlnoise.config import TrainConfig
from rlnoise.tblog import MetricsSink
from rlnoise.train import start


class GpuSampler(threading.Thread):
    """Samples nvidia-smi utilisation.gpu every 0.5 s while running."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self._stop = threading.Event()
        self.ok = shutil.which("nvidia-smi") is not None

    def run(self) -> None:
        while self.ok and not self._stop.is_set():
            r = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
            )
            try:
                self.samples.append(float(r.stdout.strip().splitlines()[0]))
            except (ValueError, IndexError):
                pass
            time.sleep(0.5)

    def stop(self) -> float | None:
        self._stop.set()
        return float(np.mean(self.samples)) if self.samples else None


def train_sps(n: int, device: str, seconds: float, noise_every: int | None) -> dict:
    """Iterations of the real loop for `seconds` after one warm-up; SPS and phase times."""
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(
            env_id="ALE/Pong-v5",
            n_envs=n,
            total_steps=10**10,
            device=device,
            progress=False,
            noise=noise_every is not None,
            noise_every=noise_every,
            run_dir=f"{d}/run",
        )
        t = start(cfg)
        w = MetricsSink.null()
        obs = t.to_device(t.env.reset(seed=0))
        times = {"rollout": 0.0, "noise": 0.0, "update": 0.0}
        iters, returns = 0, []
        sampler = GpuSampler()
        t_start = None
        while True:
            if iters == 1:
                if device == "cuda":
                    torch.cuda.synchronize()
                t_start = time.perf_counter()
                times = dict.fromkeys(times, 0.0)
                sampler.start()
            a = time.perf_counter()
            obs = t.rollout(obs, w)
            t.advantages(obs)
            b = time.perf_counter()
            m = t.measure_noise(w) if noise_every else None
            if device == "cuda":
                torch.cuda.synchronize()
            c = time.perf_counter()
            t.learn(m)
            t.update += 1
            if device == "cuda":
                torch.cuda.synchronize()
            e = time.perf_counter()
            times["rollout"] += b - a
            times["noise"] += c - b
            times["update"] += e - c
            iters += 1
            returns.extend(t.recent)
            if t_start is not None and time.perf_counter() - t_start > seconds:
                break
        wall = time.perf_counter() - t_start
        util = sampler.stop()
        steps = (iters - 1) * t.cfg.batch_size
        t.env.close()
    return {
        "n_envs": n,
        "noise_every": noise_every,
        "iterations_timed": iters - 1,
        "sps": steps / wall,
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "gpu_util_mean_pct": util,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--envs", default="64,256")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {
        "machine": machine_line(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cores": os.cpu_count(),
    }
    print(json.dumps(info), flush=True)
    results: dict = {"info": info, "raw_ale_obs_per_s": {}, "train": [], "noise": {}}
    for n in [int(x) for x in a.envs.split(",")]:
        results["raw_ale_obs_per_s"][n] = raw_rate(n, 5.0)
        print(f"raw ALE {n} envs: {results['raw_ale_obs_per_s'][n]:,.0f} obs/s", flush=True)
        r = train_sps(n, a.device, a.seconds, None)
        results["train"].append(r)
        print(
            f"PPO train {n} envs: {r['sps']:,.0f} SPS, GPU util {r['gpu_util_mean_pct']}%, "
            f"phases {r['seconds']}",
            flush=True,
        )
        _write(out, results)
    n = max(int(x) for x in a.envs.split(","))
    r1 = train_sps(n, a.device, a.seconds / 2, 1)
    base = next(r for r in results["train"] if r["n_envs"] == n)
    iters = r1["iterations_timed"]
    per_iter = {k: v / max(iters, 1) for k, v in r1["seconds"].items()}
    loop = per_iter["rollout"] + per_iter["update"]
    results["noise"] = {
        "n_envs": n,
        "noise_every_1": r1,
        "overhead_every_1": base["sps"] / r1["sps"],
        "overhead_every_10_est": (loop + per_iter["noise"] / 10) / loop,
    }
    print(
        f"noise every update at {n} envs: {r1['sps']:,.0f} SPS, wall ratio "
        f"{results['noise']['overhead_every_1']:.3f}; estimated at every 10: "
        f"{results['noise']['overhead_every_10_est']:.3f}",
        flush=True,
    )
    _write(out, results)


def _write(out: Path, results: dict) -> None:
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
