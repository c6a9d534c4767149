"""GPU check for issue 9 (MinAtar in torch): its three GPU goals in one run and one JSON
(`minatar_gpu_check.json` under --out, rewritten after every phase), in headline order:

1. `env_only`: env steps per second of the torch backend with random actions drawn on the device
   (benchmarks/minatar_throughput.py's `Torch`: 20 warm-up steps, then --seconds stepping with
   torch.cuda.synchronize() closing every 10 steps and the window), per game (Breakout, Seaquest)
   at --envs, eager and `compile=True`; each row keeps its build and warm-up seconds (the compile
   is in the compiled rows' warm-up; the first compiled row's build also imports torch's
   compiler). Goals on one H100/H200: Breakout >= 20M/s and Seaquest >= 5M/s at 65,536 envs,
   the faster mode counting.
2. `ppo`: `rlnoise train`'s PPO on MinAtar/Breakout-v1 at --ppo-envs, the device-resident path
   (the torch backend on the learner's device, rollout "device"), shipped settings with noise off
   unless --noise-every: SPS over --seconds after one warm-up update (benchmarks/gpu_check.py's
   `build_env` and `train_phases`, i.e. rlnoise.train.start and the trainer's own phases). Goal:
   >= 200,000 SPS at 4,096 envs.
3. `identity`: `python -m pytest tests/test_minatar_torch_env.py -q -k cuda` as a subprocess (the
   CPU-vs-CUDA same-draws test of every game, skipped without a GPU): its pass/fail/skip counts and
   output tail. Goal: all pass, none skipped. Skipped here if pytest is not installed.

Each figure stands beside its goal with `met`: true/false on CUDA at the goal's size, else null
with a `met_note` (not measured, or a dry run); `goals` gathers them. Phases that would start
after --budget seconds are skipped and listed in `skipped`; a phase that raises is recorded in
`errors` and the next one runs. With --device cpu it is a dry run of the same code (the goals
are for the GPU).

    python -m benchmarks.minatar_gpu_check --out DIR [--device cuda] [--envs 65536]
        [--ppo-envs 4096] [--seconds 5] [--games Breakout,Seaquest] [--modes eager,compiled]
        [--budget 255] [--noise-every 0] [--identity-timeout 150]
    bash benchmarks/minatar_gpu_check.sh   # the same with the wheels, nvidia-smi and a timeout

Budget on one H200 with 16 cores, S = --seconds = 5 (estimated, nothing measured on a GPU yet):
start-up (torch import, CUDA context) ~10 s; env-only eager, two games: ~2 s build and warm-up +
S each, ~15 s; compiled, two games: the inductor/Triton compile of one transition, taken as
~30 s a game (3-6 s on this 2-core CPU with C++ codegen, up to ~30 s under load; Triton
kernels compile in parallel on 16 cores) + S, ~70 s; PPO at 4,096 envs (524,288 samples an
update, ~2.6 s at the goal): build + start ~5 s, warm-up update (cuDNN autotune, allocator)
~10 s, timed window >= S and at least one update, ~20-25 s; identity: pytest start ~5 s + five
games x 500 steps at 256 envs on CPU and CUDA with a comparison (a sync) per step, ~5 s a game,
~30 s. Total ~150 s; if each compile took 90 s, ~270 s. minatar_gpu_check.sh stops everything at
300 s (5 minutes) and starts no phase after 255 s; what ran is already in the JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

from benchmarks._phased import PhasedCheck
from benchmarks.gpu_check import build_env, train_phases
from benchmarks.minatar_throughput import Torch
from rlnoise.config import TrainConfig
from rlnoise.hardware import usable_cores

ROOT = Path(__file__).resolve().parent.parent
PPO_GAME = "MinAtar/Breakout-v1"
# issue 9's goals on one H100/H200
ENV_GOALS = {"Breakout": 20e6, "Seaquest": 5e6}  # env steps/s at GOAL_ENVS
GOAL_ENVS = 65536
PPO_GOAL = 200_000.0  # SPS at GOAL_PPO_ENVS
GOAL_PPO_ENVS = 4096
IDENTITY_CMD = ["-m", "pytest", "tests/test_minatar_torch_env.py", "-q", "-k", "cuda"]
IDENTITY_CMD += ["-p", "no:cacheprovider", "-rs"]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _met(value: float | None, goal: float | None, device: str, n: int, goal_n: int) -> dict:
    """`met` (value >= goal) where the run is comparable with the goal: on CUDA at the goal's
    size; otherwise null with the reason (a dry run's figures are not the goal's)."""
    if value is None or goal is None:
        return {"met": None, "met_note": "no goal" if goal is None else "not measured"}
    if device != "cuda" or n != goal_n:
        note = f"dry run: the goal is for CUDA at {goal_n:,} envs, this ran on {device} at {n:,}"
        return {"met": None, "met_note": note}
    return {"met": bool(value >= goal)}


def env_rate(env_id: str, n: int, device: str, compiled: bool, seconds: float) -> dict:
    """One env-only row: build + reset, warm-up (incl. the compile), steps/s over `seconds`."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    side = Torch(env_id, n, device, compiled)  # builds, resets, 20 warm-up steps, synchronised
    setup = time.perf_counter() - t0
    _sync(device)
    rate = side.rate(seconds)  # synchronises every 10 steps and before reading the clock
    row = {
        "n_envs": n,
        "mode": "compiled" if compiled else "eager",
        "build_s": round(setup - side.warmup_s, 2),
        "warmup_s": round(side.warmup_s, 2),
        "timed_s": seconds,
        "steps_per_s": round(rate),
    }
    if device == "cuda":
        row["peak_gpu_mem_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    side.venv.close()
    del side
    if device == "cuda":
        torch.cuda.empty_cache()
    return row


def run_identity(timeout: float) -> dict:
    """The CPU-vs-CUDA tests in a subprocess; counts from pytest's summary line."""
    cmd = [sys.executable, *IDENTITY_CMD]
    res: dict = {"command": " ".join(["python", *IDENTITY_CMD])}
    if importlib.util.find_spec("pytest") is None:
        return res | {"skipped_reason": "pytest is not installed", "met": None}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        out, rc = out + f"\n(timed out after {timeout} s)", None
    counts = dict.fromkeys(("passed", "failed", "skipped", "errors", "deselected"), 0)
    summary = [ln for ln in out.splitlines() if re.search(r"\d+ (passed|failed|skipped)", ln)]
    for n, word in re.findall(
        r"(\d+) (passed|failed|skipped|errors?|deselected)", "\n".join(summary[-1:])
    ):
        counts["errors" if word.startswith("error") else word] = int(n)
    ran = counts["passed"] + counts["failed"] + counts["errors"]
    met = None if ran == 0 else bool(rc == 0 and counts["failed"] == counts["errors"] == 0)
    if met and counts["skipped"]:
        met = False  # a game left out is not an identity shown
    note = {} if ran else {"met_note": "no test ran (all skipped: no CUDA device?)"}
    return res | {
        "returncode": rc,
        "seconds": round(time.perf_counter() - t0, 1),
        **counts,
        "goal": "every game's CPU-vs-CUDA test passes, none skipped",
        "met": met,
        **note,
        "tail": out.strip().splitlines()[-15:],
    }


class Check(PhasedCheck):
    """The phases in order, each skipped once the budget is spent; JSON after every phase."""

    JSON_NAME = "minatar_gpu_check.json"

    def __init__(self, a: argparse.Namespace) -> None:
        super().__init__(a)
        cuda = a.device == "cuda"
        self.r = {
            "info": {
                **self.device_info(),
                "dry_run": not cuda,
                "cores": usable_cores(),
                "envs": a.envs,
                "ppo_envs": a.ppo_envs,
                "seconds": a.seconds,
                "budget_s": a.budget,
                "games": a.games,
                "modes": a.modes,
                "noise_every": a.noise_every,
                "goals_note": "goals are for one H100/H200 at 65,536 envs (env-only) and 4,096 "
                "envs (PPO); a CPU or smaller-size run is a dry run",
            },
            "env_only": [],
            "env_goals": {},
            "ppo": None,
            "identity": None,
            "goals": [],
            "skipped": [],
            "errors": [],
            "complete": False,
        }

    def before_write(self) -> None:
        self.r["goals"] = self.goals()

    def failed(self, what: str, e: BaseException) -> None:
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        self.r["errors"].append({"phase": what, "error": repr(e), "traceback": tb[-6:]})
        print(f"{what}: FAILED {e!r}", flush=True)

    def env_only(self) -> None:
        a, r = self.a, self.r
        for mode in a.modes:
            for game in a.games:
                what = f"env-only {game} {mode} {a.envs}"
                if not self.due(what):
                    continue
                try:
                    row = {
                        "game": game,
                        **env_rate(
                            f"MinAtar/{game}-v1", a.envs, a.device, mode == "compiled", a.seconds
                        ),
                    }
                except Exception as e:  # record and go on: one mode failing leaves the rest
                    self.failed(what, e)
                    continue
                r["env_only"].append(row)
                print(
                    f"{game} {a.envs} envs {mode}: {row['steps_per_s']:,} steps/s "
                    f"(build {row['build_s']} s, warm-up {row['warmup_s']} s)",
                    flush=True,
                )
                self.env_goal(game)
                self.write()

    def env_goal(self, game: str) -> None:
        rows = [x for x in self.r["env_only"] if x["game"] == game]
        best = max(rows, key=lambda x: x["steps_per_s"])
        goal = ENV_GOALS.get(game)
        self.r["env_goals"][game] = {
            "n_envs": self.a.envs,
            "steps_per_s": best["steps_per_s"],
            "mode": best["mode"],
            "goal_steps_per_s": goal,
            **_met(best["steps_per_s"], goal, self.a.device, self.a.envs, GOAL_ENVS),
        }

    def ppo(self) -> None:
        a = self.a
        what = f"ppo {PPO_GAME} {a.ppo_envs}"
        if not self.due(what):
            return
        cfg = TrainConfig(
            env_id=PPO_GAME,
            algo="ppo",
            n_envs=a.ppo_envs,
            total_steps=10**10,
            device=a.device,
            noise=a.noise_every > 0,
            noise_every=a.noise_every or None,
            progress=False,
        )
        try:
            env, obs, built = build_env(cfg)
            res, _ = train_phases(cfg, env, obs, a.seconds)
            env.close()
        except Exception as e:
            self.failed(what, e)
            return
        res.update(
            env_id=PPO_GAME,
            build_s=round(built, 2),
            goal_sps=PPO_GOAL,
            **_met(res["sps"], PPO_GOAL, a.device, a.ppo_envs, GOAL_PPO_ENVS),
        )
        self.r["ppo"] = res
        print(
            f"PPO {PPO_GAME} {a.ppo_envs} envs, rollout {res['rollout']}: {res['sps']:,.0f} SPS "
            f"({res['iterations_timed']} updates, phases {res['seconds']}, GPU "
            f"{res['gpu_util_mean_pct']}%, precision {res['precision_resolved']})",
            flush=True,
        )
        self.write()

    def identity(self) -> None:
        if not self.due("identity"):
            return
        res = run_identity(self.a.identity_timeout)
        self.r["identity"] = res
        if "skipped_reason" in res:
            self.r["skipped"].append(f"identity ({res['skipped_reason']})")
            print(f"identity: skipped, {res['skipped_reason']}", flush=True)
        else:
            print(
                f"identity ({res['command']}): {res['passed']} passed, {res['failed']} failed, "
                f"{res['skipped']} skipped, {res['errors']} errors, exit {res['returncode']}",
                flush=True,
            )
        self.write()

    def goals(self) -> list[dict]:
        """Every goal with what was measured against it (null where nothing was)."""
        r, a = self.r, self.a
        out = []
        for game, goal in ENV_GOALS.items():
            g = r["env_goals"].get(game, {})
            at = f"{a.envs} envs, {g.get('mode')}" if g else None
            name = f"env-only {game} >= {goal:,.0f} steps/s at {GOAL_ENVS:,} envs"
            out.append(_goal(name, g, g.get("steps_per_s"), at, "not measured"))
        p = r["ppo"] or {}
        name = f"PPO {PPO_GAME} >= {PPO_GOAL:,.0f} SPS at {GOAL_PPO_ENVS:,} envs"
        out.append(
            _goal(name, p, p.get("sps"), f"{a.ppo_envs} envs" if p else None, "not measured")
        )
        i = r["identity"] or {}
        counts = {k: i[k] for k in ("passed", "failed", "skipped") if k in i} or None
        missing = i.get("skipped_reason", "not run")
        name = "CPU and CUDA identical for identical draws (every game)"
        out.append(_goal(name, i, counts, i.get("command"), missing))
        return out


def _goal(name: str, row: dict, measured: object, at: str | None, missing: str) -> dict:
    """One goal's line: the figure, where it was measured, and whether it met the goal."""
    note = row.get("met_note", missing if not row or "skipped_reason" in row else None)
    return {"goal": name, "measured": measured, "at": at, "met": row.get("met"), "met_note": note}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--envs", type=int, default=65536, help="env-only batch")
    ap.add_argument("--ppo-envs", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=5.0, help="timed seconds per measurement")
    ap.add_argument("--games", default="Breakout,Seaquest", help="env-only games")
    ap.add_argument("--modes", default="eager,compiled", help="env-only: eager and/or compiled")
    ap.add_argument("--budget", type=float, default=255.0, help="start no phase after this")
    ap.add_argument("--noise-every", type=int, default=0, help="0: noise off in the PPO run")
    ap.add_argument("--identity-timeout", type=float, default=150.0)
    a = ap.parse_args(argv)
    a.games = [g for g in a.games.split(",") if g]
    a.modes = [m for m in a.modes.split(",") if m]
    bad = set(a.modes) - {"eager", "compiled"}
    if bad:
        ap.error(f"unknown --modes {sorted(bad)}; use eager and/or compiled")
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch sees no CUDA device (use --device cpu for a dry run)")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    check = Check(a)
    print(json.dumps(check.r["info"]), flush=True)
    check.write()
    check.env_only()
    check.ppo()
    check.identity()
    check.r["complete"] = not check.r["skipped"] and not check.r["errors"]
    check.write()
    for g in check.r["goals"]:
        note = f" ({g['met_note']})" if g.get("met_note") else ""
        print(f"goal: {g['goal']}: measured {g['measured']}, met {g['met']}{note}")
    print(
        f"minatar_gpu_check: {check.r['elapsed_s']} s, skipped {check.r['skipped'] or 'nothing'}"
        f", errors {len(check.r['errors'])}",
        flush=True,
    )
    return check.r


if __name__ == "__main__":
    main()
