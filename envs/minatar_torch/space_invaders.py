"""SpaceInvaders: shoot down a block of aliens before they shoot you or reach the bottom.

Rules (MinAtar): the cannon sits in the bottom row and moves left or right one cell, or fires
instead of moving when its cooldown is over (a shot restarts a 5-step cooldown). Each step, in
this order: friendly bullets rise one row (leaving at the top; a new shot starts in the row
above the cannon), enemy bullets fall one row (leaving at the bottom), and the game ends if an
enemy bullet or an alien is in the cannon's cell. Then, when the alien move timer has run out,
the aliens move as one block: if any alien touches the wall on the side they are heading for,
they reverse and all drop one row (the game ends if some alien was already in the bottom row;
that row comes back at the top), otherwise they step one column sideways; the timer restarts at
the smaller of the number of aliens and the wave's move interval, so the block speeds up as it
thins out. Again the game ends if an alien is now in the cannon's cell. When the alien shot timer
has run out (every 10 steps) the alien nearest the cannon's column fires: the nearest column
holding aliens (on a tie, the one to the left), its lowest alien; the bullet starts in that
alien's cell. Then every friendly bullet sharing a cell with an alien destroys it (+1 each);
bullets are not checked on their way, so a bullet and an alien can pass each other. Finally the
timers count down, and when no alien is left a new wave of 4 x 6 aliens appears in the top rows
(columns 2-7), keeping the direction, timers and bullets; with ramping each new wave lowers the
move interval by one, from 12 down to 6. The step that ends the game still runs to its end
(moves, kills and their reward). Actions: no-op, left, right, fire.

State layout: a 10x10 map is 10 row bitmasks (int64 [N, 10], bit c = column c), so shifting the
block, testing a wall or a cell and removing hit aliens are a few integer ops on 10 numbers per
env. The aliens and the friendly bullets are such maps (exact: nothing to overflow). The enemy
bullets are one cell index (100 = none): a shot comes every 10 steps and a bullet leaves the
screen within 10 steps of its shot (it starts in row >= 0 and falls a row per step, and the
fall comes before the next shot in the step), so at most one is ever on screen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .core import FIRE, GRID, LEFT, NOOP, RIGHT, State, TorchGame

CELLS = GRID * GRID
NO_BULLET = CELLS  # the enemy bullet's cell index when there is none
SHOT_COOLDOWN = 5
ALIEN_SHOT_INTERVAL = 10
MOVE_INTERVAL_START = 12
MOVE_INTERVAL_MIN = 6
WAVE_ROWS = 4
WAVE_MASK = 0b0011111100  # columns 2-7
LEFT_WALL, RIGHT_WALL = 1, 1 << (GRID - 1)


class SpaceInvaders(TorchGame):
    name = "space_invaders"
    channels = ("cannon", "alien", "alien_left", "alien_right", "friendly_bullet", "enemy_bullet")
    minimal_actions = (NOOP, LEFT, RIGHT, FIRE)
    reset_slots = ()
    step_slots = ()

    def start(self, u: Tensor) -> State:
        return dict(_luts(u.device)["start"])  # nothing is drawn: batch size 1

    def advance(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        """One long function on purpose: the rules' order within a step (cannon, shots, aliens,
        enemy fire, collisions, wave, ramp) is part of the game and reads top to bottom here."""
        lut = _luts(action.device)
        rows, d = s["aliens"], s["alien_dir"]
        shot_timer, alien_shot_timer = s["shot_timer"], s["alien_shot_timer"]

        # The cannon fires (when cooled down) or moves; a fire during cooldown does nothing.
        fire = (action == FIRE) & (shot_timer == 0)
        pos = (s["pos"] + lut["dpos"].index_select(0, action)).clamp_(0, GRID - 1)
        pos_bit = 1 << pos
        # Friendly bullets rise (the top row leaves); a new one starts just above the cannon,
        # in a cell the rise has just emptied (the bottom row is always empty between steps).
        friendly = F.pad(s["f_bullets"][:, 1:], (0, 1))
        friendly[:, GRID - 2] |= pos_bit * fire
        # The enemy bullet falls, leaving past the bottom row.
        enemy = (s["e_bullet"] + GRID).clamp_(max=NO_BULLET)

        # The alien block. `cols` has bit c set when column c holds an alien.
        moving = s["move_timer"] == 0
        half = rows[:, :5] | rows[:, 5:]
        quarter = half[:, :2] | half[:, 2:4]
        cols = quarter[:, 0] | quarter[:, 1] | half[:, 4]
        turn = moving & ((cols & torch.where(d > 0, RIGHT_WALL, LEFT_WALL)) != 0)
        landed = turn & (rows[:, GRID - 1] != 0)
        # Sideways: shift left by `side` and right by `back` bits (1 + d and 1, or 0 and 0).
        back = (moving & ~turn).long()
        side = (1 + d) * back
        moved = (rows << side.unsqueeze(1)) >> back.unsqueeze(1)
        # Down one row, the bottom row coming back at the top (only ever on a losing step).
        moved = torch.where(turn.unsqueeze(1), torch.roll(rows, 1, 1), moved)
        cols = (cols << side) >> back
        count = _popcount(rows, lut)
        interval = s["move_interval"]
        move_timer = torch.where(moving, torch.minimum(count, interval), s["move_timer"])

        # An enemy bullet or an alien in the cannon's cell, before or after the block moved.
        bottom = (rows[:, GRID - 1] | moved[:, GRID - 1]) & pos_bit
        touched = (enemy == (GRID - 1) * GRID + pos) | (bottom != 0)

        # The alien shot: nearest column holding aliens, then its lowest alien.
        shooting = alien_shot_timer == 0
        col = lut["nearest"].index_select(0, pos * (1 << GRID) + cols)
        in_col = ((moved >> col.unsqueeze(1)) & 1) * lut["row_ids"]
        row = in_col.argmax(1)  # all zero when row 0 is the only one: argmax says 0, right too
        enemy = torch.where(shooting, row * GRID + col, enemy)

        # Friendly bullets destroy the aliens in their cells.
        kill = moved & friendly
        reward = _popcount(kill, lut)
        moved = moved ^ kill
        friendly = friendly ^ kill

        # A fresh wave when the last alien is gone, faster with ramping.
        cleared = moved.sum(1) == 0
        moved = torch.where(cleared.unsqueeze(1), lut["wave"], moved)
        ramp_index = s["ramp_index"]
        if self.ramping:
            faster = cleared & (interval > MOVE_INTERVAL_MIN)
            interval = interval - faster.long()
            ramp_index = ramp_index + faster.long()

        shot_timer = torch.where(fire, SHOT_COOLDOWN, shot_timer)
        alien_shot_timer = torch.where(shooting, ALIEN_SHOT_INTERVAL, alien_shot_timer)
        out = {
            "pos": pos,
            "aliens": moved,
            "alien_dir": torch.where(turn, -d, d),
            "move_interval": interval,
            "move_timer": move_timer - 1,
            "alien_shot_timer": alien_shot_timer - 1,
            "shot_timer": (shot_timer - 1).clamp_(min=0),
            "ramp_index": ramp_index,
            "f_bullets": friendly,
            "e_bullet": enemy,
            "terminal": touched | landed,
        }
        return out, reward.float(), out["terminal"]

    def observe(self, s: State) -> Tensor:
        lut = _luts(s["pos"].device)
        n = s["pos"].shape[0]
        maps = torch.stack([s["aliens"], s["f_bullets"]], dim=1).view(-1)
        aliens, friendly = lut["row_bits"].index_select(0, maps).view(n, 2, CELLS).unbind(1)
        left = aliens & lut["all_if"].index_select(0, (s["alien_dir"] < 0).long())
        planes = [
            lut["one_cell"].index_select(0, (GRID - 1) * GRID + s["pos"]),
            aliens,
            left,
            aliens ^ left,
            friendly,
            lut["one_cell"].index_select(0, s["e_bullet"]),
        ]
        return torch.stack(planes, dim=1).view(n, len(self.channels), GRID, GRID)


def rows_of(grid: Tensor) -> Tensor:
    """Row bitmasks int64 [..., 10] of a bool map [..., 10, 10] (bit c = column c)."""
    weights = 1 << torch.arange(GRID, device=grid.device)
    return (grid.long() * weights).sum(-1)


def grid_of(rows: Tensor) -> Tensor:
    """The bool map [..., 10, 10] of row bitmasks [..., 10]."""
    return ((rows.unsqueeze(-1) >> torch.arange(GRID, device=rows.device)) & 1).bool()


def _popcount(rows: Tensor, lut: dict[str, Tensor]) -> Tensor:
    """Set bits of each env's 10 row masks together, int64 [N]."""
    return lut["popcount"].index_select(0, rows.reshape(-1)).view(rows.shape).sum(1)


def _nearest_table() -> list[int]:
    """For cannon column p and column set m (bit c: column c holds aliens), at p * 1024 + m the
    column the aliens shoot from: the nearest to p, the left one on a tie (0 for an empty set)."""
    table = []
    for p in range(GRID):
        by_distance = sorted(range(GRID), key=lambda c: (abs(c - p), c))
        for m in range(1 << GRID):
            table.append(next((c for c in by_distance if m >> c & 1), 0))
    return table


def _build(device: torch.device) -> dict:
    masks = torch.arange(1 << GRID)
    row_bits = ((masks.unsqueeze(1) >> torch.arange(GRID)) & 1).bool()
    one_cell = torch.zeros(CELLS + 1, CELLS, dtype=torch.bool)  # row NO_BULLET stays empty
    one_cell[torch.arange(CELLS), torch.arange(CELLS)] = True
    dpos = torch.zeros(6, dtype=torch.int64)
    dpos[LEFT], dpos[RIGHT] = -1, 1
    wave = torch.zeros(1, GRID, dtype=torch.int64)
    wave[0, :WAVE_ROWS] = WAVE_MASK
    luts = {
        "row_bits": row_bits,  # mask -> its 10 cells
        "popcount": row_bits.sum(1),
        "one_cell": one_cell,
        "all_if": torch.tensor([[False] * CELLS, [True] * CELLS]),
        "dpos": dpos,
        "wave": wave,
        "row_ids": torch.arange(GRID).view(1, GRID),
        "nearest": torch.tensor(_nearest_table(), dtype=torch.int64),
    }
    start = {  # batch size 1
        "pos": 5,
        "aliens": [WAVE_MASK] * WAVE_ROWS + [0] * (GRID - WAVE_ROWS),
        "alien_dir": -1,
        "move_interval": MOVE_INTERVAL_START,
        "move_timer": MOVE_INTERVAL_START,
        "alien_shot_timer": ALIEN_SHOT_INTERVAL,
        "shot_timer": 0,
        "ramp_index": 0,
        "f_bullets": [0] * GRID,
        "e_bullet": NO_BULLET,
        "terminal": False,
    }
    return {
        **{k: v.to(device) for k, v in luts.items()},
        "start": {k: torch.tensor([v], device=device) for k, v in start.items()},
    }


_LUT_CACHE: dict[torch.device, dict] = {}


def _luts(device: torch.device) -> dict:
    """The game's constant tables on `device` (built once per device)."""
    if device not in _LUT_CACHE:
        _LUT_CACHE[device] = _build(device)
    return _LUT_CACHE[device]
