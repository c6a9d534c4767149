"""TensorBoard output: one metrics sink that every training scalar goes through, with the tags
docs/design.md names (Public interface), and a custom-scalars layout for the noise charts."""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from rlnoise.numbers import finite
from rlnoise.parts import REPORTED_PARTS


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


class MetricsSink:
    """Where training writes its scalars. NaN and infinite values are dropped (a B_simple whose
    |G|^2 estimate is negative has no finite value); everything else goes to TensorBoard."""

    def __init__(self, writer=None) -> None:
        self._writer = writer  # a SummaryWriter, or None to discard everything

    @classmethod
    def open(cls, run_dir: Path, purge_step: int | None) -> MetricsSink:
        """A sink writing to the run directory; on resume, events after `purge_step` are
        discarded (they belong to the part of the run that was lost)."""
        writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
        if purge_step is None:
            writer.add_custom_scalars(noise_layout())
        return cls(writer)

    @classmethod
    def null(cls) -> MetricsSink:
        """A sink that writes nothing (benchmarks, tests)."""
        return cls(None)

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None and finite(value) is not None:
            self._writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
