"""Which runs a study trains, and in which order.

A study trains one agent per (batch size, learning rate, seed) to a target return, counts the
steps S (updates) and samples E = S*B each run needed, and fits the steps-samples trade-off of
McCandlish et al. 2018 (eq. 2.11) to get B_crit (`rlnoise.study.analysis`).

The planner is a pure function of the study config and the results of finished runs, so a
resumed study plans the same runs. For the grid rule it works in stages per batch size: stage 0
trains the central lr (k = 0) for every seed; stage 1 the other lrs of the base grid; each later
stage is one widening. A run of stage >= 1 stops once it has used as many updates as the fastest
finished run at its batch size (`cap_by_fastest`): past that point it can no longer be the fastest
run at that B, so the fitted front is the same as without the cap, for every target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rlnoise.study.config import StudyConfig, lr_for


@dataclass(frozen=True)
class RunSpec:
    """One planned run. `max_updates` is the update budget (max_steps // B, or the cap)."""

    n_envs: int
    seed: int
    k: int  # grid exponent (0 for the other rules)
    lr: float
    batch_size: int
    max_updates: int
    stage: int
    capped: bool = False

    @property
    def name(self) -> str:
        return run_name(self.n_envs, self.lr, self.seed)

    @property
    def total_steps(self) -> int:
        return self.max_updates * self.batch_size


def run_name(n_envs: int, lr: float, seed: int) -> str:
    return f"n{n_envs:03d}-lr{lr:.2e}-s{seed}"


@dataclass(frozen=True)
class PlanResult:
    """What the planner needs from a finished run: updates to the top target (None if not
    reached) and the best mean return seen (ranks runs that did not reach it)."""

    steps: int | None
    best_return: float | None = None


def rank_key(k: int, seed: int, res: PlanResult) -> tuple:
    """Sort key of 'fastest run': reached runs by fewest updates, then runs that did not reach
    by highest best mean return; ties go to the lr nearer the grid's centre, then lower k/seed."""
    if res.steps is not None:
        return (0, res.steps, abs(k), k, seed)
    best = res.best_return if res.best_return is not None else -math.inf
    return (1, -best, abs(k), k, seed)


def plan(cfg: StudyConfig, done: Mapping[str, PlanResult]) -> list[RunSpec]:
    """Every run the study needs given the finished runs `done` (by name), in the order they
    should start: smaller batch sizes first (their chains of stages are the longest), later
    stages first within a batch size. Includes finished runs."""
    out: list[RunSpec] = []
    for n in cfg.n_envs:
        out.extend(_plan_batch(cfg, n, done))
    out.sort(key=lambda s: (s.batch_size, -s.stage, s.k, s.seed))
    return out


def _plan_batch(cfg: StudyConfig, n: int, done: Mapping[str, PlanResult]) -> list[RunSpec]:
    b = n * cfg.n_steps
    full = cfg.max_steps // b
    seeds = cfg.seed_list
    if cfg.lr_rule != "grid":
        return [RunSpec(n, s, 0, lr_for(cfg, n, 0), b, full, 0) for s in seeds]
    staged = cfg.cap_by_fastest and len(cfg.grid_base) > 1 and 0 in cfg.grid_base
    stages: list[list[int]] = (
        [[0], [k for k in cfg.grid_base if k != 0]] if staged else [list(cfg.grid_base)]
    )
    specs: list[RunSpec] = []
    widenings = 0
    ks: list[int] = []
    stage = 0
    while stage < len(stages):
        cap = _cap(cfg, n, ks, done) if (stage > 0 and cfg.cap_by_fastest) else None
        budget = full if cap is None else min(full, cap)
        for k in stages[stage]:
            lr = lr_for(cfg, n, k)
            specs += [RunSpec(n, s, k, lr, b, budget, stage, budget < full) for s in seeds]
        ks += stages[stage]
        if not all(run_name(n, lr_for(cfg, n, k), s) in done for k in ks for s in seeds):
            break  # the next stage depends on this one's results
        if stage == len(stages) - 1 and widenings < cfg.max_widenings:
            best_k = _best_k(cfg, n, ks, done)
            if best_k == max(ks):
                stages.append([best_k + 1])
                widenings += 1
            elif best_k == min(ks):
                stages.append([best_k - 1])
                widenings += 1
        stage += 1
    return specs


def _results(
    cfg: StudyConfig, n: int, ks: Sequence[int], done: Mapping[str, PlanResult]
) -> list[tuple[int, int, PlanResult]]:
    out = []
    for k in ks:
        for s in cfg.seed_list:
            r = done.get(run_name(n, lr_for(cfg, n, k), s))
            if r is not None:
                out.append((k, s, r))
    return out


def cell_median(steps: Sequence[int | None]) -> float:
    """Median updates over one lr's seeds, a not-reached run ranked above every reached one
    (inf when the median falls on one)."""
    xs = sorted(math.inf if x is None else float(x) for x in steps)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def _cap(cfg: StudyConfig, n: int, ks: Sequence[int], done: Mapping[str, PlanResult]) -> int | None:
    """Update budget of a later stage: cap_factor x the best lr's steps so far (its fastest
    run, or its median over seeds with cell_stat "median"); None when nothing reached."""
    res = _results(cfg, n, ks, done)
    if cfg.cell_stat == "median":
        best = min(cell_median([r.steps for k2, _, r in res if k2 == k]) for k in ks)
        return None if math.isinf(best) else math.ceil(cfg.cap_factor * best)
    steps = [r.steps for _, _, r in res if r.steps is not None]
    return math.ceil(cfg.cap_factor * min(steps)) if steps else None


def _best_k(cfg: StudyConfig, n: int, ks: Sequence[int], done: Mapping[str, PlanResult]) -> int:
    res = _results(cfg, n, ks, done)
    if cfg.cell_stat == "median":
        meds = {k: cell_median([r.steps for k2, _, r in res if k2 == k]) for k in ks}
        if any(not math.isinf(m) for m in meds.values()):
            return min(ks, key=lambda k: (meds[k], abs(k), k))
    return min(res, key=lambda t: rank_key(*t))[0]
