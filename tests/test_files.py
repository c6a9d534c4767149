"""Atomic JSON writes are standard JSON: no NaN or Infinity tokens."""

import json
import math

import numpy as np
import pytest

from rlnoise.files import atomic_write_json


def _strict(text: str):
    def reject(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def test_non_finite_numbers_are_written_as_null(tmp_path):
    path = tmp_path / "s.json"
    obj = {"b": [math.inf, 1.5, np.float32(np.nan)], "a": {"x": -math.inf, "n": np.int64(3)}}
    atomic_write_json(path, obj)
    back = _strict(path.read_text())
    assert back == {"a": {"n": 3, "x": None}, "b": [None, 1.5, None]}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp file left


def test_a_run_summary_is_standard_json(tmp_path):
    """An Acrobot run's summary held Infinity and NaN (B_simple where |G|^2 <= 0, the curve
    before a first game ended)."""
    from rlnoise.config import TrainConfig
    from rlnoise.train import start

    cfg = TrainConfig(env_id="Acrobot-v1", n_envs=2, n_steps=16, total_steps=64, progress=False,
                      run_dir=str(tmp_path / "r"))  # fmt: skip
    start(cfg).run()
    summary = _strict((tmp_path / "r" / "summary.json").read_text())
    assert summary["recent_mean_return"] is None and summary["curve"][0][2] is None


def test_unserialisable_objects_still_raise(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"a": object()})
