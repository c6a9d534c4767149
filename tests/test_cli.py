"""The command line's error contract and the package layout's import rules."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from envs.errors import EnvError
from rlnoise.checkpoint import CheckpointError
from rlnoise.cli import main
from rlnoise.config import ConfigError
from rlnoise.errors import USER_ERRORS, UserError
from rlnoise.study import cli as study_cli
from rlnoise.study.config import StudyError

REPO = Path(__file__).resolve().parents[1]
TORCH_FREE = (  # what `rlnoise report` and `rlnoise --help` load
    "rlnoise.cli", "rlnoise.study.cli", "rlnoise.study.report", "rlnoise.study.plots",
    "rlnoise.study.store", "rlnoise.study.records", "rlnoise.study.analysis",
    "rlnoise.study.plan", "rlnoise.study.config", "rlnoise.study.presets", "rlnoise.history",
    "rlnoise.parts", "rlnoise.numbers", "rlnoise.files", "rlnoise.pareto", "rlnoise.errors",
)  # fmt: skip


@pytest.mark.parametrize("cls", [StudyError, ConfigError, CheckpointError, EnvError])
def test_bad_input_errors_are_user_errors(cls):
    assert issubclass(cls, USER_ERRORS)


def test_a_user_error_is_one_line_and_exit_2(monkeypatch, capsys):
    def bad(out):
        raise StudyError("first line\nsecond line")

    monkeypatch.setattr(study_cli, "load_study", bad)
    assert main(["report", "somewhere"]) == 2
    assert capsys.readouterr().err == "rlnoise: error: first line\n"


def test_any_other_error_keeps_its_traceback(monkeypatch):
    def bug(out):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(study_cli, "load_study", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["report", "somewhere"])
    assert not issubclass(ValueError, UserError)


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["study", "--seeds", "many"])
    assert e.value.code == 2 and "\n" not in capsys.readouterr().err.strip()


def test_the_report_path_imports_no_torch():
    code = f"import sys\nfor m in {TORCH_FREE!r}: __import__(m)\nprint('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.stdout.strip() == "False", res.stderr


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_dependencies_flow_one_way():
    """agents and envs never import rlnoise; only rlnoise.cli imports the study package."""
    for pkg in ("agents", "envs"):
        for f in (REPO / pkg).rglob("*.py"):
            bad = {m for m in _imports(f) if m.split(".")[0] == "rlnoise"}
            assert not bad, f"{f.relative_to(REPO)} imports {bad}"
    study = REPO / "rlnoise" / "study"
    for f in (REPO / "rlnoise").rglob("*.py"):
        if study in f.parents or f.name == "cli.py" and f.parent.name == "rlnoise":
            continue
        bad = {m for m in _imports(f) if m.startswith("rlnoise.study")}
        assert not bad, f"{f.relative_to(REPO)} imports {bad}"


@pytest.mark.parametrize(
    "extra, cadence",
    [
        ([], "noise: K=2 groups by envs, adaptive (at most 3% of wall time"),
        (
            ["--noise-every", "4", "--b-noise-every", "2"],
            "by envs, every 4 updates, B_noise every 2",
        ),
    ],
)
def test_the_start_line_names_the_noise_cadence(tmp_path, capsys, extra, cadence):
    args = ["train", "--env", "Acrobot-v1", "--n-envs", "2", "--n-steps", "16"]
    args += ["--total-steps", "32", "--no-progress", "--logdir", str(tmp_path / "r"), *extra]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert cadence in out, out.splitlines()[0]
    assert "recent mean return n/a" in out  # no Acrobot game ends in 16 random steps
