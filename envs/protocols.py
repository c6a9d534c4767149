"""Atari evaluation protocols and the preprocessing every Atari backend shares.

"cleanrl" (default) follows CleanRL's ppo_atari / the Gymnasium v4 recipe: a life loss ends the
*learning* episode (the game goes on), no sticky actions, the game's minimal action set, up to 30
no-op starts and FIRE pressed after each game reset.

"machado" follows Machado et al. 2018 ("Revisiting the Arcade Learning Environment"): sticky actions
with probability 0.25, the full 18-action set, no life-loss signal and no FIRE on reset (no
game-specific knowledge). We keep the 30 no-op starts that the paper deems unnecessary under sticky
actions, so the two protocols differ only in the settings the paper is known for and runs stay
comparable; the choice is recorded in each run's config.
"""

from __future__ import annotations

from typing import Any

from .errors import EnvError

ATARI_PROTOCOLS: dict[str, dict[str, Any]] = {
    "cleanrl": {
        "episodic_life": True,
        "repeat_action_probability": 0.0,
        "full_action_space": False,
        "noop_max": 30,
        "fire_reset": True,
        "description": "CleanRL/Gymnasium-v4 style: life loss ends the learning episode, "
        "no sticky actions, minimal action set, 30 no-op starts, FIRE on reset",
    },
    "machado": {
        "episodic_life": False,
        "repeat_action_probability": 0.25,
        "full_action_space": True,
        "noop_max": 30,
        "fire_reset": False,
        "description": "Machado et al. 2018: sticky actions 0.25, full 18-action set, "
        "no life-loss signal, no FIRE on reset; 30 no-op starts kept for comparability",
    },
}

# Shared by every Atari backend. Rewards stay raw (the trainer clips them with sign()); episode
# statistics count agent steps (observations), not frames.
ATARI_PREPROCESSING: dict[str, Any] = {
    "frame_skip": 4,
    "maxpool": True,
    "frame_stack": 4,
    "screen_size": 84,
    "grayscale": True,
    "max_frames_per_episode": 108_000,
}


def get_protocol(name: str) -> dict[str, Any]:
    """The settings of a named Atari protocol; EnvError for an unknown name."""
    if name not in ATARI_PROTOCOLS:
        raise EnvError(f"unknown protocol {name!r}; choose one of {sorted(ATARI_PROTOCOLS)}")
    return ATARI_PROTOCOLS[name]


def atari_vecenv_args(
    env_id: str,
    n_envs: int,
    seed: int,
    protocol: str,
    vec: Any,
    backend_info: dict[str, Any],
) -> dict[str, Any]:
    """`VecEnv.__init__` keyword arguments shared by every Atari backend: uint8 frames, sign-
    clipped rewards for learning, our own episodic life, and the protocol in `spec_info`.
    `vec` is the backend's own vector env, whose single_observation/action_space are used."""
    settings = get_protocol(protocol)
    return {
        "num_envs": n_envs,
        "observation_space": vec.single_observation_space,
        "action_space": vec.single_action_space,
        "obs_kind": "frames",
        "reward_clip": True,
        "seed": seed,
        "episodic_life": settings["episodic_life"],
        "spec_info": {
            "env_id": env_id,
            **backend_info,
            "protocol": protocol,
            "protocol_settings": dict(settings),
            "preprocessing": dict(ATARI_PREPROCESSING),
            "episodic_life_impl": "rlnoise: life loss -> terminated, game continues",
            "seed": seed,
        },
    }
