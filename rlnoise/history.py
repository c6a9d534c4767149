"""What a run remembers across checkpoints: learning curve, noise trace, target, and summaries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median

import numpy as np

from rlnoise.parts import REPORTED_PARTS


@dataclass
class RunHistory:
    """Plain lists and numbers only, so it fits in a weights_only checkpoint and in JSON."""

    curve: list[list[float]] = field(default_factory=list)  # [global_step, update, mean_return]
    noise: list[dict] = field(default_factory=list)  # one record per measurement
    recent_returns: list[float] = field(default_factory=list)
    episodes: int = 0
    target_update: int | None = None  # first update at which the target was reached
    target_step: int | None = None

    def state_dict(self) -> dict:
        return {
            "curve": self.curve,
            "noise": self.noise,
            "recent_returns": self.recent_returns,
            "episodes": self.episodes,
            "target_update": -1 if self.target_update is None else self.target_update,
            "target_step": -1 if self.target_step is None else self.target_step,
        }

    @classmethod
    def from_state(cls, d: dict) -> RunHistory:
        h = cls(
            curve=list(d["curve"]),
            noise=list(d["noise"]),
            recent_returns=list(d["recent_returns"]),
            episodes=int(d["episodes"]),
        )
        h.target_update = None if d["target_update"] < 0 else int(d["target_update"])
        h.target_step = None if d["target_step"] < 0 else int(d["target_step"])
        return h


N_BOOT = 400  # run-level bootstrap resamples
CI = 0.9


def _ratio(trace: float, grad_sq: float) -> float:
    return trace / grad_sq if grad_sq > 0 else math.inf


def block_bootstrap_means(x: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Means over the rows of x [n, c] of a moving-block bootstrap of its rows: [n_boot, c].

    Consecutive measurements of one run are correlated (the parameters move little between
    updates), so rows are drawn in blocks of about n^(1/3)."""
    n = x.shape[0]
    block = max(1, round(n ** (1 / 3)))
    n_blocks = math.ceil(n / block)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(n_boot, -1)[:, :n]
    return x[idx].mean(axis=1)


def ratio_interval(trace: np.ndarray, grad_sq: np.ndarray, ci: float = CI) -> dict:
    """Pooled tr(Sigma)/|G|^2 over a run's measurements with a block-bootstrap interval.

    `value` is mean(trace)/mean(grad_sq). Where the pooled |G|^2 is <= 0 (noise swamps the
    signal) the value is a lower bound, `bound` = "lower": mean(trace) over the upper bootstrap
    quantile of mean(grad_sq) when that is positive, else mean(trace)/mean(|gbar|^2) (the
    big-batch norm, positive; its caller adds it as a third column when it knows the batch).
    `hi` is None where the upper quantile of the resampled |G|^2 is <= 0."""
    x = np.stack([trace, grad_sq], axis=1).astype(np.float64)
    t, g = float(x[:, 0].mean()), float(x[:, 1].mean())
    boot = block_bootstrap_means(x)
    bt, bg = boot[:, 0], boot[:, 1]
    vals = np.where(bg > 0, bt / np.where(bg > 0, bg, 1.0), np.inf)
    tail = 50.0 * (1.0 - ci)
    lo, hi = _quantiles(vals, [tail, 100.0 - tail])
    out = {"value": _ratio(t, g), "lo": _finite(lo), "hi": _finite(hi), "bound": None}
    if g <= 0:
        g_hi = _quantiles(bg, [100.0 - tail])[0]
        out["value"], out["bound"] = (t / g_hi if g_hi > 0 else math.inf), "lower"
        out["lo"], out["hi"] = out["value"], None
    return out


def _quantiles(x: np.ndarray, q: list[float]) -> list[float]:
    """Percentiles by rank (no interpolation, so inf values stay inf without warnings)."""
    xs = np.sort(x)
    return [float(xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]) for p in q]


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def noise_summary(records: list[dict], big_batch: int | None = None) -> dict[str, dict]:
    """Per part: B_simple from run-averaged grad_sq and trace (the paper's convention: average
    numerator and denominator, then divide) with a 90% block-bootstrap interval over the
    measurements (`run_avg_lo`, `run_avg_hi`; `run_avg_bound` "lower" where the pooled |G|^2
    was <= 0, see `ratio_interval`), the same over the last 10% of measurements, the median of
    the raw per-measurement ratios, and the final smoothed value. With `big_batch` (the
    observations of one measurement) a run whose pooled |G|^2 and its upper quantile are both
    <= 0 still gets a finite lower bound: mean tr(Sigma) / mean |gbar|^2, |gbar|^2 = |G|^2 +
    tr(Sigma)/big_batch."""
    out: dict[str, dict] = {}
    if not records:
        return out
    n_last = max(1, math.ceil(0.1 * len(records)))
    for part in REPORTED_PARTS:
        g = np.array([r[part]["grad_sq"] for r in records], dtype=np.float64)
        t = np.array([r[part]["trace"] for r in records], dtype=np.float64)
        raw = [_ratio(a, b) for a, b in zip(t.tolist(), g.tolist())]
        whole, last = ratio_interval(t, g), ratio_interval(t[-n_last:], g[-n_last:])
        for iv in (whole, last):
            if big_batch and iv["bound"] == "lower" and not math.isfinite(iv["value"]):
                gbar = g.mean() + t.mean() / big_batch
                iv["value"] = iv["lo"] = float(t.mean() / gbar) if gbar > 0 else math.inf
        out[part] = {
            "run_avg": whole["value"],
            "run_avg_lo": whole["lo"],
            "run_avg_hi": whole["hi"],
            "run_avg_bound": whole["bound"],
            "last10_avg": last["value"],
            "last10_lo": last["lo"],
            "last10_hi": last["hi"],
            "median_raw": median(raw),
            "ema_final": records[-1][part]["ema_b_simple"],
            "n_measurements": len(records),
        }
    bn = [r["b_noise"] for r in records if r.get("b_noise")]
    if bn:
        q = np.array([r["g_h_g"] for r in bn], dtype=np.float64)
        tr = np.array([r["trace_h_sigma"] for r in bn], dtype=np.float64)
        iv = ratio_interval(tr, q)
        out["total"]["b_noise_run_avg"] = iv["value"]
        out["total"]["b_noise_lo"], out["total"]["b_noise_hi"] = iv["lo"], iv["hi"]
        out["total"]["b_noise_n"] = len(bn)
    return out
