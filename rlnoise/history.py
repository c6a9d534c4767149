"""What a run remembers across checkpoints: learning curve, noise trace, target, and summaries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median

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


def _ratio(trace: float, grad_sq: float) -> float:
    return trace / grad_sq if grad_sq > 0 else math.inf


def noise_summary(records: list[dict], key: str = "b_simple") -> dict[str, dict[str, float]]:
    """Per part: B_simple from run-averaged grad_sq and trace (the paper's convention: average
    numerator and denominator, then divide), the same over the last 10% of measurements, the
    median of the raw per-measurement ratios, and the final smoothed value."""
    out: dict[str, dict[str, float]] = {}
    if not records:
        return out
    n_last = max(1, math.ceil(0.1 * len(records)))
    for part in REPORTED_PARTS:
        g = [r[part]["grad_sq"] for r in records]
        t = [r[part]["trace"] for r in records]
        raw = [_ratio(a, b) for a, b in zip(t, g)]
        out[part] = {
            "run_avg": _ratio(sum(t) / len(t), sum(g) / len(g)),
            "last10_avg": _ratio(sum(t[-n_last:]) / n_last, sum(g[-n_last:]) / n_last),
            "median_raw": median(raw),
            "ema_final": records[-1][part]["ema_b_simple"],
            "n_measurements": len(records),
        }
    bn = [r["b_noise"] for r in records if r.get("b_noise")]
    if bn:
        q = sum(r["g_h_g"] for r in bn) / len(bn)
        tr = sum(r["trace_h_sigma"] for r in bn) / len(bn)
        out["total"]["b_noise_run_avg"] = _ratio(tr, q)
        out["total"]["b_noise_n"] = len(bn)
    return out
