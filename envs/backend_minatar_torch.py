"""MinAtar on a torch device: all envs of a batch step as tensors, never leaving the device.

`MinAtarTorchVecEnv` has the shape of `VecEnv` (reset, step, send/recv, close, spaces,
`spec_info`) but takes and returns torch tensors on its device: observations uint8
[N, C, 10, 10], rewards float32, terminated/truncated bool, and info["episode_done"],
info["episode_return"] (NaN where not done) and info["episode_length"] (0 where not done) as for
every backend. Nothing here synchronises with the host: reading the statistics is the caller's
choice (the trainer reads them once per update).

Randomness: one `torch.Generator` on the device, seeded with `seed` at the first reset; each step
draws one uniform block [N, 1 + len(step_slots) + len(reset_slots)]: column 0 is the sticky-action
draw (the previous executed action repeats with probability 0.1, as in MinAtar, and survives a
game reset), then the game's step slots, then the reset slots used by the same-step autoreset of
envs whose game ended. Unlike the per-env backends, env i has no seed of its own: a batch's
streams depend on n_envs. MinAtar sets no time limit, so `truncated` is always false.

Speed: on a CPU a step runs on one thread (its tensors are too small for intra-op threads to
pay), and `compile=True` runs it under torch.compile, 1.5-3x faster after a first compile of
seconds (benchmarks/minatar_throughput.py; figures in benchmarks/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from torch import Tensor

from .catalog import MINATAR_IDS
from .errors import EnvError
from .minatar_torch import game_class
from .minatar_torch.core import NUM_ACTIONS, State, TorchGame, planes_from_cells

STICKY_ACTION_PROB = 0.1


class MinAtarTorchVecEnv:
    """N MinAtar games of one kind stepping as tensors on `device`."""

    is_torch = True

    def __init__(
        self, env_id: str, n_envs: int, seed: int, device: str = "cpu", compile: bool = False
    ) -> None:
        if env_id not in MINATAR_IDS:
            raise EnvError(f"{env_id!r} is not a MinAtar id")
        try:
            self.device = torch.device(device)
        except RuntimeError as e:
            raise EnvError(f"bad device {device!r}: {e}") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise EnvError("device cuda was asked for but torch sees no CUDA device")
        self.game = game_class(MINATAR_IDS[env_id])(ramping=True)
        actions = self.game.minimal_actions if env_id.endswith("-v1") else range(NUM_ACTIONS)
        self.action_set = torch.tensor(list(actions), dtype=torch.int64, device=self.device)
        self.num_envs = n_envs
        c = len(self.game.channels)
        self.single_observation_space = spaces.Box(0, 1, shape=(c, 10, 10), dtype="uint8")
        self.single_action_space = spaces.Discrete(len(self.action_set))
        self.obs_kind = "minatar"
        self.reward_clip = False
        self._seed = seed
        self._n_step = len(self.game.step_slots)
        self._width = 1 + self._n_step + len(self.game.reset_slots)
        self._gen = torch.Generator(device=self.device)
        self.spec_info: dict[str, Any] = {
            "env_id": env_id,
            "backend": "torch",
            "device": str(self.device),
            "game": self.game.name,
            "protocol": None,
            "sticky_action_prob": STICKY_ACTION_PROB,
            "difficulty_ramping": True,
            "action_set": [int(a) for a in actions],
            "max_episode_steps": None,
            "seed": seed,
            "num_envs": n_envs,
            "obs_kind": "minatar",
            "reward_clip": False,
        }
        self.state: State = {}
        # torch.compile fuses the step (all but a dense observation) into a few C++ loops. On the
        # CPU, inductor's scalar loops (simdlen 1): its vectorised code is no faster overall for
        # this int64/bool work, and has failed to build for bool views (benchmarks/RESULTS.md).
        self._transition = self._eager_transition
        if compile:
            options = {"cpp.simdlen": 1} if self.device.type == "cpu" else None
            self._transition = torch.compile(self._transition, dynamic=False, options=options)
        self.spec_info["compiled"] = compile
        self.last_uniforms: Tensor | None = None
        self._pending: Tensor | None = None
        self._channels = len(self.game.channels)
        # games that list their observation's cells leave the scatter to step_with
        self._by_cells = type(self.game).observe_cells is not TorchGame.observe_cells
        self._has_reset = False
        self._closed = False

    # ---- public API ----------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> Tensor:
        """Start every game afresh; the first reset seeds the generator with `make`'s seed."""
        if seed is None and not self._has_reset:
            seed = self._seed
        if seed is not None:
            self._gen.manual_seed(int(seed))
        n, dev = self.num_envs, self.device
        u = self.last_uniforms = self._draw()
        self.state = self.game.reset(u[:, 1 + self._n_step :])
        self.last_action = torch.zeros(n, dtype=torch.int64, device=dev)
        self._returns = torch.zeros(n, dtype=torch.float32, device=dev)
        self._lengths = torch.zeros(n, dtype=torch.int64, device=dev)
        self._false = torch.zeros(n, dtype=torch.bool, device=dev)
        self._nan = torch.tensor(torch.nan, device=dev)
        self._zero = torch.tensor(0, device=dev)
        self._has_reset = True
        self._pending = None
        return self.observe()

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """One step of every env with actions [N] (indices into the action set), autoreset."""
        self._check(actions)
        executed = self.action_set.index_select(0, actions)
        u = self._draw()
        return self.step_with(executed, u)

    def step_with(
        self, executed: Tensor, u: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """A step with full-set actions and a given uniform block (tests feed their own)."""
        self.last_uniforms = u
        # On the CPU the step's tensors are far too small for torch's intra-op threads to pay:
        # a parallel region only adds a thread wake-up, and on a busy machine it waits for a
        # core (the step ran 10-20x slower with 2 threads under load). Step on one thread.
        threads = torch.get_num_threads() if self.device.type == "cpu" else 1
        if threads > 1:
            torch.set_num_threads(1)
        try:
            out = self._transition(
                self.state, self.last_action, self._returns, self._lengths, executed, u
            )
            self.state, self.last_action, cells, reward, term = out[:5]
            self._returns, self._lengths, episode_return, episode_length = out[5:]
            obs = self.game.observe(self.state) if cells is None else self._planes(cells)
        finally:
            if threads > 1:
                torch.set_num_threads(threads)
        info = {
            "episode_done": term,
            "episode_return": episode_return,
            "episode_length": episode_length,
        }
        # bool and uint8 share their bytes: the view costs nothing
        return obs.view(torch.uint8), reward, term, self._false, info

    def _eager_transition(
        self,
        state: State,
        last: Tensor,
        returns: Tensor,
        lengths: Tensor,
        executed: Tensor,
        u: Tensor,
    ) -> tuple[State | Tensor | None, ...]:
        """Sticky action, game step, same-step autoreset, the observation's cells (None where the
        game does not list them: the caller observes) and episode statistics: a pure function.

        No game in `state` is over (each was replaced in the step that ended it), so the game
        advances without freezing finished envs.
        """
        game = self.game
        a = torch.where(u[:, 0] < STICKY_ACTION_PROB, last, executed)
        s, reward, term = game.advance(state, a, u[:, 1 : 1 + self._n_step])
        s = game.restart(term, s, u[:, 1 + self._n_step :])
        cells = game.observe_cells(s) if self._by_cells else None
        returns = returns + reward
        lengths = lengths + 1
        episode_return = torch.where(term, returns, self._nan)
        episode_length = torch.where(term, lengths, self._zero)
        returns = returns.masked_fill(term, 0.0)
        lengths = lengths.masked_fill(term, 0)
        return s, a, cells, reward, term, returns, lengths, episode_return, episode_length

    def send(self, actions: Tensor) -> None:
        if self._pending is not None:
            raise EnvError("send() called twice without recv()")
        self._check(actions)
        self._pending = actions

    def recv(self) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor]]:
        if self._pending is None:
            raise EnvError("recv() called without a pending send()")
        actions, self._pending = self._pending, None
        return self.step(actions)

    def observe(self) -> Tensor:
        return self.game.observe(self.state).view(torch.uint8)

    def close(self) -> None:
        self._closed = True
        self.state = {}

    def __enter__(self) -> MinAtarTorchVecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MinAtarTorchVecEnv {self.spec_info['env_id']} x{self.num_envs} {self.device}>"

    # ---- helpers ---------------------------------------------------------------------------
    def _planes(self, cells: Tensor) -> Tensor:
        return planes_from_cells(cells, self._channels)

    def _draw(self) -> Tensor:
        shape = (self.num_envs, self._width)
        return torch.rand(shape, generator=self._gen, device=self.device)

    def _check(self, actions: Tensor) -> None:
        """Shape, dtype and device only: a range check would synchronise with the host."""
        if self._closed:
            raise EnvError("the environments are closed")
        if not self._has_reset:
            raise EnvError("call reset() before stepping the environments")
        if not isinstance(actions, Tensor):
            raise EnvError("the torch backend takes actions as a torch tensor")
        if actions.shape != (self.num_envs,) or actions.dtype not in (torch.int64, torch.int32):
            raise EnvError(
                f"actions must be an integer tensor of shape ({self.num_envs},), "
                f"got {actions.dtype} {tuple(actions.shape)}"
            )
        if actions.device != self.device:
            raise EnvError(f"actions are on {actions.device}, the envs on {self.device}")
