"""The metrics sink and the run summary record."""

import dataclasses
import math

from rlnoise.summary import RunSummary
from rlnoise.tblog import MetricsSink, noise_layout


class _Writer:
    def __init__(self):
        self.rows, self.closed = [], False

    def add_scalar(self, tag, value, step):
        self.rows.append((tag, value, step))

    def close(self):
        self.closed = True


def test_sink_drops_non_finite_values():
    w = _Writer()
    sink = MetricsSink(w)
    for v in (1.5, math.nan, math.inf, -math.inf, 0, -2):
        sink.scalar("noise/policy/b_simple", v, 7)
    assert w.rows == [("noise/policy/b_simple", v, 7) for v in (1.5, 0, -2)]
    sink.close()
    assert w.closed
    MetricsSink.null().scalar("charts/sps", 1.0, 0)  # writes nothing, raises nothing
    MetricsSink.null().close()


def test_sink_writes_events_and_layout(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sink = MetricsSink.open(tmp_path, purge_step=None)
    sink.scalar("charts/episodic_return", 12.0, 100)
    sink.scalar("charts/episodic_return", math.nan, 200)
    sink.close()
    acc = EventAccumulator(str(tmp_path)).Reload()
    assert [(e.step, e.value) for e in acc.Scalars("charts/episodic_return")] == [(100, 12.0)]
    assert acc.PluginTagToContent("custom_scalars")
    assert "noise/total/b_noise" in noise_layout()["noise scale"]["B_simple (observations)"][1]


SUMMARY_KEYS = [
    "run_dir", "env", "algo", "n_envs", "seed", "lr", "batch_size", "updates", "global_step",
    "episodes", "recent_mean_return", "episode_window", "wall_seconds", "sps", "target",
    "target_update", "target_step", "noise_groups", "noise", "curve", "noise_history", "env_spec",
]  # fmt: skip


def test_run_summary_keys_and_round_trip():
    s = RunSummary(**{k: i for i, k in enumerate(SUMMARY_KEYS)})
    d = s.to_dict()
    assert list(d) == SUMMARY_KEYS and len(d) == 22
    assert d == {k: i for i, k in enumerate(SUMMARY_KEYS)}
    assert RunSummary.from_dict(d | {"status": "diverged"}) == s  # unknown keys are ignored
    assert [f.name for f in dataclasses.fields(RunSummary)] == SUMMARY_KEYS
