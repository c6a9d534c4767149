"""Fit a study to a time budget (`rlnoise study --budget-minutes M`) and pick the number of
concurrent runs (`--workers auto`); torch-free.

Cost of one run: startup(n) + steps / sps(n) seconds, where sps(n) is the run's steps (observations)
per second and startup(n) the seconds to build it (environments, network), both measured by a
short calibration per distinct env count (`Calibration`: the runner trains a throwaway run of
each env count for a few seconds) or read from an earlier calibration of the same study.
How many steps a run needs to reach its target is unknown before it runs, so every run is
charged its step cap (max_steps, rounded down to whole updates): for the runs it counts the
estimate is an upper bound -- runs stop at the target, and the grid's later lrs stop at the
planner's cap (`cap_factor` x the updates of the best lr so far at their batch size).

Runs counted: one per (env count, lr of the base grid, seed) -- the planner releases the grid's
non-central lrs only after the central ones finish, so they are counted here up front. The
grid's widenings (one more lr beyond an edge, at most max_widenings per env count) depend on
results: they are not in the estimate; their worst case is given beside it.

Wall time on W workers (`simulate`): runs start in the planner's order on the first free worker,
a run of the grid's stage s only once every run of stage s-1 at its env count has finished (as
the planner releases them). With a `cap` (observations per second that all concurrent runs share:
on one GPU machine the cores that step the emulators) concurrent runs slow down in proportion
whenever their summed SPS would exceed it; without one each worker is assumed to run at its
calibrated SPS (CPU runs that each own their cores).

Shrink order (`fit_budget`), applied until estimate + calibration time <= M:
  1. fewer seeds, one at a time, down to 1;
  2. drop the smallest or the largest env count (whichever saves more time; the largest on a
     tie) while at least MIN_ENV_COUNTS env counts spanning >= MIN_SPAN x remain; the lr at
     every remaining batch size stays the same (the base lr moves to the new smallest B);
  3. lower the step cap (to 3 significant digits), at most MAX_CAP_CUT x below the requested one.
A budget that even the smallest allowed plan exceeds is refused (one line, exit 2) before any
run starts.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rlnoise.hardware import split_cores
from rlnoise.study.config import StudyConfig, StudyError, lr_for

MIN_SPAN = 16  # largest / smallest env count kept when dropping env counts
MIN_ENV_COUNTS = 3
MAX_CAP_CUT = 10  # the step cap is lowered at most this many times


@dataclass(frozen=True)
class Calibration:
    """Measured speed of one run per env count (see the module docstring)."""

    sps: Mapping[int, float]  # steps (observations) per second of one run
    startup: Mapping[int, float] = field(default_factory=dict)  # seconds to build a run
    updates: Mapping[int, int] = field(default_factory=dict)  # updates timed per env count
    cap: float | None = None  # observations/s shared by all concurrent runs (None: no limit)
    seconds: float = 0.0  # what the calibration took
    source: str = "measured"  # measured | stored

    def run_seconds(self, n_envs: int, steps: int) -> float:
        return self.startup.get(n_envs, 0.0) + steps / self.sps[n_envs]

    def covers(self, n_envs: Sequence[int]) -> bool:
        return all(self.sps.get(n, 0) > 0 for n in n_envs)

    def to_json(self) -> dict:
        def keyed(m: Mapping) -> dict:
            return {str(n): v for n, v in sorted(m.items())}

        return {
            "sps": keyed(self.sps),
            "startup_seconds": keyed(self.startup),
            "updates": keyed(self.updates),
            "cap": self.cap,
            "seconds": self.seconds,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, d: Mapping) -> Calibration:
        def keyed(m: Mapping | None, kind: type) -> dict:
            return {int(n): kind(v) for n, v in (m or {}).items()}

        return cls(
            keyed(d["sps"], float),
            keyed(d.get("startup_seconds"), float),
            keyed(d.get("updates"), int),
            d.get("cap"),
            float(d.get("seconds") or 0.0),
            str(d.get("source") or "measured"),
        )


@dataclass(frozen=True)
class PlannedRun:
    n_envs: int
    k: int  # grid exponent
    seed: int
    stage: int
    steps: int  # its step cap in observations (whole updates)


@dataclass(frozen=True)
class Estimate:
    seconds: float  # the planned runs, each at its step cap
    runs: int
    steps: int
    widening_runs: int  # the most runs the grid's widenings can add
    widening_seconds: float  # extra seconds if every env count widens max_widenings times


@dataclass(frozen=True)
class Fit:
    cfg: StudyConfig  # the plan that fits
    estimate: Estimate
    shrink: tuple[str, ...]  # the steps taken, in order


@dataclass(frozen=True)
class Workers:
    """How many runs execute at once and the threads each gets (one entry per worker slot)."""

    count: int
    env_threads: tuple[int, ...]
    torch_threads: int
    why: str


# ----------------------------------------------------------------------------- the estimate


def grid_stages(cfg: StudyConfig) -> list[list[int]]:
    """The grid exponents k of each planner stage before any widening (`rlnoise.study.plan`)."""
    if cfg.lr_rule != "grid":
        return [[0]]
    if cfg.cap_by_fastest and len(cfg.grid_base) > 1 and 0 in cfg.grid_base:
        return [[0], [k for k in cfg.grid_base if k != 0]]
    return [list(cfg.grid_base)]


def planned_runs(cfg: StudyConfig, widenings: int = 0) -> list[PlannedRun]:
    """Every run of the base grid (plus `widenings` more lrs per env count), in the planner's
    order: smaller batch sizes first, later stages first within one."""
    stages = grid_stages(cfg)
    top = max(k for ks in stages for k in ks)
    stages += [[top + i] for i in range(1, widenings + 1)]  # which edge widens is not known
    out = []
    for n in cfg.n_envs:
        b = n * cfg.n_steps
        steps = cfg.max_steps // b * b
        for stage, ks in enumerate(stages):
            out += [PlannedRun(n, k, s, stage, steps) for k in ks for s in range(cfg.seeds)]
    out.sort(key=lambda r: (r.n_envs, -r.stage, r.k, r.seed))
    return out


def simulate(runs: Sequence[PlannedRun], cal: Calibration, workers: int) -> float:
    """Seconds until the last of `runs` finishes on `workers` workers (module docstring)."""
    todo = list(runs)
    left = Counter((r.n_envs, r.stage) for r in runs)  # unfinished runs per (n_envs, stage)
    running: list[list] = []  # [run, seconds of work left at full speed]
    t = 0.0
    while todo or running:
        i = 0
        while i < len(todo) and len(running) < workers:
            r = todo[i]
            if all(left[(r.n_envs, s)] == 0 for s in range(r.stage)):
                running.append([todo.pop(i), cal.run_seconds(r.n_envs, r.steps)])
            else:
                i += 1
        demand = sum(cal.sps[r.n_envs] for r, _ in running)
        speed = min(1.0, cal.cap / demand) if cal.cap else 1.0
        dt = min(w for _, w in running) / speed
        t += dt
        for item in running:
            item[1] -= dt * speed
        for r, _ in [x for x in running if x[1] <= 1e-9]:
            left[(r.n_envs, r.stage)] -= 1
        running = [x for x in running if x[1] > 1e-9]
    return t


def estimate(cfg: StudyConfig, cal: Calibration, workers: int) -> Estimate:
    runs = planned_runs(cfg)
    seconds = simulate(runs, cal, workers)
    widen = cfg.max_widenings if cfg.lr_rule == "grid" else 0
    wide = planned_runs(cfg, widen) if widen else runs
    extra = simulate(wide, cal, workers) - seconds if widen else 0.0
    return Estimate(seconds, len(runs), sum(r.steps for r in runs), len(wide) - len(runs), extra)


# ----------------------------------------------------------------------------- shrinking


def fit_budget(
    cfg: StudyConfig, cal: Calibration, workers: int, minutes: float, spent: float = 0.0
) -> Fit:
    """The largest plan, by the module's shrink order, whose estimate plus `spent` seconds
    (the calibration) fits `minutes`. Raises StudyError when none does."""
    limit = minutes * 60.0 - spent

    def secs(c: StudyConfig) -> float:
        return estimate(c, cal, workers).seconds

    steps: list[str] = []
    while secs(cfg) > limit and cfg.seeds > 1:
        steps.append(f"seeds {cfg.seeds} -> {cfg.seeds - 1}")
        cfg = dataclasses.replace(cfg, seeds=cfg.seeds - 1)
    while secs(cfg) > limit:
        dropped = _drop_end(cfg, secs)
        if dropped is None:
            break
        cfg, text = dropped
        steps.append(text)
    if secs(cfg) > limit:
        lowered = _lower_cap(cfg, limit, secs)
        if lowered is None:
            raise StudyError(_too_short(cfg, minutes, spent, secs))
        steps.append(f"step cap {cfg.max_steps:,} -> {lowered.max_steps:,} observations per run")
        cfg = lowered
    return Fit(cfg, estimate(cfg, cal, workers), tuple(steps))


def _drop_end(cfg: StudyConfig, secs) -> tuple[StudyConfig, str] | None:
    """Drop the smallest or largest env count (whichever saves more), keeping the lr of every
    remaining batch size; None when MIN_ENV_COUNTS or MIN_SPAN would be broken."""
    n = cfg.n_envs
    if len(n) <= MIN_ENV_COUNTS:
        return None
    options = []
    for keep, gone in ((n[:-1], n[-1]), (n[1:], n[0])):  # the largest first: it wins ties
        if keep[-1] / keep[0] >= MIN_SPAN:
            c = dataclasses.replace(cfg, n_envs=keep, lr=lr_for(cfg, keep[0], 0))
            options.append((secs(c), c, gone))
    if not options:
        return None
    _, c, gone = min(options, key=lambda o: o[0])
    return c, f"dropped n_envs {gone} ({c.n_envs[-1] // c.n_envs[0]}x span left)"


def _cap_floor(cfg: StudyConfig) -> int:
    return max(cfg.max_steps // MAX_CAP_CUT, max(cfg.n_envs) * cfg.n_steps)


def _lower_cap(cfg: StudyConfig, limit: float, secs) -> StudyConfig | None:
    """cfg with the highest step cap (3 significant digits) that fits, or None."""
    floor = _cap_floor(cfg)
    if secs(dataclasses.replace(cfg, max_steps=floor)) > limit:
        return None
    lo, hi = floor, cfg.max_steps  # lo fits, hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if secs(dataclasses.replace(cfg, max_steps=mid)) <= limit else (lo, mid)
    digits = 10 ** max(0, len(str(lo)) - 3)
    return dataclasses.replace(cfg, max_steps=max(lo // digits * digits, floor))


def _too_short(cfg: StudyConfig, minutes: float, spent: float, secs) -> str:
    smallest = dataclasses.replace(cfg, max_steps=_cap_floor(cfg))
    return (
        f"--budget-minutes {minutes:g} is too short: the smallest plan it may shrink to "
        f"({_describe(smallest)}) needs about {secs(smallest) / 60:.1f} min plus "
        f"{spent / 60:.1f} min of calibration"
    )


def _describe(cfg: StudyConfig) -> str:
    return (
        f"n_envs {','.join(map(str, cfg.n_envs))}, {cfg.seeds} seed(s), step cap {cfg.max_steps:,}"
    )


# ----------------------------------------------------------------------------- workers


def auto_workers(
    device_type: str, cores: int, threads_per_run: int = 1, cal: Calibration | None = None
) -> Workers:
    """`--workers auto`. CPU: cores // threads_per_run runs, each with threads_per_run torch and
    env threads (never more threads than cores). CUDA: the runs share the GPU, and the cores
    step their emulators: enough runs that together they reach the fastest single run's SPS
    (ceil(max SPS / median SPS over the env counts), at most one per core), the cores split
    between their env threads (`split_cores`) and one torch thread each."""
    if device_type != "cuda":
        t = max(1, min(threads_per_run, cores))
        count = max(1, cores // t)
        why = f"{cores} core(s) // {t} thread(s) per run"
        return Workers(count, (t,) * count, t, why)
    if cal is None or not cal.sps:
        raise ValueError("--workers auto on CUDA needs the calibration's SPS")
    top, mid = max(cal.sps.values()), statistics.median(cal.sps.values())
    count = max(1, min(cores, math.ceil(top / mid)))
    why = (
        f"CUDA: ceil(fastest run {top:,.0f} SPS / median run {mid:,.0f} SPS) runs share the "
        f"GPU, {cores} cores split between their env threads"
    )
    return Workers(count, tuple(split_cores(count, cores)), 1, why)


# ----------------------------------------------------------------------------- printing


def _threads(w: Workers) -> str:
    lo, hi = min(w.env_threads), max(w.env_threads)
    env = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{env} env thread(s) and {w.torch_threads} torch thread(s) each"


def plan_lines(
    cfg: StudyConfig, cal: Calibration, w: Workers, fit: Fit, minutes: float | None
) -> list[str]:
    """The plan and its estimate, printed before the study starts."""
    est = fit.estimate
    n_lrs = sum(len(ks) for ks in grid_stages(cfg))
    lines = [
        f"plan: {cfg.algo.upper()} on {cfg.env_id}, target(s) "
        f"{', '.join(f'{t:g}' for t in cfg.targets)}, {cfg.seeds} seed(s), step cap "
        f"{cfg.max_steps:,} observations per run, lr rule {cfg.lr_rule}",
        f"  {'n_envs':>6} {'B':>7} {'SPS':>8} {'lrs':<30} {'runs':>4} {'min/run at cap':>14}",
    ]
    for n in cfg.n_envs:
        b = n * cfg.n_steps
        lrs = " ".join(f"{lr_for(cfg, n, k):.2e}" for k in sorted(sum(grid_stages(cfg), [])))
        per_run = cal.run_seconds(n, cfg.max_steps // b * b) / 60
        lines.append(
            f"  {n:>6} {b:>7,} {cal.sps[n]:>8,.0f} {lrs:<30} {n_lrs * cfg.seeds:>4} "
            f"{per_run:>14,.1f}"
        )
    lines.append(
        f"  {est.runs} runs ({len(cfg.n_envs)} env counts x {n_lrs} lr(s) x {cfg.seeds} "
        f"seed(s)) on {w.count} worker(s), {_threads(w)} ({w.why})"
    )
    total = est.seconds + cal.seconds
    head = f"estimate: {est.seconds / 60:,.1f} min + calibration {cal.seconds / 60:.1f} min"
    head += f" = {total / 60:,.1f} min" + (f" of the {minutes:g} budgeted" if minutes else "")
    lines.append(
        f"  {head}; an upper bound for these runs (each charged its full step cap; runs stop "
        "at the target)"
    )
    if est.widening_runs:
        lines.append(
            f"  the lr grid's widenings can add up to {est.widening_runs} runs "
            f"(+{est.widening_seconds / 60:,.1f} min, not in the estimate)"
        )
    shrink = "; ".join(fit.shrink) if fit.shrink else "nothing (the plan fits as asked)"
    lines.append(f"  shrunk to fit: {shrink}")
    return lines


def budget_doc(
    minutes: float | None, w: Workers, fit: Fit, cal: Calibration, requested: StudyConfig
) -> dict:
    """study.json's `budget`: the estimate before the study, `actual_minutes` after it."""
    est = fit.estimate
    return {
        "minutes": minutes,
        "estimate_minutes": est.seconds / 60,
        "calibration_minutes": cal.seconds / 60,
        "runs": est.runs,
        "steps": est.steps,
        "widening_runs": est.widening_runs,
        "widening_minutes": est.widening_seconds / 60,
        "workers": w.count,
        "env_threads": list(w.env_threads),
        "torch_threads": w.torch_threads,
        "workers_why": w.why,
        "calibration": cal.to_json(),
        "shrink": list(fit.shrink),
        "requested": requested.to_json(),
        "actual_minutes": None,
        "ratio": None,
    }


def close_budget(budget: dict, wall_seconds: float) -> None:
    """Record the study's actual wall time (its training sessions) against the estimate."""
    actual = wall_seconds / 60
    budget["actual_minutes"] = actual
    est = budget.get("estimate_minutes") or 0
    budget["ratio"] = actual / est if est > 0 else None


def budget_line(budget: Mapping) -> str:
    """One line on the budget: asked, estimated, taken (report.md and the study's last lines)."""
    asked = budget.get("minutes")
    parts = [f"budget {asked:g} min" if asked else "no budget"]
    parts.append(
        f"estimated {budget['estimate_minutes']:,.1f} min for {budget['runs']} runs on "
        f"{budget['workers']} worker(s) (each run at its step cap; +"
        f"{budget.get('calibration_minutes') or 0:.1f} min calibration)"
    )
    actual = budget.get("actual_minutes")
    if actual is None:
        parts.append("actual: not finished")
    else:
        ratio = budget.get("ratio")
        parts.append(
            f"actual {actual:,.1f} min"
            + (f" ({ratio:.2f}x the estimate)" if ratio is not None else "")
        )
    shrink = budget.get("shrink") or []
    parts.append("shrunk: " + ("; ".join(shrink) if shrink else "nothing"))
    if budget.get("before_growing"):
        parts.append("all of this before more seeds were added")
    return "; ".join(parts)


__all__ = [
    "Calibration",
    "Estimate",
    "Fit",
    "PlannedRun",
    "Workers",
    "auto_workers",
    "budget_doc",
    "budget_line",
    "close_budget",
    "estimate",
    "fit_budget",
    "grid_stages",
    "plan_lines",
    "planned_runs",
    "simulate",
]
