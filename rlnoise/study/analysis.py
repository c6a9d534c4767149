"""From finished runs to the study's answer: steps to each target, the fastest run per batch
size, the Pareto fit with its bootstrap interval, and B_simple on the front; torch-free.

Units: S = updates (PPO rollout iterations, each with the same epochs x minibatches of optimizer
steps at every batch size; A2C updates), E = S * B observations (agent steps, not frames).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Mapping, Sequence

from rlnoise.history import noise_summary
from rlnoise.numbers import finite
from rlnoise.pareto import bootstrap_b_crit, fit_pareto
from rlnoise.parts import REPORTED_PARTS
from rlnoise.study.config import StudyConfig, lr_multiplier
from rlnoise.study.plan import PlanResult, RunSpec, rank_key
from rlnoise.study.records import (
    BatchRow,
    FrontBSimple,
    FrontPoint,
    Interval,
    LrCell,
    NoiseSummary,
    RunRecord,
    StudyResult,
    TargetCrossing,
    TargetFit,
)

BAND = (0.1, 10.0)  # B_simple / B_crit within the paper's ~10x band
CI = 0.9
N_BOOT = 1000
TRACE_POINTS = 200
_STATS = ("run_avg", "last10_avg", "median_raw")


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


def noise_up_to(history: Sequence[Mapping], update: int | None) -> NoiseSummary:
    """B_simple summaries (run average, last 10%, median of raw, per part) over the
    measurements taken before `update` (all of them when update is None)."""
    recs = [r for r in history if update is None or r["update"] < update]
    summ = noise_summary(list(recs))
    out: dict = {}
    for part in REPORTED_PARTS:
        s = summ.get(part)
        out[part] = {stat: finite(s[stat]) if s else None for stat in _STATS}
        out[part]["n_measurements"] = int(s["n_measurements"]) if s else 0
    tot = summ.get("total", {})
    out["b_noise"] = finite(tot.get("b_noise_run_avg"))
    out["b_noise_n"] = int(tot.get("b_noise_n", 0))
    return out  # type: ignore[return-value]


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
) -> RunRecord:
    """Everything the study keeps about one finished run (summary.json keeps the rest)."""
    curve = summary.get("curve") or []
    history = summary.get("noise_history") or []
    crossings = [_crossing(cfg, spec, summary, t, first_full_update, history) for t in cfg.targets]
    top = crossings[-1]
    full = [c for c in curve if first_full_update is not None and c[1] >= first_full_update]
    rets = [c[2] for c in (full or curve) if c[2] is not None and c[2] == c[2]]
    groups = summary.get("noise_groups") or {}
    trace = [
        [r["step"], r["update"]] + [finite(r[p].get("ema_b_simple")) for p in REPORTED_PARTS]
        for r in history
    ]
    return RunRecord(
        name=spec.name,
        **dataclasses.asdict(spec),  # n_envs, seed, k, lr, batch_size, max_updates, stage, capped
        lr_multiplier=lr_multiplier(cfg, spec.k),
        status=summary.get("status", "finished"),
        error=summary.get("error"),
        updates=summary.get("updates"),
        global_step=summary.get("global_step"),
        episodes=summary.get("episodes"),
        wall_seconds=finite(summary.get("wall_seconds")),
        final_return=finite(summary.get("recent_mean_return")),
        best_return=max(rets) if rets else None,
        window_full_update=first_full_update,
        noise_groups={"by": groups.get("by"), "k": len(groups.get("sizes") or [])},
        run_dir=run_dir,
        steps_to_target=top.steps,
        samples_to_target=top.samples,
        b_simple=top.noise["policy"]["run_avg"],
        targets=crossings,
        noise_whole_run=noise_up_to(history, None),
        curve=[[int(a), int(b), finite(c)] for a, b, c in thin(curve)],
        noise_trace={
            "columns": ["step", "update", *(f"ema_b_simple_{p}" for p in REPORTED_PARTS)],
            "rows": thin(trace),
        },
    )


def _crossing(
    cfg: StudyConfig,
    spec: RunSpec,
    summary: Mapping,
    t: float,
    first_full_update: int | None,
    history: Sequence[Mapping],
) -> TargetCrossing:
    s = crossing_update(summary.get("curve") or [], t, first_full_update)
    if t == cfg.top_target and summary.get("target_update") is not None:
        s = int(summary["target_update"])  # the trainer's own stop
    return TargetCrossing(
        target=t,
        steps=s,
        samples=None if s is None else s * spec.batch_size,
        noise=noise_up_to(history, s),
    )


def _rank(rec: RunRecord, t: float) -> tuple:
    return rank_key(rec.k, rec.seed, PlanResult(rec.at(t).steps, rec.best_return))


# ----------------------------------------------------------------------------- the study


def _median(xs: Iterable[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return float(statistics.median(xs)) if xs else None


def analyse(cfg: StudyConfig, records: Sequence[RunRecord], n_boot: int = N_BOOT) -> StudyResult:
    """Per target: the front, the fit, its bootstrap interval, B_simple on the front, notes."""
    fits = [analyse_target(cfg, records, t, n_boot) for t in cfg.targets]
    top = fits[-1]
    return StudyResult(
        target=cfg.top_target,
        b_crit=top.b_crit,
        s_min=top.s_min,
        e_min=top.e_min,
        b_crit_interval=[top.interval.lo, top.interval.hi] if top.interval else None,
        b_simple=top.b_simple["policy"],
        ratio=top.ratio,
        verdict=top.verdict,
        fits=fits,
        errors=[f.error for f in fits if f.error],
    )


def analyse_target(
    cfg: StudyConfig, records: Sequence[RunRecord], t: float, n_boot: int = N_BOOT
) -> TargetFit:
    """The front at target t (fastest run per batch size), its fit and B_simple."""
    by_b: dict[int, list[RunRecord]] = {}
    for r in records:
        by_b.setdefault(r.batch_size, []).append(r)
    rows = [_batch_row(cfg, b, by_b.get(b, []), t) for b in cfg.batch_sizes]
    front = [f for _, f in rows if f is not None]
    fit = TargetFit(
        target=t,
        ok=False,
        error=_unfittable(cfg, front, t),
        s_min=None,
        e_min=None,
        b_crit=None,
        rmse_log=None,
        interval=None,
        front=front,
        per_batch=[row for row, _ in rows],
        b_simple=_front_b_simple(front),
        ratio=None,
        verdict=None,
        b_noise=_median(f.noise["b_noise"] for f in front),
        b_noise_ratio=None,
    )
    if fit.error is None:
        _fit(fit, by_b, n_boot)
    fit.notes = notes(cfg, fit)
    return fit


def _batch_row(
    cfg: StudyConfig, b: int, runs: Sequence[RunRecord], t: float
) -> tuple[BatchRow, FrontPoint | None]:
    """Every lr tried at batch size b, and its fastest run if one reached t."""
    reached = [r for r in runs if r.at(t).steps is not None]
    ks = sorted({r.k for r in runs})
    row = BatchRow(
        batch_size=b,
        n_envs=b // cfg.n_steps,
        n_runs=len(runs),
        n_reached=len(reached),
        by_lr=[_lr_cell(runs, k, lr, t) for k, lr in sorted({(r.k, r.lr) for r in runs})],
        best=None,
        edge=None,
    )
    if not reached:
        return row, None
    best = min(runs, key=lambda r: _rank(r, t))
    row.best = best.name
    if cfg.lr_rule == "grid" and len(ks) > 1:
        row.edge = "top" if best.k == ks[-1] else "bottom" if best.k == ks[0] else None
    x = best.at(t)
    point = FrontPoint(
        name=best.name,
        n_envs=best.n_envs,
        batch_size=b,
        seed=best.seed,
        lr=best.lr,
        k=best.k,
        steps=x.steps,  # type: ignore[arg-type]  # reached: the fastest run has steps
        samples=x.samples,  # type: ignore[arg-type]
        noise=x.noise,
        noise_groups=best.noise_groups,
        n_seeds_at_lr=sum(1 for r in runs if r.k == best.k),
    )
    return row, point


def _lr_cell(runs: Sequence[RunRecord], k: int, lr: float, t: float) -> LrCell:
    rs = sorted((r for r in runs if r.k == k), key=lambda r: r.seed)
    return LrCell(
        k=k,
        lr=lr,
        steps_by_seed=[r.at(t).steps for r in rs],
        capped=[bool(r.capped) for r in rs],
        max_updates=[r.max_updates for r in rs],
        b_simple=_median(r.at(t).noise["policy"]["run_avg"] for r in rs),
    )


def _front_b_simple(front: Sequence[FrontPoint]) -> FrontBSimple:
    """Medians over the front of every part's statistics, and the policy's range."""
    out: dict = {}
    for part in REPORTED_PARTS:
        for stat in _STATS:
            key = part if stat == "run_avg" else f"{part}_{stat}"
            out[key] = _median(f.noise[part][stat] for f in front)  # type: ignore[literal-required]
    pol = [f.noise["policy"]["run_avg"] for f in front if f.noise["policy"]["run_avg"]]
    out["policy_min"] = min(pol) if pol else None  # type: ignore[type-var]
    out["policy_max"] = max(pol) if pol else None  # type: ignore[type-var]
    return out  # type: ignore[return-value]


def _unfittable(cfg: StudyConfig, front: Sequence[FrontPoint], t: float) -> str | None:
    """Why no fit can be tried at target t (None when there are two points or more)."""
    if not front:
        return f"no run reached target {t:g} within --max-steps {cfg.max_steps}"
    if len(front) < 2:
        return (
            f"only one batch size ({front[0].batch_size}) reached target {t:g}: "
            "cannot fit B_crit from one point"
        )
    return None


def _fit(fit: TargetFit, by_b: Mapping[int, Sequence[RunRecord]], n_boot: int) -> None:
    """Fit the front of `fit` (in place): B_crit, its interval, and the ratios to it."""
    t = fit.target
    try:
        pf = fit_pareto([f.steps for f in fit.front], [f.samples for f in fit.front])
    except ValueError as e:
        fit.error = f"no B_crit could be fitted for target {t:g}: {e}"
        return
    fit.ok, fit.s_min, fit.e_min, fit.b_crit = True, pf.s_min, pf.e_min, pf.b_crit
    fit.rmse_log = pf.rmse_log
    fit.interval = _interval(by_b, t, n_boot)
    bs = fit.b_simple["policy"]
    if bs is not None:
        fit.ratio = bs / pf.b_crit
        fit.verdict = "consistent" if BAND[0] <= fit.ratio <= BAND[1] else "miss"
    if fit.b_noise is not None:
        fit.b_noise_ratio = fit.b_noise / pf.b_crit


def _interval(by_b: Mapping[int, Sequence[RunRecord]], t: float, n_boot: int) -> Interval | None:
    """Bootstrap of B_crit over every run that reached t (None when no resample fits)."""
    pools = {
        b: [(r.at(t).steps, r.at(t).samples) for r in rs if r.at(t).steps] for b, rs in by_b.items()
    }
    pools = {b: p for b, p in pools.items() if p}
    try:
        boot = bootstrap_b_crit(pools, n_boot=n_boot, seed=0, ci=CI, reduce="min")
    except ValueError:
        return None
    return Interval(
        lo=boot.lo,
        hi=boot.hi,
        median=boot.median,
        n_ok=boot.n_ok,
        n_failed=boot.n_failed,
        ci=CI,
        degenerate=all(len(p) == 1 for p in pools.values()),
    )


# ----------------------------------------------------------------------------- notes


def notes(cfg: StudyConfig, fit: TargetFit) -> list[str]:
    """What may explain a B_simple/B_crit miss, and caveats of this fit."""
    front = fit.front
    out = []
    if front:
        at = ", ".join(
            f"B={f.batch_size:,}: {_fmt(f.noise['policy']['run_avg'])} at lr {f.lr:.3g}"
            for f in front
        )
        out.append(
            "B_simple depends on the learning rate it is measured at (the paper's "
            f"'temperature'); on the front it was measured at: {at}."
        )
    time_chunks = [f.batch_size for f in front if f.noise_groups["by"] == "time"]
    if time_chunks:
        out.append(
            f"At B={_bs(time_chunks)} (one environment) the noise groups "
            "are contiguous time chunks of one trajectory: correlated, so B_simple reads low."
        )
    k2 = [
        f.batch_size for f in front if f.noise_groups["by"] == "envs" and f.noise_groups["k"] == 2
    ]
    if k2:
        out.append(f"At B={_bs(k2)} only K=2 env groups measure B_simple: a very noisy estimate.")
    edge = [
        f"B={row.batch_size:,} ({row.edge})"
        for row in fit.per_batch
        if row.edge is not None and len(row.by_lr) >= len(cfg.grid_base) + cfg.max_widenings
    ]
    if edge:
        out.append(
            "The fastest lr still sat on the grid's edge after "
            f"{cfg.max_widenings} widenings at {', '.join(edge)}: a better lr may lie beyond."
        )
    missing = [row.batch_size for row in fit.per_batch if row.best is None]
    if missing:
        out.append(
            f"No run at B={_bs(missing)} reached the target; "
            "those batch sizes are left out of the fit."
        )
    iv = fit.interval
    if iv and iv.n_failed:
        out.append(
            f"{iv.n_failed} of {iv.n_ok + iv.n_failed} bootstrap resamples could not "
            "be fitted (no trade-off in the resample)."
        )
    return out


def _bs(batch_sizes: Iterable[int]) -> str:
    return ", ".join(f"{b:,}" for b in batch_sizes)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"
