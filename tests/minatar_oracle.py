"""The original `minatar` package as a test oracle for the torch games (not shipped code).

`ScriptedRandom` replaces a game's `RandomState`: every draw the original makes is looked up by
its call site -- (phase, calling function, numpy method, ordinal of that call within the phase)
-- in the game's slot map and answered from the uniforms the torch env consumed in that slot, with
the torch side's formulas (`randint(low, high)` = low + floor(u * (high - low)) in float32,
`rand()` = u). An unmapped draw fails the test. `lockstep` steps both sides through whole
episodes with the same draws and compares state, observation, reward and terminal exactly.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch

from envs.backend_minatar import _game_class
from envs.backend_minatar_torch import STICKY_ACTION_PROB, MinAtarTorchVecEnv

SlotMap = dict[tuple[str, str, str, int], "str | tuple[str, ...]"]


class ScriptedRandom:
    """Answers the original game's draws from named uniforms, by call site."""

    def __init__(self, slot_map: SlotMap) -> None:
        self.slot_map = slot_map
        self.phase = ""
        self.values: dict[str, np.float32] = {}
        self.calls: Counter = Counter()

    def feed(self, phase: str, values: dict[str, np.float32]) -> None:
        self.phase, self.values, self.calls = phase, values, Counter()

    def _take(self, method: str) -> np.ndarray:
        func = sys._getframe(2).f_code.co_name
        key = (func, method)
        ordinal = self.calls[key]
        self.calls[key] += 1
        slot = self.slot_map.get((self.phase, func, method, ordinal))
        if slot is None:
            raise AssertionError(f"unmapped draw {(self.phase, func, method, ordinal)}")
        names = (slot,) if isinstance(slot, str) else slot
        return np.array([self.values[n] for n in names], dtype=np.float32)

    def rand(self, *size: int):
        u = self._take("rand")
        return float(u[0]) if not size else u.astype(np.float64).reshape(size)

    def randint(self, low: int, high: int | None = None, size: int | None = None):
        if high is None:
            low, high = 0, low
        u = self._take("randint")
        k = np.floor(u * np.float32(high - low)).astype(np.int64)
        k = low + np.clip(k, 0, high - low - 1)
        return int(k[0]) if size is None else k


class OracleEnv:
    """One original game with MinAtar's sticky-action wrapper, drawing from a ScriptedRandom."""

    def __init__(self, game: str, slot_map: SlotMap) -> None:
        self.game = _game_class(game)(ramping=True)
        self.random = ScriptedRandom(slot_map)
        self.game.random = self.random
        self.last_action = 0

    def reset(self, values: dict[str, np.float32]) -> None:
        self.random.feed("reset", values)
        self.game.reset()

    def act(self, action: int, sticky_u: np.float32, values: dict) -> tuple[float, bool]:
        if sticky_u < np.float32(STICKY_ACTION_PROB):
            action = self.last_action
        self.last_action = action
        self.random.feed("step", values)
        return self.game.act(action)


def _named(u_row: np.ndarray, names: tuple[str, ...]) -> dict[str, np.float32]:
    return {n: u_row[i] for i, n in enumerate(names)}


def lockstep(
    env_id: str,
    n_envs: int,
    n_steps: int,
    policy: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    slot_map: SlotMap,
    from_oracle: Callable[[object], dict[str, np.ndarray]],
    seed: int = 0,
    from_torch: Callable[[dict], dict[str, np.ndarray]] | None = None,
) -> dict[str, int]:
    """Step the torch env and one oracle per env in lockstep; assert equality at every step.

    `policy(obs, gen)` returns full-set actions (use a -v0 id). `from_oracle(game)` gives the
    original game's state in the torch state's field names (a subset of them). Returns counts
    (episodes ended, reward total, steps) so tests can check that the run covered real play.
    `from_torch(state)`, if given, maps the torch state to the compared fields (a canonical view,
    for games whose state tensors are laid out differently from the original's lists).
    """
    venv = MinAtarTorchVecEnv(env_id, n_envs, seed)
    game = venv.game
    n_step = len(game.step_slots)
    obs = venv.reset()
    first = venv.last_uniforms.numpy()
    oracles = [OracleEnv(game.name, slot_map) for _ in range(n_envs)]
    for i, o in enumerate(oracles):
        o.reset(_named(first[i, 1 + n_step :], game.reset_slots))
    _compare(venv, oracles, obs, from_oracle, step=-1, from_torch=from_torch)
    gen_pol = torch.Generator().manual_seed(seed + 1)
    counts = {"episodes": 0, "reward": 0, "steps": 0}
    for t in range(n_steps):
        actions = policy(obs, gen_pol)
        obs, reward, term, _, _ = venv.step(actions)
        block = venv.last_uniforms.numpy()
        executed = actions.numpy()
        for i, o in enumerate(oracles):
            r, done = o.act(
                int(executed[i]), block[i, 0], _named(block[i, 1 : 1 + n_step], game.step_slots)
            )
            assert r == float(reward[i]), f"step {t} env {i}: reward {r} vs {float(reward[i])}"
            assert done == bool(term[i]), f"step {t} env {i}: terminal {done} vs {bool(term[i])}"
            if done:
                o.reset(_named(block[i, 1 + n_step :], game.reset_slots))
        _compare(venv, oracles, obs, from_oracle, step=t, from_torch=from_torch)
        counts["episodes"] += int(term.sum())
        counts["reward"] += float(reward.sum())
        counts["steps"] += n_envs
    return counts


def _compare(venv, oracles, obs, from_oracle, step: int, from_torch=None) -> None:
    want_obs = np.stack([o.game.state() for o in oracles]).transpose(0, 3, 1, 2)
    got_obs = obs.numpy().astype(bool)
    if not np.array_equal(want_obs, got_obs):
        bad = np.flatnonzero((want_obs != got_obs).reshape(len(oracles), -1).any(1))
        raise AssertionError(f"step {step}: observations differ in envs {bad[:10].tolist()}")
    rows = [from_oracle(o.game) for o in oracles]
    state = venv.state if from_torch is None else from_torch(venv.state)
    for key in rows[0]:
        want = np.stack([np.asarray(r[key]) for r in rows])
        got = np.asarray(state[key])
        if not np.array_equal(want, got.astype(want.dtype) if want.dtype != got.dtype else got):
            bad = np.flatnonzero((want.reshape(len(rows), -1) != got.reshape(len(rows), -1)).any(1))
            i = int(bad[0])
            raise AssertionError(
                f"step {step}: state {key!r} differs in envs {bad[:10].tolist()}; "
                f"env {i}: original {want[i]} torch {got[i]}"
            )


def random_policy(obs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 6, (obs.shape[0],), generator=gen)


def biased_policy(weights: list[float]) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Full-set actions drawn from fixed weights (e.g. mostly 'up' to cross Freeway's road)."""
    w = torch.tensor(weights, dtype=torch.float64)

    def policy(obs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return torch.multinomial(w, obs.shape[0], replacement=True, generator=gen)

    return policy
