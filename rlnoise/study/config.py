"""What a study measures (`StudyConfig`), how it executes (`ExecOptions`), and its
learning-rate rules.

Batch size B = n_envs * n_steps observations. Learning-rate rules (B0 = the smallest B, base =
--lr or the algorithm's default):

- const:  lr(B) = base
- sqrt:   lr(B) = base * sqrt(B/B0)
- linear: lr(B) = base * min(B/B0, LINEAR_CAP)
- grid:   lr(B) = base * sqrt(B/B0) * 4**k for k in {-1, 0, +1}; where the fastest run at a B used
  the grid's lowest or highest lr, the grid at that B is widened by one more factor of 4 beyond
  that edge, at most MAX_WIDENINGS times (`rlnoise.study.plan`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from rlnoise.config import ALGO_DEFAULTS, ALGOS
from rlnoise.errors import UserError

LR_RULES = ("const", "sqrt", "linear", "grid")
BACKENDS = ("local", "ray")
GRID_FACTOR = 4.0  # ratio between neighbouring learning rates of the grid
GRID_BASE = (-1, 0, 1)  # exponents k of GRID_FACTOR around the sqrt rule
MAX_WIDENINGS = 2  # per batch size
CELL_STATS = ("min", "median")
LINEAR_CAP = 64.0  # the linear rule's lr stops growing at 64x the base lr


class StudyError(UserError):
    """Bad study input or a study that could not be fitted; reported as one line, exit 2."""


@dataclass(frozen=True)
class StudyConfig:
    """What a study measures. Two runs of `rlnoise study` on the same directory must agree on
    every field here; how it is executed (`ExecOptions`) may change between them."""

    env_id: str = "CartPole-v1"
    algo: str = "ppo"
    n_envs: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    seeds: int = 2  # seeds seed_start .. seed_start+seeds-1
    seed_start: int = 0
    targets: tuple[float, ...] = (475.0,)  # runs train to the highest
    max_steps: int = 300_000  # per run, observations
    lr_rule: str = "grid"
    lr: float = 2.5e-4  # base lr at the smallest batch size
    n_steps: int = 128
    noise_every: int | None = 1  # None: adaptive (rlnoise.measure.NoiseMonitor)
    noise_groups: int = 8
    b_noise_every: int = 0
    episode_window: int = 20
    anneal_lr: bool = False  # constant lr: annealing would tie the schedule to max_steps
    grid_factor: float = GRID_FACTOR
    grid_base: tuple[int, ...] = GRID_BASE
    max_widenings: int = MAX_WIDENINGS
    linear_cap: float = LINEAR_CAP
    cap_by_fastest: bool = True
    # How the planner ranks an lr at one batch size: "min" (its fastest seed; studies before
    # the robust front) or "median" (median steps over its seeds, not-reached runs ranked
    # last). Later stages are capped at cap_factor x the best lr's steps by that statistic.
    cell_stat: str = "min"
    cap_factor: float = 1.0
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
        kw.setdefault("cell_stat", "min")  # older study.json: planned by the fastest run
        kw.setdefault("cap_factor", 1.0)
        return cls(**kw)

    @property
    def seed_list(self) -> range:
        return range(self.seed_start, self.seed_start + self.seeds)


@dataclass(frozen=True)
class ExecOptions:
    """How a study executes; may differ between sessions of the same study."""

    backend: str = "local"
    # default: cores // threads_per_run (local), cluster CPUs (ray); "auto": rlnoise.study.budget
    workers: int | str | None = None
    ray_address: str | None = None
    threads_per_run: int = 1
    device: str = "cpu"
    budget_minutes: float | None = None  # shrink the plan to fit (rlnoise.study.budget)
    checkpoint_seconds: float = 60.0  # a study run saves a checkpoint this often (0: every update)


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
    if cfg.seed_start < 0:
        raise StudyError(f"--seed-start must be >= 0 (got {cfg.seed_start})")
    if cfg.cell_stat not in CELL_STATS:
        raise StudyError(f"cell_stat must be one of {', '.join(CELL_STATS)}")
    if not cfg.cap_factor >= 1.0:
        raise StudyError(f"cap_factor must be >= 1 (got {cfg.cap_factor})")
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
    if cfg.noise_every is not None and cfg.noise_every < 1:
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


def validate_exec(ex: ExecOptions) -> None:
    """Check the execution options. Raises StudyError."""
    if ex.threads_per_run < 1:
        raise StudyError(f"--threads-per-run must be at least 1 (got {ex.threads_per_run})")
    if ex.backend not in BACKENDS:
        raise StudyError(f"unknown --backend {ex.backend!r}; choose one of {', '.join(BACKENDS)}")
    if ex.ray_address and ex.backend != "ray":
        raise StudyError("--ray-address needs --backend ray")
    if ex.workers == "auto":
        if ex.backend != "local":
            raise StudyError("--workers auto is for the local backend; give Ray a number")
    elif ex.workers is not None and (not isinstance(ex.workers, int) or ex.workers < 1):
        raise StudyError(f"--workers must be at least 1 or auto (got {ex.workers})")
    b = ex.budget_minutes
    if b is not None and not (isinstance(b, (int, float)) and math.isfinite(b) and b > 0):
        raise StudyError(f"--budget-minutes must be a positive number of minutes (got {b})")
    if not (math.isfinite(ex.checkpoint_seconds) and ex.checkpoint_seconds >= 0):
        raise StudyError(f"--checkpoint-seconds must be >= 0 (got {ex.checkpoint_seconds})")


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


def lr_multiplier(cfg: StudyConfig, k: int) -> float:
    """The factor of grid exponent k over the sqrt rule (1 for the other rules)."""
    return cfg.grid_factor**k if cfg.lr_rule == "grid" else 1.0


def mult_str(m: float) -> str:
    """A multiplier as 4 or 1/4."""
    return f"1/{1 / m:g}" if m < 1 else f"{m:g}"


def describe_lr_rule(cfg: StudyConfig) -> str:
    base = f"base lr {cfg.lr:g} at the smallest batch B0 = {cfg.b0:,}"
    if cfg.lr_rule == "const":
        return f"const: lr = {cfg.lr:g} at every batch size"
    if cfg.lr_rule == "sqrt":
        return f"sqrt: lr = base * sqrt(B/B0), {base}"
    if cfg.lr_rule == "linear":
        return f"linear: lr = base * min(B/B0, {cfg.linear_cap:g}), {base}"
    mults = ", ".join(mult_str(cfg.grid_factor**k) for k in cfg.grid_base)
    return (
        f"grid: lr = base * sqrt(B/B0) * m for m in {{{mults}}}, {base}; where the fastest run "
        f"at a B used the grid's edge lr, one more x{cfg.grid_factor:g} step beyond that edge "
        f"is added, at most {cfg.max_widenings} times per B"
    )
