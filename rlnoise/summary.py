"""The record a finished run leaves in RUN_DIR/summary.json, and that studies read back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class RunSummary:
    """One run's outcome. `to_dict()` is exactly what summary.json holds (22 keys)."""

    run_dir: str
    env: str
    algo: str
    n_envs: int
    seed: int
    lr: float
    batch_size: int  # observations per update (n_envs x n_steps)
    updates: int
    global_step: int  # observations so far, over all sessions of the run
    episodes: int
    recent_mean_return: float | None  # mean over the last `episode_window` episodes
    episode_window: int
    wall_seconds: float  # over all sessions of the run
    sps: float | None  # this session's steps per second
    target: float | None
    target_update: int | None  # first update whose recent mean return reached the target
    target_step: int | None
    noise_groups: dict  # {"by": "envs" | "time", "sizes": observations per group}
    noise: dict  # per part, rlnoise.history.noise_summary of the measurements
    curve: list  # [global_step, update, recent mean return] per update
    noise_history: list  # one record per measurement
    env_spec: dict

    def to_dict(self) -> dict:
        """The summary.json mapping (no copies of the lists and dicts it holds)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> RunSummary:
        """Back from a summary.json mapping; keys it does not know (e.g. "status") are ignored."""
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})
