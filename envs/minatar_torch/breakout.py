"""Breakout: bounce the ball off the paddle at the bottom to clear three rows of bricks.

Rules (MinAtar): the ball moves one cell diagonally per step and bounces off the side walls and
the ceiling. Hitting a brick removes it (+1), the ball reflects vertically and stays in its row;
a brick hit is scored only if the previous step struck nothing (the strike flag), so the ball can
pass a brick it touches twice in a row. When the ball reaches the bottom row: the bricks come back
if all are gone; it bounces straight back if it was above the paddle, reflects both ways if it
lands on the paddle, else the game ends. No difficulty ramp. Actions: no-op, left, right.

State layout: the bricks only ever fill rows 1-3, so the brick map is one int64 per env with bit
`row * 10 + column` set for a brick (bits 10-39), "brick_mask" (`brick_grid` gives the map). The ball
direction d is 0 up-left, 1 up-right, 2 down-right, 3 down-left, so bouncing off a side wall is
d ^ 1, off the ceiling, a brick or straight off the paddle d ^ 3, and off the paddle's corner d ^ 2.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .core import GRID, LEFT, NOOP, RIGHT, State, TorchGame, lookup, planes_from_cells

CELLS = GRID * GRID
ALL_BRICKS = (1 << 40) - (1 << 10)  # rows 1-3 full
ROW = (1 << GRID) - 1  # one row's bits
_DX = (-1, 1, 1, -1)  # by direction
_DY = (-1, -1, 1, 1)
_MOVE = (0, -1, 0, 1, 0, 0)  # paddle, by full-set action


class Breakout(TorchGame):
    name = "breakout"
    channels = ("paddle", "ball", "trail", "brick")
    minimal_actions = (NOOP, LEFT, RIGHT)
    reset_slots = ("ball_start",)
    step_slots = ()

    def start(self, u: Tensor) -> State:
        # randint(2) == 1, i.e. floor(u * 2) == 1 (exact in float32): start at column 9
        right = self.slot(u, "ball_start", reset=True) >= 0.5
        ball_x = torch.where(right, GRID - 1, 0)
        return {
            **_start(u.device),
            "ball_x": ball_x,
            "ball_dir": torch.where(right, 3, 2),  # down-right from column 0, else down-left
            "last_x": ball_x,
        }

    def advance(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        lut = _luts(action.device)
        pos = (s["pos"] + lookup(lut["move"], action)).clamp_(0, GRID - 1)
        bx, by, d, bricks = s["ball_x"], s["ball_y"], s["ball_dir"], s["brick_mask"]
        nx = bx + lookup(lut["dx"], d)
        ny = by + lookup(lut["dy"], d)
        x = nx.clamp(0, GRID - 1)
        side = x != nx  # off a side wall: kept in the grid, turned back
        # The cell's bit; above the top row (y = -1) and below row 3 there are no bricks, and the
        # clamp keeps the shift in range there (bits 0 and 63 are never set).
        bit = 1 << (ny * GRID + x).clamp_(0, 63)
        brick = (bricks & bit) != 0
        hit = brick & ~s["strike"]
        # The bottom row: the ball was above the paddle, lands on its corner, or is lost.
        bottom = ny == GRID - 1
        over = bottom & (bx == pos)
        missed = bottom & ~over
        corner = missed & (x == pos)
        top = ny < 0
        # Bounces (see the direction codes above); a ball that bounces back up keeps its row.
        d = torch.where(side, d ^ 1, d)
        d = torch.where(top | hit | over, d ^ 3, d)
        d = torch.where(corner, d ^ 2, d)
        ny = torch.where(hit | over | corner, by, ny.clamp_(min=0))
        bricks = torch.where(hit, bricks ^ bit, bricks)
        bricks = torch.where(bottom & (bricks == 0), ALL_BRICKS, bricks)  # all gone: refill
        lost = missed & ~corner
        out = {
            "ball_x": x,
            "ball_y": ny,
            "ball_dir": d,
            "pos": pos,
            "last_x": bx,
            "last_y": by,
            "brick_mask": bricks,
            "strike": brick,
            "terminal": lost,
        }
        return out, hit.float(), lost

    def observe(self, s: State) -> Tensor:
        lut = _luts(s["pos"].device)
        cells = torch.stack(
            [
                s["pos"] + (GRID - 1) * GRID,
                s["ball_y"] * GRID + s["ball_x"] + CELLS,
                s["last_y"] * GRID + s["last_x"] + 2 * CELLS,
            ],
            dim=1,
        )
        obs = planes_from_cells(cells, len(self.channels))
        # brick rows 1-3 by their 10-bit masks, from a table of each mask's ten cells
        rows = (s["brick_mask"].unsqueeze(1) >> lut["row_shifts"]) & ROW
        obs[:, 3, 1:4] = lookup(lut["row_cells"], rows)
        return obs


def brick_grid(mask: Tensor) -> Tensor:
    """The bool map [..., 10, 10] of brick masks [...]."""
    bits = torch.arange(CELLS, device=mask.device).clamp(max=63)  # bit 63 is never set
    return ((mask.unsqueeze(-1) >> bits) & 1).bool().view(*mask.shape, GRID, GRID)


def brick_mask(grid: Tensor) -> Tensor:
    """The brick mask [...] of a bool map [..., 10, 10] (only rows 1-3 can hold bricks)."""
    rows = grid[..., 1:4, :].reshape(*grid.shape[:-2], 3 * GRID).long()
    return (rows << torch.arange(GRID, 4 * GRID, device=grid.device)).sum(-1)


_LUT_CACHE: dict[torch.device, dict[str, Tensor]] = {}


def _luts(device: torch.device) -> dict[str, Tensor]:
    """The move and observation tables on `device` (built once per device)."""
    if device not in _LUT_CACHE:
        masks = torch.arange(1 << GRID, device=device).unsqueeze(1)
        _LUT_CACHE[device] = {
            "dx": torch.tensor(_DX, device=device),
            "dy": torch.tensor(_DY, device=device),
            "move": torch.tensor(_MOVE, device=device),
            "row_shifts": torch.tensor([GRID, 2 * GRID, 3 * GRID], device=device),
            "row_cells": (masks >> torch.arange(GRID, device=device)) & 1 == 1,  # [1024, 10]
        }
    return _LUT_CACHE[device]


_START_CACHE: dict[torch.device, State] = {}


def _start(device: torch.device) -> State:
    """The start state with batch size 1 (the ball's column and direction are drawn)."""
    if device not in _START_CACHE:

        def one(v: int, dtype: torch.dtype = torch.int64) -> Tensor:
            return torch.full((1,), v, dtype=dtype, device=device)

        _START_CACHE[device] = {
            "ball_x": one(0),
            "ball_y": one(3),
            "ball_dir": one(2),
            "pos": one(4),
            "last_x": one(0),
            "last_y": one(3),
            "brick_mask": one(ALL_BRICKS),
            "strike": one(False, torch.bool),
            "terminal": one(False, torch.bool),
        }
    return _START_CACHE[device]
