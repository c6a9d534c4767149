"""Torch SpaceInvaders against the original game, step for step, and the rules easy to get wrong."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from envs.backend_minatar import _game_class
from envs.minatar_torch import space_invaders as si_module
from envs.minatar_torch.core import FIRE, LEFT, NOOP, RIGHT
from envs.minatar_torch.space_invaders import NO_BULLET, SpaceInvaders, grid_of, rows_of
from tests.minatar_oracle import lockstep, random_policy

pytest.importorskip("minatar")

SLOTS: dict = {}  # the game draws nothing
_W = (1 << np.arange(10)).astype(np.float64)  # row bitmask = map @ _W


def from_oracle(g) -> dict[str, np.ndarray]:
    enemy = np.flatnonzero(g.e_bullet_map)
    assert len(enemy) <= 1, "more than one enemy bullet on screen"
    return {
        "pos": np.int64(g.pos),
        "aliens": (g.alien_map @ _W).astype(np.int64),
        "alien_dir": np.int64(g.alien_dir),
        "move_interval": np.int64(g.enemy_move_interval),
        "move_timer": np.int64(g.alien_move_timer),
        "alien_shot_timer": np.int64(g.alien_shot_timer),
        "shot_timer": np.int64(g.shot_timer),
        "ramp_index": np.int64(g.ramp_index),
        "f_bullets": (g.f_bullet_map @ _W).astype(np.int64),
        "e_bullet": np.int64(enemy[0] if len(enemy) else NO_BULLET),
        "terminal": np.bool_(g.terminal),
    }


class _Spy:
    """from_oracle that also counts the hard paths seen in the original's live states."""

    def __init__(self) -> None:
        self.max_ramp = 0
        self.min_interval = 12
        self.bottom_row = 0  # states with an alien in the cannon's row
        self.ended_low = 0  # episodes whose last state had an alien in the cannon's row
        self.two_shots = 0  # states with two friendly bullets on screen
        self.turns = 0
        self.last: dict[int, tuple[int, bool]] = {}

    def __call__(self, g) -> dict[str, np.ndarray]:
        low = bool(g.alien_map[9].any())
        self.max_ramp = max(self.max_ramp, g.ramp_index)
        self.min_interval = min(self.min_interval, g.enemy_move_interval)
        self.bottom_row += low
        self.two_shots += int(np.count_nonzero(g.f_bullet_map) == 2)
        last_dir, was_low = self.last.get(id(g), (g.alien_dir, False))
        if g.alien_shot_timer == 10:  # only a fresh game shows 10: the last one ended
            self.ended_low += was_low
        else:
            self.turns += last_dir != g.alien_dir
        self.last[id(g)] = (g.alien_dir, low)
        return from_oracle(g)


def dodger(obs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Steps aside from enemy bullets in the cannon's column and never into one. Otherwise even envs
    hunt (fire where an alien will be when the bullet reaches its row, else walk there) to clear
    waves; odd envs never fire, so the aliens come down."""
    n = obs.shape[0]
    pos = obs[:, 0, 9].argmax(1)
    bullet_cols = obs[:, 5].amax(1).bool()
    idx = torch.arange(n)
    danger = bullet_cols[idx, pos]
    left_ok = (pos > 0) & ~bullet_cols[idx, (pos - 1).clamp(min=0)]
    right_ok = (pos < 9) & ~bullet_cols[idx, (pos + 1).clamp(max=9)]
    coin = torch.rand(n, generator=gen) < 0.5
    escape = torch.where(left_ok & (coin | ~right_ok), LEFT, RIGHT)
    # where each alien will be when a bullet fired now reaches its row (ignoring turns)
    aliens = obs[:, 1].bool()
    heading = torch.where(obs[:, 3].flatten(1).bool().any(1), 1, -1).view(n, 1, 1)
    count = aliens.flatten(1).sum(1).clamp(1, 12).view(n, 1, 1)
    ids = torch.arange(10)
    flight = 9 - ids.view(1, 10, 1)
    ahead = (ids.view(1, 1, 10) + heading * (flight // count)).clamp(0, 9)
    aim = ((ahead.unsqueeze(-1) == ids) & aliens.unsqueeze(-1)).flatten(1, 2).any(1)
    dist = torch.where(aim, (ids - pos.unsqueeze(1)).abs(), 99)
    target = dist.argmin(1)
    walk = torch.where(target < pos, LEFT, torch.where(target > pos, RIGHT, FIRE))
    idle = torch.randint(0, 6, (n,), generator=gen)
    idle = torch.where((idle == FIRE) | (torch.rand(n, generator=gen) < 0.7), NOOP, idle)
    calm = torch.where(idx % 2 == 0, walk, idle)
    calm = torch.where(((calm == LEFT) & ~left_ok) | ((calm == RIGHT) & ~right_ok), NOOP, calm)
    return torch.where(danger, escape, calm)


def test_space_invaders_matches_original_random():
    spy = _Spy()
    counts = lockstep("MinAtar/SpaceInvaders-v0", 32, 500, random_policy, SLOTS, spy, seed=3)
    assert counts["episodes"] > 200 and counts["reward"] > 500
    assert spy.turns > 100 and spy.two_shots > 100


def test_space_invaders_matches_original_dodging():
    spy = _Spy()
    counts = lockstep("MinAtar/SpaceInvaders-v0", 24, 1300, dodger, SLOTS, spy, seed=5)
    assert counts["episodes"] > 20 and counts["reward"] > 1000
    # waves cleared and the ramp run down to its floor; aliens down in the cannon's row
    assert spy.max_ramp >= 3 and spy.min_interval == 6
    assert spy.bottom_row > 100 and spy.ended_low > 10


@pytest.mark.slow
def test_space_invaders_matches_original_long():
    spy = _Spy()
    counts = lockstep("MinAtar/SpaceInvaders-v0", 256, 4000, dodger, SLOTS, spy, seed=11)
    assert counts["episodes"] > 300 and spy.max_ramp >= 6 and spy.ended_low > 100
    counts = lockstep("MinAtar/SpaceInvaders-v0", 256, 1500, random_policy, SLOTS, spy, seed=12)
    assert counts["episodes"] > 2000


# ---- scenarios from a hand-set state, each also checked against the original ------------------


def _cells(*cells: tuple[int, int]) -> torch.Tensor:
    grid = torch.zeros(10, 10, dtype=torch.bool)
    for r, c in cells:
        grid[r, c] = True
    return rows_of(grid)


def _block(top: int, left: int, height: int, width: int) -> torch.Tensor:
    return _cells(*[(r, c) for r in range(top, top + height) for c in range(left, left + width)])


def _state(ramping: bool = True, **fields):
    g = SpaceInvaders(ramping=ramping)
    s = g.reset(torch.zeros(1, 0))
    for k, v in fields.items():
        s[k] = torch.as_tensor(v).reshape(s[k].shape).to(s[k].dtype)
    return g, s


def _original(s, ramping: bool = True):
    g = _game_class("space_invaders")(ramping=ramping)
    g.pos = int(s["pos"][0])
    g.alien_map = grid_of(s["aliens"][0]).numpy().astype(float)
    g.f_bullet_map = grid_of(s["f_bullets"][0]).numpy().astype(float)
    g.e_bullet_map = np.zeros((10, 10))
    e = int(s["e_bullet"][0])
    if e != NO_BULLET:
        g.e_bullet_map[e // 10, e % 10] = 1
    g.alien_dir = int(s["alien_dir"][0])
    g.enemy_move_interval = int(s["move_interval"][0])
    g.alien_move_timer = int(s["move_timer"][0])
    g.alien_shot_timer = int(s["alien_shot_timer"][0])
    g.shot_timer = int(s["shot_timer"][0])
    g.ramp_index = int(s["ramp_index"][0])
    g.terminal = bool(s["terminal"][0])
    return g


def _step(g, s, action: int):
    """One torch step, checked against the original from the same state; (state, reward, term)."""
    orig = _original(s, g.ramping)
    r_want, t_want = orig.act(action)
    s2, r, term = g.step(s, torch.tensor([action]), torch.zeros(1, 0))
    assert float(r[0]) == r_want and bool(term[0]) == t_want
    for k, want in from_oracle(orig).items():
        assert np.array_equal(s2[k][0].numpy(), want), k
    assert np.array_equal(g.observe(s2)[0].numpy(), orig.state().transpose(2, 0, 1))
    return s2, float(r[0]), bool(term[0])


def _aliens(s) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in grid_of(s["aliens"][0]).nonzero()}


def test_block_steps_sideways_then_turns_and_drops_at_each_wall():
    g, s = _state(aliens=_block(2, 1, 2, 3), move_timer=0)  # cols 1-3, heading left
    s, _, _ = _step(g, s, NOOP)
    assert _aliens(s) == {(r, c) for r in (2, 3) for c in (0, 1, 2)}
    assert int(s["alien_dir"][0]) == -1 and int(s["move_timer"][0]) == 6 - 1
    s["move_timer"][0] = 0
    s, _, _ = _step(g, s, NOOP)  # at the left wall: reverse and drop, no sideways step
    assert _aliens(s) == {(r, c) for r in (3, 4) for c in (0, 1, 2)}
    assert int(s["alien_dir"][0]) == 1
    g, s = _state(aliens=_cells((5, 9), (4, 3)), alien_dir=1, move_timer=0)
    s, _, _ = _step(g, s, NOOP)  # one alien at the right wall turns the whole block
    assert _aliens(s) == {(6, 9), (5, 3)} and int(s["alien_dir"][0]) == -1
    # no move while the timer runs
    g, s = _state(move_timer=3)
    s, _, _ = _step(g, s, NOOP)
    assert _aliens(s) == {(r, c) for r in range(4) for c in range(2, 8)}
    assert int(s["move_timer"][0]) == 2


def test_move_interval_follows_alien_count_and_each_new_wave():
    # the timer restarts at min(aliens, interval): fewer aliens, faster block
    for n_aliens, interval, want in ((24, 12, 11), (5, 12, 4), (1, 12, 0), (8, 7, 6)):
        cells = [(0, c) for c in range(2, 8)] + [(1, c) for c in range(2, 8)]
        cells += [(2, c) for c in range(2, 8)] + [(3, c) for c in range(2, 8)]
        g, s = _state(aliens=_cells(*cells[:n_aliens]), move_timer=0, move_interval=interval)
        s, _, _ = _step(g, s, NOOP)
        assert int(s["move_timer"][0]) == want
    # a cleared wave: interval 12 -> 11 and the ramp index counts; at 6 it stays
    for ramping, interval, want, ramp in ((True, 12, 11, 1), (True, 6, 6, 0), (False, 12, 12, 0)):
        g, s = _state(
            ramping, aliens=_cells((4, 4)), f_bullets=_cells((5, 4)), move_interval=interval
        )
        s, r, term = _step(g, s, NOOP)
        assert r == 1 and not term
        assert int(s["move_interval"][0]) == want and int(s["ramp_index"][0]) == ramp


def test_cleared_wave_respawns_keeping_direction_timers_and_bullets():
    g, s = _state(
        aliens=_cells((6, 1)),
        f_bullets=_cells((7, 1), (2, 7)),
        alien_dir=1,
        move_timer=4,
        alien_shot_timer=7,
        e_bullet=3 * 10 + 6,
    )
    s, r, term = _step(g, s, NOOP)
    assert r == 1 and not term
    assert _aliens(s) == {(r_, c) for r_ in range(4) for c in range(2, 8)}
    assert int(s["alien_dir"][0]) == 1 and int(s["move_timer"][0]) == 3
    # the other bullet rose into the new wave's area: it is only checked next step
    assert set(map(tuple, grid_of(s["f_bullets"][0]).nonzero().tolist())) == {(1, 7)}
    assert int(s["e_bullet"][0]) == 4 * 10 + 6


def test_enemy_shot_comes_from_the_lowest_alien_of_the_nearest_column_left_on_a_tie():
    # cannon at 5: columns 4 and 6 are equally near, column 4 (left) shoots from its lowest alien
    g, s = _state(aliens=_cells((0, 4), (3, 4), (1, 6), (5, 6), (6, 0)), alien_shot_timer=0)
    s, _, _ = _step(g, s, NOOP)
    assert int(s["e_bullet"][0]) == 3 * 10 + 4 and int(s["alien_shot_timer"][0]) == 9
    # the cannon's own column first, even above everything else
    g, s = _state(aliens=_cells((0, 5), (8, 4), (8, 6)), alien_shot_timer=0, pos=5)
    s, _, _ = _step(g, s, NOOP)
    assert int(s["e_bullet"][0]) == 5
    # the shot is aimed after the cannon and the block moved
    g, s = _state(aliens=_cells((2, 3), (2, 8)), alien_shot_timer=0, move_timer=0, pos=5)
    s, _, _ = _step(g, s, RIGHT)  # cannon to 6, block left: columns 2 and 7 -> 7 is nearer
    assert int(s["e_bullet"][0]) == 2 * 10 + 7
    # the bullet falls one row a step and ends the game in the cannon's cell
    g, s = _state(aliens=_cells((0, 0)), e_bullet=8 * 10 + 5, pos=5)
    s2, _, term = _step(g, s, NOOP)
    assert term
    s2, _, term = _step(g, s, LEFT)  # stepping aside in time
    assert not term and int(s2["e_bullet"][0]) == 9 * 10 + 5
    s2, _, term = _step(g, s2, NOOP)
    assert not term and int(s2["e_bullet"][0]) == NO_BULLET


def test_friendly_bullets_hit_only_where_they_end_up_after_the_block_moved():
    # the bullet rises to (4, 3) and the block steps left into it: a kill
    g, s = _state(aliens=_cells((4, 4), (0, 9)), f_bullets=_cells((5, 3)), move_timer=0)
    s2, r, _ = _step(g, s, NOOP)
    assert r == 1 and _aliens(s2) == {(0, 8)} and int(s2["f_bullets"][0].sum()) == 0
    # the block drops from row 3 to 4 while the bullet rises from 4 to 3: they pass each other
    g, s = _state(aliens=_cells((3, 0), (3, 1)), f_bullets=_cells((4, 0)), move_timer=0)
    s2, r, _ = _step(g, s, NOOP)
    assert r == 0 and _aliens(s2) == {(4, 0), (4, 1)}
    assert set(map(tuple, grid_of(s2["f_bullets"][0]).nonzero().tolist())) == {(3, 0)}
    # two bullets, two kills, +2; the bullets go with the aliens
    g, s = _state(aliens=_block(1, 2, 4, 6), f_bullets=_cells((4, 2), (8, 7)))
    s2, r, _ = _step(g, s, NOOP)
    assert r == 1  # only the first reaches a row holding aliens this step
    g, s = _state(aliens=_block(1, 2, 4, 6), f_bullets=_cells((4, 2), (5, 7)))
    s2, r, _ = _step(g, s, NOOP)
    assert r == 2 and (3, 2) not in _aliens(s2) and (4, 7) not in _aliens(s2)
    assert int(s2["f_bullets"][0].sum()) == 0


def test_shot_cooldown_blocks_fire_without_moving_the_cannon():
    g, s = _state(aliens=_cells((0, 0)), pos=3)
    s, _, _ = _step(g, s, FIRE)
    assert int(s["shot_timer"][0]) == 4 and int(s["f_bullets"][0][8]) == 1 << 3
    for t in range(4):  # cooling down: FIRE does nothing at all
        s, _, _ = _step(g, s, FIRE)
        assert int(s["pos"][0]) == 3 and int(s["shot_timer"][0]) == 3 - t
        assert int(s["f_bullets"][0].ne(0).sum()) == 1
    s, _, _ = _step(g, s, FIRE)  # cooled down: a second bullet while the first is still up
    rows = grid_of(s["f_bullets"][0]).nonzero()[:, 0].tolist()
    assert sorted(rows) == [3, 8] and int(s["shot_timer"][0]) == 4


def test_game_ends_when_aliens_reach_the_cannon_or_turn_in_the_bottom_row():
    # a turn with an alien in the bottom row: game over, and that row wraps to the top
    g, s = _state(aliens=_cells((9, 0), (8, 1)), move_timer=0, pos=7)
    s2, _, term = _step(g, s, NOOP)
    assert term and _aliens(s2) == {(0, 0), (9, 1)}
    # an alien in the bottom row stepping into the cannon's cell
    g, s = _state(aliens=_cells((9, 5)), move_timer=0, pos=4)
    s2, _, term = _step(g, s, NOOP)
    assert term
    # ... or the cannon stepping into it (before the block moves away)
    g, s = _state(aliens=_cells((9, 5)), move_timer=0, pos=4, alien_dir=1)
    s2, _, term = _step(g, s, RIGHT)
    assert term and _aliens(s2) == {(9, 6)}
    # an alien in the bottom row elsewhere is no threat yet
    g, s = _state(aliens=_cells((9, 5)), move_timer=0, pos=2, alien_dir=1)
    s2, _, term = _step(g, s, NOOP)
    assert not term


def test_losing_step_still_scores_and_a_terminal_game_stays_put():
    g, s = _state(aliens=_cells((2, 2), (9, 5)), f_bullets=_cells((3, 2)), pos=5)
    s2, r, term = _step(g, s, NOOP)
    assert term and r == 1
    s3, r3, term3 = g.step(s2, torch.tensor([FIRE]), torch.zeros(1, 0))
    assert float(r3[0]) == 0 and bool(term3[0])
    for k in s2:
        assert torch.equal(s3[k], s2[k]), k


def test_step_has_no_host_sync():
    src = inspect.getsource(si_module)
    for needle in (".item(", ".tolist(", ".nonzero(", ".cpu(", ".numpy("):
        assert needle not in src, needle
