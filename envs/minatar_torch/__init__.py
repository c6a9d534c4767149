"""MinAtar's five games as batched torch code (see `core` for the contract every game keeps)."""

from __future__ import annotations

import importlib

from .core import TorchGame

_CLASSES = {
    "asterix": "Asterix",
    "breakout": "Breakout",
    "freeway": "Freeway",
    "seaquest": "Seaquest",
    "space_invaders": "SpaceInvaders",
}


def game_class(name: str) -> type[TorchGame]:
    """The torch game class for a MinAtar game module name, e.g. "breakout"."""
    module = importlib.import_module(f"{__name__}.{name}")
    return getattr(module, _CLASSES[name])


__all__ = ["TorchGame", "game_class"]
