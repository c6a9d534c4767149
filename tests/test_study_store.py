"""study.json and runs.csv: typed records that keep study.json's field names, load errors as
one-line user errors, and runs.csv as the example study has it."""

import dataclasses
import json
from pathlib import Path

import pytest

from rlnoise.study.config import StudyError
from rlnoise.study.store import Study, check_out_dir, load_study, runs_csv

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-study"


def test_the_example_study_loads_and_its_records_keep_every_field():
    doc = json.loads((EXAMPLE / "study.json").read_text())
    study = load_study(EXAMPLE)
    assert study.fitted and len(study.runs) == len(doc["runs"]) == 115
    assert [r.to_json() for r in study.runs] == doc["runs"]
    assert [f.to_json() for f in study.fits] == doc["fits"]
    assert study.top is study.fits[-1] and study.cfg.targets == (475.0,)


def test_runs_csv_is_the_one_the_example_study_wrote():
    assert runs_csv(load_study(EXAMPLE)) == (EXAMPLE / "runs.csv").read_text()


def test_records_ignore_fields_they_do_not_know_and_fill_optional_ones():
    doc = json.loads((EXAMPLE / "study.json").read_text())
    run = doc["runs"][0]
    del run["how"], run["session_seconds"]  # runs found finished on disk have neither
    run["from_a_newer_rlnoise"] = 1
    r = Study.from_doc(doc).runs[0]
    assert r.how is None and r.session_seconds is None and r.name == run["name"]


@pytest.mark.parametrize(
    "text, msg",
    [
        (None, "no study.json"),
        ("{", "cannot read"),
        ('{"format": "other"}', "is not an rlnoise study file"),
        ('{"format": "rlnoise-study/1", "config": {}, "runs": [{"name": "x"}]}',
         "is not a complete rlnoise study file"),
    ],
)  # fmt: skip
def test_a_bad_study_directory_is_a_user_error(tmp_path, text, msg):
    if text is not None:
        (tmp_path / "study.json").write_text(text)
    with pytest.raises(StudyError, match=msg):
        load_study(tmp_path)


def test_out_dir_checks(tmp_path):
    cfg = load_study(EXAMPLE).cfg
    assert check_out_dir(tmp_path / "new", cfg) is None
    assert check_out_dir(tmp_path, cfg) is None  # empty
    (tmp_path / "x").write_text("")
    with pytest.raises(StudyError, match="not empty"):
        check_out_dir(tmp_path, cfg)
    assert check_out_dir(EXAMPLE, cfg).cfg == cfg
    # more seeds grow the study (the runner adds them); fewer cannot drop its runs
    assert check_out_dir(EXAMPLE, dataclasses.replace(cfg, seeds=7)).cfg == cfg
    with pytest.raises(StudyError, match="with 5 seeds.*not shrink it to 4"):
        check_out_dir(EXAMPLE, dataclasses.replace(cfg, seeds=4))
    # a larger --seeds is not a difference: only what else differs is named, and how to grow
    with pytest.raises(StudyError) as e:
        check_out_dir(EXAMPLE, dataclasses.replace(cfg, seeds=7, max_steps=9))
    assert "(max_steps 600000 there, 9 here)" in str(e.value) and "seeds 5" not in str(e.value)
    assert "a larger --seeds with them grows it" in str(e.value)
    with pytest.raises(StudyError, match="max_steps 600000 there, 9 here; seeds 5 there, 4 here"):
        check_out_dir(EXAMPLE, dataclasses.replace(cfg, seeds=4, max_steps=9))
