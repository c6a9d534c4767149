"""The training loop: rollout -> advantages -> noise measurement at theta_old -> update -> log.

Reads top to bottom like CleanRL's single-file PPO. What differs between PPO and A2C lives in
one `agents.algos.Algorithm` object, picked once; the rollout phase in `rlnoise.rollout`, the
noise bookkeeping in `rlnoise.measure.NoiseMonitor`, the TensorBoard output in
`rlnoise.tblog.MetricsSink`, the summary record in `rlnoise.summary` (docs/design.md,
"One training update" and "Stopping").
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

import envs
from agents.algos import ALGORITHMS, Algorithm, make_algorithm
from agents.networks import ActorCritic, make_network
from agents.ppo import NonFiniteLossError
from envs.catalog import env_kind
from rlnoise.checkpoint import (
    CHECKPOINT_NAME,
    atomic_write_json,
    load_checkpoint,
    save_checkpoint,
)
from rlnoise.config import ALGOS, DEVICES, PRECISIONS, ROLLOUTS, ConfigError, TrainConfig
from rlnoise.graceful import GracefulStop
from rlnoise.hardware import resolve_precision, resolve_rollout, resolve_threads, usable_cores
from rlnoise.history import RunHistory, noise_summary
from rlnoise.measure import Measurement, NoiseMonitor, make_groups
from rlnoise.progress import progress_bar
from rlnoise.rollout import GraphedPolicy, Policy, RolloutCollector
from rlnoise.summary import RunSummary
from rlnoise.tblog import MetricsSink


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM; the run can be resumed from its last checkpoint."""


# ----------------------------------------------------------------------------- setup


def default_run_dir(cfg: TrainConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    env = cfg.env_id.replace("/", "_")
    return Path("runs") / f"{env}__{cfg.algo}__{cfg.n_envs}__{cfg.seed}__{stamp}"


def resolve_device(name: str) -> torch.device:
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but CUDA is not available on this machine")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check a config before anything is created; returns it with defaults resolved."""
    if cfg.algo not in ALGOS:
        raise ConfigError(f"unknown algo {cfg.algo!r}; choose one of {', '.join(ALGOS)}")
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {cfg.precision!r}; choose {', '.join(PRECISIONS)}")
    if cfg.rollout not in ROLLOUTS:
        raise ConfigError(f"unknown rollout {cfg.rollout!r}; choose {', '.join(ROLLOUTS)}")
    c = cfg.resolved()
    checks = [
        (c.n_envs >= 1, f"--n-envs must be at least 1 (got {c.n_envs})"),
        (c.n_steps >= 1, f"--n-steps must be at least 1 (got {c.n_steps})"),
        (
            c.total_steps >= c.batch_size,
            f"--total-steps {c.total_steps} is less than one rollout "
            f"(n_envs x n_steps = {c.batch_size})",
        ),
        (0 <= c.seed < 2**32, f"--seed must be >= 0 and below 2**32 (got {c.seed})"),
        (c.lr > 0, f"--lr must be positive (got {c.lr})"),
        (0 < c.gamma <= 1, f"--gamma must be in (0, 1] (got {c.gamma})"),
        (
            c.gae_lambda is None or 0 <= c.gae_lambda <= 1,
            f"--gae-lambda must be in [0, 1] (got {c.gae_lambda})",
        ),
        (c.max_grad_norm > 0, f"--max-grad-norm must be positive (got {c.max_grad_norm})"),
        (
            # a saved config pins a given --noise-every with budget 0 (TrainConfig.resolved)
            cfg.noise_budget is None
            or 0 < cfg.noise_budget < 1
            or (cfg.noise_budget == 0 and cfg.noise_every is not None),
            f"--noise-budget must be in (0, 1) (got {cfg.noise_budget})",
        ),
        (
            c.torch_threads is None or c.torch_threads >= 1,
            f"--torch-threads must be at least 1 (got {c.torch_threads})",
        ),
        (
            c.noise or c.b_noise_every == 0,
            "--b-noise-every needs the noise measurement; drop it or --no-noise",
        ),
        (c.noise_groups >= 2, f"--noise-groups must be at least 2 (got {c.noise_groups})"),
        (0 <= c.noise_decay < 1, f"--noise-decay must be in [0, 1) (got {c.noise_decay})"),
        (c.noise_every >= 1, f"--noise-every must be at least 1 (got {c.noise_every})"),
        (c.b_noise_every >= 0, f"--b-noise-every must be >= 0 (got {c.b_noise_every})"),
        (c.checkpoint_every >= 1, "--checkpoint-every must be at least 1"),
        (c.episode_window >= 1, "--episode-window must be at least 1"),
    ]
    if c.algo == "ppo":  # the minibatch flags mean nothing to A2C
        checks += [
            (c.num_minibatches >= 1, "--num-minibatches must be at least 1"),
            (
                c.num_minibatches < 1 or c.batch_size % c.num_minibatches == 0,
                f"--num-minibatches {c.num_minibatches} does not divide the batch "
                f"(n_envs x n_steps = {c.batch_size})",
            ),
            (c.update_epochs >= 1, "--update-epochs must be at least 1"),
        ]
    if c.rollout == "double":
        checks += [
            (c.n_envs >= 2, f"--rollout double needs --n-envs >= 2 (got {c.n_envs})"),
            (
                not _env_on_device(c),
                "--rollout double needs a numpy env backend; the torch backend steps on its device",
            ),
        ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)
    if resolve_device(c.device).type != "cuda" and c.cuda_graph:
        raise ConfigError("--cuda-graph needs --device cuda (a CUDA graph replays GPU work)")
    return c


def _env_on_device(cfg: TrainConfig) -> bool:
    """Whether envs.make will build a tensor env (MinAtar's torch backend, its default)."""
    return env_kind(cfg.env_id) == "minatar" and cfg.backend in ("auto", "torch")


def _env_async(cfg: TrainConfig) -> bool:
    """Whether the backend steps in its own threads between send and recv (ale-py, EnvPool)."""
    return env_kind(cfg.env_id) == "atari" and cfg.backend in ("auto", "ale", "envpool")


# The study executor's log of a run, opened in the run directory before the run starts.
LOG_FILE = "train.log"


def prepare_run_dir(path: Path) -> Path:
    """Create the run directory, or use an empty one; refuse one that holds a run or anything
    else (the study executor's LOG_FILE, opened before the run starts, is allowed)."""
    path = Path(path)
    if (path / CHECKPOINT_NAME).exists():
        raise ConfigError(f"{path} already holds a run; continue it with --resume {path}")
    if (path / "config.json").exists():
        raise ConfigError(
            f"{path} holds a run stopped before its first checkpoint (nothing to resume); "
            f"delete {path} or pick another --logdir"
        )
    if path.is_dir() and any(p.name != LOG_FILE for p in path.iterdir()):
        raise ConfigError(f"--logdir {path} is not empty and holds no run; pick another --logdir")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"cannot write to run directory {path}: {e.strerror}") from None
    return path


def autocast_for(device: torch.device, precision: str) -> torch.autocast | None:
    """bf16 autocast for the update, or None for full precision (`precision` resolved)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return None


def make_env(cfg: TrainConfig, device: torch.device, double: bool) -> envs.VecEnv:
    """The config's vector env; two fixed halves for a double-buffered rollout. The halves share
    the cores: cores/2 emulator threads each unless --env-threads says (benchmarks/RESULTS.md:
    never clearly slower than `cores` each, and far faster beside torch's threads)."""
    env_threads = cfg.env_threads or (max(1, usable_cores() // 2) if double else None)
    return envs.make(
        cfg.env_id,
        cfg.n_envs,
        cfg.seed,
        cfg.backend,
        cfg.protocol,
        env_threads,
        device=str(device),  # the torch backend steps on the learner's device
        halves=double,
    )


def algorithm_for(cfg: TrainConfig, autocast: torch.autocast | None = None) -> Algorithm:
    """The config's algorithm, its hyperparameters read from the same-named config fields."""
    hyper_cls = ALGORITHMS[cfg.algo].Hyper
    hp = hyper_cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(hyper_cls)})
    return make_algorithm(cfg.algo, hp, autocast)


# ----------------------------------------------------------------------------- the loop


class Trainer:
    """One run. `run()` trains to total_steps (or the target) and returns the summary."""

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: Path,
        state: dict | None = None,
        on_update: Callable[[Trainer], None] | None = None,
        env: envs.VecEnv | None = None,
    ) -> None:
        """`env`: an env already built for this config (halves for a double rollout);
        benchmarks pass one to reuse it across configurations. By default one is built."""
        self.cfg, self.run_dir, self.on_update = cfg, Path(run_dir), on_update
        self.device = resolve_device(cfg.device)
        self._hardware(cfg)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        double = self.rollout_mode == "double"
        self.env = env or make_env(cfg, self.device, double)
        self.model = self._make_model()
        self.algo = algorithm_for(cfg, autocast_for(self.device, self.precision))
        self.optimizer = self.algo.make_optimizer(self.model.parameters())
        self.policy: Policy = GraphedPolicy(self.model) if cfg.cuda_graph else self.model
        self.collector = RolloutCollector(
            self.env, cfg.n_steps, cfg.n_envs, self.device, double=double
        )
        self.storage = self.collector.storage
        self.num_updates = cfg.total_steps // cfg.batch_size
        groups = make_groups(cfg.n_steps, cfg.n_envs, cfg.noise_groups)
        self.noise_monitor = NoiseMonitor(
            groups,
            cfg.noise_decay,
            cfg.noise_every,
            cfg.b_noise_every,
            enabled=cfg.noise,
            budget=cfg.noise_budget or 0.0,
        )
        self.groups, self.trackers = groups, self.noise_monitor.trackers
        self.history = RunHistory()
        self.update = 0
        self.global_step = 0
        self.elapsed_before = 0.0  # wall seconds of earlier sessions of this run
        self._session_start, self._session_first_step = time.time(), 0
        if state is not None:
            self._restore(state)
        self.recent = deque(self.history.recent_returns, maxlen=self.cfg.episode_window)
        self.stop = GracefulStop()

    def _hardware(self, cfg: TrainConfig) -> None:
        """Threads, precision and rollout mode for this device and CPU (rlnoise.hardware).

        On CUDA, torch's intra-op pool defaults to one thread: the host work left is small, and
        an OpenMP pool spinning on every core fights ale-py's emulator threads."""
        cuda = self.device.type == "cuda"
        threads, self.threads_reason = resolve_threads(
            cfg.torch_threads, self.device.type, env_kind(cfg.env_id)
        )
        if threads:
            torch.set_num_threads(threads)
        if cuda:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick per shape
        bf16 = cuda and torch.cuda.is_bf16_supported()
        self.precision, self.precision_reason = resolve_precision(
            cfg.precision, self.device.type, cuda_bf16=bf16
        )
        if self.precision == "bf16" and not ALGORITHMS[cfg.algo].mixed_precision:
            self.precision, self.precision_reason = (
                "fp32",
                f"{cfg.algo.upper()}'s update runs in fp32",
            )
        self.rollout_mode, self.rollout_reason = resolve_rollout(
            cfg.rollout,
            self.device.type,
            usable_cores(),
            cfg.n_envs,
            async_env=_env_async(cfg),
            tensor_env=_env_on_device(cfg),
        )

    def hardware_info(self) -> dict:
        """What `_hardware` chose and why (config.json holds it; `run` prints it)."""
        return {
            "precision_resolved": self.precision,
            "precision_reason": self.precision_reason,
            "rollout_resolved": self.rollout_mode,
            "rollout_reason": self.rollout_reason,
            "torch_threads_resolved": torch.get_num_threads(),
            "torch_threads_reason": self.threads_reason,
        }

    def _make_model(self) -> ActorCritic:
        obs_space, act_space = self.env.single_observation_space, self.env.single_action_space
        channels_last = self.cfg.channels_last if self.cfg.channels_last is not None else True
        model = make_network(self.env.obs_kind, obs_space.shape, int(act_space.n), channels_last)
        return model.to(self.device)

    # -- state ------------------------------------------------------------------------
    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.update = int(state["update"])
        self.global_step = int(state["global_step"])
        self.elapsed_before = float(state.get("elapsed", 0.0))
        self.history = RunHistory.from_state(state["history"])
        self.noise_monitor.load_state_dict(state["trackers"])
        torch.set_rng_state(state["rng_torch"])
        np.random.set_state(_np_state_from(state["rng_numpy"]))
        if self.device.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"])

    def _state(self) -> dict:
        self.history.recent_returns = list(self.recent)
        st = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "config": self.cfg.to_json(),
            "update": self.update,
            "global_step": self.global_step,
            "elapsed": self.elapsed_before + (time.time() - self._session_start),
            "history": self.history.state_dict(),
            "trackers": self.noise_monitor.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_numpy": _np_state(),
        }
        if self.device.type == "cuda":
            st["rng_cuda"] = torch.cuda.get_rng_state()
        return st

    def save(self) -> None:
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, self._state())

    # -- the phases of one update ---------------------------------------------------------
    def to_device(self, obs: np.ndarray) -> torch.Tensor:
        return self.collector.to_device(obs)

    def rollout(self, obs: torch.Tensor, metrics: MetricsSink) -> torch.Tensor:
        """Collect n_steps x n_envs transitions into storage; returns the next observation."""
        obs, episodes = self.collector.collect(self.policy, obs)
        self.recent.extend(ep.ret for ep in episodes)
        self.history.episodes += len(episodes)
        for t, ended in itertools.groupby(episodes, key=lambda ep: ep.t):
            # one point per rollout step: the mean over the games that ended at it (thousands
            # of envs end many games per step)
            ended = list(ended)
            step = self.global_step + (t + 1) * self.cfg.n_envs
            metrics.scalar("charts/episodic_return", _mean(ep.ret for ep in ended), step)
            metrics.scalar("charts/episodic_length", _mean(ep.length for ep in ended), step)
        self.global_step += self.cfg.batch_size
        return obs

    def advantages(self, next_obs: torch.Tensor) -> None:
        s = self.storage
        with torch.inference_mode():
            last_value = self.model(next_obs)[1]
        ret, adv = self.algo.returns_and_advantages(s.rewards, s.values, s.dones, last_value)
        s.advantages.copy_(adv)
        s.returns.copy_(ret)

    def measure_noise(self, metrics: MetricsSink) -> Measurement:
        """Group gradients at theta_old; logs raw and smoothed estimates; returns the
        measurement (A2C reuses its mean gradient for the update)."""
        m, record = self.noise_monitor.measure(
            self.model, self.algo, self.storage.batch(), self.update, self.global_step, metrics
        )
        self.history.noise.append(record)
        return m

    def learn(self, measurement: Measurement | None) -> dict[str, float]:
        return self.algo.update(self.model, self.optimizer, self.storage.batch(), measurement)

    def train_step(
        self, obs: torch.Tensor, metrics: MetricsSink
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """One update: anneal lr, rollout, advantages, noise at theta_old, learn. Returns the
        next observation and the update's loss statistics."""
        if self.cfg.anneal_lr:
            frac = 1.0 - self.update / self.num_updates
            for g in self.optimizer.param_groups:
                g["lr"] = frac * self.cfg.lr
        obs = self.rollout(obs, metrics)
        self.advantages(obs)
        m = self.measure_noise(metrics) if self.noise_monitor.due(self.update) else None
        stats = self.learn(m)
        self.update += 1
        return obs, stats

    # -- the stop rule ----------------------------------------------------------------------
    def done(self) -> bool:
        """The run stops when its step budget is spent or the target was reached."""
        target_reached = (
            self.cfg.target_return is not None and self.history.target_update is not None
        )
        return self.update >= self.num_updates or target_reached

    def _reaches_target(self, mean_return: float) -> bool:
        """The target counts once a full window of recent episodes averages at least it."""
        cfg = self.cfg
        return (
            cfg.target_return is not None
            and len(self.recent) >= cfg.episode_window
            and mean_return >= cfg.target_return
        )

    def _record_progress(self) -> float:
        """Append this update's learning-curve point; note the first update at the target."""
        mean_ret = float(np.mean(self.recent)) if self.recent else math.nan
        self.history.curve.append([self.global_step, self.update, mean_ret])
        if self.history.target_update is None and self._reaches_target(mean_ret):
            self.history.target_update, self.history.target_step = self.update, self.global_step
        return mean_ret

    # -- main loop ------------------------------------------------------------------------
    def run(self) -> dict:
        """Train until `done()`; save, write summary.json and return the summary mapping.
        The first Ctrl-C/SIGTERM finishes the update, saves and raises TrainingInterrupted;
        a second one stops at once, keeping the last checkpoint."""
        cfg = self.cfg
        metrics = MetricsSink.open(
            # on resume, drop what was logged after the checkpoint: the checkpointed update's
            # own points sit at its global step, so the purge starts one step later
            self.run_dir,
            purge_step=self.global_step + 1 if self.update > 0 else None,
        )
        obs = self._reset_env()
        h, threads = self.hardware_info(), torch.get_num_threads()
        print(
            f"  precision {h['precision_resolved']} ({h['precision_reason']}); rollout "
            f"{h['rollout_resolved']} ({h['rollout_reason']}); "
            f"{threads} torch thread{'s' if threads > 1 else ''} ({h['torch_threads_reason']})",
            flush=True,
        )
        total = self.num_updates * cfg.batch_size
        bar = progress_bar(cfg.progress, total, self.global_step)
        self._session_start, self._session_first_step = time.time(), self.global_step
        self.stop = GracefulStop()  # a fresh flag for each session
        try:
            with self._stopping():
                while not self.done():
                    obs, stats = self.train_step(obs, metrics)
                    mean_ret = self._record_progress()
                    self._log(metrics, stats, mean_ret, bar)
                    if self.on_update is not None:
                        self.on_update(self)
                    self._checkpoint()
        except BaseException:
            bar.close()
            metrics.close()
            self.env.close()
            raise
        bar.close()
        self.save()
        wall = time.time() - self._session_start
        summary = self.summary(wall, self.global_step - self._session_first_step)
        atomic_write_json(self.run_dir / "summary.json", summary)
        metrics.close()
        self.env.close()
        return summary

    def _reset_env(self) -> torch.Tensor:
        """The first observation of this session (a resumed run reseeds by its update count)."""
        cfg = self.cfg
        env_seed = cfg.seed if self.update == 0 else cfg.seed + 1_000_003 * self.update
        obs = self.to_device(self.env.reset(seed=env_seed))
        if self.groups.by == "time" and cfg.noise and self.update == 0:
            print(
                "rlnoise: one environment: noise groups are contiguous time chunks of the "
                "rollout (correlated, so B_simple is biased low)",
                flush=True,
            )
        return obs

    @contextlib.contextmanager
    def _stopping(self) -> Iterator[None]:
        """Signals handled by `self.stop` for the block; a second signal and a non-finite loss
        become errors that say where the run stands."""
        saved = (self.run_dir / CHECKPOINT_NAME).exists
        no_ckpt = f"no checkpoint was written yet; delete {self.run_dir} to start it again"
        try:
            with self.stop.installed():
                yield
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, keep the last checkpoint
            raise TrainingInterrupted(
                f"interrupted; the last checkpoint is kept; continue with: "
                f"rlnoise train --resume {self.run_dir}"
                if saved()
                else f"interrupted; {no_ckpt}"
            ) from None
        except NonFiniteLossError as e:
            kept = "the last good checkpoint is kept" if saved() else no_ckpt
            raise NonFiniteLossError(f"{e}; stopped at update {self.update}, {kept}") from None

    def _checkpoint(self) -> None:
        """Save every checkpoint_every updates; after a first stop signal, save and stop."""
        if self.update % self.cfg.checkpoint_every == 0 or self.stop.requested:
            self.save()
        if self.stop.requested:
            raise TrainingInterrupted(
                f"stopped at update {self.update} (checkpoint saved); continue with: "
                f"rlnoise train --resume {self.run_dir}"
            )

    def _log(self, metrics: MetricsSink, stats: dict, mean_ret: float, bar) -> None:
        step = self.global_step
        elapsed = max(time.time() - self._session_start, 1e-9)
        sps = (step - self._session_first_step) / elapsed
        metrics.scalar("charts/sps", sps, step)
        metrics.scalar("charts/learning_rate", self.optimizer.param_groups[0]["lr"], step)
        for k in ("policy", "value", "entropy", "approx_kl", "clipfrac"):
            if k in stats:
                metrics.scalar(f"losses/{k}", stats[k], step)
        bar.update(step - bar.n)
        post = {
            "sps": f"{sps:,.0f}",
            "return": "n/a" if math.isnan(mean_ret) else f"{mean_ret:.1f}",
        }
        if self.trackers["policy"].n_updates:
            post["B_simple(pol)"] = f"{self.trackers['policy'].b_simple:,.0f}"
        bar.set_postfix(post, refresh=False)

    # -- the record ---------------------------------------------------------------------
    def run_summary(self, wall: float, steps: int) -> RunSummary:
        """The run so far; `wall` and `steps` are this session's (for its steps per second)."""
        h, cfg = self.history, self.cfg
        return RunSummary(
            run_dir=str(self.run_dir),
            env=cfg.env_id,
            algo=cfg.algo,
            n_envs=cfg.n_envs,
            seed=cfg.seed,
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            updates=self.update,
            global_step=self.global_step,
            episodes=h.episodes,
            recent_mean_return=float(np.mean(self.recent)) if self.recent else None,
            episode_window=cfg.episode_window,
            wall_seconds=self.elapsed_before + wall,
            sps=steps / wall if wall > 0 else None,
            target=cfg.target_return,
            target_update=h.target_update,
            target_step=h.target_step,
            noise_groups={"by": self.groups.by, "sizes": self.groups.sizes},
            noise=noise_summary(h.noise),
            curve=h.curve,
            noise_history=h.noise,
            env_spec=self.env.spec_info,
        )

    def summary(self, wall: float, steps: int) -> dict:
        """`run_summary(...).to_dict()`: the mapping summary.json holds."""
        return self.run_summary(wall, steps).to_dict()


# ----------------------------------------------------------------------------- helpers


def _mean(xs: Iterable[float]) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def _np_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _np_state_from(d: dict) -> tuple:
    keys = d["keys"].numpy().astype(np.uint32)
    return (d["name"], keys, d["pos"], d["has_gauss"], d["cached"])


# ----------------------------------------------------------------------------- entry points


def start(
    cfg: TrainConfig,
    on_update: Callable[[Trainer], None] | None = None,
    env: envs.VecEnv | None = None,
) -> Trainer:
    """Validate `cfg`, create its run directory and config.json, and build the trainer (on
    `env` where one is given, see `Trainer`)."""
    cfg = validate(cfg)
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
    prepare_run_dir(run_dir)
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
    try:
        trainer = Trainer(cfg, run_dir, on_update=on_update, env=env)
    except BaseException:  # e.g. an unknown env id: remove the empty directories made here
        for p in created:
            with contextlib.suppress(OSError):  # rmdir leaves a directory that is not empty
                p.rmdir()
        raise
    config = dataclasses.asdict(cfg) | trainer.hardware_info() | {"env_spec": trainer.env.spec_info}
    atomic_write_json(run_dir / "config.json", config)
    return trainer


def resume(
    run_dir: Path,
    total_steps: int | None = None,
    on_update: Callable[[Trainer], None] | None = None,
    progress: bool | None = None,
) -> Trainer:
    """Rebuild a trainer from RUN_DIR/checkpoint.pt: weights, optimizer, RNG, counters, trace."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"no run directory at {run_dir}")
    state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    cfg = TrainConfig.from_dict(json.loads(state["config"]))
    first_total = cfg.total_steps
    if total_steps is not None and total_steps != first_total:
        done = int(state["global_step"])
        if total_steps < done:
            raise ConfigError(
                f"--total-steps {total_steps:,} is below the {done:,} steps this run has "
                f"trained; pass at least {done:,}"
            )
        cfg = dataclasses.replace(cfg, total_steps=total_steps)
    if progress is not None:
        cfg = dataclasses.replace(cfg, progress=progress)
    cfg = validate(cfg)
    if cfg.total_steps != first_total:  # written once the new config has passed validation
        _update_config_json(run_dir, total_steps=cfg.total_steps)
    return Trainer(cfg, run_dir, state=state, on_update=on_update)


def _update_config_json(run_dir: Path, **fields: object) -> None:
    """Rewrite fields of RUN_DIR/config.json (the resolved config) in place, atomically."""
    path = run_dir / "config.json"
    if path.is_file():
        atomic_write_json(path, json.loads(path.read_text()) | fields)
