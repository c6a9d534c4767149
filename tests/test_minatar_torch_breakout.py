"""Torch Breakout against the original game, step for step, and the rules easy to get wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.minatar_torch.breakout import Breakout, brick_grid, brick_mask
from envs.minatar_torch.core import LEFT, NOOP, RIGHT
from tests.minatar_oracle import biased_policy, lockstep, random_policy

pytest.importorskip("minatar")

SLOTS = {("reset", "reset", "randint", 0): "ball_start"}


def from_oracle(g) -> dict[str, np.ndarray]:
    return {
        "ball_x": np.int64(g.ball_x),
        "ball_y": np.int64(g.ball_y),
        "ball_dir": np.int64(g.ball_dir),
        "pos": np.int64(g.pos),
        "last_x": np.int64(g.last_x),
        "last_y": np.int64(g.last_y),
        "bricks": g.brick_map.astype(bool),
        "strike": np.bool_(g.strike),
        "terminal": np.bool_(g.terminal),
    }


def from_torch(s) -> dict:
    """The torch state with the brick mask as the original's map."""
    return {**s, "bricks": brick_grid(s["brick_mask"])}


@pytest.mark.parametrize(
    "policy", [random_policy, biased_policy([0.2, 0.4, 0, 0.4, 0, 0])], ids=["random", "lr"]
)
def test_breakout_matches_original(policy):
    counts = lockstep(
        "MinAtar/Breakout-v0", 128, 1500, policy, SLOTS, from_oracle, seed=3, from_torch=from_torch
    )
    assert counts["episodes"] > 1000 and counts["reward"] > 100


def _one(**fields):
    g = Breakout()
    s = g.reset(torch.zeros(1, 1))
    if "bricks" in fields:
        fields["brick_mask"] = brick_mask(fields.pop("bricks"))
    for k, v in fields.items():
        s[k] = torch.as_tensor(v).reshape(s[k].shape).to(s[k].dtype)
    return g, s


def test_strike_flag_scores_a_brick_once_then_passes_through():
    # ball at (x=5, y=4) moving up-left into a brick at (3, 4) that the last step also struck
    bricks = torch.zeros(1, 10, 10, dtype=torch.bool)
    bricks[0, 3, 4] = True
    g, s = _one(ball_x=5, ball_y=4, ball_dir=0, bricks=bricks, strike=True)
    s2, r, term = g.step(s, torch.tensor([NOOP]), torch.zeros(1, 0))
    assert r.item() == 0 and bool(brick_grid(s2["brick_mask"])[0, 3, 4])
    assert (s2["ball_y"].item(), s2["ball_x"].item()) == (3, 4)
    # without the strike flag the brick goes, +1, and the ball stays in its row moving down
    g, s = _one(ball_x=5, ball_y=4, ball_dir=0, bricks=bricks, strike=False)
    s2, r, term = g.step(s, torch.tensor([NOOP]), torch.zeros(1, 0))
    assert r.item() == 1 and s2["brick_mask"].item() == 0 and s2["ball_y"].item() == 4
    assert s2["ball_dir"].item() == 3 and bool(s2["strike"][0])


def test_brick_mask_round_trip():
    grid = torch.zeros(2, 10, 10, dtype=torch.bool)
    grid[0, 1:4] = True
    grid[1, 2, 7] = grid[1, 3, 0] = True
    mask = brick_mask(grid)
    assert mask.tolist() == [(1 << 40) - (1 << 10), (1 << 27) | (1 << 30)]
    assert torch.equal(brick_grid(mask), grid)


def test_paddle_catch_corner_and_miss():
    # ball above the paddle: straight bounce; on the paddle's corner: both directions flip
    g, s = _one(ball_x=4, ball_y=8, ball_dir=2, pos=4)
    s2, _, term = g.step(s, torch.tensor([NOOP]), torch.zeros(1, 0))
    assert not term.item() and s2["ball_dir"].item() == 1 and s2["ball_y"].item() == 8
    g, s = _one(ball_x=4, ball_y=8, ball_dir=2, pos=4)
    s2, _, term = g.step(s, torch.tensor([RIGHT]), torch.zeros(1, 0))  # paddle moves under it
    assert not term.item() and s2["ball_dir"].item() == 0
    g, s = _one(ball_x=4, ball_y=8, ball_dir=2, pos=4)
    s2, _, term = g.step(s, torch.tensor([LEFT]), torch.zeros(1, 0))
    assert term.item() and s2["ball_y"].item() == 9
