"""Which study design buys the most repeatable B_crit for its compute? Synthetic studies, costed
from real runs.

    python -m benchmarks.study_design [--studies DIR ...] [--pairs 200] [--n-boot 200]
        [--truths 500,1500,4000] [--designs default,wide-up,...] [--json PATH]

For each design (batch sizes x seeds per cell) and each true B_crit, `--pairs` independent pairs
of synthetic studies (rlnoise.study.synthetic: S = S_min (1 + B_crit/B), an lr-dependent S,
log-normal seed noise, censoring at the run budget and the planner's cap) are fitted by the
robust front (rlnoise.study.front) with `--n-boot` resamples each, and compared as the issue's
goal compares two real studies with disjoint seeds: within 25% of each other, each 90% interval
covering the other's estimate, both. Also each study's interval's coverage of the truth.

Cost: every synthetic run costs the updates it ran (its S, or its cap where it stopped) times
the seconds per update at its batch size, t(B) = a + b B, fitted by least squares to the real
runs of `--studies` (default CartPole studies: CartPole's rollout and PPO update). Those runs
may have shared the machine with other work, so read the cost as relative to the default design
(`cost_vs_default`), which the fit's common load factor cancels from; `samples` (env steps) is
machine-free. Without `--studies` only samples are reported.

`--curvature` sets how sharply the model's S rises away from the best lr (default 0.15 per x2
grid step squared; the default CartPole studies' own shared curvature reads 0.04-0.09).

Designs (all with the default's x2 lr grid of five cells, 600k-step budget and 2x caps):
  default   B = 256..8,192 (6 sizes), 5 seeds -- the `cartpole` preset
  seeds7    the default's sizes, 7 seeds
  wide-up   B = 256..16,384 (7 sizes), 5 seeds
  wide-up-4 the same sizes, 4 seeds
  wide-down B = 128..8,192 (7 sizes), 5 seeds
  wide      B = 128..16,384 (8 sizes), 5 seeds
  x4-6      B = 256, 1,024, 4,096, 16,384 (x4 apart), 6 seeds
  x4-7      the same sizes, 7 seeds
  x4-9      the same sizes, 9 seeds
  ends      B = 256..8,192, 7 seeds at the two end sizes and 4 in between
  x4-low-7, x4-low-9, x4-high-7, x4-high-9
            B = 256, 1,024, 4,096 or 512, 2,048, 8,192 (inside the default's range, x4 apart),
            7 or 9 seeds: the designs that the pooled real studies can also try
            (benchmarks/study_repeatability.py --batch-sizes)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import numpy as np

from benchmarks._machine import close, machine_line
from rlnoise.study.front import Cell, fit_front, percentile_interval
from rlnoise.study.store import load_study
from rlnoise.study.synthetic import SyntheticStudy, simulate

WITHIN = math.log(1.25)
DEFAULT_SIZES = tuple(256 * 2**i for i in range(6))

# name -> (batch sizes, seeds per cell at each size)
DESIGNS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "default": (DEFAULT_SIZES, (5,) * 6),
    "seeds7": (DEFAULT_SIZES, (7,) * 6),
    "wide-up": (DEFAULT_SIZES + (16384,), (5,) * 7),
    "wide-up-4": (DEFAULT_SIZES + (16384,), (4,) * 7),
    "wide-down": ((128,) + DEFAULT_SIZES, (5,) * 7),
    "wide": ((128,) + DEFAULT_SIZES + (16384,), (5,) * 8),
    "x4-6": ((256, 1024, 4096, 16384), (6,) * 4),
    "x4-7": ((256, 1024, 4096, 16384), (7,) * 4),
    "x4-9": ((256, 1024, 4096, 16384), (9,) * 4),
    "ends": (DEFAULT_SIZES, (7, 4, 4, 4, 4, 7)),
    "x4-low-7": ((256, 1024, 4096), (7,) * 3),
    "x4-low-9": ((256, 1024, 4096), (9,) * 3),
    "x4-high-7": ((512, 2048, 8192), (7,) * 3),
    "x4-high-9": ((512, 2048, 8192), (9,) * 3),
}


def update_seconds(dirs: list[Path]) -> tuple[float, float, int]:
    """(a, b, runs): seconds per update a + b B, fitted to the runs of the studies in `dirs`."""
    rows = [
        (r.updates, r.batch_size, r.wall_seconds)
        for d in dirs
        for r in load_study(d).runs
        if r.updates and r.wall_seconds
    ]
    if len(rows) < 2:
        raise SystemExit(f"--studies: need runs with updates and wall_seconds, found {len(rows)}")
    return (*fit_update_seconds(rows), len(rows))


def fit_update_seconds(rows: list[tuple[int, int, float]]) -> tuple[float, float]:
    """(a, b) minimising the squared error of wall = updates (a + b B) over (updates, B, wall)."""
    x = np.array([[u, u * b] for u, b, _ in rows], dtype=np.float64)
    y = np.array([w for *_, w in rows], dtype=np.float64)
    (a, b), *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(a), float(b)


def simulate_design(
    rng: np.random.Generator, study: SyntheticStudy, seeds: tuple[int, ...]
) -> dict[int, list[Cell]]:
    """One study: each batch size with its own seed count (the model draws one size at a time)."""
    out: dict[int, list[Cell]] = {}
    for b, n in zip(study.batch_sizes, seeds, strict=True):
        out.update(simulate(rng, n, dataclasses.replace(study, batch_sizes=(b,))))
    return out


def run_cost(cells: dict[int, list[Cell]], a: float, b: float) -> tuple[float, float]:
    """(seconds, samples) the study's runs took: each ran to its S, or to its cap if it stopped."""
    secs = samples = 0.0
    for bs, cs in cells.items():
        for c in cs:
            upd = np.where(np.isfinite(c.log_s), np.exp(c.log_s), math.exp(c.log_cap)).sum()
            secs += upd * (a + b * bs)
            samples += upd * bs
    return float(secs), float(samples)


def evaluate(
    name: str,
    truth: float,
    pairs: int,
    n_boot: int,
    seed: int,
    cost: tuple[float, float],
    curvature: float = SyntheticStudy.curvature,
) -> dict:
    sizes, seeds = DESIGNS[name]
    study = SyntheticStudy(b_crit=truth, batch_sizes=sizes, curvature=curvature)
    rng = np.random.default_rng(seed)
    logs, within, mutual, covers, secs, samples = [], [], [], [], [], []
    for i in range(pairs):
        fits = []
        for j in range(2):
            cells = simulate_design(rng, study, seeds)
            s, e = run_cost(cells, *cost)
            secs.append(s)
            samples.append(e)
            fit = fit_front(cells, n_boot=n_boot, seed=2 * i + j)
            iv = percentile_interval(fit.samples, 0.9)
            if fit.b_crit is None or iv is None:
                raise ValueError(f"{name}: a synthetic study gave no fit ({fit.error})")
            fits.append((fit.b_crit, iv))
            covers.append(iv[0] <= truth <= iv[2])
        (ba, ia), (bb, ib) = fits
        d = abs(math.log(ba / bb))
        logs.append(d)
        within.append(d <= WITHIN)
        mutual.append(ia[0] <= bb <= ia[2] and ib[0] <= ba <= ib[2])
    within_a, mutual_a = np.array(within), np.array(mutual)
    return {
        "design": name,
        "batch_sizes": list(sizes),
        "seeds": list(seeds),
        "true_b_crit": truth,
        "curvature": curvature,
        "pairs": pairs,
        "rms_log_ratio": float(np.sqrt(np.mean(np.square(logs)))),
        "share_within_25pct": float(within_a.mean()),
        "share_mutual_cover": float(mutual_a.mean()),
        "share_goal_met": float((within_a & mutual_a).mean()),
        "coverage_of_truth": float(np.mean(covers)),
        "mean_run_seconds": float(np.mean(secs)),
        "mean_samples": float(np.mean(samples)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", nargs="*", type=Path, default=[])
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--truths", default="500,1500,4000")
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--curvature",
        type=float,
        default=SyntheticStudy.curvature,
        help="the model's lr response: log S rises by this x (grid steps from the best lr)^2",
    )
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    names = [x for x in a.designs.split(",") if x]
    unknown = [x for x in names if x not in DESIGNS]
    if unknown or "default" not in names:
        raise SystemExit(f"--designs: need 'default' and names from {', '.join(DESIGNS)}")
    truths = [float(x) for x in a.truths.split(",") if x]
    result: dict = {"machine": machine_line(), "pairs": a.pairs, "n_boot": a.n_boot,
                    "curvature": a.curvature}  # fmt: skip
    cost = (0.0, 0.0)
    if a.studies:
        ca, cb, n = update_seconds(a.studies)
        cost = (ca, cb)
        result["update_seconds"] = {"a": ca, "b_per_sample": cb, "runs": n,
                                    "studies": [str(d) for d in a.studies]}  # fmt: skip
        print(f"seconds per update from {n} runs: {ca:.3f} + {cb:.2e} B")
    rows = []
    for t_i, truth in enumerate(truths):
        base = None
        for d_i, name in enumerate(names):
            seed = a.seed + 1000 * t_i + d_i
            r = evaluate(name, truth, a.pairs, a.n_boot, seed, cost, a.curvature)
            if name == "default":
                base = r
            rows.append(r)
        for r in rows[-len(names) :]:
            r["samples_vs_default"] = r["mean_samples"] / base["mean_samples"]
            if a.studies:
                r["cost_vs_default"] = r["mean_run_seconds"] / base["mean_run_seconds"]
            rel = f"cost {r['cost_vs_default']:.2f}x" if a.studies else ""
            print(
                f"B_crit {truth:>6.0f} {r['design']:10s} rms {r['rms_log_ratio']:.3f}"
                f"  within 25% {r['share_within_25pct']:4.0%}  mutual {r['share_mutual_cover']:4.0%}"
                f"  both {r['share_goal_met']:4.0%}  covers truth {r['coverage_of_truth']:4.0%}"
                f"  samples {r['samples_vs_default']:.2f}x {rel}"
            )
    result["rows"] = rows
    close(result, a.json)


if __name__ == "__main__":
    main()
