"""`rlnoise` command line: train, evaluate, study, report.

The error contract (docs/design.md, "Errors"): a user error (`rlnoise.errors.USER_ERRORS`) becomes one
line on stderr and exit status 2; any other exception keeps its traceback. The top-level imports
are torch-free so that `rlnoise report` never loads torch: the commands that train or evaluate
import their modules when they run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import typing

from rlnoise.config import ConfigError, TrainConfig
from rlnoise.errors import USER_ERRORS
from rlnoise.study.cli import STUDY_COMMANDS, add_study_parsers

_SKIP = {"extra", "run_dir"}
_ALGO_DEP = {"lr", "n_steps", "vf_coef", "norm_adv", "gae_lambda", "noise_every"}
_HELP = {
    "env_id": "environment id, e.g. ALE/Pong-v5, CartPole-v1, MinAtar/Breakout-v1",
    "algo": "ppo or a2c",
    "n_envs": "parallel environments",
    "total_steps": "agent steps (observations; x4 for emulator frames on Atari)",
    "lr": "learning rate (default: PPO 2.5e-4, A2C 7e-4)",
    "device": "auto, cpu or cuda",
    "noise": "measure the gradient noise scale (--no-noise turns it off)",
    "noise_every": "measure exactly every M updates (default: adaptive, see --noise-budget)",
    "noise_budget": "adaptive cadence: at most this share of wall time (default 0.03)",
    "noise_groups": "K independent env groups for B_simple (time chunks at 1 env)",
    "noise_decay": "EMA decay of grad_sq and trace per measurement",
    "gae_lambda": "GAE lambda (default: PPO 0.95; A2C n-step returns unless set)",
    "n_steps": "rollout length per env (default: PPO 128, A2C 5)",
    "target_return": "stop when the mean return of the last --episode-window games reaches it",
    "backend": "auto, ale, envpool, gymnasium, minatar (the original) or torch (MinAtar on the device; MinAtar's default)",
    "protocol": "Atari protocol: cleanrl (v4-style) or machado",
    "b_noise_every": "estimate B_noise with Hessian-vector products every M updates (0 = off)",
    "precision": "auto (bf16 on CUDA with bf16 and on AMX CPUs, else fp32), fp32 or bf16 (autocast in PPO's update)",
    "channels_last": "NHWC convolutions for Atari frames (default on)",
    "rollout": "auto, sync or double (two env halves: one half's emulators step while the policy acts on the other; auto picks by device, backend and cores)",
    "cuda_graph": "replay the acting forward from a CUDA graph (needs --device cuda)",
    "torch_threads": "torch intra-op threads (default: 1 on CUDA and for CartPole-style and "
    "MinAtar networks on a CPU, torch's own for Atari frames on a CPU)",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line on stderr with exit status 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(name: str) -> str:
    return "--" + {"env_id": "env"}.get(name, name).replace("_", "-")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in _SKIP:
            continue
        hint = hints[f.name]
        args = typing.get_args(hint)
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = "algo default" if default is None and f.name in _ALGO_DEP else default
        text = _HELP.get(f.name, "")
        if "default" not in text:
            text = f"{text} (default: {shown})".strip()
        kw: dict = {"dest": f.name, "default": None, "help": text}
        if base is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = base
            kw["metavar"] = f.name.upper().split("_")[-1]
        p.add_argument(_flag(f.name), **kw)
    p.add_argument("--logdir", dest="run_dir", default=None, help="run directory")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rlnoise",
        description="RL scaling testbed: train PPO/A2C, measure the gradient noise scale, "
        "fit B_crit from env-count studies.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train one agent (or --resume RUN_DIR)")
    _add_config_flags(t)
    t.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a stopped run")
    e = sub.add_parser("evaluate", help="evaluate a saved policy on whole games")
    e.add_argument("run_dir")
    e.add_argument(
        "--episodes",
        type=int,
        default=10,
        help="whole games, spread evenly over up to 8 envs (default: 10)",
    )
    e.add_argument("--seed", type=int, default=12345, help="(default: 12345)")
    e.add_argument("--greedy", action="store_true", help="argmax actions instead of sampling")
    add_study_parsers(sub)
    return parser


def _describe(cfg: TrainConfig, trainer) -> str:
    g = trainer.groups
    cadence = (
        f"every {cfg.noise_every} updates"
        if not cfg.noise_budget
        else f"adaptive (at most {cfg.noise_budget:.0%} of wall time, decided from the first "
        "updates' timings)"
    )
    if cfg.noise and cfg.b_noise_every:
        cadence += f", B_noise every {cfg.b_noise_every}"
    noise = f"noise: K={len(g.sizes)} groups by {g.by}, {cadence}" if cfg.noise else "noise: off"
    return (
        f"rlnoise train: {cfg.algo.upper()} on {cfg.env_id} ({trainer.env.spec_info.get('backend')})"
        f", {cfg.n_envs} envs x {cfg.n_steps} steps = batch {cfg.batch_size} observations, "
        f"{trainer.num_updates} updates to {trainer.num_updates * cfg.batch_size:,} steps, "
        f"lr {cfg.lr:g}{' annealed' if cfg.anneal_lr else ''}, device {trainer.device}, "
        f"seed {cfg.seed}; {noise}\n  run dir: {trainer.run_dir}"
    )


def cmd_train(args: argparse.Namespace) -> int:
    # torch-heavy: imported here so that `rlnoise report` stays torch-free (see the docstring)
    from agents.ppo import NonFiniteLossError
    from rlnoise import train as T

    given = {k: v for k, v in vars(args).items() if v is not None}
    given.pop("command", None)
    resume_dir = given.pop("resume", None)
    if resume_dir is not None:
        extra = set(given) - {"total_steps", "progress"}
        if extra:
            flags = ", ".join(sorted(_flag(k) for k in extra))
            raise ConfigError(f"--resume takes the saved config; drop {flags}")
        trainer = T.resume(resume_dir, given.get("total_steps"), progress=given.get("progress"))
        print(f"resuming at update {trainer.update}, step {trainer.global_step:,}", flush=True)
    else:
        trainer = T.start(TrainConfig(**given))  # removes the directories it made if it fails
    print(_describe(trainer.cfg, trainer), flush=True)
    try:
        summary = trainer.run()
    except T.TrainingInterrupted as e:
        print(f"rlnoise: {e}", file=sys.stderr)
        return 130
    except NonFiniteLossError as e:
        print(f"rlnoise: error: {e}", file=sys.stderr)
        return 1
    _print_summary(summary)
    return 0


def _print_summary(s: dict) -> None:
    ret = s["recent_mean_return"]
    line = (
        f"done: {s['global_step']:,} steps, {s['updates']} updates, {s['episodes']} episodes, "
        f"recent mean return {'n/a' if ret is None else round(ret, 2)}"
    )
    if s["sps"]:
        line += f", {s['sps']:,.0f} steps/s"
    print(line)
    for part, n in s["noise"].items():
        print(
            f"  B_simple[{part}]: run average {n['run_avg']:,.0f}, last 10% "
            f"{n['last10_avg']:,.0f}, median {n['median_raw']:,.0f} (observations)"
        )
    print(f"  summary: {s['run_dir']}/summary.json")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rlnoise.evaluate import evaluate  # torch-heavy: see the module docstring

    r = evaluate(args.run_dir, args.episodes, args.seed, args.greedy)
    print(
        f"{r['env']}: mean return {r['mean_return']:.2f} ± {r['std_return']:.2f} (std) over "
        f"{r['episodes']} whole-game episodes ({r['policy']} actions, step {r['global_step']:,})"
    )
    print(json.dumps({k: r[k] for k in ("mean_return", "std_return", "episodes")}))
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, **STUDY_COMMANDS}


# A value that starts with a minus sign and a digit: a negative number, or a list such as
# Acrobot's targets -100,-80, which argparse would otherwise read as an unknown option.
_NEGATIVE_VALUE = re.compile(r"-\d[\d.,eE+-]*")


def join_negative_values(argv: list[str]) -> list[str]:
    """argv with `--flag -2,4` written as `--flag=-2,4`, so that argparse takes the value."""
    out: list[str] = []
    for arg in argv:
        if out and _NEGATIVE_VALUE.fullmatch(arg):
            prev = out[-1]
            if prev.startswith("--") and "=" not in prev:
                out[-1] = f"{prev}={arg}"
                continue
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = join_negative_values(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"rlnoise: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
