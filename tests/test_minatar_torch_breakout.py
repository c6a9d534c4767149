"""Torch Breakout against the original game, step for step, and the rules easy to get wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.minatar_torch.breakout import Breakout
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


@pytest.mark.parametrize(
    "policy", [random_policy, biased_policy([0.2, 0.4, 0, 0.4, 0, 0])], ids=["random", "lr"]
)
def test_breakout_matches_original(policy):
    counts = lockstep("MinAtar/Breakout-v0", 128, 1500, policy, SLOTS, from_oracle, seed=3)
    assert counts["episodes"] > 1000 and counts["reward"] > 100


def _one(**fields):
    g = Breakout()
    s = g.reset(torch.zeros(1, 1))
    for k, v in fields.items():
        s[k] = torch.as_tensor(v).reshape(s[k].shape).to(s[k].dtype)
    return g, s


def test_strike_flag_scores_a_brick_once_then_passes_through():
    # ball at (x=5, y=5) moving up-left into a brick at (4, 4) that the last step also struck
    bricks = torch.zeros(1, 10, 10, dtype=torch.bool)
    bricks[0, 4, 4] = True
    g, s = _one(ball_x=5, ball_y=5, ball_dir=0, bricks=bricks, strike=True)
    s2, r, term = g.step(s, torch.tensor([NOOP]), torch.zeros(1, 0))
    assert (
        r.item() == 0
        and bool(s2["bricks"][0, 4, 4])
        and (s2["ball_y"].item(), s2["ball_x"].item()) == (4, 4)
    )
    # without the strike flag the brick goes, +1, and the ball stays in its row moving down
    g, s = _one(ball_x=5, ball_y=5, ball_dir=0, bricks=bricks, strike=False)
    s2, r, term = g.step(s, torch.tensor([NOOP]), torch.zeros(1, 0))
    assert r.item() == 1 and not bool(s2["bricks"][0, 4, 4]) and s2["ball_y"].item() == 5
    assert s2["ball_dir"].item() == 3 and bool(s2["strike"][0])


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
