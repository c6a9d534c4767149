"""Noise-scale measurement inside training: env-group gradients -> B_simple per loss part.

The independent unit is one environment's rollout segment (docs/design.md, "Noise measurement"):
the n_envs environments
are split into K groups; each group's mean gradient over its (n_envs/K)*n_steps observations is
one small-batch gradient. With one environment the rollout is cut into K contiguous time chunks
(correlated: B_simple is then biased low). Gradients are raw (before clipping, no Adam
preconditioning) at the parameters that collected the data, with advantages normalized once over
the whole rollout.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from agents.algos import Algorithm
from agents.grads import LossFn, flat_grad, part_gradients
from agents.losses import total_loss, with_normalized_advantages
from agents.storage import Batch
from rlnoise.noise import (
    BNoiseEstimate,
    NoiseEstimate,
    NoiseScaleTracker,
    estimate_b_noise,
    estimate_from_groups,
)
from rlnoise.parts import REPORTED_PARTS


@dataclass
class Groups:
    """How a [T, N] rollout is split into K independent pieces."""

    by: str  # "envs" or "time"
    slices: list[slice]
    sizes: list[int]  # observations per group


def make_groups(n_steps: int, n_envs: int, k: int) -> Groups:
    """K groups of environments (as equal as possible); time chunks when n_envs == 1."""
    if n_envs >= 2:
        k = min(k, n_envs)
        bounds = np.linspace(0, n_envs, k + 1).round().astype(int)
        slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        return Groups("envs", slices, [(s.stop - s.start) * n_steps for s in slices])
    k = min(k, n_steps)
    bounds = np.linspace(0, n_steps, k + 1).round().astype(int)
    slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    return Groups("time", slices, [s.stop - s.start for s in slices])


@dataclass
class Measurement:
    estimates: dict[str, NoiseEstimate]  # policy, value, total
    total_grad: torch.Tensor  # size-weighted mean of the group total-loss gradients (= big batch)
    losses: dict[str, float]  # size-weighted mean of the group losses
    b_noise: BNoiseEstimate | None = None


def measurement_batch(batch: Batch, normalize_adv: bool) -> Batch:
    """The [T, N] rollout, with advantages normalized once over all of it if the algorithm
    normalizes them (per-minibatch normalization would make a group's loss no unbiased piece
    of the whole rollout's loss)."""
    return with_normalized_advantages(batch) if normalize_adv else batch


def measure(
    model: nn.Module,
    loss_fn: LossFn,
    batch: Batch,
    groups: Groups,
    vf_coef: float,
    ent_coef: float,
    b_noise: bool = False,
) -> Measurement:
    """Per-group gradients of each loss part on a [T, N] batch; estimates per part."""
    per_part: dict[str, list[torch.Tensor]] = {"policy": [], "value": [], "entropy": []}
    losses = {"policy": 0.0, "value": 0.0, "entropy": 0.0}
    weights = torch.tensor(groups.sizes, dtype=torch.float64) / sum(groups.sizes)
    for s, w in zip(groups.slices, weights.tolist()):
        sub = batch.envs(s) if groups.by == "envs" else batch.steps(s)
        grads, values = part_gradients(model, loss_fn, sub, return_losses=True)
        for name in per_part:
            per_part[name].append(grads[name])
            losses[name] += w * values[name]
    stacked = {name: torch.stack(g) for name, g in per_part.items()}
    stacked["total"] = total_loss(stacked, vf_coef, ent_coef)
    sizes = groups.sizes
    estimates = {p: estimate_from_groups(stacked[p], sizes) for p in REPORTED_PARTS}
    w = weights.to(stacked["total"].dtype).to(stacked["total"].device)
    total_grad = (w[:, None] * stacked["total"]).sum(0)
    bn = None
    if b_noise:
        bn = _b_noise(model, loss_fn, batch, stacked["total"], w, sizes, vf_coef, ent_coef)
    return Measurement(estimates, total_grad, losses, bn)


def _b_noise(
    model: nn.Module,
    loss_fn: LossFn,
    batch: Batch,
    group_grads: torch.Tensor,
    weights: torch.Tensor,
    sizes: list[int],
    vf_coef: float,
    ent_coef: float,
) -> BNoiseEstimate:
    """B_noise = tr(H Sigma) / (G^T H G) (eq. 2.8) with H the total loss's Hessian on the whole
    rollout, applied by double backward to each group gradient; quadratic forms g_k^T H g_k and
    gbar^T H gbar get the same small/big-batch bias correction as the norms in B_simple (A.1)."""
    params = [p for p in model.parameters() if p.requires_grad]
    parts = loss_fn(model, batch.flat())
    total = total_loss(parts, vf_coef, ent_coef)
    g_full = flat_grad(total, params, retain_graph=True, create_graph=True)
    hv = []
    for k in range(group_grads.shape[0]):
        v = group_grads[k].detach()
        hv.append(flat_grad(g_full @ v, params, retain_graph=True))
    hv_t = torch.stack(hv)  # [K, P], rows H g_k
    q_small = (hv_t * group_grads).sum(1).double()
    h_gbar = (weights[:, None] * hv_t).sum(0)
    g_bar = (weights[:, None] * group_grads).sum(0)
    q_big = float((h_gbar * g_bar).sum())
    return estimate_b_noise(q_small.tolist(), q_big, sizes)


class Sink(Protocol):
    def scalar(self, tag: str, value: float, step: int) -> None: ...


CALIBRATION_UPDATES = 3  # the adaptive cadence measures these first updates and times them


class NoiseMonitor:
    """B_simple during training: at theta_old on some updates, smooth each part's |G|^2 and
    tr(Sigma) with its own EMA tracker, log raw and smoothed values, and return one plain record
    per measurement for the run's history.

    Cadence. With `budget` 0 the monitor measures exactly every `every` updates. With a budget
    (the default for a run without --noise-every: 0.03) it is adaptive: it measures the first
    CALIBRATION_UPDATES updates, times each measurement against the update around it (the wall
    time between two `due` calls, less the measurement), and from then on measures every
    max(every, ceil(ratio / budget)) updates, ratio the median measurement/update cost. The
    cadence is decided once and kept in the state (a resumed run keeps it); training itself
    never depends on it, so same-seed runs differ only in which updates were measured. Every
    multiple of `b_noise_every` is measured too (with B_noise), whatever the cadence: until
    2026-11-28 B_noise was taken only where the two cadences met, so a run whose adaptive
    cadence had grown (a loaded machine) could get B_noise at update 0 alone."""

    def __init__(
        self,
        groups: Groups,
        decay: float,
        every: int,
        b_noise_every: int,
        enabled: bool = True,
        budget: float = 0.0,
    ) -> None:
        self.groups = groups
        self.trackers = {p: NoiseScaleTracker(decay) for p in REPORTED_PARTS}
        self.every, self.b_noise_every, self.enabled = every, b_noise_every, enabled
        self.budget = float(budget or 0.0)
        self.decided = self.budget <= 0  # the cadence is fixed from the start
        self.cost_ratios: list[float] = []
        self._last_due: float | None = None
        self._last_measure_s = 0.0

    def due(self, update: int) -> bool:
        """Whether to measure at `update`: on B_simple's cadence, and at every multiple of
        `b_noise_every` whatever that cadence is (B_noise rides on a measurement)."""
        if not self.enabled:
            return False
        b_noise_due = self.b_noise_every > 0 and update % self.b_noise_every == 0
        if self.decided:
            return update % self.every == 0 or b_noise_due
        now = time.perf_counter()
        if self._last_due is not None and self._last_measure_s > 0:
            rest = max(now - self._last_due - self._last_measure_s, 1e-9)
            self.cost_ratios.append(self._last_measure_s / rest)
        self._last_due, self._last_measure_s = now, 0.0
        if len(self.cost_ratios) >= CALIBRATION_UPDATES:
            ratio = statistics.median(self.cost_ratios)
            self.every = max(self.every, math.ceil(ratio / self.budget))
            self.decided = True
            return update % self.every == 0 or b_noise_due
        return True

    def measure(
        self,
        model: nn.Module,
        algo: Algorithm,
        rollout: Batch,
        update: int,
        step: int,
        metrics: Sink,
    ) -> tuple[Measurement, dict]:
        """Measure on the [T, N] rollout; returns the measurement and its history record."""
        t0 = time.perf_counter()
        batch = measurement_batch(rollout, normalize_adv=algo.norm_adv)
        want_b_noise = self.b_noise_every > 0 and update % self.b_noise_every == 0
        m = measure(
            model, algo.loss_parts, batch, self.groups, algo.vf_coef, algo.ent_coef, want_b_noise
        )
        self._last_measure_s = time.perf_counter() - t0
        return m, self._record(m, update, step, metrics)

    def _record(self, m: Measurement, update: int, step: int, metrics: Sink) -> dict:
        rec: dict = {"step": step, "update": update}
        for part, est in m.estimates.items():
            tr = self.trackers[part]
            tr.update(est.grad_sq, est.trace)
            rec[part] = {
                "grad_sq": est.grad_sq,
                "trace": est.trace,
                "b_simple": est.b_simple,
                "ema_b_simple": tr.b_simple,
            }
            for name in ("b_simple", "grad_sq", "trace"):
                metrics.scalar(f"noise_raw/{part}/{name}", getattr(est, name), step)
                metrics.scalar(f"noise/{part}/{name}", getattr(tr, name), step)
        if m.b_noise is not None:
            rec["b_noise"] = dataclasses.asdict(m.b_noise)
            metrics.scalar("noise/total/b_noise", m.b_noise.b_noise, step)
        return rec

    def state_dict(self) -> dict:
        st: dict = {p: tr.state_dict() for p, tr in self.trackers.items()}
        st["cadence"] = {"every": self.every, "decided": self.decided}
        return st

    def load_state_dict(self, state: dict) -> None:
        for p, tr in self.trackers.items():
            tr.load_state_dict(state[p])
        cad = state.get("cadence")
        if cad is not None:  # checkpoints before the adaptive cadence have none
            self.every, self.decided = int(cad["every"]), bool(cad["decided"])
