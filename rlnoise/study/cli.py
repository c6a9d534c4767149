"""`rlnoise study` and `rlnoise report`: argument parsing and the two command handlers.

Only `rlnoise.cli` imports this module. Its top-level imports are torch-free, so that
`rlnoise report` never loads torch; `cmd_study` imports the runner (which trains) when it runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime
from pathlib import Path

from rlnoise.config import ALGO_DEFAULTS, ALGOS
from rlnoise.files import atomic_write_text
from rlnoise.study.analysis import analyse
from rlnoise.study.config import (
    BACKENDS,
    LR_RULES,
    ExecOptions,
    StudyConfig,
    StudyError,
    algo_default_lr,
    validate_exec,
)
from rlnoise.study.presets import (
    DEFAULT_PRESET,
    PRESETS,
    atari_env_id,
    atari_target,
    get_preset,
)
from rlnoise.study.report import REPORT_FILE, compare, front_table, rebuild, verdict_lines
from rlnoise.study.store import STUDY_FILE, Study, load_study, save_study, write_runs_csv

_STUDY_FLAGS = (  # (dest, flag) in the order the command line is echoed
    ("preset", "--preset"),
    ("env", "--env"),
    ("algo", "--algo"),
    ("n_envs", "--n-envs"),
    ("seeds", "--seeds"),
    ("seed_start", "--seed-start"),
    ("target", "--target"),
    ("max_steps", "--max-steps"),
    ("lr_rule", "--lr-rule"),
    ("lr", "--lr"),
    ("n_steps", "--n-steps"),
    ("noise_every", "--noise-every"),
    ("b_noise_every", "--b-noise-every"),
    ("backend", "--backend"),
    ("ray_address", "--ray-address"),
    ("workers", "--workers"),
    ("threads_per_run", "--threads-per-run"),
    ("budget_minutes", "--budget-minutes"),
    ("checkpoint_seconds", "--checkpoint-seconds"),
    ("device", "--device"),
    ("out", "--out"),
)


# Study fields no flag sets: taken from the preset when it has them.
_PRESET_ONLY = ("grid_factor", "max_widenings", "cell_stat", "cap_factor", "train")


def _add_exec_flags(p) -> None:
    """How a study executes (`ExecOptions`): may change between sessions of one study."""
    p.add_argument(
        "--backend", metavar="{local,ray}", help=f"where runs execute: {', '.join(BACKENDS)}"
    )
    p.add_argument(
        "--ray-address", metavar="ADDR", help="Ray cluster address (--backend ray); default local"
    )
    p.add_argument(
        "--workers",
        metavar="N|auto",
        help="runs in parallel (default cores // threads); auto: from the cores and, on CUDA, "
        "the measured SPS per run (the runs share the GPU and split the cores)",
    )
    p.add_argument(
        "--budget-minutes",
        type=float,
        metavar="M",
        help="calibrate, print the plan and its estimated time, and shrink the plan to fit M "
        "minutes (fewer seeds, then fewer env counts, then a lower step cap)",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=float,
        metavar="S",
        help="each run saves a checkpoint every S seconds of training (default 60; 0: every "
        "update); a killed study resumes its runs from there",
    )
    p.add_argument(
        "--threads-per-run", type=int, metavar="N", help="torch/env threads per run (default 1)"
    )
    p.add_argument("--device", metavar="DEV", help="auto, cpu or cuda (default from the preset)")


def add_study_parsers(sub) -> None:
    """Over 60 lines because it is a flat list of argparse flags (the public study/report
    interface), one call each."""
    p = sub.add_parser(
        "study",
        help="env-count scaling study: fit B_crit, compare it with B_simple",
        description="Train one run per (batch size, learning rate, seed) to a target return, "
        "fit the steps-samples trade-off (McCandlish et al. 2018, eq. 2.11) for B_crit, and "
        "compare it with the measured noise scale B_simple. With no arguments: the built-in "
        f"{DEFAULT_PRESET} study (sized for about 10 minutes on 2 cores; 7.5 min measured on a 2-core VM). Unset flags come from the "
        "preset. Rerun the same command with the same --out to continue a stopped study.",
    )
    p.add_argument(
        "--preset",
        metavar="NAME",
        help=f"built-in study: {', '.join(PRESETS)} (default {DEFAULT_PRESET})",
    )
    p.add_argument(
        "--env",
        metavar="ENV_ID",
        help="env id; with --preset atari-a2c a game name such as Breakout",
    )
    p.add_argument("--algo", metavar="{ppo,a2c}", help="algorithm (default from the preset)")
    p.add_argument("--n-envs", metavar="N1,N2,...", help="comma-separated env counts, e.g. 1,2,4,8")
    p.add_argument(
        "--seeds",
        type=int,
        metavar="K",
        help="seeds per (B, lr): N..N+K-1; with the --out of a finished or stopped study and its "
        "other flags, a larger K adds seeds to it (its runs are kept)",
    )
    p.add_argument(
        "--seed-start",
        type=int,
        metavar="N",
        help="first seed N (default 0); studies with disjoint seeds are independent repeats",
    )
    p.add_argument(
        "--target",
        type=float,
        action="append",
        metavar="R",
        help="target mean return of the last 20 episodes; repeat for several fronts",
    )
    p.add_argument("--max-steps", type=int, metavar="M", help="per run, in observations")
    p.add_argument("--lr-rule", metavar="RULE", help=f"lr per batch size: {', '.join(LR_RULES)}")
    p.add_argument("--lr", type=float, help="base lr at the smallest batch size")
    p.add_argument("--n-steps", type=int, metavar="T", help="rollout steps per env per update")
    p.add_argument("--noise-every", type=int, metavar="M", help="measure B_simple every M updates")
    p.add_argument(
        "--b-noise-every", type=int, metavar="M", help="also B_noise every M updates (0 = off)"
    )
    _add_exec_flags(p)
    p.add_argument(
        "--out", metavar="DIR", help="study directory (default runs/study-ENV-ALGO-TIME)"
    )
    r = sub.add_parser(
        "report",
        help="rebuild DIR/report.md and plots from DIR/study.json, or compare several studies",
    )
    r.add_argument("dir", nargs="?", help="a study directory")
    r.add_argument(
        "--compare",
        nargs="+",
        metavar="DIR",
        help="write one table of B_crit and every "
        "predictor for these study directories (to --out, else standard output)",
    )
    r.add_argument("--out", metavar="FILE", help="with --compare: the markdown file to write")
    r.add_argument(
        "--reanalyse",
        action="store_true",
        help="fit DIR's runs again with this rlnoise and rewrite the analysis in study.json "
        "(runs and timings untouched; for studies written by an older rlnoise)",
    )


def _n_envs(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise StudyError(
            f"--n-envs takes comma-separated integers like 1,2,4 (got {text!r})"
        ) from None
    return vals


def _workers(text: str | None) -> int | str | None:
    """--workers N or auto."""
    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise StudyError(f"--workers takes a number or auto (got {text!r})") from None


def _targets(args: argparse.Namespace, name: str, preset: dict, env: str) -> tuple[float, ...]:
    """--target, else the preset's (per game for atari-a2c) when the env is the preset's."""
    if args.target:
        return tuple(args.target)
    if name == "atari-a2c":
        t = atari_target(env)
        if t is None:
            raise StudyError(f"--target is required for {env} (no built-in target)")
        return (t,)
    if env == preset["env_id"]:
        return tuple(preset["targets"])
    raise StudyError(
        f"--target is required with --env {env} (the {name} preset's target is for "
        f"{preset['env_id']})"
    )


def config_from_args(args: argparse.Namespace) -> tuple[StudyConfig, ExecOptions]:
    """(StudyConfig, ExecOptions) from the parsed flags and the preset."""
    name = args.preset or DEFAULT_PRESET
    p = get_preset(name)
    ex_defaults = p.pop("exec")
    algo = args.algo or p["algo"]
    if algo not in ALGOS:
        raise StudyError(f"unknown --algo {algo!r}; choose one of {', '.join(ALGOS)}")
    env = args.env or p["env_id"]
    if name == "atari-a2c":
        env = atari_env_id(env)
    targets = _targets(args, name, p, env)
    same_algo = algo == p["algo"]
    lr = args.lr
    if lr is None:
        lr = p["lr"] if (same_algo and (env == p["env_id"] or name == "atari-a2c")) else None
        lr = lr if lr is not None else algo_default_lr(algo)
    n_steps = args.n_steps
    if n_steps is None:  # not `or`: a given 0 must reach validate_study and be refused
        n_steps = p["n_steps"] if same_algo else ALGO_DEFAULTS[algo]["n_steps"]
    cfg = StudyConfig(
        env_id=env,
        algo=algo,
        n_envs=_n_envs(args.n_envs) if args.n_envs is not None else tuple(p["n_envs"]),
        seeds=args.seeds if args.seeds is not None else p["seeds"],
        targets=targets,
        max_steps=args.max_steps if args.max_steps is not None else p["max_steps"],
        lr_rule=args.lr_rule or p["lr_rule"],
        lr=lr,
        n_steps=int(n_steps),  # type: ignore[call-overload]
        noise_every=args.noise_every if args.noise_every is not None else p["noise_every"],
        noise_groups=p["noise_groups"],
        b_noise_every=(
            args.b_noise_every if args.b_noise_every is not None else p.get("b_noise_every", 0)
        ),
        episode_window=p["episode_window"],
        preset=name,
        seed_start=args.seed_start or 0,
        **{k: p[k] for k in _PRESET_ONLY if k in p},
    )
    ex = ExecOptions(
        backend=args.backend or "local",
        workers=_workers(args.workers),
        ray_address=args.ray_address,
        threads_per_run=(
            args.threads_per_run
            if args.threads_per_run is not None
            else ex_defaults["threads_per_run"]
        ),
        budget_minutes=args.budget_minutes,
        device=args.device or ex_defaults["device"],
        **(
            {}
            if args.checkpoint_seconds is None
            else {"checkpoint_seconds": args.checkpoint_seconds}
        ),
    )
    validate_exec(ex)
    return cfg, ex


def command_line(args: argparse.Namespace) -> str:
    """The command as given (flags in a fixed order), for the report."""
    words = ["rlnoise", "study"]
    for dest, flag in _STUDY_FLAGS:
        v = getattr(args, dest, None)
        if v is None:
            continue
        for x in v if isinstance(v, list) else [v]:
            words += [flag, f"{x:g}" if isinstance(x, float) else str(x)]
    return shlex.join(words)


def default_out(cfg: StudyConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"study-{cfg.env_id.replace('/', '_')}-{cfg.algo}-{stamp}"


def cmd_study(args: argparse.Namespace) -> int:
    # The runner trains, so it imports torch: imported here, not at the top, so that
    # `rlnoise report` (which shares this module) stays torch-free.
    from rlnoise.study import runner

    cfg, ex = config_from_args(args)
    _check_preset_device(cfg, ex, args.device)
    out = Path(args.out) if args.out else default_out(cfg)
    cmd = command_line(args)
    if not args.out:
        cmd += f"  # out: {out}"
    try:
        study = runner.run_study(cfg, ex, out, cmd)
    except runner.StudyRunError as e:
        print(f"rlnoise: error: {e}", file=sys.stderr)
        return 1
    except runner.TrainingInterrupted as e:
        print(f"rlnoise: {e}", file=sys.stderr)
        return 130
    print(summary_table(study))
    for line in verdict_lines(study):
        print(line)
    print(f"report: {out / REPORT_FILE} (plots beside it; data in {out / STUDY_FILE})")
    return 0


def _check_preset_device(cfg: StudyConfig, ex: ExecOptions, asked: str | None) -> None:
    """A GPU preset on a machine without CUDA: refuse one that asks for CUDA (naming --device
    cpu, which the user did not get to choose), warn for one that would fall back to the CPU."""
    import torch  # the runner imports it anyway

    if torch.cuda.is_available() or asked is not None:
        return
    if ex.device == "cuda":
        raise StudyError(
            f"the {cfg.preset} preset trains on CUDA, which this machine does not have; "
            "--device cpu runs it on the CPU (at its full size for hours: small --n-envs, "
            "--seeds 1 and --max-steps make a dry run)"
        )
    if cfg.preset == "atari-a2c":
        print(
            "note: the atari-a2c preset is sized for a GPU machine and this one has no CUDA: "
            "on the CPU it takes many hours per game (--budget-minutes M shrinks it to fit M "
            "minutes, or says it cannot)",
            flush=True,
        )


def summary_table(study: Study) -> str:
    """The front of the top target as a fixed-width table."""
    fit = study.fits[-1]
    head = f"target {fit.target:g}: the front per batch size (S: smooth fit of the robust mean over seeds)"
    lines = [head, *front_table(fit, text=True)]
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    if args.compare:
        if args.dir:
            raise StudyError("give either DIR or --compare DIR..., not both")
        if args.reanalyse:
            raise StudyError("--compare always fits the studies again; --reanalyse is for one DIR")
        out = Path(args.out) if args.out else None
        if out is not None and (out.is_dir() or not out.parent.is_dir()):
            what = "is a directory" if out.is_dir() else "has no such parent directory"
            raise StudyError(f"--out {out} {what}; give a markdown file to write")
        text = compare([(d, _analysed(load_study(Path(d)))) for d in args.compare])
        if out is not None:
            try:
                atomic_write_text(out, text)
            except OSError as e:
                raise StudyError(f"cannot write --out {out}: {e.strerror}") from None
            print(f"comparison: {out}")
        else:
            print(text, end="")
        return 0
    if not args.dir:
        raise StudyError("rlnoise report needs a study directory (or --compare DIR...)")
    if args.out:
        raise StudyError(
            f"--out is only for --compare; rlnoise report DIR writes DIR/{REPORT_FILE}"
        )
    study = load_study(Path(args.dir))
    if args.reanalyse:
        if not study.fitted:
            raise StudyError(f"{args.dir} has no finished analysis to redo; rerun its study")
        study = _analysed(study)
        save_study(Path(args.dir), study.doc, study.runs, study.doc.get("wall_seconds") or 0.0)
        write_runs_csv(Path(args.dir), study)
    path = rebuild(Path(args.dir), study)
    for line in verdict_lines(study):  # as study.json has it ("no fit yet" before the end)
        print(line)
    print(f"report: {path}")
    return 0


def _analysed(study: Study) -> Study:
    """The study analysed again by this rlnoise (so that studies written by older versions
    get the same robust front and predictors as new ones)."""
    return study.with_result(analyse(study.cfg, study.runs))


STUDY_COMMANDS = {"study": cmd_study, "report": cmd_report}
