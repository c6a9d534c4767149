"""Which env ids rlnoise can make, what kind each is, and suggestions for typos.

Atari ids are Gymnasium's `ALE/<Game>-v5` names for every ROM that ale-py registers (ale-py ships
the ROMs; the four two-player-only ROMs it does not register are left out); the ROM id comes from
that registration (`ALE/SpaceInvaders-v5` -> `space_invaders`). MinAtar ids are
`MinAtar/<Game>-v1` (minimal action set) and `-v0` (all 6 actions). Any other Gymnasium id with a
1-D Box observation and Discrete actions works on the "gymnasium" backend; `list_env_ids` names the
classic-control ones.
"""

from __future__ import annotations

import difflib
import functools
import warnings

import gymnasium as gym

from .errors import EnvError

MINATAR_GAMES = {
    "Asterix": "asterix",
    "Breakout": "breakout",
    "Freeway": "freeway",
    "Seaquest": "seaquest",
    "SpaceInvaders": "space_invaders",
}
MINATAR_IDS = {f"MinAtar/{name}-v{v}": game for name, game in MINATAR_GAMES.items() for v in (0, 1)}


@functools.lru_cache(maxsize=1)
def atari_games() -> dict[str, str]:
    """Map `ALE/<Game>-v5` to its ale-py ROM id."""
    import ale_py

    gym.register_envs(ale_py)
    return {
        env_id: spec.kwargs["game"]
        for env_id, spec in gym.registry.items()
        if env_id.startswith("ALE/") and env_id.endswith("-v5") and "game" in spec.kwargs
    }


@functools.lru_cache(maxsize=1)
def _classic_ids() -> tuple[str, ...]:
    ids = []
    for env_id, spec in gym.registry.items():
        entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
        if not entry.startswith("gymnasium.envs.classic_control"):
            continue
        with warnings.catch_warnings():  # e.g. "CartPole-v0 is out of date"
            warnings.simplefilter("ignore")
            env = gym.make(env_id)
        if isinstance(env.action_space, gym.spaces.Discrete):
            ids.append(env_id)
        env.close()
    return tuple(ids)


def list_env_ids() -> list[str]:
    """The ids rlnoise knows: all `ALE/<Game>-v5`, the MinAtar ids, Gymnasium classic control."""
    return sorted(atari_games()) + sorted(MINATAR_IDS) + list(_classic_ids())


def is_atari(env_id: str) -> bool:
    return env_id in atari_games()


def is_minatar(env_id: str) -> bool:
    return env_id in MINATAR_IDS


def env_kind(env_id: str) -> str:
    """ "atari", "minatar" or "gymnasium"; EnvError naming close matches for an unknown id."""
    if is_atari(env_id):
        return "atari"
    if is_minatar(env_id):
        return "minatar"
    spec = gym.registry.get(env_id) if isinstance(env_id, str) else None
    if spec is not None:
        if isinstance(spec.entry_point, str) and spec.entry_point.startswith("ale_py"):
            game = "".join(w.capitalize() for w in spec.kwargs.get("game", "").split("_"))
            raise EnvError(
                f"Atari ids are Gymnasium's ALE/<Game>-v5 names (e.g. ALE/{game}-v5), got {env_id!r}"
            )
        return "gymnasium"
    raise EnvError(f"unknown env id {env_id!r}{_suggestion(str(env_id))}")


def _suggestion(env_id: str) -> str:
    ids = list_env_ids()
    by_lower = {i.lower(): i for i in ids}
    close = difflib.get_close_matches(env_id.lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        return "; see envs.list_env_ids()"
    return "; did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?"
