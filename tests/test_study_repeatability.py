"""benchmarks/study_repeatability.py on real study files: the example study and a relabelled
copy of it pooled as two studies with disjoint seeds."""

import json
import math
import shutil
from pathlib import Path

from benchmarks.study_repeatability import real
from rlnoise.study.analysis import front_cells
from rlnoise.study.front import fit_front
from rlnoise.study.store import load_study

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-study"


def _copy(tmp_path: Path, name: str, shift: int) -> Path:
    d = tmp_path / name
    shutil.copytree(EXAMPLE, d)
    doc = json.loads((d / "study.json").read_text())
    doc["config"]["seed_start"] += shift
    for r in doc["runs"]:
        r["seed"] += shift
    (d / "study.json").write_text(json.dumps(doc))
    return d


def test_pooled_copies_and_a_layout_with_fewer_sizes(tmp_path):
    dirs = [_copy(tmp_path, "a", 0), _copy(tmp_path, "b", 100)]
    full = real(dirs, sizes=[5], draws=3, n_boot=50, seed=0)
    assert len(full["seeds"]) == 10 and full["batch_sizes"] == [256 * 2**i for i in range(6)]
    # a study pooled with a relabelled copy of itself: every cell's values repeat, so the front
    # and B_crit stay the study's own (1,195 at 50 resamples) up to the Huber scale's
    # small-sample factor sqrt(n / (n - 1)), which changes with n
    own = fit_front(front_cells(load_study(EXAMPLE).runs, 475.0), n_boot=50).b_crit
    assert abs(math.log(full["pooled_b_crit"] / own)) < 0.05
    lo, _, hi = full["pooled_interval_90"]
    assert lo <= full["pooled_b_crit"] <= hi and full["run_seconds_per_seed"] > 0

    kept = [256, 1024, 4096]
    thin = real(dirs, sizes=[5], draws=3, n_boot=50, seed=0, batch_sizes=kept)
    assert thin["batch_sizes"] == kept
    assert thin["run_seconds_per_seed"] < full["run_seconds_per_seed"]
    assert set(thin["curvature_per_b"]) <= {str(b) for b in kept}
    assert thin["sizes"][0]["seeds_per_study"] == 5 and thin["sizes"][0]["draws"] == 3


def test_pairwise_compares_studies_as_the_goal_does(tmp_path):
    from benchmarks.study_repeatability import pairwise

    # the example and a relabelled copy: fitted again, the same B_crit and interval
    (same,) = pairwise([_copy(tmp_path, "a", 0), _copy(tmp_path, "b", 100)])
    assert same["abs_log_ratio"] == 0.0 and same["goal_met"] and same["seeds"] == [5, 5]
    lo, hi = same["intervals_90"][0]
    assert lo < same["b_crit"][0] < hi
