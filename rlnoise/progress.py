"""The console progress bar of a training run (tqdm), or a silent stand-in."""

from __future__ import annotations

import os

from tqdm import tqdm


class NoBar:
    """Counts like a tqdm bar and prints nothing (--no-progress)."""

    def __init__(self, initial: int = 0) -> None:
        self.n = initial

    def update(self, k: int) -> None:
        self.n += k

    def set_postfix(self, *a, **k) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(show: bool, total: int, initial: int):
    """A bar over `total` agent steps starting at `initial`; RLNOISE_NO_PROGRESS=1 hides it."""
    if not show:
        return NoBar(initial)
    return tqdm(
        total=total,
        initial=initial,
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
        disable=os.environ.get("RLNOISE_NO_PROGRESS") == "1",
    )
