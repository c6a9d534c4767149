"""Breakout: bounce the ball off the paddle at the bottom to clear three rows of bricks.

Rules (MinAtar): the ball moves one cell diagonally per step and bounces off the side walls and
the ceiling. Hitting a brick removes it (+1), the ball reflects vertically and stays in its row;
a brick hit is scored only if the previous step struck nothing (the strike flag), so the ball can
pass a brick it touches twice in a row. When the ball reaches the bottom row: the bricks come back
if all are gone; it bounces straight back if it was above the paddle, reflects both ways if it
lands on the paddle, else the game ends. No difficulty ramp. Actions: no-op, left, right.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .core import GRID, LEFT, NOOP, RIGHT, State, TorchGame, cell_planes, uniform_int

# Direction d: 0 up-left, 1 up-right, 2 down-right, 3 down-left.
_DX = (-1, 1, 1, -1)
_DY = (-1, -1, 1, 1)
_FLIP_X = (1, 0, 3, 2)  # side wall
_FLIP_Y = (3, 2, 1, 0)  # ceiling, brick, straight bounce off the paddle
_FLIP_XY = (2, 3, 0, 1)  # landing on the paddle's corner


class Breakout(TorchGame):
    name = "breakout"
    channels = ("paddle", "ball", "trail", "brick")
    minimal_actions = (NOOP, LEFT, RIGHT)
    reset_slots = ("ball_start",)
    step_slots = ()

    def reset(self, u: Tensor) -> State:
        n, dev = u.shape[0], u.device
        right = uniform_int(self.slot(u, "ball_start", reset=True), 0, 2) == 1
        ball_x = torch.where(right, 9, 0)
        bricks = torch.zeros(n, GRID, GRID, dtype=torch.bool, device=dev)
        bricks[:, 1:4, :] = True
        return {
            "ball_x": ball_x,
            "ball_y": torch.full((n,), 3, dtype=torch.int64, device=dev),
            "ball_dir": torch.where(right, 3, 2),
            "pos": torch.full((n,), 4, dtype=torch.int64, device=dev),
            "last_x": ball_x.clone(),
            "last_y": torch.full((n,), 3, dtype=torch.int64, device=dev),
            "bricks": bricks,
            "strike": torch.zeros(n, dtype=torch.bool, device=dev),
            "terminal": torch.zeros(n, dtype=torch.bool, device=dev),
        }

    def step(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        lut = _luts(action.device)
        live = ~s["terminal"]
        pos = s["pos"] - (action == LEFT).long() + (action == RIGHT).long()
        pos = pos.clamp(0, 9)
        bx, by, d = s["ball_x"], s["ball_y"], s["ball_dir"]
        nx, ny = bx + lut["dx"][d], by + lut["dy"][d]
        side = (nx < 0) | (nx > 9)
        nx = nx.clamp(0, 9)
        d = torch.where(side, lut["flip_x"][d], d)
        top = ny < 0
        flat = s["bricks"].view(-1, GRID * GRID)
        cell = (ny.clamp(0, 9) * GRID + nx).unsqueeze(1)
        brick = ~top & flat.gather(1, cell).squeeze(1)
        hit = brick & ~s["strike"]
        bottom = ~top & ~brick & (ny == 9)
        over = bottom & (bx == pos)
        corner = bottom & ~over & (nx == pos)
        lost = bottom & ~over & ~corner
        d = torch.where(top | hit | over, lut["flip_y"][d], d)
        d = torch.where(corner, lut["flip_xy"][d], d)
        ny = torch.where(top, 0, torch.where(hit | over | corner, by, ny))
        removed = torch.zeros_like(flat).scatter_(1, cell, hit.unsqueeze(1))
        flat = flat & ~removed
        refill = bottom & ~flat.any(1)
        rows = torch.zeros_like(flat[0]).view(GRID, GRID)
        rows[1:4] = True
        flat = flat | (refill.unsqueeze(1) & rows.view(1, -1))
        new = {
            "ball_x": nx,
            "ball_y": ny,
            "ball_dir": d,
            "pos": pos,
            "last_x": bx,
            "last_y": by,
            "bricks": flat.view(-1, GRID, GRID),
            "strike": brick,
            "terminal": lost,
        }
        out = {k: torch.where(_expand(live, v), v, s[k]) for k, v in new.items()}
        return out, (hit & live).float(), out["terminal"]

    def observe(self, s: State) -> Tensor:
        paddle = cell_planes(torch.full_like(s["pos"], 9), s["pos"])
        ball = cell_planes(s["ball_y"], s["ball_x"])
        trail = cell_planes(s["last_y"], s["last_x"])
        return torch.stack([paddle, ball, trail, s["bricks"]], dim=1)


_LUTS = {"dx": _DX, "dy": _DY, "flip_x": _FLIP_X, "flip_y": _FLIP_Y, "flip_xy": _FLIP_XY}
_LUT_CACHE: dict[torch.device, dict[str, Tensor]] = {}


def _luts(device: torch.device) -> dict[str, Tensor]:
    """The direction tables as int64 tensors on `device` (built once per device)."""
    if device not in _LUT_CACHE:
        _LUT_CACHE[device] = {k: torch.tensor(v, device=device) for k, v in _LUTS.items()}
    return _LUT_CACHE[device]


def _expand(mask: Tensor, like: Tensor) -> Tensor:
    return mask.view(mask.shape + (1,) * (like.dim() - 1))
