"""TensorBoard logging with the tags DESIGN §3 names, and a custom-scalars layout for noise."""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from rlnoise.measure import REPORTED_PARTS


def noise_layout() -> dict:
    """One chart with B_simple of every part; grad_sq and trace beside it."""
    parts = list(REPORTED_PARTS)
    return {
        "noise scale": {
            "B_simple (observations)": [
                "Multiline",
                [f"noise/{p}/b_simple" for p in parts] + ["noise/total/b_noise"],
            ],
            "|G|^2 estimate": ["Multiline", [f"noise/{p}/grad_sq" for p in parts]],
            "tr(Sigma) estimate": ["Multiline", [f"noise/{p}/trace" for p in parts]],
            "raw B_simple (per measurement)": [
                "Multiline",
                [f"noise_raw/{p}/b_simple" for p in parts],
            ],
        }
    }


def open_writer(run_dir: Path, purge_step: int | None) -> SummaryWriter:
    """A writer on the run directory; on resume, events after `purge_step` are discarded."""
    w = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
    if purge_step is None:
        w.add_custom_scalars(noise_layout())
    return w


def finite_or_none(x: float) -> float | None:
    return x if x == x and abs(x) != float("inf") else None
