"""Torch Freeway against the original game, step for step, and the rules easy to get wrong."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from envs.backend_minatar import _game_class
from envs.minatar_torch import freeway as freeway_module
from envs.minatar_torch.core import DOWN, NOOP, UP
from envs.minatar_torch.freeway import Freeway
from tests.minatar_oracle import biased_policy, lockstep, random_policy

pytest.importorskip("minatar")

_NAMES = Freeway.step_slots
SLOTS = {
    (phase, "_randomize_cars", method, 0): names
    for phase in ("reset", "step")
    for method, names in (("randint", _NAMES[:8]), ("rand", _NAMES[8:]))
}


def from_oracle(g) -> dict[str, np.ndarray]:
    cars = np.asarray(g.cars, dtype=np.int64)
    return {
        "pos": np.int64(g.pos),
        "move_timer": np.int64(g.move_timer),
        "time": np.int64(g.terminate_timer),
        "car_x": cars[:, 0],
        "car_timer": cars[:, 2],
        "car_speed": cars[:, 3],
    }


class _Collisions:
    """from_oracle that also counts knock-backs: the chicken jumping to row 9 from rows 2..7."""

    def __init__(self) -> None:
        self.last: dict[int, tuple[int, int]] = {}
        self.count = 0

    def __call__(self, g) -> dict[str, np.ndarray]:
        prev = self.last.get(id(g))
        if (
            prev is not None
            and 2 <= prev[0] <= 7
            and g.pos == 9
            and g.terminate_timer == prev[1] - 1
        ):
            self.count += 1
        self.last[id(g)] = (g.pos, g.terminate_timer)
        return from_oracle(g)


def test_freeway_matches_original_random():
    spy = _Collisions()
    counts = lockstep("MinAtar/Freeway-v0", 48, 500, random_policy, SLOTS, spy, seed=5)
    assert counts["steps"] == 48 * 500 and spy.count > 100


UP_MOSTLY = biased_policy([0.15, 0, 0.7, 0, 0.15, 0])


def test_freeway_matches_original_up_to_the_time_limit():
    # 2,600 steps: every game runs out its 2,501 steps and restarts (same-step autoreset), and
    # mostly-up play crosses often (new traffic each time) and is often knocked back.
    spy = _Collisions()
    counts = lockstep("MinAtar/Freeway-v0", 16, 2600, UP_MOSTLY, SLOTS, spy, seed=6)
    assert counts["episodes"] == 16 and counts["reward"] > 130 and spy.count > 600


@pytest.mark.slow
def test_freeway_matches_original_big():
    spy = _Collisions()
    policy = biased_policy([0.3, 0, 0.5, 0, 0.2, 0])
    counts = lockstep("MinAtar/Freeway-v0", 256, 5100, policy, SLOTS, spy, seed=7)
    assert counts["episodes"] == 2 * 256 and counts["reward"] > 2000 and spy.count > 10000


# ---- scenarios from hand-set states ---------------------------------------------------------


def _u(speeds, dirs) -> torch.Tensor:
    """A [1, 16] slot block that draws these car speeds (1..5) and directions (+1, -1, 0)."""
    su = [(v - 1 + 0.5) / 5 for v in speeds]
    du = [{1: 0.75, -1: 0.25, 0: 0.5}[d] for d in dirs]
    return torch.tensor([su + du], dtype=torch.float32)


def _state(n=1, **fields):
    """n envs from a reset with slow right-moving traffic, then `fields` broadcast over them."""
    g = Freeway()
    s = g.reset(_u([5] * 8, [1] * 8).expand(n, -1))
    for k, v in fields.items():
        s[k] = torch.as_tensor(v).to(s[k].dtype).expand_as(s[k]).clone()
    return g, s


def _act(g, s, action, u=None):
    n = s["pos"].shape[0]
    u = torch.full((n, 16), 0.9) if u is None else u.expand(n, -1)
    a = torch.as_tensor(action, dtype=torch.int64).expand(n).clone()
    return g.step(s, a, u)


def test_reset_draws_speeds_and_directions():
    g = Freeway()
    s = g.reset(_u([1, 2, 3, 4, 5, 5, 2, 1], [1, -1, 1, -1, -1, 1, 0, 1]))
    assert s["car_speed"].tolist() == [[1, -2, 3, -4, -5, 5, 0, 1]]
    assert s["car_timer"].tolist() == [[1, 2, 3, 4, 5, 5, 0, 1]]
    assert s["car_x"].tolist() == [[0] * 8]
    assert (s["pos"].item(), s["move_timer"].item(), s["time"].item()) == (9, 3, 2500)


def test_reaching_the_top_scores_and_redraws_traffic():
    x = [0, 1, 2, 3, 5, 6, 7, 8]
    g, s = _state(pos=1, move_timer=0, car_x=x, car_speed=[1] * 8, car_timer=[1] * 8)
    u = _u([1, 2, 3, 4, 5, 1, 2, 3], [1, -1, 1, -1, 1, -1, 1, -1])
    s2, r, term = _act(g, s, UP, u)
    assert r.tolist() == [1.0] and not term.item()
    assert s2["pos"].item() == 9 and s2["move_timer"].item() == 2
    assert s2["car_speed"].tolist() == [[1, -2, 3, -4, 5, -1, 2, -3]]
    # the fresh timers count down in the same step; nobody is due, so no car moves
    assert s2["car_timer"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]]
    assert s2["car_x"].tolist() == [x]
    # no crossing (no-op, or up while cooling down): the traffic keeps its speeds
    for action, cooldown in ((NOOP, 0), (UP, 1)):
        g, s = _state(pos=1, move_timer=cooldown, car_x=x, car_speed=[1] * 8, car_timer=[1] * 8)
        s2, r, _ = _act(g, s, action, u)
        assert r.tolist() == [0.0] and s2["pos"].item() == 1
        assert s2["car_speed"].tolist() == [[1] * 8] and s2["car_timer"].tolist() == [[0] * 8]


def test_car_timers_move_each_car_every_speed_plus_one_steps():
    speeds, dirs = [1, 2, 3, 4, 5, 5, 1, 2], [1, 1, 1, 1, 1, -1, -1, -1]
    g = Freeway()
    s = g.reset(_u(speeds, dirs))
    for t in range(1, 31):
        s, _, _ = _act(g, s, NOOP)
        want_x = [(d * (t // (v + 1))) % 10 for v, d in zip(speeds, dirs, strict=True)]
        want_timer = [v - t % (v + 1) for v in speeds]
        assert s["car_x"].tolist() == [want_x], t
        assert s["car_timer"].tolist() == [want_timer], t
        assert s["pos"].item() == 9


def test_collision_sends_the_chicken_back_down():
    # env: (chicken row, lane-3 car x, its speed, its timer), the lane-3 car sits on row 4
    cases = [
        (4, 4, 1, 2, 9),  # car on the chicken's cell, not due to move
        (4, 3, 1, 0, 9),  # car moves onto the chicken
        (4, 4, 1, 0, 9),  # car moves off the chicken: hit before its move
        (4, 5, 1, 0, 4),  # car moves away: no hit
        (4, 5, -1, 0, 9),  # car moves left onto the chicken
        (5, 4, 1, 2, 5),  # car at column 4 in the lane above: no hit
    ]
    n = len(cases)
    car_x = torch.zeros(n, 8, dtype=torch.int64)
    speed = torch.full((n, 8), 5)
    timer = torch.full((n, 8), 5)
    for i, (_, x, v, t, _) in enumerate(cases):
        car_x[i, 3], speed[i, 3], timer[i, 3] = x, v, t
    pos = torch.tensor([c[0] for c in cases])
    g, s = _state(n, pos=pos, move_timer=2, car_x=car_x, car_speed=speed, car_timer=timer)
    s2, r, _ = _act(g, s, NOOP)
    assert s2["pos"].tolist() == [c[4] for c in cases] and r.tolist() == [0.0] * n
    # stepping up into a lane whose car is at column 4 also knocks the chicken down
    g, s = _state(pos=5, move_timer=0, car_x=car_x[0], car_speed=speed[0], car_timer=timer[0])
    s2, _, _ = _act(g, s, UP)
    assert s2["pos"].item() == 9 and s2["move_timer"].item() == 2
    # wrapping at the edges
    g, s = _state(car_x=[0, 9, 0, 0, 0, 0, 0, 0], car_speed=[-2, 3] + [5] * 6, car_timer=[0] * 8)
    s2, _, _ = _act(g, s, NOOP)
    assert s2["car_x"].tolist() == [[9, 0, 1, 1, 1, 1, 1, 1]]


def test_player_move_cooldown():
    g, s = _state()  # fresh game: cooldown 3, slow traffic far from column 4
    got = []
    for _ in range(10):
        s, _, _ = _act(g, s, UP)
        got.append((s["pos"].item(), s["move_timer"].item()))
    want_pos = [9, 9, 9, 8, 8, 8, 7, 7, 7, 6]
    assert got == list(zip(want_pos, [2, 1, 0] * 3 + [2], strict=True))
    # no-op keeps a ready chicken ready; 'down' at the bottom moves nothing but costs the cooldown
    g, s = _state(move_timer=0)
    s2, _, _ = _act(g, s, NOOP)
    assert (s2["pos"].item(), s2["move_timer"].item()) == (9, 0)
    s2, _, _ = _act(g, s, DOWN)
    assert (s2["pos"].item(), s2["move_timer"].item()) == (9, 2)


def test_time_limit_ends_the_game_after_2501_steps():
    # reset starts the counter at 2,500 (see the reset test); it ends the game below 0
    g, s = _state(4, time=2)
    for left in (1, 0):
        s, r, term = _act(g, s, NOOP)
        assert not term.any() and s["time"].tolist() == [left] * 4
    s, r, term = _act(g, s, NOOP)
    assert term.all() and s["time"].tolist() == [-1] * 4
    # a finished game steps to itself with reward 0, even from a crossing move with cars due
    s["pos"][:], s["move_timer"][:], s["car_timer"][:], s["car_x"][:, 0] = 1, 0, 0, 4
    s2, r, term = _act(g, s, UP, _u([1] * 8, [-1] * 8))
    assert term.all() and r.tolist() == [0.0] * 4
    assert all(torch.equal(s2[k], s[k]) for k in s)


def test_no_difficulty_ramp():
    # the original never ramps Freeway: ramping=True and False play the same game
    assert _game_class("freeway")(ramping=True).difficulty_ramp() is None
    gen = torch.Generator().manual_seed(0)
    games = [Freeway(ramping=True), Freeway(ramping=False)]
    u0 = torch.rand(64, 16, generator=gen)
    states = [g.reset(u0) for g in games]
    for _ in range(100):
        a = torch.randint(0, 6, (64,), generator=gen)
        u = torch.rand(64, 16, generator=gen)
        out = [g.step(s, a, u) for g, s in zip(games, states, strict=True)]
        states = [o[0] for o in out]
        assert torch.equal(out[0][1], out[1][1])
        assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
        assert torch.equal(games[0].observe(states[0]), games[1].observe(states[1]))


def test_speed_zero_quirk_matches_original():
    # a direction draw of exactly 0.5 gives speed 0: the car moves left every step and its
    # trail borrows the channel of the nearest earlier car with a non-zero speed
    speeds = [2, 0, -3, 0, 0, 1, -5, 0]
    xs = [3, 0, 9, 6, 2, 8, 1, 4]
    orig = _game_class("freeway")(ramping=True)
    orig.reset()
    orig.cars = [[x, i + 1, abs(v), v] for i, (x, v) in enumerate(zip(xs, speeds, strict=True))]
    orig.pos, orig.move_timer = 9, 3
    g, s = _state(car_x=xs, car_speed=speeds, car_timer=[abs(v) for v in speeds])
    for t in range(12):
        want = orig.state().transpose(2, 0, 1)
        assert np.array_equal(g.observe(s)[0].numpy(), want), t
        assert s["car_x"][0].tolist() == [c[0] for c in orig.cars], t
        assert s["car_timer"][0].tolist() == [c[2] for c in orig.cars], t
        orig.act(NOOP)
        s, _, _ = _act(g, s, NOOP)
    # the first lane's car has no earlier car to borrow from (the original fails): speed 1
    g, s = _state(car_x=[5] + [0] * 7, car_speed=[0] + [2] * 7)
    assert g.observe(s)[0, 2, 1, 6].item()


def test_observation_layout():
    g, s = _state(pos=6, car_x=[0, 9, 4, 4, 4, 4, 4, 4], car_speed=[1, -1, 2, -2, 3, 4, 5, -5])
    obs = g.observe(s)[0]
    assert obs.shape == (7, 10, 10) and obs.sum().item() == 17
    assert obs[0, 6, 4] and obs[0].sum() == 1
    assert obs[1, 1, 0] and obs[1, 2, 9] and obs[1, 3:9, 4].all() and obs[1].sum() == 8
    assert obs[2, 1, 9] and obs[2, 2, 0]  # trails wrap around the edges
    assert obs[3, 3, 3] and obs[3, 4, 5] and obs[4, 5, 3] and obs[5, 6, 3]
    assert obs[6, 7, 3] and obs[6, 8, 5]


def test_game_code_never_syncs_with_the_host():
    src = inspect.getsource(freeway_module)
    for bad in (".item(", ".tolist(", ".nonzero(", ".cpu(", ".numpy("):
        assert bad not in src
    for method in (Freeway.reset, Freeway.step, Freeway.observe):
        assert "if " not in inspect.getsource(method)
