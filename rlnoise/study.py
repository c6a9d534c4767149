"""Env-count scaling studies: which runs to train, and in which order.

A study trains one agent per (batch size, learning rate, seed) to a target return, counts the
steps S (updates) and samples E = S*B each run needed, and fits the steps-samples trade-off of
McCandlish et al. 2018 (eq. 2.11) to get B_crit (`rlnoise.study_analysis`). This module holds
the study's configuration, the learning-rate rules and the planner; `rlnoise.study_runner`
executes the plan.

Batch size B = n_envs * n_steps observations. Learning-rate rules (B0 = the smallest B, base =
--lr or the algorithm's default):

- const:  lr(B) = base
- sqrt:   lr(B) = base * sqrt(B/B0)
- linear: lr(B) = base * min(B/B0, LINEAR_CAP)
- grid:   lr(B) = base * sqrt(B/B0) * 4**k for k in {-1, 0, +1}; where the fastest run at a B used
  the grid's lowest or highest lr, the grid at that B is widened by one more factor of 4 beyond
  that edge, at most MAX_WIDENINGS times.

The planner is a pure function of the study config and the results of finished runs, so a
resumed study plans the same runs. For the grid rule it works in stages per batch size: stage 0
trains the central lr (k = 0) for every seed; stage 1 the other lrs of the base grid; each later
stage is one widening. A run of stage >= 1 stops once it has used as many updates as the fastest
finished run at its batch size (`cap_by_fastest`): past that point it can no longer be the fastest
run at that B, so the fitted front is the same as without the cap, for every target.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rlnoise.config import ALGO_DEFAULTS, ALGOS

LR_RULES = ("const", "sqrt", "linear", "grid")
BACKENDS = ("local", "ray")
GRID_FACTOR = 4.0  # ratio between neighbouring learning rates of the grid
GRID_BASE = (-1, 0, 1)  # exponents k of GRID_FACTOR around the sqrt rule
MAX_WIDENINGS = 2  # per batch size
LINEAR_CAP = 64.0  # the linear rule's lr stops growing at 64x the base lr


class StudyError(ValueError):
    """Bad study input or a study that could not be fitted; reported as one line, exit 2."""


@dataclass(frozen=True)
class StudyConfig:
    """What a study measures. Two runs of `rlnoise study` on the same directory must agree on
    every field here; how it is executed (backend, workers) may change between them."""

    env_id: str = "CartPole-v1"
    algo: str = "ppo"
    n_envs: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    seeds: int = 2  # seeds 0 .. seeds-1
    targets: tuple[float, ...] = (475.0,)  # runs train to the highest
    max_steps: int = 300_000  # per run, observations
    lr_rule: str = "grid"
    lr: float = 2.5e-4  # base lr at the smallest batch size
    n_steps: int = 128
    noise_every: int = 1
    noise_groups: int = 8
    b_noise_every: int = 0
    episode_window: int = 20
    anneal_lr: bool = False  # constant lr: annealing would tie the schedule to max_steps
    grid_factor: float = GRID_FACTOR
    grid_base: tuple[int, ...] = GRID_BASE
    max_widenings: int = MAX_WIDENINGS
    linear_cap: float = LINEAR_CAP
    cap_by_fastest: bool = True
    preset: str = "cartpole"
    train: dict = field(default_factory=dict)  # other TrainConfig fields, e.g. ent_coef

    # -- derived --------------------------------------------------------------------------
    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return tuple(n * self.n_steps for n in self.n_envs)

    @property
    def b0(self) -> int:
        return min(self.batch_sizes)

    @property
    def top_target(self) -> float:
        return max(self.targets)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("n_envs", "targets", "grid_base"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_json(cls, d: Mapping) -> StudyConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("n_envs", "grid_base"):
            if k in kw:
                kw[k] = tuple(int(x) for x in kw[k])
        if "targets" in kw:
            kw["targets"] = tuple(float(x) for x in kw["targets"])
        return cls(**kw)


def validate_study(cfg: StudyConfig) -> StudyConfig:
    """Check a study config; returns it with n_envs and targets sorted. Raises StudyError."""
    if cfg.algo not in ALGOS:
        raise StudyError(f"unknown --algo {cfg.algo!r}; choose one of {', '.join(ALGOS)}")
    if cfg.lr_rule not in LR_RULES:
        raise StudyError(f"unknown --lr-rule {cfg.lr_rule!r}; choose one of {', '.join(LR_RULES)}")
    n = list(cfg.n_envs)
    if any(not isinstance(x, int) or x < 1 for x in n):
        raise StudyError(f"--n-envs values must be positive integers, got {n}")
    dup = sorted({x for x in n if n.count(x) > 1})
    if dup:
        raise StudyError(f"--n-envs lists {', '.join(map(str, dup))} more than once")
    if len(n) < 2:
        raise StudyError("--n-envs needs at least 2 values to fit a steps-samples trade-off")
    if cfg.seeds < 1:
        raise StudyError(f"--seeds must be at least 1 (got {cfg.seeds})")
    if not cfg.targets:
        raise StudyError("give at least one --target")
    t = [float(x) for x in cfg.targets]
    if any(not math.isfinite(x) for x in t):
        raise StudyError(f"--target must be a finite number, got {t}")
    if len(set(t)) != len(t):
        raise StudyError("--target values repeat")
    if cfg.n_steps < 1:
        raise StudyError(f"--n-steps must be at least 1 (got {cfg.n_steps})")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise StudyError(f"--lr must be positive (got {cfg.lr})")
    if cfg.noise_every < 1:
        raise StudyError(f"--noise-every must be at least 1 (got {cfg.noise_every})")
    if cfg.b_noise_every < 0:
        raise StudyError(f"--b-noise-every must be >= 0 (got {cfg.b_noise_every})")
    b_max = max(n) * cfg.n_steps
    if cfg.max_steps < b_max:
        raise StudyError(
            f"--max-steps {cfg.max_steps} is less than one update at the largest batch "
            f"({max(n)} envs x {cfg.n_steps} steps = {b_max} observations)"
        )
    return dataclasses.replace(cfg, n_envs=tuple(sorted(n)), targets=tuple(sorted(t)))


def algo_default_lr(algo: str) -> float:
    return float(ALGO_DEFAULTS[algo]["lr"])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- lr rules


def lr_for(cfg: StudyConfig, n_envs: int, k: int = 0) -> float:
    """The learning rate of the run at `n_envs` environments and grid exponent `k`."""
    ratio = n_envs * cfg.n_steps / cfg.b0
    if cfg.lr_rule == "const":
        lr = cfg.lr
    elif cfg.lr_rule == "sqrt":
        lr = cfg.lr * math.sqrt(ratio)
    elif cfg.lr_rule == "linear":
        lr = cfg.lr * min(ratio, cfg.linear_cap)
    elif cfg.lr_rule == "grid":
        lr = cfg.lr * math.sqrt(ratio) * cfg.grid_factor**k
    else:
        raise StudyError(f"unknown --lr-rule {cfg.lr_rule!r}")
    return float(f"{lr:.6g}")  # stable names and JSON


def describe_lr_rule(cfg: StudyConfig) -> str:
    base = f"base lr {cfg.lr:g} at the smallest batch B0 = {cfg.b0:,}"
    if cfg.lr_rule == "const":
        return f"const: lr = {cfg.lr:g} at every batch size"
    if cfg.lr_rule == "sqrt":
        return f"sqrt: lr = base * sqrt(B/B0), {base}"
    if cfg.lr_rule == "linear":
        return f"linear: lr = base * min(B/B0, {cfg.linear_cap:g}), {base}"
    mults = ", ".join(_mult_str(cfg.grid_factor**k) for k in cfg.grid_base)
    return (
        f"grid: lr = base * sqrt(B/B0) * m for m in {{{mults}}}, {base}; where the fastest run "
        f"at a B used the grid's edge lr, one more x{cfg.grid_factor:g} step beyond that edge "
        f"is added, at most {cfg.max_widenings} times per B"
    )


def _mult_str(m: float) -> str:
    return f"1/{1 / m:g}" if m < 1 else f"{m:g}"


# ----------------------------------------------------------------------------- planning


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
    seeds = range(cfg.seeds)
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
        cap = _fastest(cfg, n, ks, done) if (stage > 0 and cfg.cap_by_fastest) else None
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


def _results(cfg, n, ks, done) -> list[tuple[int, int, PlanResult]]:
    out = []
    for k in ks:
        for s in range(cfg.seeds):
            r = done.get(run_name(n, lr_for(cfg, n, k), s))
            if r is not None:
                out.append((k, s, r))
    return out


def _fastest(cfg, n, ks, done) -> int | None:
    steps = [r.steps for _, _, r in _results(cfg, n, ks, done) if r.steps is not None]
    return min(steps) if steps else None


def _best_k(cfg, n, ks, done) -> int:
    res = _results(cfg, n, ks, done)
    return min(res, key=lambda t: rank_key(*t))[0]


def best_run(items: Iterable[tuple[int, int, PlanResult]]) -> tuple[int, int, PlanResult]:
    """The fastest of (k, seed, result) triples by `rank_key`."""
    return min(items, key=lambda t: rank_key(*t))
