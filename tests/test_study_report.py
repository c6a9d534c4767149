"""`rlnoise report DIR` on the example study: torch-free, and the same report it was written
with; the front table in both of its forms."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlnoise.study.report import front_table
from rlnoise.study.store import load_study

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "example-study"
ANALYSIS_FIELDS = ("fits", "b_crit", "s_min", "e_min", "b_crit_interval", "b_simple", "ratio",
                   "verdict", "errors")  # fmt: skip
REPORT_AND_PLOTS = ("report.md", "pareto.png", "noise.png", "speedup.png", "predictors.png")


@pytest.fixture
def example(tmp_path) -> Path:
    d = tmp_path / "example"
    shutil.copytree(EXAMPLE, d)
    for name in REPORT_AND_PLOTS:
        (d / name).unlink()
    return d


def _report_in_a_fresh_python(d: Path) -> subprocess.CompletedProcess:
    code = (
        "import sys\n"
        "from rlnoise.cli import main\n"
        f"rc = main(['report', {str(d)!r}])\n"
        "assert 'torch' not in sys.modules, 'rlnoise report imported torch'\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_report_never_imports_torch_and_rebuilds_the_same_report(example):
    res = _report_in_a_fresh_python(example)
    assert res.returncode == 0, res.stderr
    assert "B_crit = 1,188 observations" in res.stdout and "report:" in res.stdout
    assert (example / "report.md").read_bytes() == (EXAMPLE / "report.md").read_bytes()
    for name in REPORT_AND_PLOTS[1:]:
        assert (example / name).stat().st_size > 1000
    assert (example / "study.json").read_bytes() == (EXAMPLE / "study.json").read_bytes()


def test_report_of_a_study_without_a_fit_analyses_its_runs(example):
    """A stopped study has runs but no fit in study.json: the report fits them (the same
    numbers as the finished study), the terminal says study.json has no fit yet."""
    doc = json.loads((example / "study.json").read_text())
    for k in ANALYSIS_FIELDS:
        del doc[k]
    (example / "study.json").write_text(json.dumps(doc))
    res = _report_in_a_fresh_python(example)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("no fit yet")
    assert (example / "report.md").read_bytes() == (EXAMPLE / "report.md").read_bytes()


def test_front_table_as_text_and_as_markdown():
    fit = load_study(EXAMPLE).top
    text = front_table(fit, text=True)
    assert text[0] == "      B  envs        lr seed      S          E  B_simple"
    assert text[1] == "    256     2  2.89e-03    4  179.0     45,831     1,154"
    md = front_table(fit)
    assert md[0].startswith("| B | envs | groups | lr | seed | S | E |")
    assert md[1] == "|---:|---:|---|---:|---:|---:|---:|---|---|---:|---:|"
    assert md[2].startswith(
        "| 256 | 2 | K=2 by envs | 0.00289 | 4 | 179.0 | 45,831 | 196, 146, 174, 209, 195 |"
    )
    fit.per_batch[0].edge = "bottom"  # the best lr at the grid's edge is marked
    assert front_table(fit)[2].startswith("| 256 | 2 | K=2 by envs | 0.00289 (bottom edge) |")
    fit.front = fit.front[1:]  # B = 256 not reached
    assert front_table(fit, text=True)[1] == "    256     2                not reached"
    assert front_table(fit)[2] == "| 256 | 2 | | | | not reached | | | | | |"
    fit.per_batch[0].by_lr = []  # no run at B = 256 has finished (a stopped study)
    assert front_table(fit, text=True)[1] == "    256     2                no run finished"


def test_compare_writes_one_table_for_several_studies(example, tmp_path, capsys):
    from rlnoise.cli import main

    doc = json.loads((example / "study.json").read_text())
    doc["seeds_grown"] = [{"seeds_from": 5, "seeds_to": 9, "at": "t", "command": "grow it"}]
    (example / "study.json").write_text(json.dumps(doc))
    out = tmp_path / "findings.md"
    assert main(["report", "--compare", str(EXAMPLE), str(example), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count("| CartPole-v1 PPO") == 4  # two studies, two tables
    assert "B_simple at a common temperature lr/B" in text and "1,188 [" in text
    assert "Commands and machines" in text
    assert text.count(", then `grow it`;") == 1  # a grown study lists how it grew
    assert main(["report"]) == 2  # neither DIR nor --compare: one line, exit 2
    assert "needs a study directory" in capsys.readouterr().err


def test_reanalyse_rewrites_the_analysis_and_keeps_the_runs(example, capsys):
    from rlnoise.cli import main

    doc = json.loads((example / "study.json").read_text())
    runs, wall = doc["runs"], doc["wall_seconds"]
    doc["b_crit"] = doc["fits"][-1]["b_crit"] = 1.0  # as if an older rlnoise had fitted it
    (example / "study.json").write_text(json.dumps(doc))
    assert main(["report", str(example)]) == 0  # plain report: study.json as written
    assert "B_crit = 1 observations" in capsys.readouterr().out
    assert main(["report", str(example), "--reanalyse"]) == 0
    again = json.loads((example / "study.json").read_text())
    assert again["b_crit"] == pytest.approx(load_study(EXAMPLE).doc["b_crit"])
    assert again["runs"] == runs and again["wall_seconds"] == wall
    assert (example / "report.md").read_bytes() == (EXAMPLE / "report.md").read_bytes()
    capsys.readouterr()
    assert main(["report", "--compare", str(example), "--reanalyse"]) == 2
    del again["fits"]
    (example / "study.json").write_text(json.dumps(again))
    before = (example / "study.json").read_bytes()
    assert main(["report", str(example), "--reanalyse"]) == 2  # no finished analysis
    assert (example / "study.json").read_bytes() == before  # nothing destroyed
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 1 and "no finished analysis" in err


def test_a_loose_interval_says_a_repeat_may_land_outside_it_and_how_to_add_seeds():
    import dataclasses

    from rlnoise.study.report import verdict_lines

    study = load_study(EXAMPLE)  # 1,188 [957, 1,541]: 1.3x above B_crit
    hint = "a repeat with other seeds lands outside it about one time in four"
    assert any("factor 1.3 from B_crit, and " + hint in ln for ln in verdict_lines(study))
    tight = dataclasses.replace(study.top.interval, lo=1000.0, hi=1400.0)  # within 1.25x
    study.fits[-1] = dataclasses.replace(study.top, interval=tight)
    assert not any(hint in ln for ln in verdict_lines(study))


def test_a_predictor_below_one_observation_is_not_printed_as_zero():
    from rlnoise.study.report import predictor_line

    p = {
        "label": "B_noise",
        "value": 0.0129,
        "lo": 0.0128,
        "hi": 0.0131,
        "ratio": 1.7e-4,
        "ratio_lo": 1e-4,
        "ratio_hi": 3.4e-4,
        "within_2x": False,
    }
    line = predictor_line(p)
    assert line.startswith("B_noise = 0.013 [0.013, 0.013]; / B_crit = 0.00017"), line
    big = predictor_line({**p, "value": 1234.4, "lo": 1000.0, "hi": 1500.0})
    assert big.startswith("B_noise = 1,234 [1,000, 1,500]"), big


def test_compare_says_when_a_study_has_no_interval(example, tmp_path):
    """One seed per cell leaves nothing to resample: the table says so instead of printing a
    zero-width interval."""
    from rlnoise.cli import main

    doc = json.loads((example / "study.json").read_text())
    doc["runs"] = [r for r in doc["runs"] if r["seed"] == 0]
    doc["config"]["seeds"] = 1
    (example / "study.json").write_text(json.dumps(doc))
    out = tmp_path / "findings.md"
    assert main(["report", "--compare", str(EXAMPLE), str(example), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count("(no interval)") == 1 and "1,188 [957, 1,541]" in text


def test_a_widened_predictor_interval_is_said_to_be_widened():
    from rlnoise.study.report import predictor_table

    row = {"ratio": 0.5, "ratio_lo": 0.5, "ratio_hi": 2.0, "within_2x": True}
    rows = [
        {"label": "A", "value": 100.0, "lo": 100.0, "hi": 300.0, **row},
        {"label": "B", "value": 100.0, "lo": 50.0, "hi": 300.0, **row},
    ]
    table = predictor_table(rows)
    assert table[-1].startswith("Widened to include the estimate: A. ")
    assert not predictor_table(rows[1:])[-1].startswith("Widened")


def test_compare_lists_the_command_of_a_study_without_a_fit(example, tmp_path):
    from rlnoise.cli import main

    doc = json.loads((example / "study.json").read_text())
    doc["runs"] = [r for r in doc["runs"] if r["batch_size"] == 256]  # one batch size: no fit
    doc["command"] = "the one-size study"
    (example / "study.json").write_text(json.dumps(doc))
    out = tmp_path / "findings.md"
    assert main(["report", "--compare", str(EXAMPLE), str(example), "--out", str(out)]) == 0
    text = out.read_text()
    assert f"(`{example}`) | 475 | no fit |" in text
    assert f"- `{example}`: `the one-size study`;" in text
