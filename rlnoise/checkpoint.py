"""Checkpoints: atomic writes (temp file + rename), safe loads (weights_only=True)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rlnoise.errors import UserError
from rlnoise.files import (  # noqa: F401 - re-exported for old callers
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(UserError):
    """A checkpoint is missing or cannot be read."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file in the same directory, fsync, then rename over `path`."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated or not a torch file
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not an rlnoise checkpoint")
    return state
