"""How far did a finished training run get? Its learning curve at milestones, from summary.json.

    python -m benchmarks.learning_curve RUN_DIR [RUN_DIR ...] [--at 500000,1000000,...]
        [--target T] [--json PATH]

Per run: the mean return of its last `episode_window` whole games (the window the run was
trained with; 20 by default, the window a study's target is defined on) at the last update at or
before each milestone, at the end, averaged over the updates of the run's last tenth of steps
(steadier than one window), and the best over the run (biased upward: the maximum of a noisy
running mean). With --target, the target as a
fraction of the end and of the best value: what a study preset's target is checked against
("at least a quarter of what a well-trained PPO reaches", rlnoise/study/presets.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks._machine import close, machine_line
from rlnoise.study.store import SUMMARY_FILE


def milestones(curve: list, at: list[int]) -> dict[int, float | None]:
    """The curve's return at the last update at or before each step of `at` (None: no game
    had ended yet, or the run stopped before that step)."""
    out: dict[int, float | None] = {}
    last = curve[-1][0] if curve else 0
    for step in at:
        before = [r for s, _, r in curve if s <= step]
        out[step] = before[-1] if before and step <= last else None
    return out


def tail_mean(curve: list, fraction: float = 0.1) -> float | None:
    """The mean of the curve's returns over the updates in the last `fraction` of its steps."""
    if not curve:
        return None
    start = curve[-1][0] * (1 - fraction)
    xs = [r for s, _, r in curve if s > start and r is not None]
    return sum(xs) / len(xs) if xs else None


def read_run(run_dir: Path, at: list[int], target: float | None) -> dict:
    """The figures above for one run directory."""
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        raise SystemExit(
            f"learning_curve: error: no {SUMMARY_FILE} in {run_dir} (is the run done?)"
        )
    s = json.loads(path.read_text())
    curve = s["curve"]
    returns = [r for _, _, r in curve if r is not None]
    end = s["recent_mean_return"]
    best = max(returns) if returns else None
    row = {
        "run_dir": str(run_dir),
        "env": s["env"],
        "algo": s["algo"],
        "n_envs": s["n_envs"],
        "lr": s["lr"],
        "seed": s["seed"],
        "steps": s["global_step"],
        "episodes": s["episodes"],
        "episode_window": s["episode_window"],
        "wall_seconds": s["wall_seconds"],
        "at": milestones(curve, at),
        "end": end,
        "last10": tail_mean(curve),
        "best": best,
    }
    if target is not None:
        row["target"] = target
        row["target_over_end"] = target / end if end else None
        row["target_over_last10"] = target / row["last10"] if row["last10"] else None
        row["target_over_best"] = target / best if best else None
    return row


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument(
        "--at",
        default="500000,1000000,2000000,3000000,4000000,5000000",
        help="milestones in agent steps, comma-separated",
    )
    p.add_argument("--target", type=float, default=None)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    try:
        at = [int(float(x)) for x in a.at.split(",") if x.strip()]
    except ValueError:
        print(f"learning_curve: error: --at takes step counts, got {a.at!r}", file=sys.stderr)
        sys.exit(2)
    try:
        rows = [read_run(d, at, a.target) for d in a.runs]
    except SystemExit as e:
        print(e, file=sys.stderr)
        sys.exit(2)
    for r in rows:
        head = (
            f"{r['run_dir']}: {r['algo'].upper()} on {r['env']}, {r['n_envs']} envs, lr {r['lr']:g}, "
            f"seed {r['seed']}, {r['steps']:,} steps, {r['episodes']:,} games, "
            f"{r['wall_seconds'] / 60:.1f} min"
        )
        print(head)
        w = r["episode_window"]
        marks = ", ".join(f"{s / 1e6:g}M {_fmt(v)}" for s, v in r["at"].items() if v is not None)
        print(
            f"  mean of the last {w} games: {marks}; end {_fmt(r['end'])}, "
            f"over the last 10% of steps {_fmt(r['last10'])}, best {_fmt(r['best'])}"
        )
        if a.target is not None:
            print(
                f"  target {a.target:g} = {_fmt(r['target_over_end'])} of the end, "
                f"{_fmt(r['target_over_last10'])} of the last 10%, "
                f"{_fmt(r['target_over_best'])} of the best"
            )
    close(
        {"machine": machine_line(), "settings": {"at": at, "target": a.target}, "runs": rows},
        a.json,
    )


if __name__ == "__main__":
    main()
