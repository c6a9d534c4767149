"""Fake run summaries and run records for the study tests (no training)."""

from rlnoise.study.analysis import run_record
from rlnoise.study.config import StudyConfig, lr_for
from rlnoise.study.plan import RunSpec

CFG = StudyConfig(n_envs=(1, 4, 16), n_steps=128, seeds=2, lr=1e-3, max_steps=128 * 16 * 50)


def summary(n_updates, b, returns, grad_sq, trace, target_update=None, status=None) -> dict:
    """A summary.json of a run of `n_updates` at batch size b with one noise measurement per
    update (the same for every part)."""
    curve = [[b * u, u, returns[u - 1]] for u in range(1, n_updates + 1)]
    hist = []
    for u in range(n_updates):
        part = {"grad_sq": grad_sq[u], "trace": trace[u], "b_simple": trace[u] / grad_sq[u]}
        part["ema_b_simple"] = part["b_simple"]
        hist.append(
            {"step": b * (u + 1), "update": u, "policy": part, "value": part, "total": part}
        )
    s = {
        "updates": n_updates,
        "global_step": b * n_updates,
        "episodes": 100,
        "wall_seconds": 1.0,
        "recent_mean_return": returns[n_updates - 1],
        "target_update": target_update,
        "curve": curve,
        "noise_history": hist,
        "noise_groups": {"by": "envs", "sizes": [b // 4] * 4},
    }
    if status:
        s["status"] = status
    return s


def summary_for(cfg: StudyConfig, spec: RunSpec, steps: int | None, b_simple: float) -> dict:
    """A run that reaches the top target at update `steps` (never when None) with a constant
    B_simple."""
    m = steps or 20
    ret = [cfg.top_target + 1 if (steps and u >= steps) else 1.0 for u in range(1, m + 1)]
    return summary(m, spec.batch_size, ret, [1.0] * m, [float(b_simple)] * m, target_update=steps)


def records(cfg: StudyConfig, table: dict) -> list:
    """table: {(n_envs, k, seed): (steps_to_top or None, b_simple)} -> run records."""
    recs = []
    for (n, k, seed), (steps, bs) in table.items():
        spec = RunSpec(n, seed, k, lr_for(cfg, n, k), n * cfg.n_steps, 200, 0)
        recs.append(
            run_record(cfg, spec, summary_for(cfg, spec, steps, bs), 1, f"runs/{spec.name}")
        )
    return recs
