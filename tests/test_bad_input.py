"""Bad input to `rlnoise train`, `study` and `report`: one line on stderr, exit status 2, and
nothing created or changed; a run directory is never shared with other files or left stuck."""

import dataclasses
import shutil
from pathlib import Path

import pytest

from agents.ppo import NonFiniteLossError
from rlnoise.checkpoint import CHECKPOINT_NAME
from rlnoise.cli import join_negative_values, main
from rlnoise.config import TrainConfig
from rlnoise.train import Trainer, TrainingInterrupted, start

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-study"


def _snapshot(root: Path) -> dict:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in root.rglob("*")
    }


def _refused(argv: list[str], capsys, needle: str, root: Path) -> None:
    """main(argv) exits 2 with one stderr line naming `needle`, leaving `root` as it was."""
    before = _snapshot(root)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err
    assert _snapshot(root) == before


def _train(run: Path, *extra: str) -> list[str]:
    return ["train", "--total-steps", "1024", "--logdir", str(run), "--no-progress", *extra]


TRAIN_BAD = [
    (["--num-minibatches", "0"], "--num-minibatches must be at least 1"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--gamma", "2"], "--gamma must be in (0, 1]"),
    (["--gamma", "0"], "--gamma must be in (0, 1]"),
    (["--gae-lambda", "1.5"], "--gae-lambda must be in [0, 1]"),
    (["--gae-lambda", "-0.1"], "--gae-lambda must be in [0, 1]"),
    (["--max-grad-norm", "-1"], "--max-grad-norm must be positive"),
    (["--noise-budget", "0"], "--noise-budget must be in (0, 1)"),
    (["--noise-budget", "1"], "--noise-budget must be in (0, 1)"),
    (["--torch-threads", "0"], "--torch-threads must be at least 1"),
    (["--no-noise", "--b-noise-every", "5"], "--b-noise-every needs the noise measurement"),
    (["--env", "Nope-v1"], "Nope-v1"),
    (["--backend", "zzz"], "zzz"),
]


@pytest.mark.parametrize("extra,needle", TRAIN_BAD)
def test_bad_train_flags_create_nothing(tmp_path, capsys, extra, needle):
    _refused(_train(tmp_path / "deep" / "run", *extra), capsys, needle, tmp_path)
    assert not (tmp_path / "deep").exists()


@pytest.mark.parametrize("name", ["study.json", "notes.txt"])
def test_train_refuses_a_non_empty_directory_that_is_not_a_run(tmp_path, capsys, name):
    d = tmp_path / "mine"
    d.mkdir()
    (d / name).write_text("the user's")
    _refused(_train(d), capsys, "not empty", tmp_path)


def test_train_may_use_an_existing_empty_directory(tmp_path, capsys):
    d = tmp_path / "empty"
    d.mkdir()
    argv = _train(d, "--n-envs", "2", "--n-steps", "64", "--total-steps", "128")
    assert main(argv) == 0
    assert (d / CHECKPOINT_NAME).is_file() and (d / "summary.json").is_file()


def _cfg(tmp_path: Path) -> TrainConfig:
    return TrainConfig(
        n_envs=2,
        n_steps=16,
        total_steps=2 * 16 * 4,
        run_dir=str(tmp_path / "run"),
        progress=False,
        noise_groups=2,
        checkpoint_every=100,
    )


@pytest.mark.parametrize("error", [KeyboardInterrupt, NonFiniteLossError])
def test_a_stop_before_any_checkpoint_says_so_and_the_dir_is_not_stuck(
    tmp_path, capsys, monkeypatch, error
):
    def fail(self, obs, metrics):
        raise error("loss is non-finite")

    monkeypatch.setattr(Trainer, "train_step", fail)
    cfg = _cfg(tmp_path)
    with pytest.raises((TrainingInterrupted, NonFiniteLossError)) as e:
        start(cfg).run()
    run = Path(cfg.run_dir)
    assert not (run / CHECKPOINT_NAME).exists()
    msg = str(e.value)
    assert "no checkpoint was written yet" in msg and "--resume" not in msg, msg
    assert "checkpoint is kept" not in msg
    capsys.readouterr()
    _refused(_train(run), capsys, "stopped before its first checkpoint", tmp_path)
    assert "--resume" not in capsys.readouterr().err


def test_the_api_start_removes_the_directories_it_made_when_it_fails(tmp_path):
    cfg = dataclasses.replace(_cfg(tmp_path), env_id="Nope-v1", run_dir=str(tmp_path / "a" / "b"))
    with pytest.raises(Exception, match="Nope-v1"):
        start(cfg)
    assert list(tmp_path.iterdir()) == []


def test_a_negative_list_where_one_number_goes_names_the_value(tmp_path, capsys):
    argv = ["study", "--env", "Acrobot-v1", "--target", "-100,-80", "--out", str(tmp_path / "S")]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid float value: '-100,-80'" in err, err
    assert not (tmp_path / "S").exists()


def test_negative_values_are_joined_to_their_flag():
    argv = [
        "study",
        "--n-envs",
        "-2,4",
        "--target",
        "-100",
        "--target=-5",
        "-x",
        "-3",
        "--no-noise",
    ]
    assert join_negative_values(argv) == [
        "study",
        "--n-envs=-2,4",
        "--target=-100",
        "--target=-5",
        "-x",
        "-3",
        "--no-noise",
    ]


def test_the_summary_line_says_n_a_before_any_episode_ended(capsys):
    from rlnoise.cli import _print_summary

    _print_summary(
        {
            "global_step": 8,
            "updates": 1,
            "episodes": 0,
            "recent_mean_return": None,
            "sps": None,
            "noise": {},
            "run_dir": "r",
        }
    )
    out = capsys.readouterr().out
    assert "recent mean return n/a" in out and "None" not in out


STUDY_BAD = [
    (["--n-steps", "0"], "--n-steps must be at least 1"),
    (["--threads-per-run", "0"], "--threads-per-run must be at least 1"),
    (["--max-steps", "-5"], "--max-steps -5"),
    (["--noise-every", "0"], "--noise-every must be at least 1"),
    (["--b-noise-every", "-1"], "--b-noise-every must be >= 0"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--budget-minutes", "0"], "--budget-minutes must be a positive"),
    (["--budget-minutes", "-1"], "--budget-minutes must be a positive"),
    (["--checkpoint-seconds", "-1"], "--checkpoint-seconds must be >= 0"),
    # argparse alone reads "-2,4" as an unknown option ("expected one argument")
    (["--n-envs", "-2,4"], "--n-envs values must be positive integers"),
]


@pytest.mark.parametrize("extra,needle", STUDY_BAD)
def test_bad_study_flags_exit_2_before_anything_runs(tmp_path, capsys, monkeypatch, extra, needle):
    from rlnoise.study import runner

    def would_run(*a):
        raise AssertionError("the study would run")

    monkeypatch.setattr(runner, "check_runnable", would_run)
    argv = ["study", "--n-envs", "2,4", "--seeds", "1", *extra, "--out", str(tmp_path / "S")]
    _refused(argv, capsys, needle, tmp_path)
    assert not (tmp_path / "S").exists()


def test_report_dir_refuses_out(tmp_path, capsys):
    d = tmp_path / "study"
    shutil.copytree(EXAMPLE, d)
    _refused(["report", str(d), "--out", str(tmp_path / "x.md")], capsys, "--compare", tmp_path)


@pytest.mark.parametrize("where", ["a directory", "no parent"])
def test_report_compare_refuses_an_out_it_cannot_write(tmp_path, capsys, where):
    out = tmp_path if where == "a directory" else tmp_path / "missing" / "y.md"
    argv = ["report", "--compare", str(EXAMPLE), str(EXAMPLE), "--out", str(out)]
    _refused(argv, capsys, f"--out {out}", tmp_path)
