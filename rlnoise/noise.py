"""Gradient noise scale estimators (McCandlish et al. 2018, arXiv 1812.06162).

The simple noise scale is B_simple = tr(Σ) / |G|² (eq. 2.9), with G the true gradient and Σ the
per-sample gradient covariance. Neither is observed directly; Appendix A.1 gives unbiased
estimates from gradients at two batch sizes, using E|G_B|² = |G|² + tr(Σ)/B. Both estimates are
noisy (|G|²_est is often negative), so average |G|²_est and tr(Σ)_est separately over many
measurements and divide the averages: never average the ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "BNoiseEstimate",
    "NoiseEstimate",
    "NoiseScaleAverage",
    "NoiseScaleTracker",
    "estimate_b_noise",
    "estimate_from_groups",
    "estimate_from_norms",
]


def _ratio(num: float, den: float) -> float:
    """num/den for a noise scale: nan if either is nan, inf when the signal den <= 0."""
    if math.isnan(num) or math.isnan(den):
        return math.nan
    if den <= 0.0:
        return math.inf
    return num / den


def _check_size(name: str, value: float) -> float:
    """Return value as float after checking it is a finite positive batch size."""
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite positive batch size, got {value!r}")
    return value


def _group_sizes(group_size: float | Sequence[float], n_groups: int) -> np.ndarray:
    """Per-group sample counts as a float64 array of length n_groups, validated."""
    if isinstance(group_size, (int, float, np.integer, np.floating)):
        return np.full(n_groups, _check_size("group_size", group_size), dtype=np.float64)
    sizes = [_check_size("group_size entry", b) for b in group_size]
    if len(sizes) != n_groups:
        raise ValueError(f"group_size has {len(sizes)} entries but there are {n_groups} groups")
    return np.asarray(sizes, dtype=np.float64)


def _bias_correct(spread: float, big: float, total: float, n_groups: int) -> tuple[float, float]:
    """(signal, noise) from spread = Σ_k w_k q_k − q_big, w_k = b_k/B (App. A.1, K groups).

    For any quadratic quantity q(g) with E[q(g_b)] = Q + T/b (|g|² gives |G|², tr Σ; gᵀHg gives
    GᵀHG, tr(HΣ)): E[Σ_k w_k q_k] = Q + K·T/B and E[q_big] = Q + T/B, so
    T_est = spread·B/(K−1) and Q_est = q_big − T_est/B are unbiased for any group sizes.
    """
    noise = spread * total / (n_groups - 1)
    signal = big - noise / total
    return signal, noise


@dataclass(frozen=True)
class NoiseEstimate:
    """One measurement of |G|², tr(Σ) and B_simple = tr(Σ)/|G|² (eq. 2.9) from K groups.

    b_simple is inf when grad_sq <= 0 (the signal estimate was non-positive: noise dominates
    at this batch size) and nan only if trace is nan. big_sq is |ḡ|² of the big-batch gradient;
    group_size is the mean group size B/K (equal to b when all groups have b samples).
    """

    grad_sq: float
    trace: float
    b_simple: float
    big_sq: float
    n_groups: int
    group_size: float


@dataclass(frozen=True)
class BNoiseEstimate:
    """One measurement of GᵀHG, tr(HΣ) and B_noise = tr(HΣ)/(GᵀHG) (eq. 2.8); inf if g_h_g <= 0."""

    g_h_g: float
    trace_h_sigma: float
    b_noise: float


def estimate_from_norms(
    small_sq: float, big_sq: float, b_small: float, b_big: float
) -> tuple[float, float]:
    """(grad_sq, trace) from |G_small|² and |G_big|² at b_small < b_big (App. A.1)."""
    b_small = _check_size("b_small", b_small)
    b_big = _check_size("b_big", b_big)
    if b_small >= b_big:
        raise ValueError(f"need b_small < b_big, got b_small={b_small:g}, b_big={b_big:g}")
    small_sq, big_sq = float(small_sq), float(big_sq)
    if not (math.isfinite(small_sq) and math.isfinite(big_sq)):
        raise ValueError(f"norms must be finite, got small_sq={small_sq!r}, big_sq={big_sq!r}")
    grad_sq = (b_big * big_sq - b_small * small_sq) / (b_big - b_small)
    trace = (small_sq - big_sq) / (1.0 / b_small - 1.0 / b_big)
    return grad_sq, trace


def estimate_from_groups(grads: torch.Tensor, group_size: float | Sequence[float]) -> NoiseEstimate:
    """|G|², tr(Σ), B_simple (eq. 2.9) from K >= 2 independent group mean gradients (App. A.1).

    grads is [K, P]; group_size is the common number of samples b per group, or a sequence of
    K sizes b_k. The big-batch gradient is the size-weighted mean ḡ = Σ_k b_k g_k / B with
    B = Σ_k b_k. With equal sizes this is trace = b·Σ_k |g_k − ḡ|²/(K−1) and
    grad_sq = |ḡ|² − trace/(K·b); unequal sizes use trace = Σ_k b_k |g_k − ḡ|²/(K−1), which is
    unbiased too. All sums are in float64. See NoiseEstimate for inf/nan in b_simple.
    """
    g = torch.as_tensor(grads).detach()
    if g.dim() != 2:
        raise ValueError(f"grads must be a 2-D tensor [K, P], got shape {tuple(g.shape)}")
    n_groups = int(g.shape[0])
    if n_groups < 2:
        raise ValueError(f"need at least 2 groups to estimate the noise scale, got {n_groups}")
    if g.shape[1] == 0:
        raise ValueError("grads has zero parameters (shape [K, 0])")
    sizes = _group_sizes(group_size, n_groups)
    total = float(sizes.sum())
    g = g.to(torch.float64)
    w = torch.from_numpy(sizes / total).to(g.device)
    g_big = w @ g
    dev = g - g_big
    # Σ_k w_k |g_k|² − |ḡ|² = Σ_k w_k |g_k − ḡ|² exactly, since Σ_k w_k (g_k − ḡ) = 0.
    spread, big_sq = torch.stack([w @ dev.square().sum(dim=1), g_big @ g_big]).tolist()
    if not (math.isfinite(spread) and math.isfinite(big_sq)):
        raise ValueError("grads contain nan or inf (or their squares overflow float64)")
    grad_sq, trace = _bias_correct(spread, big_sq, total, n_groups)
    return NoiseEstimate(
        grad_sq=grad_sq,
        trace=trace,
        b_simple=_ratio(trace, grad_sq),
        big_sq=big_sq,
        n_groups=n_groups,
        group_size=total / n_groups,
    )


def estimate_b_noise(
    g_h_g_small: Sequence[float], g_h_g_big: float, group_size: float | Sequence[float]
) -> BNoiseEstimate:
    """GᵀHG, tr(HΣ), B_noise (eq. 2.8) from per-group g_kᵀHg_k and the big batch's ḡᵀHḡ (A.1).

    ḡ must be the size-weighted mean of the g_k (as in estimate_from_groups). Uses
    E[g_kᵀHg_k] = GᵀHG + tr(HΣ)/b_k and E[ḡᵀHḡ] = GᵀHG + tr(HΣ)/B; b_noise is inf when the
    GᵀHG estimate is <= 0.
    """
    q = np.asarray([float(x) for x in g_h_g_small], dtype=np.float64)
    n_groups = int(q.size)
    if n_groups < 2:
        raise ValueError(f"need at least 2 groups to estimate the noise scale, got {n_groups}")
    q_big = float(g_h_g_big)
    if not (np.isfinite(q).all() and math.isfinite(q_big)):
        raise ValueError("quadratic forms contain nan or inf")
    sizes = _group_sizes(group_size, n_groups)
    total = float(sizes.sum())
    spread = math.fsum((sizes / total) * q) - q_big
    g_h_g, trace_h_sigma = _bias_correct(spread, q_big, total, n_groups)
    return BNoiseEstimate(
        g_h_g=g_h_g, trace_h_sigma=trace_h_sigma, b_noise=_ratio(trace_h_sigma, g_h_g)
    )


class _NoiseScaleMean:
    """Weighted running means of grad_sq and trace kept separately; B_simple = their ratio."""

    def __init__(self, decay: float) -> None:
        self.decay = float(decay)
        self._grad_sq = math.nan
        self._trace = math.nan
        self.n_updates = 0
        self.n_skipped = 0

    def _weight(self, n: int) -> float:
        """Weight of the n-th accepted update in the running mean (n >= 1)."""
        raise NotImplementedError

    def update(self, grad_sq: float, trace: float) -> float:
        """Add one (grad_sq, trace) estimate (non-finite ones are skipped); return b_simple."""
        grad_sq, trace = float(grad_sq), float(trace)
        if not (math.isfinite(grad_sq) and math.isfinite(trace)):
            self.n_skipped += 1
            return self.b_simple
        self.n_updates += 1
        a = self._weight(self.n_updates)
        if self.n_updates == 1:
            self._grad_sq, self._trace = grad_sq, trace
        else:
            self._grad_sq += a * (grad_sq - self._grad_sq)
            self._trace += a * (trace - self._trace)
        return self.b_simple

    @property
    def grad_sq(self) -> float:
        """Averaged |G|² estimate (nan before any update)."""
        return self._grad_sq

    @property
    def trace(self) -> float:
        """Averaged tr(Σ) estimate (nan before any update)."""
        return self._trace

    @property
    def b_simple(self) -> float:
        """trace/grad_sq of the averages (eq. 2.9); inf if averaged grad_sq <= 0, nan if empty."""
        return _ratio(self._trace, self._grad_sq)

    def state_dict(self) -> dict[str, float | int]:
        """Plain floats and ints for a checkpoint."""
        return {
            "decay": self.decay,
            "grad_sq": self._grad_sq,
            "trace": self._trace,
            "n_updates": self.n_updates,
            "n_skipped": self.n_skipped,
        }

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        """Restore from state_dict(); the decay must match this object's."""
        if float(state["decay"]) != self.decay:
            raise ValueError(f"state has decay {state['decay']!r}, this object has {self.decay!r}")
        self._grad_sq = float(state["grad_sq"])
        self._trace = float(state["trace"])
        self.n_updates = int(state["n_updates"])
        self.n_skipped = int(state["n_skipped"])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(decay={self.decay}, b_simple={self.b_simple:.4g}, "
            f"n_updates={self.n_updates}, n_skipped={self.n_skipped})"
        )


class NoiseScaleTracker(_NoiseScaleMean):
    """Bias-corrected exponential moving averages of grad_sq and trace (like Adam); B_simple.

    After n updates the averages equal ema/(1 − decay^n) with ema ← decay·ema + (1 − decay)·x,
    so the first value equals the first input. Negative grad_sq estimates are valid (unbiased)
    and are averaged; nan/inf inputs are skipped and counted in n_skipped.
    """

    def __init__(self, decay: float) -> None:
        decay = float(decay)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        super().__init__(decay)

    def _weight(self, n: int) -> float:
        """(1 − d)/(1 − d^n): the bias-corrected EMA written as a running update."""
        if self.decay == 0.0:
            return 1.0
        return (1.0 - self.decay) / -math.expm1(n * math.log(self.decay))


class NoiseScaleAverage(_NoiseScaleMean):
    """Plain means of grad_sq and trace over all updates (decay → 1 limit); run-average B_simple.

    This is the paper's run-averaged B_simple to compare with B_crit: average numerator and
    denominator over the run, then divide. Non-finite inputs are skipped (n_skipped).
    """

    def __init__(self) -> None:
        super().__init__(1.0)

    def _weight(self, n: int) -> float:
        """1/n: the cumulative mean."""
        return 1.0 / n
