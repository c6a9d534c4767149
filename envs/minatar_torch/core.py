"""What every torch MinAtar game implements, and the integer helpers they share.

A game is a set of pure functions over a *state*: a dict of tensors whose first dimension is the
batch of N envs. `reset` and `step` take one uniform per random decision, in fixed named slots
(`reset_slots`, `step_slots`), so one `torch.rand` per step feeds every env and the code has no
data-dependent Python branches, `.item()` calls or boolean-mask indexing: it can run under a CUDA
graph or `torch.compile`. Draws map to values exactly as the test oracle maps them (see
`uniform_int`): `randint(low, high)` is `low + floor(u * (high - low))`, `rand() < p` is `u < p`.
Rules follow MinAtar's published game descriptions (Young & Tian 2019); the original package is a
test oracle only (tests/minatar_oracle.py).

The vector env steps with `advance` (no finished game in the batch), blends `start` into the envs
whose game ended (`restart`) and reads `observe_cells` (or `observe`). At 1,024 envs on a CPU
every torch op costs a few microseconds whatever it computes, so the games are written for few
ops: states as integer codes and bitmasks, one table lookup (`lookup`) instead of a chain of
comparisons, no mixed-dtype arithmetic (each costs a conversion op), batch-1 constants in `start`.
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


def lookup(table: Tensor, index: Tensor) -> Tensor:
    """table[index]: rows of `table` for an int64 index of any shape (index_select: about twice
    as fast as `torch.take` or indexing on the CPU)."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])


def where_state(mask: Tensor, a: State, b: State) -> State:
    """Per env, a's fields where `mask` [N] is true, else b's."""
    masks = {1: mask}  # by field rank
    out = {}
    for k, va in a.items():
        rank = va.dim()
        if rank not in masks:
            masks[rank] = mask.view(mask.shape + (1,) * (rank - 1))
        out[k] = torch.where(masks[rank], va, b[k])
    return out


def planes_from_cells(cells: Tensor, channels: int) -> Tensor:
    """[N, channels, 10, 10] bool with a 1 at each flat index of `cells` [N, K] (repeats allowed)."""
    # Built as uint8 and viewed as bool (the same bytes): zero-filling and scattering a source
    # tensor are both several times faster in uint8 than filling bool with a scalar.
    n = cells.shape[0]
    planes = torch.zeros(n, channels * GRID * GRID, dtype=torch.uint8, device=cells.device)
    planes.scatter_(1, cells, torch.ones_like(cells, dtype=torch.uint8))
    return planes.view(torch.bool).view(n, channels, GRID, GRID)


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
        """A fresh start state for every env (tensors of its own); `u` is [N, len(reset_slots)]."""
        n = u.shape[0]
        return {k: v.expand(n, *v.shape[1:]).clone() for k, v in self.start(u).items()}

    def start(self, u: Tensor) -> State:
        """The start state for the draws `u`, in which a field that no draw changes may have
        batch size 1 (it broadcasts): what the vector env's autoreset blends in every step, so
        it should be cheap. A game implements this or overrides `reset`."""
        return self.reset(u)

    def step(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        """(next state, reward float32 [N], terminal bool [N]) for full-set actions [N] int64.

        `u` is [N, len(step_slots)]. A terminal env steps to itself with reward 0. A game either
        overrides this or implements `advance` and `finished`, and this freezes the finished envs.
        """
        over = self.finished(s)
        nxt, reward, term = self.advance(s, action, u)
        return where_state(over, s, nxt), reward.masked_fill(over, 0.0), term | over

    def advance(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        """`step` for a batch in which no game is over: what the vector env calls, as it replaces
        a finished game in the step that ends it. A game may skip freezing finished envs here."""
        return self.step(s, action, u)

    def finished(self, s: State) -> Tensor:
        """bool [N]: the envs whose game is over."""
        return s["terminal"]

    def restart(self, ended: Tensor, s: State, u: Tensor) -> State:
        """The same-step autoreset: `start(u)` where `ended` [N] is true, else `s` (u as for
        `start`). A game may override it with a blend that costs fewer ops."""
        return where_state(ended, self.start(u), s)

    def observe(self, s: State) -> Tensor:
        """[N, C, 10, 10] bool, channels in `channels` order (a fresh tensor each call)."""
        return planes_from_cells(self.observe_cells(s), len(self.channels))

    def observe_cells(self, s: State) -> Tensor:
        """The observation as the flat indices (channel * 100 + row * 10 + column) of its set
        cells, int64 [N, K] for a K fixed by the game; a cell may be listed more than once (so a
        thing not on screen can name a cell that is set anyway). A game either implements this
        or overrides `observe`."""
        raise NotImplementedError

    def slot(self, u: Tensor, name: str, reset: bool = False) -> Tensor:
        """Column `name` of a step (or reset) uniform block."""
        names = self.reset_slots if reset else self.step_slots
        return u[:, names.index(name)]
