"""Training configuration: one dataclass, every hyperparameter with its default beside it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from rlnoise.errors import UserError

ALGOS = ("ppo", "a2c")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
ROLLOUTS = ("auto", "sync", "double")

# Per-algorithm defaults: the public PPO settings for Atari (CleanRL, SB3-zoo and Sample Factory
# agree) and openai/baselines' A2C. The names match agents.algos.ALGORITHMS.
ALGO_DEFAULTS: dict[str, dict[str, object]] = {
    "ppo": {"lr": 2.5e-4, "n_steps": 128, "vf_coef": 0.5, "norm_adv": True, "gae_lambda": 0.95},
    "a2c": {"lr": 7e-4, "n_steps": 5, "vf_coef": 1.0, "norm_adv": False, "gae_lambda": None},
}
# Noise cadence (rlnoise.measure.NoiseMonitor): with --noise-every unset the measurement is
# adaptive: at most every update, sparser only where it would cost more than NOISE_BUDGET of
# the wall time (decided once, from the first updates' timings). A given --noise-every pins the
# cadence exactly (budget 0), so same-seed runs measure the same updates.
NOISE_BUDGET = 0.03


class ConfigError(UserError):
    """Bad user input for a run; reported as one line with exit status 2."""


@dataclass
class TrainConfig:
    # what to train
    env_id: str = "CartPole-v1"
    algo: str = "ppo"  # ppo | a2c
    n_envs: int = 8
    total_steps: int = 10_000_000  # agent steps (observations), not emulator frames
    seed: int = 0
    run_dir: str | None = None  # default runs/<env>__<algo>__<n_envs>__<seed>__<time>
    # environments
    backend: str = "auto"  # auto | ale | envpool | gymnasium
    protocol: str = "cleanrl"  # Atari only: cleanrl | machado
    env_threads: int | None = None  # ALE threads; default min(n_envs, cores)
    # optimisation (None = the algorithm's default from ALGO_DEFAULTS)
    lr: float | None = None
    anneal_lr: bool = True  # linear decay to 0 over total_steps
    n_steps: int | None = None  # rollout length per env
    gamma: float = 0.99
    gae_lambda: float | None = None  # PPO 0.95; A2C uses n-step returns unless set
    num_minibatches: int = 4  # PPO
    update_epochs: int = 4  # PPO
    clip_coef: float = 0.1  # PPO
    clip_vloss: bool = True  # PPO
    vf_coef: float | None = None
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    norm_adv: bool | None = None
    adam_eps: float = 1e-5  # PPO (Adam)
    rms_alpha: float = 0.99  # A2C (RMSProp)
    rms_eps: float = 1e-5  # A2C (RMSProp)
    # hardware
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 (autocast in PPO's update); rlnoise.hardware
    channels_last: bool | None = None  # NHWC convs for Atari frames; None = on (faster here)
    torch_threads: int | None = None  # default: rlnoise.hardware.resolve_threads
    rollout: str = "auto"  # auto | sync | double (two env halves in flight); rlnoise.hardware
    cuda_graph: bool = False  # replay the acting forward from a CUDA graph (needs --device cuda)
    # noise scale (rlnoise.measure)
    noise: bool = True
    noise_groups: int = 8  # K env groups (time chunks with one env)
    noise_every: int | None = None  # every M updates exactly; None = adaptive (noise_budget)
    noise_budget: float | None = None  # adaptive cadence's wall-time share; None: 0.03, or 0
    noise_decay: float = 0.95  # EMA decay per measurement
    b_noise_every: int = 0  # 0 = off; else B_noise via Hessian-vector products every M updates
    # bookkeeping
    checkpoint_every: int = 50  # updates
    episode_window: int = 20  # episodes in the "recent return" mean
    target_return: float | None = None  # stop when the recent mean return reaches this
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def resolved(self) -> TrainConfig:
        """A copy with every algorithm default filled in."""
        d = ALGO_DEFAULTS[self.algo]
        c = dataclasses.replace(self)
        for k in ("lr", "n_steps", "vf_coef", "norm_adv"):
            if getattr(c, k) is None:
                setattr(c, k, d[k])
        if c.gae_lambda is None:
            c.gae_lambda = d["gae_lambda"]  # type: ignore[assignment]
        if c.noise_budget is None:  # adaptive unless --noise-every pins the cadence
            c.noise_budget = NOISE_BUDGET if c.noise_every is None else 0.0
        if c.noise_every is None:
            c.noise_every = 1  # the adaptive cadence's densest: every update
        return c

    @property
    def batch_size(self) -> int:
        """Observations per update (n_envs x n_steps)."""
        assert self.n_steps is not None
        return self.n_envs * self.n_steps

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)
