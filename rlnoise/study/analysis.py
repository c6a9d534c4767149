"""From finished runs to the study's answer: steps to each target, the fastest run per batch
size, the Pareto fit with its bootstrap interval, and B_simple on the front; torch-free.

Units: S = updates (PPO rollout iterations, each with the same epochs x minibatches of optimizer
steps at every batch size; A2C updates), E = S * B observations (agent steps, not frames).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from rlnoise.history import noise_summary
from rlnoise.numbers import finite
from rlnoise.parts import REPORTED_PARTS
from rlnoise.study.config import StudyConfig, lr_multiplier
from rlnoise.study.front import (
    Cell,
    FrontEstimate,
    FrontFit,
    cell_values,
    fit_front,
    percentile_interval,
)
from rlnoise.study.plan import RunSpec
from rlnoise.study.predictors import predictor_verdict, predictors
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
_INTERVALS = ("run_avg_lo", "run_avg_hi", "last10_lo", "last10_hi")


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


def noise_up_to(
    history: Sequence[Mapping], update: int | None, big_batch: int | None = None
) -> NoiseSummary:
    """B_simple summaries (run average and last 10% with their 90% intervals, median of raw,
    per part) over the measurements taken before `update` (all of them when update is None);
    `big_batch` (observations per measurement) gives a finite lower bound where the pooled
    |G|^2 is <= 0 (`rlnoise.history.noise_summary`)."""
    recs = [r for r in history if update is None or r["update"] < update]
    summ = noise_summary(list(recs), big_batch)
    out: dict = {}
    for part in REPORTED_PARTS:
        s = summ.get(part)
        out[part] = {stat: finite(s[stat]) if s else None for stat in _STATS + _INTERVALS}
        out[part]["run_avg_bound"] = s["run_avg_bound"] if s else None
        out[part]["n_measurements"] = int(s["n_measurements"]) if s else 0
    tot = summ.get("total", {})
    out["b_noise"] = finite(tot.get("b_noise_run_avg"))
    out["b_noise_lo"] = finite(tot.get("b_noise_lo"))
    out["b_noise_hi"] = finite(tot.get("b_noise_hi"))
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
        noise_whole_run=noise_up_to(history, None, spec.batch_size),
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
        noise=noise_up_to(history, s, spec.batch_size),
    )


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
        predictors=top.predictors,
    )


def analyse_target(
    cfg: StudyConfig, records: Sequence[RunRecord], t: float, n_boot: int = N_BOOT
) -> TargetFit:
    """The robust front at target t (rlnoise.study.front), its fit, interval and predictors."""
    by_b = _by_batch(records)
    cells = {b: _cells(by_b[b], t) for b in cfg.batch_sizes if by_b.get(b)}
    ff = fit_front({b: [c for c, _ in cs] for b, cs in cells.items()}, n_boot=n_boot)
    est = {p.batch_size: p for p in ff.points}
    rows = [
        _batch_row(cfg, b, by_b.get(b, []), t, cells.get(b), est.get(b)) for b in cfg.batch_sizes
    ]
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
        _fit(fit, ff)
    if fit.ok:
        fit.predictors = predictors(fit, cells, ff.samples)
        fit.predictor_verdict = predictor_verdict(fit.predictors)
    fit.notes = notes(cfg, fit)
    return fit


def front_cells(records: Sequence[RunRecord], t: float) -> dict[int, list[Cell]]:
    """The robust front's input at target t: per batch size its (lr) cells, sorted by lr."""
    return {b: [c for c, _ in _cells(rs, t)] for b, rs in sorted(_by_batch(records).items())}


def _by_batch(records: Sequence[RunRecord]) -> dict[int, list[RunRecord]]:
    by_b: dict[int, list[RunRecord]] = {}
    for r in records:
        by_b.setdefault(r.batch_size, []).append(r)
    return by_b


def _cells(runs: Sequence[RunRecord], t: float) -> list[tuple[Cell, list[RunRecord]]]:
    """The (lr) cells at one batch size, sorted by lr, with their runs sorted by seed."""
    out = []
    for k in sorted({r.k for r in runs}):
        rs = sorted((r for r in runs if r.k == k), key=lambda r: r.seed)
        steps = [r.at(t).steps for r in rs]
        log_s = np.array([math.log(s) if s else math.inf for s in steps])
        log_cap = math.log(min(r.max_updates for r in rs))  # the cell's budget
        out.append((Cell(log_lr=math.log(rs[0].lr), log_s=log_s, log_cap=log_cap, k=k), rs))
    return out


def _batch_row(
    cfg: StudyConfig,
    b: int,
    runs: Sequence[RunRecord],
    t: float,
    cells: list[tuple[Cell, list[RunRecord]]] | None,
    est: FrontEstimate | None,
) -> tuple[BatchRow, FrontPoint | None]:
    """Every lr tried at batch size b, and its front point if a cell reached t."""
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
    if not cells or est is None or est.best is None or est.log_s is None:
        return row, None
    best = cells[est.best][0]
    if cfg.lr_rule == "grid" and len(ks) > 1:
        row.edge = "top" if best.k == ks[-1] else "bottom" if best.k == ks[0] else None
    # the front's runs (B_simple, seed) come from the lr tried nearest the smooth fit's lr,
    # among cells whose median run reached it (the best cell on a tie): the lr the
    # front point stands for
    log_lr = est.log_lr if est.log_lr is not None else best.log_lr
    reached = [i for i, (c, _) in enumerate(cells) if not cell_values(c.log_s, c.log_cap)[1]]
    near = min(
        reached or [est.best],
        key=lambda i: (round(abs(cells[i][0].log_lr - log_lr), 9), i != est.best),
    )
    cell, rs = cells[near]
    rep = _median_run(rs, t)
    row.best = rep.name
    x = rep.at(t)
    steps = math.exp(est.log_s)
    point = FrontPoint(
        name=rep.name,
        n_envs=rep.n_envs,
        batch_size=b,
        seed=rep.seed,
        lr=float(f"{math.exp(est.log_lr):.4g}"),  # type: ignore[arg-type]
        k=cell.k,
        steps=round(steps, 2),  # type: ignore[arg-type]  # smooth-fit minimum, not one run's
        samples=round(steps * b),
        noise=x.noise,
        noise_groups=rep.noise_groups,
        n_seeds_at_lr=len(rs),
    )
    point.lr_cell = rep.lr
    point.steps_sigma = est.sigma
    return row, point


def _median_run(rs: Sequence[RunRecord], t: float) -> RunRecord:
    """The run of a cell whose steps are its median (lower middle; not reached ranks last)."""
    key = [(r.at(t).steps if r.at(t).steps else math.inf, r.seed) for r in rs]
    order = sorted(range(len(rs)), key=lambda i: key[i])
    return rs[order[(len(rs) - 1) // 2]]


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


def _fit(fit: TargetFit, ff: FrontFit) -> None:
    """Copy the robust front's fit into `fit` (in place): B_crit, its interval, the ratios."""
    t = fit.target
    if ff.b_crit is None:
        fit.error = f"no B_crit could be fitted for target {t:g}: {ff.error}"
        return
    assert ff.s_min is not None
    fit.ok, fit.s_min, fit.b_crit = True, ff.s_min, ff.b_crit
    fit.e_min, fit.rmse_log = ff.s_min * ff.b_crit, ff.rmse_log
    iv = percentile_interval(ff.samples, CI)
    if iv is not None:
        n_ok = int(np.isfinite(ff.samples).sum())
        fit.interval = Interval(
            lo=iv[0],
            hi=iv[2],
            median=iv[1],
            n_ok=n_ok - ff.n_failed,
            n_failed=ff.n_failed,
            ci=CI,
            degenerate=bool(np.ptp(ff.samples[np.isfinite(ff.samples)]) == 0),
        )
    bs = fit.b_simple["policy"]
    if bs is not None:
        fit.ratio = bs / ff.b_crit
        fit.verdict = "consistent" if BAND[0] <= fit.ratio <= BAND[1] else "miss"
    if fit.b_noise is not None:
        fit.b_noise_ratio = fit.b_noise / ff.b_crit


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
    missing = [row.batch_size for row in fit.per_batch if row.best is None and row.by_lr]
    if missing:
        out.append(
            f"No run at B={_bs(missing)} reached the target; "
            "those batch sizes are left out of the fit."
        )
    unrun = [row.batch_size for row in fit.per_batch if row.best is None and not row.by_lr]
    if unrun:
        out.append(
            f"No run at B={_bs(unrun)} has finished (the study stopped before them, or they "
            "are still running); those batch sizes are left out of the fit."
        )
    iv = fit.interval
    if iv and iv.n_failed:
        out.append(
            f"{iv.n_failed} of {iv.n_ok + iv.n_failed} bootstrap resamples could not "
            "be fitted (no trade-off in the resample)."
        )
    out.extend(_range_notes(fit))
    return out


def _range_notes(fit: TargetFit) -> list[str]:
    """A B_crit within 2x of (or beyond) the smallest or largest batch size on the front rests
    on the few points at that end: say so, and which batch sizes would pin it."""
    if fit.b_crit is None or len(fit.front) < 2:
        return []
    lo, hi = fit.front[0], fit.front[-1]
    span = (
        f"S falls from {lo.steps:,.0f} to {hi.steps:,.0f} updates over B = "
        f"{lo.batch_size:,}..{hi.batch_size:,}"
    )
    out = []
    if fit.b_crit < 2 * lo.batch_size:
        out.append(
            f"B_crit ({fit.b_crit:,.0f}) lies within 2x of the smallest batch size on the front "
            f"or below it ({span}): the fit's bend rests on the smallest batches; smaller ones "
            "(fewer envs or --n-steps) would pin it."
        )
    if fit.b_crit > hi.batch_size / 2:
        out.append(
            f"B_crit ({fit.b_crit:,.0f}) lies within 2x of the largest batch size on the front "
            f"or above it ({span}): larger batches would pin it."
        )
    return out


def _bs(batch_sizes: Iterable[int]) -> str:
    return ", ".join(f"{b:,}" for b in batch_sizes)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"
