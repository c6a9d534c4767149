"""From finished runs to the study's answer: steps to each target, the fastest run per batch
size, the Pareto fit with its bootstrap interval, and B_simple on the front.

Units: S = updates (PPO rollout iterations, each with the same epochs x minibatches of optimizer
steps at every batch size; A2C updates), E = S * B observations (agent steps, not frames).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from rlnoise.history import noise_summary
from rlnoise.pareto import bootstrap_b_crit, fit_pareto
from rlnoise.study import PlanResult, RunSpec, StudyConfig, rank_key

PARTS = ("policy", "value", "total")
BAND = (0.1, 10.0)  # B_simple / B_crit within the paper's ~10x band
CI = 0.9
N_BOOT = 1000
TRACE_POINTS = 200


def finite(x) -> float | None:
    """x as a float, or None when it is None, nan or inf (JSON has no inf)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def target_key(t: float) -> str:
    return f"{t:g}"


# ----------------------------------------------------------------------------- one run


def crossing_update(
    curve: Sequence[Sequence[float]], target: float, first_full_update: int | None
) -> int | None:
    """First update at which the mean return of the last `episode_window` whole episodes is
    >= target, from a run's curve of [global_step, update, mean_return]; only updates at which
    the window was already full (update >= first_full_update) count, as in the trainer."""
    if first_full_update is None:
        return None
    for _step, update, ret in curve:
        if update >= first_full_update and ret is not None and ret == ret and ret >= target:
            return int(update)
    return None


def noise_up_to(history: Sequence[Mapping], update: int | None) -> dict:
    """B_simple summaries (run average, last 10%, median of raw, per part) over the
    measurements taken before `update` (all of them when update is None)."""
    recs = [r for r in history if update is None or r["update"] < update]
    summ = noise_summary(list(recs))
    out: dict = {}
    for part in PARTS:
        s = summ.get(part)
        out[part] = {
            "run_avg": finite(s["run_avg"]) if s else None,
            "last10_avg": finite(s["last10_avg"]) if s else None,
            "median_raw": finite(s["median_raw"]) if s else None,
            "n_measurements": int(s["n_measurements"]) if s else 0,
        }
    tot = summ.get("total", {})
    out["b_noise"] = finite(tot.get("b_noise_run_avg"))
    out["b_noise_n"] = int(tot.get("b_noise_n", 0))
    return out


def thin(items: Sequence, n: int = TRACE_POINTS) -> list:
    """At most n items, evenly spaced, always keeping the first and the last."""
    items = list(items)
    if len(items) <= n:
        return items
    idx = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in idx]


def run_record(
    cfg: StudyConfig,
    spec: RunSpec,
    summary: Mapping,
    first_full_update: int | None,
    run_dir: str,
) -> dict:
    """Everything the study keeps about one finished run (summary.json keeps the rest)."""
    curve = summary.get("curve") or []
    history = summary.get("noise_history") or []
    top = cfg.top_target
    per_target = []
    for t in cfg.targets:
        s = crossing_update(curve, t, first_full_update)
        if t == top and summary.get("target_update") is not None:
            s = int(summary["target_update"])  # the trainer's own stop
        per_target.append(
            {
                "target": t,
                "steps": s,
                "samples": None if s is None else s * spec.batch_size,
                "noise": noise_up_to(history, s),
            }
        )
    top_t = per_target[-1]
    full = [c for c in curve if first_full_update is not None and c[1] >= first_full_update]
    rets = [c[2] for c in (full or curve) if c[2] is not None and c[2] == c[2]]
    groups = summary.get("noise_groups") or {}
    trace = [
        [r["step"], r["update"]] + [finite(r[p].get("ema_b_simple")) for p in PARTS]
        for r in history
    ]
    return {
        "name": spec.name,
        "n_envs": spec.n_envs,
        "seed": spec.seed,
        "batch_size": spec.batch_size,
        "lr": spec.lr,
        "k": spec.k,
        "lr_multiplier": cfg.grid_factor**spec.k if cfg.lr_rule == "grid" else 1.0,
        "stage": spec.stage,
        "max_updates": spec.max_updates,
        "capped": spec.capped,
        "status": summary.get("status", "finished"),
        "error": summary.get("error"),
        "updates": summary.get("updates"),
        "global_step": summary.get("global_step"),
        "episodes": summary.get("episodes"),
        "wall_seconds": finite(summary.get("wall_seconds")),
        "final_return": finite(summary.get("recent_mean_return")),
        "best_return": max(rets) if rets else None,
        "window_full_update": first_full_update,
        "noise_groups": {"by": groups.get("by"), "k": len(groups.get("sizes") or [])},
        "run_dir": run_dir,
        # the DESIGN fields, at the top target
        "steps_to_target": top_t["steps"],
        "samples_to_target": top_t["samples"],
        "b_simple": top_t["noise"]["policy"]["run_avg"],
        "targets": per_target,
        "noise_whole_run": noise_up_to(history, None),
        "curve": [[int(a), int(b), finite(c)] for a, b, c in thin(curve)],
        "noise_trace": {
            "columns": ["step", "update", *(f"ema_b_simple_{p}" for p in PARTS)],
            "rows": thin(trace),
        },
    }


def plan_result(rec: Mapping) -> PlanResult:
    return PlanResult(rec["steps_to_target"], rec.get("best_return"))


def _at(rec: Mapping, t: float) -> dict:
    for x in rec["targets"]:
        if x["target"] == t:
            return x
    raise KeyError(t)


def _rank(rec: Mapping, t: float) -> tuple:
    x = _at(rec, t)
    return rank_key(rec["k"], rec["seed"], PlanResult(x["steps"], rec.get("best_return")))


# ----------------------------------------------------------------------------- the study


def _median(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return float(statistics.median(xs)) if xs else None


def analyse(cfg: StudyConfig, records: Sequence[Mapping], n_boot: int = N_BOOT) -> dict:
    """Per target: the front, the fit, its bootstrap interval, B_simple on the front."""
    fits = [_analyse_target(cfg, records, t, n_boot) for t in cfg.targets]
    top = fits[-1]
    return {
        "target": cfg.top_target,
        "b_crit": top["b_crit"],
        "s_min": top["s_min"],
        "e_min": top["e_min"],
        "b_crit_interval": [top["interval"]["lo"], top["interval"]["hi"]]
        if top["interval"]
        else None,
        "b_simple": top["b_simple"]["policy"],
        "ratio": top["ratio"],
        "verdict": top["verdict"],
        "fits": fits,
        "errors": [f["error"] for f in fits if f["error"]],
    }


def _analyse_target(cfg: StudyConfig, records: Sequence[Mapping], t: float, n_boot: int) -> dict:
    by_b: dict[int, list[Mapping]] = {}
    for r in records:
        by_b.setdefault(r["batch_size"], []).append(r)
    per_batch, front = [], []
    for b in cfg.batch_sizes:
        runs = by_b.get(b, [])
        reached = [r for r in runs if _at(r, t)["steps"] is not None]
        best = min(runs, key=lambda r: _rank(r, t)) if runs else None
        ks = sorted({r["k"] for r in runs})
        lrs = sorted({(r["k"], r["lr"]) for r in runs})
        by_lr = []
        for k, lr in lrs:
            rs = sorted((r for r in runs if r["k"] == k), key=lambda r: r["seed"])
            by_lr.append(
                {
                    "k": k,
                    "lr": lr,
                    "steps_by_seed": [_at(r, t)["steps"] for r in rs],
                    "capped": [bool(r["capped"]) for r in rs],
                    "max_updates": [r["max_updates"] for r in rs],
                    "b_simple": _median(_b_simple_to(r, t) for r in rs),
                }
            )
        row = {
            "batch_size": b,
            "n_envs": b // cfg.n_steps,
            "n_runs": len(runs),
            "n_reached": len(reached),
            "by_lr": by_lr,
            "best": None,
            "edge": None,
        }
        if best is not None and reached:
            x = _at(best, t)
            row["best"] = best["name"]
            if cfg.lr_rule == "grid" and len(ks) > 1:
                row["edge"] = (
                    "top" if best["k"] == ks[-1] else "bottom" if best["k"] == ks[0] else None
                )
            front.append(
                {
                    "name": best["name"],
                    "n_envs": best["n_envs"],
                    "batch_size": b,
                    "seed": best["seed"],
                    "lr": best["lr"],
                    "k": best["k"],
                    "steps": x["steps"],
                    "samples": x["samples"],
                    "noise": x["noise"],
                    "noise_groups": best["noise_groups"],
                    "n_seeds_at_lr": sum(1 for r in runs if r["k"] == best["k"]),
                }
            )
        per_batch.append(row)
    out: dict = {
        "target": t,
        "ok": False,
        "error": None,
        "s_min": None,
        "e_min": None,
        "b_crit": None,
        "rmse_log": None,
        "interval": None,
        "front": front,
        "per_batch": per_batch,
        "b_simple": {},
        "ratio": None,
        "verdict": None,
        "b_noise": None,
        "b_noise_ratio": None,
    }
    for part in PARTS:
        for stat in ("run_avg", "last10_avg", "median_raw"):
            vals = [f["noise"][part][stat] for f in front]
            key = part if stat == "run_avg" else f"{part}_{stat}"
            out["b_simple"][key] = _median(vals)
    pol = [f["noise"]["policy"]["run_avg"] for f in front if f["noise"]["policy"]["run_avg"]]
    out["b_simple"]["policy_min"] = min(pol) if pol else None
    out["b_simple"]["policy_max"] = max(pol) if pol else None
    out["b_noise"] = _median(f["noise"]["b_noise"] for f in front)
    if not front:
        out["error"] = f"no run reached target {t:g} within --max-steps {cfg.max_steps}"
        return out
    if len(front) < 2:
        out["error"] = (
            f"only one batch size ({front[0]['batch_size']}) reached target {t:g}: "
            "cannot fit B_crit from one point"
        )
        return out
    try:
        fit = fit_pareto([f["steps"] for f in front], [f["samples"] for f in front])
    except ValueError as e:
        out["error"] = f"no B_crit could be fitted for target {t:g}: {e}"
        return out
    out.update(ok=True, s_min=fit.s_min, e_min=fit.e_min, b_crit=fit.b_crit, rmse_log=fit.rmse_log)
    pools = {
        b: [(_at(r, t)["steps"], _at(r, t)["samples"]) for r in by_b[b] if _at(r, t)["steps"]]
        for b in by_b
    }
    pools = {b: p for b, p in pools.items() if p}
    try:
        boot = bootstrap_b_crit(pools, n_boot=n_boot, seed=0, ci=CI, reduce="min")
        out["interval"] = {
            "lo": boot.lo,
            "hi": boot.hi,
            "median": boot.median,
            "n_ok": boot.n_ok,
            "n_failed": boot.n_failed,
            "ci": CI,
            "degenerate": all(len(p) == 1 for p in pools.values()),
        }
    except ValueError:
        out["interval"] = None
    bs = out["b_simple"]["policy"]
    if bs is not None:
        out["ratio"] = bs / fit.b_crit
        out["verdict"] = "consistent" if BAND[0] <= out["ratio"] <= BAND[1] else "miss"
    if out["b_noise"] is not None:
        out["b_noise_ratio"] = out["b_noise"] / fit.b_crit
    return out


def _b_simple_to(rec: Mapping, t: float) -> float | None:
    return _at(rec, t)["noise"]["policy"]["run_avg"]


def notes(cfg: StudyConfig, fit: Mapping) -> list[str]:
    """What may explain a B_simple/B_crit miss, and caveats of this fit."""
    out = []
    front = fit["front"]
    if front:
        at = ", ".join(
            f"B={f['batch_size']:,}: {_fmt(f['noise']['policy']['run_avg'])} at lr {f['lr']:.3g}"
            for f in front
        )
        out.append(
            "B_simple depends on the learning rate it is measured at (the paper's "
            f"'temperature'); on the front it was measured at: {at}."
        )
    time_chunks = [f["batch_size"] for f in front if f["noise_groups"]["by"] == "time"]
    if time_chunks:
        out.append(
            f"At B={', '.join(f'{b:,}' for b in time_chunks)} (one environment) the noise groups "
            "are contiguous time chunks of one trajectory: correlated, so B_simple reads low."
        )
    k2 = [
        f["batch_size"]
        for f in front
        if f["noise_groups"]["by"] == "envs" and f["noise_groups"]["k"] == 2
    ]
    if k2:
        out.append(
            f"At B={', '.join(f'{b:,}' for b in k2)} only K=2 env groups measure B_simple: "
            "a very noisy estimate."
        )
    edge = [
        f"B={row['batch_size']:,} ({row['edge']})"
        for row in fit["per_batch"]
        if row["edge"] is not None and len(row["by_lr"]) >= len(cfg.grid_base) + cfg.max_widenings
    ]
    if edge:
        out.append(
            "The fastest lr still sat on the grid's edge after "
            f"{cfg.max_widenings} widenings at {', '.join(edge)}: a better lr may lie beyond."
        )
    missing = [row["batch_size"] for row in fit["per_batch"] if row["best"] is None]
    if missing:
        out.append(
            f"No run at B={', '.join(f'{b:,}' for b in missing)} reached the target; "
            "those batch sizes are left out of the fit."
        )
    if fit.get("interval") and fit["interval"]["n_failed"]:
        iv = fit["interval"]
        out.append(
            f"{iv['n_failed']} of {iv['n_ok'] + iv['n_failed']} bootstrap resamples could not "
            "be fitted (no trade-off in the resample)."
        )
    return out


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:,.0f}"
