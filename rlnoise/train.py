"""The training loop: rollout -> advantages -> noise measurement at theta_old -> update -> log.

Reads top to bottom like CleanRL's single-file PPO; the algorithms' maths live in `agents`,
the environments in `envs`, the noise-scale estimators in `rlnoise.noise`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

import envs
from agents.a2c import A2CHyper, a2c_update
from agents.advantages import gae, nstep_returns
from agents.losses import a2c_loss_parts, ppo_loss_parts
from agents.networks import make_network
from agents.ppo import NonFiniteLossError, PPOHyper, ppo_update
from agents.storage import RolloutStorage
from rlnoise.checkpoint import (
    CHECKPOINT_NAME,
    atomic_write_json,
    load_checkpoint,
    save_checkpoint,
)
from rlnoise.config import ALGOS, DEVICES, PRECISIONS, TrainConfig
from rlnoise.history import RunHistory, noise_summary
from rlnoise.measure import REPORTED_PARTS, make_groups, measure, measurement_batch
from rlnoise.noise import NoiseScaleTracker
from rlnoise.tblog import finite_or_none, open_writer


class ConfigError(ValueError):
    """Bad user input for a run; reported as one line with exit status 2."""


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
    c = cfg.resolved()
    checks = [
        (c.n_envs >= 1, f"--n-envs must be at least 1 (got {c.n_envs})"),
        (c.n_steps >= 1, f"--n-steps must be at least 1 (got {c.n_steps})"),
        (
            c.total_steps >= c.batch_size,
            f"--total-steps {c.total_steps} is less than one rollout "
            f"(n_envs x n_steps = {c.batch_size})",
        ),
        (c.lr > 0, f"--lr must be positive (got {c.lr})"),
        (c.noise_groups >= 2, f"--noise-groups must be at least 2 (got {c.noise_groups})"),
        (0 <= c.noise_decay < 1, f"--noise-decay must be in [0, 1) (got {c.noise_decay})"),
        (c.noise_every >= 1, f"--noise-every must be at least 1 (got {c.noise_every})"),
        (c.b_noise_every >= 0, f"--b-noise-every must be >= 0 (got {c.b_noise_every})"),
        (c.checkpoint_every >= 1, "--checkpoint-every must be at least 1"),
        (c.episode_window >= 1, "--episode-window must be at least 1"),
    ]
    if c.algo == "ppo":
        checks += [
            (c.num_minibatches >= 1, "--num-minibatches must be at least 1"),
            (
                c.batch_size % c.num_minibatches == 0,
                f"--num-minibatches {c.num_minibatches} does not divide the batch "
                f"(n_envs x n_steps = {c.batch_size})",
            ),
            (c.update_epochs >= 1, "--update-epochs must be at least 1"),
        ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)
    resolve_device(c.device)
    return c


def prepare_run_dir(path: Path) -> Path:
    """Create the run directory; refuse to reuse one that already holds a run."""
    path = Path(path)
    if (path / CHECKPOINT_NAME).exists() or (path / "config.json").exists():
        raise ConfigError(f"{path} already holds a run; continue it with --resume {path}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"cannot write to run directory {path}: {e.strerror}") from None
    return path


# ----------------------------------------------------------------------------- the loop


class Trainer:
    """One run. `run()` trains to total_steps (or the target) and returns the summary."""

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: Path,
        state: dict | None = None,
        on_update: Callable[[Trainer], None] | None = None,
    ) -> None:
        self.cfg, self.run_dir, self.on_update = cfg, Path(run_dir), on_update
        self.device = resolve_device(cfg.device)
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.env = envs.make(
            cfg.env_id, cfg.n_envs, cfg.seed, cfg.backend, cfg.protocol, cfg.env_threads
        )
        obs_space, act_space = self.env.single_observation_space, self.env.single_action_space
        channels_last = cfg.channels_last if cfg.channels_last is not None else True
        self.model = make_network(
            self.env.obs_kind, obs_space.shape, int(act_space.n), channels_last
        )
        self.model.to(self.device)
        if cfg.algo == "ppo":
            # fused Adam: same update, one kernel (4x faster step on CPU, benchmarks/RESULTS.md)
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                self.model.parameters(), lr=cfg.lr, eps=cfg.adam_eps, fused=True
            )
        else:
            self.optimizer = torch.optim.RMSprop(
                self.model.parameters(),
                lr=cfg.lr,
                alpha=cfg.rms_alpha,
                eps=cfg.rms_eps,
                foreach=True,
            )
        obs_dtype = torch.uint8 if obs_space.dtype == np.uint8 else torch.float32
        self.storage = RolloutStorage(
            cfg.n_steps, cfg.n_envs, obs_space.shape, obs_dtype, self.device
        )
        self._host_rewards = np.zeros((cfg.n_steps, cfg.n_envs), dtype=np.float32)
        self._host_dones = np.zeros((cfg.n_steps, cfg.n_envs), dtype=bool)
        self._pinned: torch.Tensor | None = None
        self.num_updates = cfg.total_steps // cfg.batch_size
        self.groups = make_groups(cfg.n_steps, cfg.n_envs, cfg.noise_groups)
        self.trackers = {p: NoiseScaleTracker(cfg.noise_decay) for p in REPORTED_PARTS}
        self.history = RunHistory()
        self.update = 0
        self.global_step = 0
        self.elapsed_before = 0.0  # wall seconds of earlier sessions of this run
        self._session_start = time.time()
        if state is not None:
            self._restore(state)
        self.recent = deque(self.history.recent_returns, maxlen=cfg.episode_window)
        self.ppo_hp = PPOHyper(
            cfg.clip_coef,
            cfg.clip_vloss,
            cfg.vf_coef,
            cfg.ent_coef,
            cfg.max_grad_norm,
            cfg.update_epochs,
            cfg.num_minibatches,
            cfg.norm_adv,
        )
        self.a2c_hp = A2CHyper(cfg.vf_coef, cfg.ent_coef, cfg.max_grad_norm, cfg.norm_adv)
        self.autocast = self._autocast()
        self._stop_requested = False

    # -- state ------------------------------------------------------------------------
    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.update = int(state["update"])
        self.global_step = int(state["global_step"])
        self.elapsed_before = float(state.get("elapsed", 0.0))
        self.history = RunHistory.from_state(state["history"])
        for p, tr in self.trackers.items():
            tr.load_state_dict(state["trackers"][p])
        torch.set_rng_state(state["rng_torch"])
        np.random.set_state(_np_state_from(state["rng_numpy"]))
        if self.device.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"])

    def _state(self, rng_torch: torch.Tensor, rng_numpy: dict) -> dict:
        self.history.recent_returns = list(self.recent)
        st = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "config": self.cfg.to_json(),
            "update": self.update,
            "global_step": self.global_step,
            "elapsed": self.elapsed_before + (time.time() - self._session_start),
            "history": self.history.state_dict(),
            "trackers": {p: tr.state_dict() for p, tr in self.trackers.items()},
            "rng_torch": rng_torch,
            "rng_numpy": rng_numpy,
        }
        if self.device.type == "cuda":
            st["rng_cuda"] = torch.cuda.get_rng_state()
        return st

    def save(self) -> None:
        save_checkpoint(
            self.run_dir / CHECKPOINT_NAME, self._state(torch.get_rng_state(), _np_state())
        )

    def _autocast(self):
        prec = self.cfg.precision
        if prec == "auto":
            prec = "fp32"
        if prec == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return None

    # -- phases -------------------------------------------------------------------------
    def to_device(self, obs: np.ndarray) -> torch.Tensor:
        """Observation batch to the learner's device: through a pinned buffer and a
        non-blocking copy on CUDA; zero-copy on the CPU."""
        x = torch.from_numpy(obs)
        if self.device.type == "cpu":
            return x
        if self._pinned is None:
            self._pinned = torch.empty_like(x).pin_memory()
        self._pinned.copy_(x)
        return self._pinned.to(self.device, non_blocking=True)

    def rollout(self, obs: torch.Tensor, writer) -> torch.Tensor:
        """Collect n_steps x n_envs transitions into storage; returns the next observation.
        The one host-device sync per step is the action transfer that env.step needs."""
        s, env, cfg = self.storage, self.env, self.cfg
        rewards, dones = self._host_rewards, self._host_dones
        for t in range(cfg.n_steps):
            s.obs[t] = obs
            with torch.inference_mode():
                action, logp, value = self.model.act(obs)
            s.actions[t], s.logprobs[t], s.values[t] = action, logp, value
            next_obs, reward, term, trunc, info = env.step(action.cpu().numpy())
            rewards[t] = np.sign(reward) if env.reward_clip else reward
            np.logical_or(term, trunc, out=dones[t])
            obs = self.to_device(next_obs)
            self.global_step += cfg.n_envs
            done = info["episode_done"]
            if done.any():
                for i in np.flatnonzero(done):
                    ret, length = float(info["episode_return"][i]), int(info["episode_length"][i])
                    self.recent.append(ret)
                    self.history.episodes += 1
                    writer.add_scalar("charts/episodic_return", ret, self.global_step)
                    writer.add_scalar("charts/episodic_length", length, self.global_step)
        s.rewards.copy_(torch.from_numpy(rewards), non_blocking=True)
        s.dones.copy_(torch.from_numpy(dones), non_blocking=True)
        return obs

    def advantages(self, next_obs: torch.Tensor) -> None:
        s, cfg = self.storage, self.cfg
        with torch.inference_mode():
            last_value = self.model(next_obs)[1]
        if cfg.gae_lambda is None:
            adv, ret = nstep_returns(s.rewards, s.values, s.dones, last_value, cfg.gamma)
        else:
            adv, ret = gae(s.rewards, s.values, s.dones, last_value, cfg.gamma, cfg.gae_lambda)
        s.advantages.copy_(adv)
        s.returns.copy_(ret)

    def loss_fn(self):
        cfg = self.cfg
        if cfg.algo == "ppo":
            return lambda m, b: ppo_loss_parts(m, b, cfg.clip_coef, cfg.clip_vloss, False)
        return lambda m, b: a2c_loss_parts(m, b, False)

    def measure_noise(self, writer):
        """Group gradients at theta_old; logs raw and smoothed estimates; returns the
        measurement (A2C reuses its mean gradient for the update)."""
        cfg = self.cfg
        batch = measurement_batch(self.storage.batch(), normalize_adv=cfg.norm_adv)
        want_b_noise = cfg.b_noise_every > 0 and self.update % cfg.b_noise_every == 0
        m = measure(
            self.model, self.loss_fn(), batch, self.groups, cfg.vf_coef, cfg.ent_coef, want_b_noise
        )
        rec: dict = {"step": self.global_step, "update": self.update}
        for part, est in m.estimates.items():
            tr = self.trackers[part]
            tr.update(est.grad_sq, est.trace)
            rec[part] = {
                "grad_sq": est.grad_sq,
                "trace": est.trace,
                "b_simple": est.b_simple,
                "ema_b_simple": tr.b_simple,
            }
            for name, raw, smooth in (
                ("b_simple", est.b_simple, tr.b_simple),
                ("grad_sq", est.grad_sq, tr.grad_sq),
                ("trace", est.trace, tr.trace),
            ):
                if finite_or_none(raw) is not None:
                    writer.add_scalar(f"noise_raw/{part}/{name}", raw, self.global_step)
                if finite_or_none(smooth) is not None:
                    writer.add_scalar(f"noise/{part}/{name}", smooth, self.global_step)
        if m.b_noise is not None:
            rec["b_noise"] = dataclasses.asdict(m.b_noise)
            if finite_or_none(m.b_noise.b_noise) is not None:
                writer.add_scalar("noise/total/b_noise", m.b_noise.b_noise, self.global_step)
        self.history.noise.append(rec)
        return m

    def learn(self, measurement) -> dict[str, float]:
        cfg = self.cfg
        if cfg.algo == "ppo":
            flat = self.storage.batch().flat()
            return ppo_update(self.model, self.optimizer, flat, self.ppo_hp, self.autocast)
        batch = measurement_batch(self.storage.batch(), normalize_adv=cfg.norm_adv).flat()
        if measurement is not None:
            return a2c_update(
                self.model,
                self.optimizer,
                batch,
                self.a2c_hp,
                grad=measurement.total_grad,
                parts=measurement.losses,
            )
        return a2c_update(self.model, self.optimizer, batch, self.a2c_hp)

    # -- main loop ------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        resumed_at = self.global_step if self.update > 0 else None
        writer = open_writer(self.run_dir, purge_step=resumed_at)
        env_seed = cfg.seed if self.update == 0 else cfg.seed + 1_000_003 * self.update
        obs = self.to_device(self.env.reset(seed=env_seed))
        if self.groups.by == "time" and cfg.noise and self.update == 0:
            print(
                "rlnoise: one environment: noise groups are contiguous time chunks of the "
                "rollout (correlated, so B_simple is biased low)",
                flush=True,
            )
        bar = _progress(cfg, self.global_step)
        start_time, start_step = time.time(), self.global_step
        self._session_start = start_time
        old_handlers = self._install_stop_handlers()
        try:
            while self.update < self.num_updates and not self._target_reached():
                if cfg.anneal_lr:
                    frac = 1.0 - self.update / self.num_updates
                    for g in self.optimizer.param_groups:
                        g["lr"] = frac * cfg.lr
                obs = self.rollout(obs, writer)
                self.advantages(obs)
                m = None
                if cfg.noise and self.update % cfg.noise_every == 0:
                    m = self.measure_noise(writer)
                stats = self.learn(m)
                self.update += 1
                self._log(writer, stats, start_time, start_step, bar)
                if self.on_update is not None:
                    self.on_update(self)
                if self.update % cfg.checkpoint_every == 0 or self._stop_requested:
                    self.save()
                if self._stop_requested:
                    raise TrainingInterrupted(
                        f"stopped at update {self.update} (checkpoint saved); continue with: "
                        f"rlnoise train --resume {self.run_dir}"
                    )
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, keep the last checkpoint
            raise TrainingInterrupted(
                f"interrupted; the last checkpoint is kept; continue with: "
                f"rlnoise train --resume {self.run_dir}"
            ) from None
        except NonFiniteLossError as e:
            raise NonFiniteLossError(
                f"{e}; stopped at update {self.update}, the last good checkpoint is kept"
            ) from None
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if sys.exc_info()[0] is not None:
                bar.close()
                writer.close()
                self.env.close()
        bar.close()
        self.save()
        summary = self.summary(time.time() - start_time, self.global_step - start_step)
        atomic_write_json(self.run_dir / "summary.json", summary)
        writer.close()
        self.env.close()
        return summary

    def _install_stop_handlers(self) -> dict:
        """Ctrl-C / SIGTERM finish the current update, save, and stop; a second one stops now."""
        self._stop_requested = False

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True

        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return old

    def _target_reached(self) -> bool:
        return self.cfg.target_return is not None and self.history.target_update is not None

    def _log(self, writer, stats, start_time, start_step, bar) -> None:
        cfg, step = self.cfg, self.global_step
        sps = (step - start_step) / max(time.time() - start_time, 1e-9)
        writer.add_scalar("charts/sps", sps, step)
        writer.add_scalar("charts/learning_rate", self.optimizer.param_groups[0]["lr"], step)
        for k in ("policy", "value", "entropy"):
            writer.add_scalar(f"losses/{k}", stats[k], step)
        for k in ("approx_kl", "clipfrac"):
            if k in stats:
                writer.add_scalar(f"losses/{k}", stats[k], step)
        mean_ret = float(np.mean(self.recent)) if self.recent else math.nan
        self.history.curve.append([step, self.update, mean_ret])
        if (
            cfg.target_return is not None
            and self.history.target_update is None
            and len(self.recent) >= cfg.episode_window
            and mean_ret >= cfg.target_return
        ):
            self.history.target_update, self.history.target_step = self.update, step
        bar.update(step - bar.n)
        post = {"sps": f"{sps:,.0f}", "return": f"{mean_ret:.1f}"}
        if self.trackers["policy"].n_updates:
            post["B_simple(pol)"] = f"{self.trackers['policy'].b_simple:,.0f}"
        bar.set_postfix(post, refresh=False)

    def summary(self, wall: float, steps: int) -> dict:
        h, cfg = self.history, self.cfg
        mean_ret = float(np.mean(self.recent)) if self.recent else None
        return {
            "run_dir": str(self.run_dir),
            "env": cfg.env_id,
            "algo": cfg.algo,
            "n_envs": cfg.n_envs,
            "seed": cfg.seed,
            "lr": cfg.lr,
            "batch_size": cfg.batch_size,
            "updates": self.update,
            "global_step": self.global_step,
            "episodes": h.episodes,
            "recent_mean_return": mean_ret,
            "episode_window": cfg.episode_window,
            "wall_seconds": self.elapsed_before + wall,  # over all sessions of the run
            "sps": steps / wall if wall > 0 else None,  # this session's
            "target": cfg.target_return,
            "target_update": h.target_update,
            "target_step": h.target_step,
            "noise_groups": {"by": self.groups.by, "sizes": self.groups.sizes},
            "noise": noise_summary(h.noise),
            "curve": h.curve,
            "noise_history": h.noise,
            "env_spec": self.env.spec_info,
        }


# ----------------------------------------------------------------------------- helpers


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


class _NoBar:
    n = 0

    def update(self, k: int) -> None:
        self.n += k

    def set_postfix(self, *a, **k) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(cfg: TrainConfig, initial: int):
    if not cfg.progress:
        bar = _NoBar()
        bar.n = initial
        return bar
    from tqdm import tqdm

    return tqdm(
        total=(cfg.total_steps // cfg.batch_size) * cfg.batch_size,
        initial=initial,
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
        disable=os.environ.get("RLNOISE_NO_PROGRESS") == "1",
    )


# ----------------------------------------------------------------------------- entry points


def start(cfg: TrainConfig, on_update: Callable[[Trainer], None] | None = None) -> Trainer:
    """Validate `cfg`, create its run directory and config.json, and build the trainer."""
    cfg = validate(cfg)
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
    prepare_run_dir(run_dir)
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
    trainer = Trainer(cfg, run_dir, on_update=on_update)
    config = dataclasses.asdict(cfg) | {"env_spec": trainer.env.spec_info}
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
    if total_steps is not None:
        cfg = dataclasses.replace(cfg, total_steps=total_steps)
    if progress is not None:
        cfg = dataclasses.replace(cfg, progress=progress)
    cfg = validate(cfg)
    return Trainer(cfg, run_dir, state=state, on_update=on_update)
