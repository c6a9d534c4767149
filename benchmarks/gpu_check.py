"""GPU check for Atari at the emulator ceiling: Pong on one GPU, everything in one run and one JSON
(`gpu_check.json` under --out, rewritten after every phase):

- `plain_ppo_sps`: the plain single-file fp32 PPO (benchmarks/plain_ppo.py) at each env count,
  with torch's default threads: the reference;
- `train`: rlnoise PPO and A2C at each count with `--rollout sync` and `double` (shipped defaults
  otherwise: precision auto, one torch thread on CUDA; noise off unless --noise-every), SPS after
  one warm-up iteration, seconds per phase (rollout incl. advantages / noise / update) and mean
  GPU utilisation (nvidia-smi every 0.5 s); plus PPO double with `--cuda-graph` at the smallest
  count;
- `raw_ale_obs_per_s`: the raw AtariVectorEnv rate at each count (random actions, stepped
  directly on the env the sync runs then train on);
- `concurrent`: two `rlnoise train` runs at the smallest count sharing the GPU (subprocesses,
  each `--torch-threads 1 --env-threads cores/2`), each one's SPS and their sum over the window
  in which both stepped (from the wall times of their `charts/sps` events);
- `ratios` per count, `builds` (seconds to build and reset each env), `skipped` phases.

    python -m benchmarks.gpu_check --out DIR [--device cuda] [--seconds 6] [--envs 64,256]
                                   [--budget 330] [--noise-every 0]

Budget on the issue's machine (H200 + 16 cores; building 64 envs took ~11 s, so ~0.2 s per env
with the seeded reset; a PPO iteration ~1 s at 64 envs and ~3 s at 256), S = --seconds:
start-up ~15 s; per count three env builds (sync, double's two halves, the plain PPO's own):
~40 s at 64 envs and ~150 s at 256; timed work per count: raw 4 s + five runs of S plus a
warm-up iteration (plain, PPO and A2C in both modes) ~ 5 S + 10 s at 64 and 5 S + 20 s at 256;
the cuda-graph run S + 5 s; the concurrent runs (built in parallel) ~ 25 s + 2 S. With S = 6:
15 + 40 + 40 + 11 + 37 + 150 + 50 ~ 345 s. gpu_check.sh stops everything at 360 s (6 minutes);
phases that would start after --budget seconds are skipped and listed in `skipped`, and what
ran is already in the JSON. The order puts the headline first: the smallest count, then the
concurrent runs, then the larger counts. With --device cpu it is a dry run of the same code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from benchmarks._phased import PhasedCheck
from benchmarks.plain_ppo import plain_ppo_sps
from rlnoise.config import TrainConfig
from rlnoise.hardware import usable_cores
from rlnoise.tblog import MetricsSink
from rlnoise.train import make_env, start

GAME = "ALE/Pong-v5"


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
        return round(float(np.mean(self.samples)), 1) if self.samples else None


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- one process


def build_env(cfg: TrainConfig) -> tuple[object, np.ndarray, float]:
    """The env the trainer builds for `cfg`, reset with seed 0; and the seconds that took."""
    t0 = time.perf_counter()
    env = make_env(cfg, torch.device(cfg.device), cfg.rollout == "double")
    obs = env.reset(seed=0)
    return env, obs, time.perf_counter() - t0


def raw_rate_on(env, seconds: float) -> tuple[float, np.ndarray]:
    """Observations per second of the AtariVectorEnv inside rlnoise's ale backend, stepped
    directly with random actions; returns the last observation too (the envs' state)."""
    ale = env._env  # envs.backend_ale.AleVecEnv's ale_py AtariVectorEnv
    n = env.num_envs
    actions = np.random.default_rng(0).integers(0, env.single_action_space.n, (256, n))
    obs, steps, t0 = None, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        obs = ale.step(actions[steps % 256])[0]
        steps += 1
    return steps * n / (time.perf_counter() - t0), obs


def train_phases(cfg: TrainConfig, env, obs: np.ndarray, seconds: float) -> tuple[dict, np.ndarray]:
    """The real loop on a built env for `seconds` after one warm-up iteration: SPS, phase
    seconds, GPU utilisation; returns the result and the envs' latest observation."""
    device = cfg.device
    with tempfile.TemporaryDirectory() as d:
        t = start(dataclasses.replace(cfg, run_dir=f"{d}/run"), env=env)
        w = MetricsSink.null()
        x = t.to_device(obs)
        times = dict.fromkeys(("rollout", "noise", "update"), 0.0)
        iters, measured, t_start, sampler = 0, 0, None, GpuSampler()
        while t_start is None or time.perf_counter() - t_start < seconds:
            if iters == 1:  # the first iteration warms up (cuDNN, allocator, graph capture)
                _sync(device)
                t_start, times, measured = time.perf_counter(), dict.fromkeys(times, 0.0), 0
                sampler.start()
            a = time.perf_counter()
            x = t.rollout(x, w)
            t.advantages(x)
            _sync(device)
            b = time.perf_counter()
            m = None
            if cfg.noise and t.noise_monitor.due(t.update):
                m, measured = t.measure_noise(w), measured + 1
            _sync(device)
            c = time.perf_counter()
            t.learn(m)
            t.update += 1
            _sync(device)
            times["rollout"] += b - a
            times["noise"] += c - b
            times["update"] += time.perf_counter() - c
            iters += 1
        wall = time.perf_counter() - t_start
        result = {
            "algo": cfg.algo,
            "n_envs": cfg.n_envs,
            "rollout": t.rollout_mode,
            "cuda_graph": cfg.cuda_graph,
            "sps": round((iters - 1) * t.cfg.batch_size / wall, 1),
            "iterations_timed": iters - 1,
            "seconds_per_iteration": round(wall / (iters - 1), 4),
            "seconds": {k: round(v, 3) for k, v in times.items()},
            "noise_measurements": measured,
            "gpu_util_mean_pct": sampler.stop(),
            **t.hardware_info(),
        }
        last = t.collector.next_obs.cpu().numpy().copy()
        del t
    if device == "cuda":
        torch.cuda.empty_cache()
    return result, last


# ----------------------------------------------------------------------------- two processes


class _Child:
    """One `rlnoise train` subprocess; `ready` is set once it prints its start line (after its
    envs were built and reset)."""

    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if "torch thread" in line:
                self.ready.set()
        self.ready.set()  # ended: nothing more to wait for


def _sps_events(run_dir: Path) -> list[tuple[float, int]]:
    """(wall time, global step) of each update's charts/sps event."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    if "charts/sps" not in acc.Tags()["scalars"]:
        return []
    return [(e.wall_time, e.step) for e in acc.Scalars("charts/sps")]


def concurrent(n: int, n_steps: int, device: str, wait_s: float, cores: int) -> dict:
    """Two PPO runs at n envs sharing the device; SPS each and summed over their common window.

    Long because it starts, watches and reads back two subprocess runs with their common timing
    window; kept in one place so the window arithmetic is visible.
    """
    half = max(1, cores // 2)
    with tempfile.TemporaryDirectory() as d:
        children = []
        try:
            for i in range(2):
                cmd = [sys.executable, "-m", "rlnoise.cli", "train", "--env", GAME]
                cmd += ["--n-envs", str(n), "--n-steps", str(n_steps), "--device", device]
                cmd += ["--torch-threads", "1", "--env-threads", str(half), "--seed", str(i)]
                cmd += ["--total-steps", str(10**10), "--no-noise", "--no-progress"]
                children.append(_Child(cmd + ["--logdir", f"{d}/run{i}"]))
            for c in children:
                c.ready.wait(timeout=600)
            sampler = GpuSampler()
            sampler.start()
            time.sleep(wait_s)
            util = sampler.stop()
        finally:
            for c in children:
                if c.proc.poll() is None:
                    c.proc.send_signal(signal.SIGTERM)  # finishes its update, saves, exits 130
            for c in children:
                try:
                    c.proc.wait(timeout=300)
                except subprocess.TimeoutExpired:
                    c.proc.kill()
                    c.proc.wait()
        runs = []
        for i, c in enumerate(children):
            run = Path(d) / f"run{i}"
            ev = _sps_events(run) if run.is_dir() else []
            cfg = json.loads((run / "config.json").read_text()) if run.is_dir() else {}
            sps = (ev[-1][1] - ev[0][1]) / (ev[-1][0] - ev[0][0]) if len(ev) >= 2 else None
            sps = None if sps is None else round(sps, 1)
            runs.append(
                {
                    "exit": c.proc.returncode,
                    "rollout": cfg.get("rollout_resolved"),
                    "precision": cfg.get("precision_resolved"),
                    "updates_logged": len(ev),
                    "sps": sps,
                    "events": ev,
                    "output_tail": c.lines[-5:],
                }
            )
    lo = max((r["events"][0][0] for r in runs if r["events"]), default=None)
    hi = min((r["events"][-1][0] for r in runs if r["events"]), default=None)
    summed = None
    if all(len(r["events"]) >= 2 for r in runs) and hi > lo:
        steps = 0.0
        for r in runs:
            wt, st = np.array(r["events"]).T
            steps += float(np.interp(hi, wt, st) - np.interp(lo, wt, st))
        summed = round(steps / (hi - lo), 1)
    for r in runs:
        del r["events"]
    return {
        "n_envs_each": n,
        "n_steps": n_steps,
        "wait_s": round(wait_s, 1),
        "env_threads_each": half,
        "torch_threads_each": 1,
        "window_s": None if summed is None else round(hi - lo, 2),
        "summed_sps": summed,
        "gpu_util_mean_pct": util,
        "runs": runs,
    }


# ----------------------------------------------------------------------------- the check


class Check(PhasedCheck):
    """The phases in order, each skipped once the budget is spent; JSON after every phase."""

    JSON_NAME = "gpu_check.json"

    def __init__(self, a: argparse.Namespace) -> None:
        super().__init__(a)
        self.default_threads = torch.get_num_threads()
        self.cores = usable_cores()
        self.r = {
            "info": {
                **self.device_info(),
                "cores": self.cores,
                "torch_default_threads": self.default_threads,
                "seconds_per_run": a.seconds,
                "budget_s": a.budget,
                "game": GAME,
            },
            "builds": [],
            "raw_ale_obs_per_s": {},
            "plain_ppo_sps": {},
            "train": [],
            "ratios": {},
            "concurrent": None,
            "skipped": [],
            "complete": False,
        }

    def cfg(self, algo: str, n: int, mode: str, cuda_graph: bool = False) -> TrainConfig:
        every = self.a.noise_every
        return TrainConfig(
            env_id=GAME,
            algo=algo,
            n_envs=n,
            total_steps=10**10,
            device=self.a.device,
            rollout=mode,
            cuda_graph=cuda_graph,
            noise=every > 0,
            noise_every=every or None,
            progress=False,
        )

    def count(self, n: int, first: bool) -> None:
        """Everything at n envs: plain PPO, then the sync env (raw rate, PPO, A2C), then the
        double env (PPO, A2C, and PPO with a CUDA graph at the first count)."""
        a, r = self.a, self.r
        if self.due(f"plain PPO {n}"):
            torch.set_num_threads(self.default_threads)  # the plain loop as a newcomer runs it
            r["plain_ppo_sps"][n] = round(plain_ppo_sps(n, a.seconds, a.device), 1)
            print(f"plain PPO {n} envs: {r['plain_ppo_sps'][n]:,.0f} SPS", flush=True)
            self.write()
        for mode in ("sync", "double"):
            if not self.due(f"{mode} env {n}"):
                continue
            env, obs, built = build_env(self.cfg("ppo", n, mode))
            r["builds"].append({"n_envs": n, "mode": mode, "seconds": round(built, 1)})
            if mode == "sync":
                rate, obs = raw_rate_on(env, 4.0)
                r["raw_ale_obs_per_s"][n] = round(rate, 1)
                print(f"raw AtariVectorEnv {n} envs: {rate:,.0f} obs/s", flush=True)
            runs = [("ppo", False), ("a2c", False)]
            if mode == "double" and first and a.device == "cuda":
                runs.append(("ppo", True))
            for algo, graph in runs:
                if not self.due(f"{algo} {mode}{' cuda-graph' if graph else ''} {n}"):
                    continue
                res, obs = train_phases(self.cfg(algo, n, mode, graph), env, obs, a.seconds)
                r["train"].append(res)
                print(
                    f"{algo.upper()} {n} envs, rollout {mode}{', cuda graph' if graph else ''}: "
                    f"{res['sps']:,.0f} SPS, GPU {res['gpu_util_mean_pct']}%, "
                    f"phases {res['seconds']}, precision {res['precision_resolved']}",
                    flush=True,
                )
                self.write()
            env.close()
        r["ratios"][n] = self.ratios(n)
        self.write()

    def ratios(self, n: int) -> dict:
        r = self.r
        sps = {
            (t["algo"], t["rollout"], t["cuda_graph"]): t["sps"]
            for t in r["train"]
            if t["n_envs"] == n
        }
        plain, raw = r["plain_ppo_sps"].get(n), r["raw_ale_obs_per_s"].get(n)

        def ratio(x, y):
            return round(x / y, 3) if x and y else None

        out = {}
        for algo in ("ppo", "a2c"):
            s, d = sps.get((algo, "sync", False)), sps.get((algo, "double", False))
            out[f"{algo}_double_vs_sync"] = ratio(d, s)
            out[f"{algo}_best_vs_raw"] = ratio(max(filter(None, (s, d)), default=None), raw)
            out[f"{algo}_sync_vs_plain_ppo"] = ratio(s, plain)
            out[f"{algo}_double_vs_plain_ppo"] = ratio(d, plain)
        out["ppo_cuda_graph_vs_double"] = ratio(
            sps.get(("ppo", "double", True)), sps.get(("ppo", "double", False))
        )
        return out

    def concurrent(self, n: int) -> None:
        """Two runs at n envs; each waits for both to start, then runs about four updates or
        --seconds (a CPU dry run uses 16-step rollouts, so that it logs updates at all)."""
        if not self.due(f"concurrent {n}"):
            return
        n_steps = 128 if self.a.device == "cuda" else 16
        per_iter = [
            t["seconds_per_iteration"]
            for t in self.r["train"]
            if t["algo"] == "ppo" and t["n_envs"] == n and not t["cuda_graph"]
        ] or [1.0]
        it = 2 * max(per_iter) * n_steps / 128  # two runs share the machine
        wait = max(self.a.seconds, 4 * it) + 2 * it  # a warm-up update, then the window
        res = concurrent(n, n_steps, self.a.device, wait, self.cores)
        self.r["concurrent"] = res
        print(
            f"two concurrent runs at {n} envs: summed {res['summed_sps']} SPS over "
            f"{res['window_s']} s, each {[x['sps'] for x in res['runs']]}",
            flush=True,
        )
        self.write()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seconds", type=float, default=6.0, help="timed seconds per run")
    ap.add_argument("--envs", default="64,256")
    ap.add_argument("--budget", type=float, default=330.0, help="start no phase after this")
    ap.add_argument("--noise-every", type=int, default=0, help="0: noise off in the runs")
    a = ap.parse_args()
    Path(a.out).mkdir(parents=True, exist_ok=True)
    check = Check(a)
    print(json.dumps(check.r["info"]), flush=True)
    counts = sorted(int(x) for x in a.envs.split(","))
    for i, n in enumerate(counts):
        check.count(n, first=i == 0)
        if i == 0:
            check.concurrent(n)
    check.r["complete"] = not check.r["skipped"]
    check.write()
    print(f"gpu_check: {check.r['elapsed_s']} s, skipped {check.r['skipped'] or 'nothing'}")


if __name__ == "__main__":
    main()
