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

from .core import DOWN, GRID, LEFT, NOOP, RIGHT, UP, State, TorchGame

ROWS = 8  # entity rows 1..8; slot i is row i + 1, so the slot array is exactly the field
RAMP_INTERVAL = 100
SPAWN_INTERVAL = 10
MOVE_INTERVAL = 5

# Player displacement per full-set action (fire does nothing).
_DX = (0, -1, 0, 1, 0, 0)
_DY = (0, 0, -1, 0, 1, 0)


class Asterix(TorchGame):
    name = "asterix"
    channels = ("player", "enemy", "trail", "gold")
    minimal_actions = (NOOP, LEFT, UP, RIGHT, DOWN)
    reset_slots = ()
    step_slots = ("spawn_right", "spawn_gold", "spawn_row")

    def reset(self, u: Tensor) -> State:
        n, dev = u.shape[0], u.device

        def full(v: int) -> Tensor:
            return torch.full((n,), v, dtype=torch.int64, device=dev)

        zeros = torch.zeros(n, ROWS, dtype=torch.int64, device=dev)
        return {
            "player_x": full(5),
            "player_y": full(5),
            # Entity of row i + 1: column, heading (+1 right, -1 left, 0 = no entity), kind.
            # Empty rows hold x = 0, dir = 0, gold = False.
            "ent_x": zeros,
            "ent_dir": zeros.clone(),
            "ent_gold": torch.zeros(n, ROWS, dtype=torch.bool, device=dev),
            "spawn_speed": full(SPAWN_INTERVAL),
            "spawn_timer": full(SPAWN_INTERVAL),
            "move_speed": full(MOVE_INTERVAL),
            "move_timer": full(MOVE_INTERVAL),
            "ramp_timer": full(RAMP_INTERVAL),
            "ramp_index": full(0),
            "terminal": torch.zeros(n, dtype=torch.bool, device=dev),
        }

    def step(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        # A finished game must step to itself: rather than a where() per field at the end, every
        # change below is gated by `live` (no spawn, no move, no player move, no contact, timers
        # and ramp frozen), which leaves each field as it was.
        c = _consts(action.device)
        term = s["terminal"]
        live = ~term
        x, d, gold = s["ent_x"], s["ent_dir"], s["ent_gold"]

        # Spawn: side and kind are drawn every time; the row is the k-th free one (k uniform over
        # the free rows, counted from the top), and nothing spawns if every row is taken.
        # u < 1 is at most 1 - 2**-24, so u * n_free in float32 stays below n_free for
        # n_free <= 8 and truncation gives k in [0, n_free - 1] with no clamp.
        spawn = (s["spawn_timer"] == 0) & live
        free = d == 0
        k = (self.slot(u, "spawn_row") * free.sum(1)).long() + 1
        place = free & (free.cumsum(1) == (k * spawn).unsqueeze(1))  # rank 0 never matches
        side_kind = u[:, :2] < c["p_right_gold"]  # slots spawn_right, spawn_gold
        right, is_gold = side_kind[:, :1], side_kind[:, 1:]
        x = torch.where(place & ~right, GRID - 1, x)
        d = torch.where(place, right.long() * 2 - 1, d)
        gold = gold | (place & is_gold)

        a = action * live  # NOOP when finished
        px = (s["player_x"] + c["dx"][a]).clamp(0, GRID - 1)
        py = (s["player_y"] + c["dy"][a]).clamp(1, ROWS)

        # Contact before and (on a move step) after the entities move. Only the player's row can
        # touch; gold touched first is gone before the move, and an enemy touched first moves
        # off the player, so both checks can be read off the one entity of that row at once.
        move = (s["move_timer"] == 0) & live
        in_row = (d != 0) & (c["row"] == (py * live).unsqueeze(1))  # row 0: none when finished
        x2 = x + d * move.unsqueeze(1)
        pxc = px.unsqueeze(1)
        touch = in_row & ((x == pxc) | (move.unsqueeze(1) & (x2 == pxc)))
        got = touch & gold
        reward = got.any(1)
        dead = (touch & ~gold).any(1) | term
        gone = got | (x2.clamp(0, GRID - 1) != x2)  # picked up or past an edge
        x = torch.where(gone, 0, x2)
        d = torch.where(gone, 0, d)
        gold = gold & ~gone

        spawn_speed, move_speed = s["spawn_speed"], s["move_speed"]
        lv = live.long()
        spawn_timer = torch.where(spawn, spawn_speed, s["spawn_timer"]) - lv
        move_timer = torch.where(move, move_speed, s["move_timer"]) - lv
        ramp_timer, ramp_index = s["ramp_timer"], s["ramp_index"]
        if self.ramping:
            active = ((spawn_speed > 1) | (move_speed > 1)) & live
            bump = active & (ramp_timer < 0)
            ramp_timer = torch.where(bump, RAMP_INTERVAL, ramp_timer - active.long())
            odd = (ramp_index & 1).bool()
            move_speed = move_speed - (bump & odd & (move_speed > 1)).long()
            spawn_speed = spawn_speed - (bump & (spawn_speed > 1)).long()
            ramp_index = ramp_index + bump.long()

        out = {
            "player_x": px,
            "player_y": py,
            "ent_x": x,
            "ent_dir": d,
            "ent_gold": gold,
            "spawn_speed": spawn_speed,
            "spawn_timer": spawn_timer,
            "move_speed": move_speed,
            "move_timer": move_timer,
            "ramp_timer": ramp_timer,
            "ramp_index": ramp_index,
            "terminal": dead,
        }
        return out, reward.float(), dead

    def observe(self, s: State) -> Tensor:
        # One scatter into the flat [N, 4 * 100] planes. Slot i writes one cell of the enemy or
        # gold plane and one of the trail plane, both on its own row i + 1, so no two writes of
        # an env hit the same cell. The value written is "there": an empty slot (x = 0, dir = 0)
        # and an off-grid trail (clamped onto its row's edge) write False.
        c = _consts(s["ent_x"].device)
        x, d = s["ent_x"], s["ent_dir"]
        alive = d != 0
        back = x - d
        back_in = back.clamp(0, GRID - 1)
        at = c["enemy_cell"] + x + s["ent_gold"].long() * (2 * GRID * GRID)
        trail = c["trail_cell"] + back_in
        player = (s["player_y"] * GRID + s["player_x"]).unsqueeze(1)
        index = torch.cat([player, at, trail], 1)
        value = torch.cat([alive[:, :1] | True, alive, alive & (back_in == back)], 1)
        n = x.shape[0]
        obs = torch.zeros(n, 4 * GRID * GRID, dtype=torch.bool, device=x.device)
        return obs.scatter_(1, index, value).view(n, 4, GRID, GRID)


_CONST_CACHE: dict[torch.device, dict[str, Tensor]] = {}


def _consts(device: torch.device) -> dict[str, Tensor]:
    """Move tables and row/column indices as int64 tensors on `device` (built once per device)."""
    if device not in _CONST_CACHE:
        _CONST_CACHE[device] = {
            "dx": torch.tensor(_DX, device=device),
            "dy": torch.tensor(_DY, device=device),
            # Spawn draws: right-moving if u < 1/2, gold if u < 1/3 (float32 compare: the same
            # outcome as the float64 one, as float32(1/3) is the first float32 above 1/3).
            "p_right_gold": torch.tensor([0.5, 1 / 3], device=device),
            "row": torch.arange(1, ROWS + 1, device=device),
            # Flat observation index of column 0 of each slot's row in the enemy / trail planes.
            "enemy_cell": torch.arange(1, ROWS + 1, device=device) * GRID + GRID * GRID,
            "trail_cell": torch.arange(1, ROWS + 1, device=device) * GRID + 2 * GRID * GRID,
        }
    return _CONST_CACHE[device]
