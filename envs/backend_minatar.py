"""MinAtar games as an in-process batch, without a Gymnasium vector env.

The game logic is MinAtar's own (`minatar/environments/<game>.py`, loaded by file path because
`import minatar` pulls in matplotlib and seaborn for rendering, about 4 s of start-up here).
`_StickyGame` repeats the 10 lines of `minatar.Environment` that wrap a game: sticky actions and
seeding, with MinAtar's defaults kept: sticky-action probability 0.1 (the previous action repeats)
and difficulty ramping on. As in minatar 1.0.15, seeding installs one `RandomState(seed)` shared by
the sticky-action draw and the game, and the previous action survives a game reset (we clear it
only on a seeded reset, so seeded resets repeat exactly). `-v1` ids use the game's minimal action
set, `-v0` all 6 actions. Observations are the game's [10, 10, C] booleans as uint8 [C, 10, 10].
MinAtar sets no episode time limit.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from .base import RawStep, SyncVecEnv
from .catalog import MINATAR_IDS
from .errors import EnvError

STICKY_ACTION_PROB = 0.1
DIFFICULTY_RAMPING = True
NUM_ACTIONS = 6


def _game_class(game: str) -> Any:
    spec = importlib.util.find_spec("minatar")
    if spec is None or not spec.submodule_search_locations:
        raise EnvError("MinAtar envs need the minatar package: pip install minatar")
    path = Path(spec.submodule_search_locations[0]) / "environments" / f"{game}.py"
    module_spec = importlib.util.spec_from_file_location(f"_rlnoise_minatar_{game}", path)
    if module_spec is None or module_spec.loader is None:
        raise EnvError(f"minatar has no game file {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.Env


class _StickyGame:
    """One MinAtar game with sticky actions, as `minatar.Environment` wraps it."""

    def __init__(self, game_cls: Any) -> None:
        self.game = game_cls(ramping=DIFFICULTY_RAMPING)
        self.random = self.game.random
        self.last_action = 0

    def seed(self, seed: int) -> None:
        self.random = self.game.random = np.random.RandomState(seed)
        self.last_action = 0

    def act(self, action: int) -> tuple[float, bool]:
        if self.random.rand() < STICKY_ACTION_PROB:
            action = self.last_action
        self.last_action = action
        return self.game.act(action)


class MinAtarVecEnv(SyncVecEnv):
    def __init__(self, env_id: str, n_envs: int, seed: int) -> None:
        game = MINATAR_IDS[env_id]
        game_cls = _game_class(game)
        self._games = [_StickyGame(game_cls) for _ in range(n_envs)]
        first = self._games[0].game
        full = list(range(NUM_ACTIONS))
        self._action_set = np.asarray(
            first.minimal_action_set() if env_id.endswith("-v1") else full
        )
        h, w, c = first.state_shape()
        super().__init__(
            num_envs=n_envs,
            observation_space=spaces.Box(0, 1, shape=(c, h, w), dtype=np.uint8),
            action_space=spaces.Discrete(len(self._action_set)),
            obs_kind="minatar",
            reward_clip=False,
            seed=seed,
            spec_info={
                "env_id": env_id,
                "backend": "minatar",
                "game": game,
                "protocol": None,
                "sticky_action_prob": STICKY_ACTION_PROB,
                "difficulty_ramping": DIFFICULTY_RAMPING,
                "action_set": [int(a) for a in self._action_set],
                "max_episode_steps": None,
                "minatar_version": importlib.metadata.version("minatar"),
                "seed": seed,
            },
        )

    def _obs(self) -> np.ndarray:
        states = np.stack([g.game.state() for g in self._games])  # [N, 10, 10, C] bool
        return np.ascontiguousarray(states.transpose(0, 3, 1, 2), dtype=np.uint8)

    def _reset(self, seed: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        for i, g in enumerate(self._games):
            if seed is not None:
                g.seed(seed + i)
            g.game.reset()
        return self._obs(), None

    def _step(self, actions: np.ndarray) -> RawStep:
        n = self.num_envs
        reward = np.zeros(n, dtype=np.float32)
        term = np.zeros(n, dtype=bool)
        for i, (g, a) in enumerate(zip(self._games, self._action_set[actions], strict=True)):
            reward[i], term[i] = g.act(int(a))
            if term[i]:
                g.game.reset()
        return self._obs(), reward, term, np.zeros(n, dtype=bool), None

    def _close(self) -> None:
        self._games = []
