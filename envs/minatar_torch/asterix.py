"""Asterix: walk the field, pick up gold, and keep clear of the enemies crossing it.

Rules (MinAtar): the player starts at (x=5, y=5) and moves one cell per step in the four
directions, x in [0, 9] and y in [1, 8], with no cooldown. Rows 1..8 each hold at most one
entity: an enemy or a piece of gold, entering at the left edge heading right or at the right edge
heading left. Two timers count down one per step; a step that begins with one at 0 acts and
restarts it at its interval. The spawn timer (interval `spawn_speed`, first spawn on step 11)
spawns one entity: its side (right-moving with probability 1/2) and kind (gold with probability
1/3) are always drawn, then, if some row is free, a free row is picked uniformly; with all eight
rows taken nothing spawns, though the timer restarts. The move timer (interval `move_speed`, first
move on step 6) moves every entity one cell; entities leave past the edges. A step: spawn, player
move, contact check, entity move and a second contact check (move steps only), timers, ramp. So a
new entity can be touched, and moved, in the step it appears. Touching gold removes it (+1);
touching an enemy ends the game, but the rest of the step (move, timers, ramp) still happens.
Each entity's trail is the cell it came from. Difficulty ramp: a counter runs from 100 down to
-1, one per step, and on the step after it reaches -1 it restarts at 100 and the level rises by
one (every 102 steps): the spawn interval drops by one (not below 1) and, when the level being
left is odd, so does the move interval (not below 1); the ramp stops once both are 1 (level 9).
Actions: no-op, left, up, right, down.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .core import DOWN, GRID, LEFT, NOOP, RIGHT, UP, State, TorchGame, lookup

ROWS = 8  # entity rows 1..8; slot i is row i + 1, so the slot array is exactly the field
RAMP_INTERVAL = 100
SPAWN_INTERVAL = 10
MOVE_INTERVAL = 5
CELLS = GRID * GRID

# An entity is one code: 0 for none, else 1 + x + 10 * (heading right) + 20 * (gold), so every
# question about it (where is it, where will it be, what does it show) is one table lookup.
N_CODES = 1 + 2 * 2 * GRID
SPAWN_CODE = 10  # x = 9 heading left, enemy; + 1 for x = 0 heading right, + 20 for gold

_START = {
    "player_x": 5,
    "player_y": 5,
    "entities": [0] * ROWS,  # codes, row i + 1
    "spawn_speed": SPAWN_INTERVAL,
    "spawn_timer": SPAWN_INTERVAL,
    "move_speed": MOVE_INTERVAL,
    "move_timer": MOVE_INTERVAL,
    "ramp_timer": RAMP_INTERVAL,
    "ramp_index": 0,
    "terminal": False,
}

# Player displacement per full-set action (fire does nothing).
_DX = (0, -1, 0, 1, 0, 0)
_DY = (0, 0, -1, 0, 1, 0)


def entity_code(x: Tensor, heading: Tensor, gold: Tensor) -> Tensor:
    """Codes of entities at column x, heading +1 (right), -1 (left) or 0 (no entity)."""
    code = 1 + x + GRID * (heading > 0) + 2 * GRID * gold.long()
    return torch.where(heading != 0, code, 0)


def entity_fields(code: Tensor) -> dict[str, Tensor]:
    """Column, heading (+1, -1, 0 for none) and gold flag of entity codes (empty: 0, 0, False)."""
    alive = code > 0
    v = (code - 1).clamp(min=0)
    return {
        "ent_x": (v % GRID) * alive,
        "ent_dir": ((v // GRID) % 2 * 2 - 1) * alive,
        "ent_gold": (v >= 2 * GRID) & alive,
    }


class Asterix(TorchGame):
    name = "asterix"
    channels = ("player", "enemy", "trail", "gold")
    minimal_actions = (NOOP, LEFT, UP, RIGHT, DOWN)
    reset_slots = ()
    step_slots = ("spawn_right", "spawn_gold", "spawn_row")

    def start(self, u: Tensor) -> State:
        return dict(_consts(u.device)["start"])  # nothing is drawn: batch size 1

    def advance(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        """One long function on purpose: the rules' order within a step (spawn, player move,
        contact, entity move, second contact, timers, ramp) is part of the game and reads top to
        bottom here."""
        c = _consts(action.device)
        ent = s["entities"]

        # Spawn: side and kind are drawn every time; the row is the k-th free one (k uniform over
        # the free rows, counted from the top), and nothing spawns if every row is taken.
        # u < 1 is at most 1 - 2**-24, so u * n_free in float32 stays below n_free for
        # n_free <= 8 and truncation gives k in [0, n_free - 1] with no clamp. The free rows as
        # an 8-bit mask (a float dot product, exact) name the row in a table, ROWS for none.
        spawn = s["spawn_timer"] == 0
        free = ((ent == 0).float() @ c["row_bits"]).long()
        k = (self.slot(u, "spawn_row") * c["free_count"].index_select(0, free)).long()
        target = c["kth_free"].index_select(0, free * ROWS + k)
        target = torch.where(spawn, target, ROWS).unsqueeze(1)
        right_gold = u[:, :2] < c["p_right_gold"]  # slots spawn_right, spawn_gold
        code = torch.where(right_gold[:, 1], SPAWN_CODE + 2 * GRID, SPAWN_CODE) + right_gold[:, 0]
        ent = torch.where(c["row_ids"] == target, code.unsqueeze(1), ent)

        px = (s["player_x"] + c["dx"].index_select(0, action)).clamp_(0, GRID - 1)
        py = (s["player_y"] + c["dy"].index_select(0, action)).clamp_(1, ROWS)

        # Only the entity in the player's row can touch it: once where it stands and, on a move
        # step, again after it moves. Gold touched is gone (before it would move); an enemy
        # touched first still moves on. The outcome for that row is one table lookup.
        move = s["move_timer"] == 0
        row = (py - 1).unsqueeze(1)
        mine = ent.gather(1, row).squeeze(1)
        touch = mine * (2 * GRID) + px * 2 + move.long()
        reward = c["touch_reward"].index_select(0, touch)
        dead = c["touch_dead"].index_select(0, touch)
        mine = c["touch_code"].index_select(0, touch).unsqueeze(1)
        # every entity moves on a move step; the player's row gets its looked-up outcome
        moved = lookup(c["moved"], ent)
        ent = torch.where(move.unsqueeze(1), moved, ent)
        ent = torch.where(c["row_ids"] == row, mine, ent)

        spawn_speed, move_speed = s["spawn_speed"], s["move_speed"]
        spawn_timer = torch.where(spawn, spawn_speed, s["spawn_timer"]) - 1
        move_timer = torch.where(move, move_speed, s["move_timer"]) - 1
        ramp_timer, ramp_index = s["ramp_timer"], s["ramp_index"]
        if self.ramping:
            spawn_left, move_left = spawn_speed > 1, move_speed > 1
            active = spawn_left | move_left
            bump = active & (ramp_timer < 0)
            ramp_timer = torch.where(bump, RAMP_INTERVAL, ramp_timer - active.long())
            odd = (ramp_index & 1) == 1
            move_speed = move_speed - (bump & odd & move_left).long()
            spawn_speed = spawn_speed - (bump & spawn_left).long()
            ramp_index = ramp_index + bump

        out = {
            "player_x": px,
            "player_y": py,
            "entities": ent,
            "spawn_speed": spawn_speed,
            "spawn_timer": spawn_timer,
            "move_speed": move_speed,
            "move_timer": move_timer,
            "ramp_timer": ramp_timer,
            "ramp_index": ramp_index,
            "terminal": dead,
        }
        return out, reward, dead

    def observe_cells(self, s: State) -> Tensor:
        # The player's cell, then for each row its entity's cell (enemy or gold plane) and its
        # trail. An empty row or a trail off the grid (-1 in the tables) names the player's cell.
        c = _consts(s["entities"].device)
        player = (s["player_y"] * GRID + s["player_x"]).unsqueeze(1)
        codes = s["entities"] + c["row_codes"]
        at, trail = lookup(c["at"], codes), lookup(c["trail"], codes)
        cells = torch.cat([player, at, trail], 1)
        return torch.where(cells < 0, player, cells)


def _tables() -> dict[str, list[int]]:
    """Per-code lookups, from the rules: where a code's entity moves, what touching the player
    does, and its cells in the observation (per row)."""
    moved, enemy_x, gold_x, at, trail = [0], [-1], [-1], [-1], [-1]
    for code in range(1, N_CODES):
        v = code - 1
        x, heading, gold = v % GRID, 1 if (v // GRID) % 2 else -1, v >= 2 * GRID
        moved.append(code + heading if 0 <= x + heading < GRID else 0)
        enemy_x.append(-1 if gold else x)
        gold_x.append(x if gold else -1)
        at.append((3 if gold else 1) * CELLS + x)
        back = x - heading
        trail.append(2 * CELLS + back if 0 <= back < GRID else -1)
    # by (code * 10 + player column) * 2 + move step: the row's code after the contact checks
    # and the entity's move, and whether the player picked up gold or met an enemy
    touch_code, touch_reward, touch_dead = [], [], []
    for code in range(N_CODES):
        for px in range(GRID):
            for move in (0, 1):
                got = gold_x[code] == px
                dead = enemy_x[code] == px
                after = 0 if got else code
                if move:
                    after = moved[after]
                    got |= gold_x[after] == px
                    dead |= enemy_x[after] == px
                    after = 0 if gold_x[after] == px else after
                touch_code.append(after)
                touch_reward.append(float(got))
                touch_dead.append(dead)
    # by 8-bit mask of free rows (bit i: row i + 1) * 8 + k: the k-th free row's index, 8 if none
    kth_free = []
    for mask in range(1 << ROWS):
        rows = [i for i in range(ROWS) if mask >> i & 1]
        kth_free += [rows[k] if k < len(rows) else ROWS for k in range(ROWS)]
    return {
        "moved": moved,  # by code: the code after one move (0 once past an edge)
        "kth_free": kth_free,
        "free_count": [bin(mask).count("1") for mask in range(1 << ROWS)],
        "touch_code": touch_code,
        "touch_reward": touch_reward,
        "touch_dead": touch_dead,
        # by code + N_CODES * (row - 1): the flat observation index of its cell and its trail
        "at": [a + r * GRID if a >= 0 else -1 for r in range(1, ROWS + 1) for a in at],
        "trail": [t + r * GRID if t >= 0 else -1 for r in range(1, ROWS + 1) for t in trail],
    }


_CONST_CACHE: dict[torch.device, dict[str, Tensor]] = {}


def _consts(device: torch.device) -> dict:
    """Move and code tables as int64 tensors on `device` (built once per device)."""
    if device not in _CONST_CACHE:
        t = {k: torch.tensor(v, device=device) for k, v in _tables().items()}
        t["touch_reward"] = t["touch_reward"].float()
        _CONST_CACHE[device] = {
            **t,
            "dx": torch.tensor(_DX, device=device),
            "dy": torch.tensor(_DY, device=device),
            # Spawn draws: right-moving if u < 1/2, gold if u < 1/3 (float32 compare: the same
            # outcome as the float64 one, as float32(1/3) is the first float32 above 1/3).
            "p_right_gold": torch.tensor([0.5, 1 / 3], device=device),
            "row_bits": torch.tensor(
                [1 << i for i in range(ROWS)], dtype=torch.float32, device=device
            ),
            "row_ids": torch.arange(ROWS, device=device),
            "row_codes": torch.arange(ROWS, device=device) * N_CODES,
            "start": {k: torch.tensor([v], device=device) for k, v in _START.items()},
        }
    return _CONST_CACHE[device]
