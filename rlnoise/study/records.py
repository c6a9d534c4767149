"""Typed records of a study, and their JSON form in study.json; torch-free.

A `RunRecord` is what the study keeps about one finished run; a `TargetFit` is the analysis of
one target: the `BatchRow`s (every lr tried at each batch size), the `FrontPoint`s (the fastest
run per batch size), the Pareto fit with its bootstrap `Interval`, and B_simple on the front.
`StudyResult` holds the headline fields of study.json. `to_json()` gives exactly the field names
study.json has always had; `from_json()` ignores fields it does not know (a newer rlnoise may
add some) and fills the few optional ones older files lack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, TypeVar

from rlnoise.study.plan import PlanResult


class PartNoise(TypedDict):
    """B_simple of one loss part over some window of a run's measurements (null: no signal)."""

    run_avg: float | None  # ratio of the run-averaged tr(Sigma) and |G|^2 estimates
    last10_avg: float | None  # the same over the last 10% of the measurements
    median_raw: float | None  # median of the per-measurement ratios
    n_measurements: int
    # 90% block-bootstrap intervals over the measurements (absent in older study.json);
    # run_avg_bound "lower": the pooled |G|^2 was <= 0 and run_avg is a lower bound
    run_avg_lo: NotRequired[float | None]
    run_avg_hi: NotRequired[float | None]
    run_avg_bound: NotRequired[str | None]
    last10_lo: NotRequired[float | None]
    last10_hi: NotRequired[float | None]


class NoiseSummary(TypedDict):
    policy: PartNoise
    value: PartNoise
    total: PartNoise
    b_noise: float | None  # B_noise of the total loss (with --b-noise-every)
    b_noise_n: int
    b_noise_lo: NotRequired[float | None]
    b_noise_hi: NotRequired[float | None]


class NoiseGroups(TypedDict):
    by: str | None  # "envs" or "time" (one environment)
    k: int  # number of groups


class NoiseTrace(TypedDict):
    columns: list[str]  # step, update, ema_b_simple_<part>...
    rows: list[list]


class FrontBSimple(TypedDict):
    """Medians over the front of each part's statistic (`<part>` is the run average)."""

    policy: float | None
    policy_last10_avg: float | None
    policy_median_raw: float | None
    value: float | None
    value_last10_avg: float | None
    value_median_raw: float | None
    total: float | None
    total_last10_avg: float | None
    total_median_raw: float | None
    policy_min: float | None
    policy_max: float | None


T = TypeVar("T")


def _build(cls: type[T], d: Mapping[str, Any], **nested: Any) -> T:
    """cls from the JSON fields it declares; `nested` replaces fields that hold records."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**({k: v for k, v in d.items() if k in names} | nested))


class _Json:
    """JSON form of a record: `to_json()` the dict study.json holds, `from_json()` back."""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: type[T], d: Mapping) -> T:  # records holding records override this
        return _build(cls, d)


def target_key(t: float) -> str:
    """A target as it appears in column names (runs.csv): 475, 12.5."""
    return f"{t:g}"


# ----------------------------------------------------------------------------- one run


@dataclass(kw_only=True)
class TargetCrossing(_Json):
    """When a run first reached one target, and its noise scale up to there."""

    target: float
    steps: int | None  # updates to the target; None if not reached
    samples: int | None  # steps * batch size (observations)
    noise: NoiseSummary  # measurements before `steps` (the whole run when not reached)


@dataclass(kw_only=True)
class RunRecord(_Json):
    """Everything a study keeps about one finished run (its summary.json keeps the rest)."""

    name: str
    n_envs: int
    seed: int
    batch_size: int
    lr: float
    k: int  # grid exponent
    lr_multiplier: float
    stage: int
    max_updates: int
    capped: bool
    status: str  # finished | diverged
    error: str | None
    updates: int | None
    global_step: int | None
    episodes: int | None
    wall_seconds: float | None
    final_return: float | None
    best_return: float | None
    window_full_update: int | None  # first update with a full episode window
    noise_groups: NoiseGroups
    run_dir: str  # relative to the study directory
    # the public fields (docs/design.md, "Public interface"), at the top target
    steps_to_target: int | None
    samples_to_target: int | None
    b_simple: float | None
    targets: list[TargetCrossing]  # one per target, lowest first
    noise_whole_run: NoiseSummary
    curve: list[list]  # [global_step, update, mean_return], thinned
    noise_trace: NoiseTrace
    how: str | None = None  # started | resumed | restarted | existing (None: found on disk)
    session_seconds: float | None = None
    resumed_at: int | None = None  # how == "resumed": the checkpoint's update it continued from

    def at(self, target: float) -> TargetCrossing:
        for x in self.targets:
            if x.target == target:
                return x
        raise KeyError(target)

    def plan_result(self) -> PlanResult:
        return PlanResult(self.steps_to_target, self.best_return)

    @classmethod
    def from_json(cls, d: Mapping) -> RunRecord:
        return _build(cls, d, targets=[TargetCrossing.from_json(x) for x in d["targets"]])


# ----------------------------------------------------------------------------- one target


@dataclass(kw_only=True)
class FrontPoint(_Json):
    """The fastest run at one batch size: one point of the steps-samples front."""

    name: str
    n_envs: int
    batch_size: int
    seed: int
    lr: float
    k: int
    steps: int
    samples: int
    noise: NoiseSummary  # up to the target
    noise_groups: NoiseGroups
    n_seeds_at_lr: int
    # robust front (absent in older study.json): steps is the smooth-fit minimum of the
    # robust (Huber) mean of log S over seeds (rlnoise.study.front), lr where it lies; lr_cell the nearest lr tried (its median run
    # is `name`), steps_sigma the bootstrap sd of log S that weights the fit
    lr_cell: float | None = None
    steps_sigma: float | None = None


@dataclass(kw_only=True)
class LrCell(_Json):
    """Every seed at one (batch size, lr)."""

    k: int
    lr: float
    steps_by_seed: list[int | None]
    capped: list[bool]
    max_updates: list[int]
    b_simple: float | None  # policy, median over seeds


@dataclass(kw_only=True)
class BatchRow(_Json):
    """Every run at one batch size, for one target."""

    batch_size: int
    n_envs: int
    n_runs: int
    n_reached: int
    by_lr: list[LrCell]
    best: str | None  # the front run's name; None if no run reached the target
    edge: str | None  # "top"/"bottom" when the best lr sat on the grid's edge

    @classmethod
    def from_json(cls, d: Mapping) -> BatchRow:
        return _build(cls, d, by_lr=[LrCell.from_json(x) for x in d["by_lr"]])


@dataclass(kw_only=True)
class Interval(_Json):
    """Percentile bootstrap interval of B_crit."""

    lo: float
    hi: float
    median: float
    n_ok: int
    n_failed: int
    ci: float
    degenerate: bool  # one run per batch size: nothing to resample


@dataclass(kw_only=True)
class TargetFit(_Json):
    """The analysis of one target: front, fit, interval, B_simple on the front, verdict."""

    target: float
    ok: bool
    error: str | None
    s_min: float | None
    e_min: float | None
    b_crit: float | None
    rmse_log: float | None
    interval: Interval | None
    front: list[FrontPoint]
    per_batch: list[BatchRow]
    b_simple: FrontBSimple
    ratio: float | None  # B_simple (policy) / B_crit
    verdict: str | None  # consistent | miss
    b_noise: float | None
    b_noise_ratio: float | None
    notes: list[str] = field(default_factory=list)
    predictors: list[dict] = field(default_factory=list)  # rlnoise.study.predictors
    predictor_verdict: list[str] = field(default_factory=list)

    def front_at(self, batch_size: int) -> FrontPoint | None:
        return next((f for f in self.front if f.batch_size == batch_size), None)

    @classmethod
    def from_json(cls, d: Mapping) -> TargetFit:
        iv = d.get("interval")
        return _build(
            cls,
            d,
            interval=None if iv is None else Interval.from_json(iv),
            front=[FrontPoint.from_json(x) for x in d["front"]],
            per_batch=[BatchRow.from_json(x) for x in d["per_batch"]],
        )


@dataclass(kw_only=True)
class StudyResult(_Json):
    """The headline fields of study.json (those of the top target) and every target's fit."""

    target: float
    b_crit: float | None
    s_min: float | None
    e_min: float | None
    b_crit_interval: list[float] | None
    b_simple: float | None
    ratio: float | None
    verdict: str | None
    fits: list[TargetFit]
    errors: list[str]
    predictors: list[dict] = field(default_factory=list)  # the top target's
