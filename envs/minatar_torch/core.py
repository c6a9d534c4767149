"""What every torch MinAtar game implements, and the integer helpers they share.

A game is a set of pure functions over a *state*: a dict of tensors whose first dimension is the
batch of N envs. `reset` and `step` take one uniform per random decision, in fixed named slots
(`reset_slots`, `step_slots`), so one `torch.rand` per step feeds every env and the code has no
data-dependent Python branches, `.item()` calls or boolean-mask indexing: it can run under a CUDA
graph or `torch.compile`. Draws map to values exactly as the test oracle maps them (see
`uniform_int`): `randint(low, high)` is `low + floor(u * (high - low))`, `rand() < p` is `u < p`.
Rules follow MinAtar's published game descriptions (Young & Tian 2019); the original package is a
test oracle only (tests/minatar_oracle.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

State = dict[str, Tensor]

# The full MinAtar action set, by index: no-op, left, up, right, down, fire.
NOOP, LEFT, UP, RIGHT, DOWN, FIRE = range(6)
NUM_ACTIONS = 6
GRID = 10


def uniform_int(u: Tensor, low: int, high: int) -> Tensor:
    """An integer in [low, high) from a uniform in [0, 1): low + floor(u * (high - low)), int64."""
    k = torch.floor(u * float(high - low)).to(torch.int64)
    return low + k.clamp_(0, high - low - 1)


def where_state(mask: Tensor, a: State, b: State) -> State:
    """Per env, a's fields where `mask` [N] is true, else b's."""
    out = {}
    for k, va in a.items():
        vb = b[k]
        m = mask.view(mask.shape + (1,) * (va.dim() - 1))
        out[k] = torch.where(m, va, vb)
    return out


def cell_planes(y: Tensor, x: Tensor, valid: Tensor | None = None) -> Tensor:
    """[N, 10, 10] bool with a 1 at (y, x) of each env (where `valid`, if given)."""
    idx = (y * GRID + x).clamp(0, GRID * GRID - 1)
    cells = torch.arange(GRID * GRID, device=y.device)
    plane = cells == idx.unsqueeze(-1)
    if valid is not None:
        plane = plane & valid.unsqueeze(-1)
    return plane.view(*y.shape, GRID, GRID)


class TorchGame:
    """Base for a batched MinAtar game on one torch device; subclasses set the class attributes."""

    name: str  # the original's module name, e.g. "breakout"
    channels: tuple[str, ...]  # observation channels, in the original's order
    minimal_actions: tuple[int, ...]  # indices into the full action set
    reset_slots: tuple[str, ...] = ()
    step_slots: tuple[str, ...] = ()

    def __init__(self, ramping: bool = True) -> None:
        self.ramping = ramping

    def reset(self, u: Tensor) -> State:
        """A fresh start state for every env; `u` is [N, len(reset_slots)]."""
        raise NotImplementedError

    def step(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        """(next state, reward float32 [N], terminal bool [N]) for full-set actions [N] int64.

        `u` is [N, len(step_slots)]. A terminal env steps to itself with reward 0.
        """
        raise NotImplementedError

    def observe(self, s: State) -> Tensor:
        """[N, C, 10, 10] bool, channels in `channels` order."""
        raise NotImplementedError

    def slot(self, u: Tensor, name: str, reset: bool = False) -> Tensor:
        """Column `name` of a step (or reset) uniform block."""
        names = self.reset_slots if reset else self.step_slots
        return u[:, names.index(name)]
