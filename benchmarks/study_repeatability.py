"""How far apart are two studies with disjoint seeds? From real studies and from the synthetic model.

    python -m benchmarks.study_repeatability [--pairwise DIR ...] [--studies DIR ...] [--sizes 3,4,5]
        [--batch-sizes 256,1024,4096] [--draws 40] [--synthetic-seeds 2,3,5,8] [--pairs 200]
        [--coverage-seeds 3,5] [--coverage-studies 800] [--json PATH]

Real studies: the runs of several study directories with the same configuration but disjoint
seeds (`--seed-start`) are pooled; for each size n, `--draws` times, the pooled seeds are split
into two disjoint random sets of n, each set's runs are fitted by the robust front
(rlnoise.study.front) on the (B, lr) cells that every pooled seed ran, and the pair is
compared: |log(B_crit_a / B_crit_b)|, whether it is within 25% (the issue's goal), and whether
each one's 90% interval covers the other's estimate. Draws reuse seeds, so they are not
independent; read the shares as estimates from a few real seeds. Also for the pooled seeds:
the shape of the seed noise (skew and excess kurtosis of the residuals of log S; normal: 0 and
0), each batch size's own curvature of log S in log lr with its standard error (does the
front's one shared curvature fit?), and B_crit of all pooled runs in one fit. `--sizes ""`
prints only these. `--batch-sizes` keeps only those batch sizes' runs: a study design with
fewer sizes, tried on real runs (see benchmarks/study_design.py for the synthetic side).

Pairwise: independent studies (disjoint seeds, the same flags), each fitted again by this
rlnoise, compared pair by pair as the issue's goal compares two studies.

Synthetic: rlnoise.study.synthetic's model of the default study (known B_crit, seed noise 0.3 in
log S), `--pairs` independent pairs of studies per seed count: the same two figures for point
estimates. The question both answer: how many seeds per cell does the 25% goal need?
Coverage: the share of synthetic studies whose 90% interval covers the true B_crit, per seed
count (the check tests/test_study_coverage.py makes, on more studies).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from benchmarks._machine import close, machine_line
from rlnoise.study.analysis import analyse, front_cells
from rlnoise.study.front import (
    cell_values,
    fit_front,
    percentile_interval,
    pooled_residuals,
    seed_scale,
    window,
)
from rlnoise.study.store import load_study
from rlnoise.study.synthetic import coverage, repeat_agreement

WITHIN = math.log(1.25)


def _fit(records: list, t: float, n_boot: int) -> tuple[float | None, tuple | None]:
    ff = fit_front(front_cells(records, t), n_boot=n_boot)
    return ff.b_crit, percentile_interval(ff.samples, 0.9)


def real(
    dirs: list[Path],
    sizes: list[int],
    draws: int,
    n_boot: int,
    seed: int,
    batch_sizes: list[int] | None = None,
) -> dict:
    studies = [load_study(d) for d in dirs]
    keys = {json.dumps(_comparable(s.cfg.to_json()), sort_keys=True) for s in studies}
    if len(keys) != 1:
        raise SystemExit("error: the studies differ in more than their seeds")
    t = studies[0].cfg.top_target
    runs = [r for s in studies for r in s.runs]
    if batch_sizes:
        runs = [r for r in runs if r.batch_size in batch_sizes]
    seeds = sorted({r.seed for r in runs})
    pooled = fit_front(front_cells(runs, t), n_boot=1000)  # every pooled run, widenings included
    pooled_iv = percentile_interval(pooled.samples, 0.9)
    # the lr grid's widenings depend on each study's results: keep the (B, lr) cells that every
    # pooled seed ran, so that both halves of a split see the same grid
    cell_seeds: dict = {}
    for r in runs:
        cell_seeds.setdefault((r.batch_size, r.k), set()).add(r.seed)
    common = {c for c, ss in cell_seeds.items() if len(ss) == len(seeds)}
    dropped = len(runs)
    runs = [r for r in runs if (r.batch_size, r.k) in common]
    dropped -= len(runs)
    rng = np.random.default_rng(seed)
    cells = front_cells(runs, t)
    resid = pooled_residuals(list(cells.values()))
    run_s = sum(r.wall_seconds or 0.0 for r in runs) / len(seeds)  # one seed's runs, all cells
    out = {"pooled_b_crit": pooled.b_crit, "pooled_interval_90": pooled_iv, "batch_sizes": sorted({r.batch_size for r in runs}), "run_seconds_per_seed": run_s, "seed_noise_sd_log_s": float(resid.std()) if resid.size else None, "studies": [str(d) for d in dirs], "seeds": seeds, "target": t, "sizes": [],
           "cells": len(common), "runs_outside_common_cells": dropped,
           "residuals": shape(resid), "curvature_per_b": curvature_per_b(cells, len(seeds), seed_scale(resid))}  # fmt: skip
    for n in sizes:
        if 2 * n > len(seeds):
            continue
        rows = []
        for _ in range(draws):
            p = rng.permutation(seeds)
            a, b = set(p[:n].tolist()), set(p[n : 2 * n].tolist())
            ba, ia = _fit([r for r in runs if r.seed in a], t, n_boot)
            bb, ib = _fit([r for r in runs if r.seed in b], t, n_boot)
            if not (ba and bb and ia and ib):
                rows.append(None)
                continue
            d = abs(math.log(ba / bb))
            cover = ia[0] <= bb <= ia[2] and ib[0] <= ba <= ib[2]
            rows.append((d, d <= WITHIN, cover))
        ok = [r for r in rows if r is not None]
        d = np.array([r[0] for r in ok])
        out["sizes"].append(
            {
                "seeds_per_study": n,
                "draws": len(rows),
                "no_fit": len(rows) - len(ok),
                "rms_log_ratio": float(np.sqrt(np.mean(d**2))) if ok else None,
                "share_within_25pct": float(np.mean([r[1] for r in ok])) if ok else None,
                "share_mutual_cover": float(np.mean([r[2] for r in ok])) if ok else None,
                "share_goal_met": float(np.mean([r[1] and r[2] for r in ok])) if ok else None,
            }
        )
    return out


def pairwise(dirs: list[Path]) -> list[dict]:
    """Independent studies compared as the goal compares them: each study fitted again by this
    rlnoise (as `rlnoise report --compare` does), then every pair's distance and mutual cover."""
    fits = {}
    for d in dirs:
        st = load_study(d)
        res = analyse(st.cfg, st.runs)
        if res.b_crit is None or not res.b_crit_interval:
            raise SystemExit(f"error: {d} has no B_crit with an interval")
        fits[str(d)] = (res.b_crit, *res.b_crit_interval, st.cfg.seeds)
    rows = []
    for i, a in enumerate(fits):
        for b in list(fits)[i + 1 :]:
            (ba, la, ha, na), (bb, lb, hb, nb) = fits[a], fits[b]
            d = abs(math.log(ba / bb))
            cover = la <= bb <= ha and lb <= ba <= hb
            rows.append({"a": a, "b": b, "seeds": [na, nb], "b_crit": [ba, bb],
                         "intervals_90": [[la, ha], [lb, hb]], "abs_log_ratio": d,
                         "within_25pct": d <= WITHIN, "mutual_cover": cover,
                         "goal_met": d <= WITHIN and cover})  # fmt: skip
    return rows


def shape(resid: np.ndarray) -> dict:
    """Is the seed noise of log S normal? Skewness and excess kurtosis of the pooled residuals."""
    z = (resid - resid.mean()) / resid.std()
    return {"n": int(resid.size), "skew": float(np.mean(z**3)), "excess_kurtosis": float(np.mean(z**4) - 3)}  # fmt: skip


def curvature_per_b(cells: dict, n_seeds: int, scale: float | None) -> dict:
    """Each batch size's own least-squares curvature of log S in log lr (per x2 grid step
    squared) through the uncensored cells of its smooth-fit window, from all pooled seeds, with
    its standard error (cells valued at the front's seed-noise `scale`): does one curvature
    fit every batch size?"""
    out = {}
    for b, cs in cells.items():
        x = np.array([c.log_lr for c in cs]) / math.log(2)  # in grid steps
        y, cens = cell_values(np.stack([c.log_s for c in cs]), np.array([c.log_cap for c in cs]), scale)  # fmt: skip
        win = window(x, y[None], cens[None])
        use = win.w[0] > 0
        if use.sum() < 3 or not scale:
            continue
        a = np.stack([np.ones(use.sum()), win.u[0, use], win.u[0, use] ** 2], axis=1)
        coef = np.linalg.lstsq(a, win.y[0, use], rcond=None)[0]
        se = scale / math.sqrt(n_seeds) * math.sqrt(np.linalg.inv(a.T @ a)[2, 2])
        out[str(b)] = {"curvature": float(coef[2]), "se": float(se), "cells": int(use.sum())}
    return out


def _comparable(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in ("seed_start",)}


def synthetic(seed_counts: list[int], pairs: int, seed: int) -> list[dict]:
    rows = []
    for i, n in enumerate(seed_counts):
        d = repeat_agreement(pairs, seeds=n, seed=seed + i)
        rows.append(
            {
                "seeds_per_study": n,
                "pairs": pairs,
                "rms_log_ratio": float(np.sqrt(np.mean(d**2))),
                "share_within_25pct": float(np.mean(d <= WITHIN)),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", nargs="*", type=Path, default=[])
    ap.add_argument("--sizes", default="3,4,5")
    ap.add_argument("--batch-sizes", default="", help="keep only these batch sizes' runs")
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--synthetic-seeds", default="2,3,5,8")
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--coverage-seeds", default="3,5")
    ap.add_argument("--coverage-studies", type=int, default=800)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairwise", nargs="*", type=Path, default=[],
                    help="independent studies: compare every pair as the goal does")  # fmt: skip
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    result: dict = {"machine": machine_line()}
    if a.pairwise:
        result["pairwise"] = pairwise(a.pairwise)
        print("independent studies, each fitted again, every pair:")
        for p in result["pairwise"]:
            (ba, bb), (ia, ib) = p["b_crit"], p["intervals_90"]
            print(f"  {p['a']} {ba:,.0f} [{ia[0]:,.0f}-{ia[1]:,.0f}] vs {p['b']} {bb:,.0f}"
                  f" [{ib[0]:,.0f}-{ib[1]:,.0f}]: {math.exp(p['abs_log_ratio']) - 1:.0%} apart,"
                  f" mutual cover {'yes' if p['mutual_cover'] else 'no'},"
                  f" goal {'met' if p['goal_met'] else 'not met'}")  # fmt: skip
        met = sum(p["goal_met"] for p in result["pairwise"])
        print(f"  goal met by {met} of {len(result['pairwise'])} pairs")
    if a.studies:
        sizes = [int(x) for x in a.sizes.split(",") if x]
        keep = [int(x) for x in a.batch_sizes.split(",") if x]
        result["real"] = real(a.studies, sizes, a.draws, a.n_boot, a.seed, keep)
        r = result["real"]
        print(
            f"real: {len(r['seeds'])} pooled seeds from {', '.join(r['studies'])}, batch sizes"
            f" {', '.join(map(str, r['batch_sizes']))} ({r['run_seconds_per_seed']:.0f} run-seconds"
            f" per seed); {r['cells']}"
            f" (B, lr) cells that all ran ({r['runs_outside_common_cells']} runs outside them);"
            f" seed noise: sd of log S about each cell's mean {r['seed_noise_sd_log_s']:.3f}"
        )
        iv = r["pooled_interval_90"]
        print(f"  all {len(r['seeds'])} seeds in one fit (every run): B_crit {r['pooled_b_crit']:,.0f}"
              f" [{iv[0]:,.0f}-{iv[2]:,.0f}]")  # fmt: skip
        sh = r["residuals"]
        print(f"  its shape: {sh['n']} residuals, skew {sh['skew']:.2f}, excess kurtosis"
              f" {sh['excess_kurtosis']:.2f} (normal: 0, 0)")  # fmt: skip
        curv = ", ".join(f"B={b} {c['curvature']:.2f}±{c['se']:.2f} ({c['cells']} lrs)"
                         for b, c in r["curvature_per_b"].items())  # fmt: skip
        print(f"  curvature of log S per x2 lr step^2, per batch size: {curv or 'none'}")
        for s in r["sizes"]:
            print(
                f"  {s['seeds_per_study']} seeds per study, {s['draws']} split draws: rms"
                f" |log ratio| {s['rms_log_ratio']:.3f}, within 25% {s['share_within_25pct']:.0%},"
                f" mutual cover {s['share_mutual_cover']:.0%}, both {s['share_goal_met']:.0%}"
            )
    counts = [int(x) for x in a.synthetic_seeds.split(",") if x]
    if counts:
        result["synthetic"] = synthetic(counts, a.pairs, a.seed)
        print("synthetic (rlnoise.study.synthetic, seed noise 0.3 in log S):")
        for s in result["synthetic"]:
            print(
                f"  {s['seeds_per_study']} seeds per study, {s['pairs']} pairs: rms |log ratio|"
                f" {s['rms_log_ratio']:.3f}, within 25% {s['share_within_25pct']:.0%}"
            )
    cov = [int(x) for x in a.coverage_seeds.split(",") if x]
    if cov:
        result["coverage"] = []
        print("coverage of the 90% interval (synthetic):")
        for n in cov:
            share, err = coverage(a.coverage_studies, a.n_boot, a.seed, seeds=n)
            result["coverage"].append(
                {"seeds_per_study": n, "studies": a.coverage_studies, "n_boot": a.n_boot,
                 "share_covering": share, "median_abs_log_error": err}
            )  # fmt: skip
            print(f"  {n} seeds per study, {a.coverage_studies} studies: {share:.1%} covered")
    close(result, a.json)


if __name__ == "__main__":
    main()
