"""`rlnoise study` and `rlnoise report`: argument parsing and the two command handlers."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime
from pathlib import Path

from rlnoise.study import BACKENDS, LR_RULES, StudyConfig, StudyError, algo_default_lr

_STUDY_FLAGS = (  # (dest, flag) in the order the command line is echoed
    ("preset", "--preset"),
    ("env", "--env"),
    ("algo", "--algo"),
    ("n_envs", "--n-envs"),
    ("seeds", "--seeds"),
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
    ("device", "--device"),
    ("out", "--out"),
)


def add_study_parsers(sub) -> None:
    from rlnoise.presets import DEFAULT_PRESET, PRESETS

    p = sub.add_parser(
        "study",
        help="env-count scaling study: fit B_crit, compare it with B_simple",
        description="Train one run per (batch size, learning rate, seed) to a target return, "
        "fit the steps-samples trade-off (McCandlish et al. 2018, eq. 2.11) for B_crit, and "
        "compare it with the measured noise scale B_simple. With no arguments: the built-in "
        f"{DEFAULT_PRESET} study (about 10 minutes on 2 cores). Unset flags come from the "
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
    p.add_argument("--seeds", type=int, metavar="K", help="seeds 0..K-1 per (B, lr)")
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
    p.add_argument(
        "--backend", metavar="{local,ray}", help=f"where runs execute: {', '.join(BACKENDS)}"
    )
    p.add_argument(
        "--ray-address", metavar="ADDR", help="Ray cluster address (--backend ray); default local"
    )
    p.add_argument(
        "--workers", type=int, metavar="N", help="runs in parallel (default cores // threads)"
    )
    p.add_argument(
        "--threads-per-run", type=int, metavar="N", help="torch/env threads per run (default 1)"
    )
    p.add_argument("--device", metavar="DEV", help="auto, cpu or cuda (default from the preset)")
    p.add_argument(
        "--out", metavar="DIR", help="study directory (default runs/study-ENV-ALGO-TIME)"
    )
    r = sub.add_parser("report", help="rebuild DIR/report.md and plots from DIR/study.json")
    r.add_argument("dir", help="a study directory")


def _n_envs(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise StudyError(
            f"--n-envs takes comma-separated integers like 1,2,4 (got {text!r})"
        ) from None
    return vals


def config_from_args(args: argparse.Namespace):
    """(StudyConfig, ExecOptions) from the parsed flags and the preset."""
    from rlnoise.config import ALGO_DEFAULTS, ALGOS
    from rlnoise.presets import DEFAULT_PRESET, atari_env_id, atari_target, get_preset
    from rlnoise.study_runner import ExecOptions

    name = args.preset or DEFAULT_PRESET
    p = get_preset(name)
    ex_defaults = p.pop("exec")
    algo = args.algo or p["algo"]
    if algo not in ALGOS:
        raise StudyError(f"unknown --algo {algo!r}; choose one of {', '.join(ALGOS)}")
    env = args.env or p["env_id"]
    if name == "atari-a2c":
        env = atari_env_id(env)
    same_env = env == p["env_id"]
    targets = tuple(args.target) if args.target else None
    if targets is None:
        if name == "atari-a2c":
            t = atari_target(env)
            if t is None:
                raise StudyError(f"--target is required for {env} (no built-in target)")
            targets = (t,)
        elif same_env:
            targets = tuple(p["targets"])
        else:
            raise StudyError(
                f"--target is required with --env {env} (the {name} preset's target is for "
                f"{p['env_id']})"
            )
    same_algo = algo == p["algo"]
    lr = args.lr
    if lr is None:
        lr = p["lr"] if (same_algo and (same_env or name == "atari-a2c")) else None
        lr = lr if lr is not None else algo_default_lr(algo)
    n_steps = args.n_steps or (p["n_steps"] if same_algo else ALGO_DEFAULTS[algo]["n_steps"])
    cfg = StudyConfig(
        env_id=env,
        algo=algo,
        n_envs=_n_envs(args.n_envs) if args.n_envs is not None else tuple(p["n_envs"]),
        seeds=args.seeds if args.seeds is not None else p["seeds"],
        targets=targets,
        max_steps=args.max_steps if args.max_steps is not None else p["max_steps"],
        lr_rule=args.lr_rule or p["lr_rule"],
        lr=lr,
        n_steps=int(n_steps),
        noise_every=args.noise_every if args.noise_every is not None else p["noise_every"],
        noise_groups=p["noise_groups"],
        b_noise_every=args.b_noise_every or 0,
        episode_window=p["episode_window"],
        preset=name,
    )
    threads = args.threads_per_run or ex_defaults["threads_per_run"]
    if threads < 1:
        raise StudyError(f"--threads-per-run must be at least 1 (got {threads})")
    backend = args.backend or "local"
    if backend not in BACKENDS:
        raise StudyError(f"unknown --backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if args.ray_address and backend != "ray":
        raise StudyError("--ray-address needs --backend ray")
    ex = ExecOptions(
        backend=backend,
        workers=args.workers,
        ray_address=args.ray_address,
        threads_per_run=threads,
        device=args.device or ex_defaults["device"],
    )
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
    from rlnoise.report import verdict_lines
    from rlnoise.study_runner import StudyRunError, run_study

    cfg, ex = config_from_args(args)
    out = Path(args.out) if args.out else default_out(cfg)
    cmd = command_line(args)
    if not args.out:
        cmd += f"  # out: {out}"
    try:
        doc = run_study(cfg, ex, out, cmd)
    except StudyRunError as e:
        print(f"rlnoise: error: {e}", file=sys.stderr)
        return 1
    print(summary_table(doc))
    for line in verdict_lines(doc):
        print(line)
    print(f"report: {out / 'report.md'} (plots beside it; data in {out / 'study.json'})")
    return 0


def summary_table(doc: dict) -> str:
    """The front of the top target as a fixed-width table."""
    fit = doc["fits"][-1]
    lines = [
        f"target {fit['target']:g}: fastest run per batch size",
        f"{'B':>7} {'envs':>5} {'lr':>9} {'seed':>4} {'S':>6} {'E':>10} {'B_simple':>9}",
    ]
    front = {f["batch_size"]: f for f in fit["front"]}
    for row in fit["per_batch"]:
        f = front.get(row["batch_size"])
        if f is None:
            lines.append(f"{row['batch_size']:>7,} {row['n_envs']:>5} {'':>9} {'':>4} not reached")
            continue
        bs = f["noise"]["policy"]["run_avg"]
        lines.append(
            f"{f['batch_size']:>7,} {f['n_envs']:>5} {f['lr']:>9.2e} {f['seed']:>4} "
            f"{f['steps']:>6,} {f['samples']:>10,} {'n/a' if bs is None else f'{bs:,.0f}':>9}"
        )
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    from rlnoise.report import rebuild, verdict_lines
    from rlnoise.study_runner import load_study

    path = rebuild(Path(args.dir))
    for line in verdict_lines(load_study(Path(args.dir))):
        print(line)
    print(f"report: {path}")
    return 0


STUDY_COMMANDS = {"study": cmd_study, "report": cmd_report}
