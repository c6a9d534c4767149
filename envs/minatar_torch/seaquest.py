"""Seaquest: steer a submarine, shoot fish and enemy subs, rescue divers and come up for air.

Rules (MinAtar): the submarine occupies a front and a back cell, so it shows which way it faces;
left/right move it one column and turn it, up/down move it one row (rows 0-8, row 0 is the
surface), fire launches a bullet from its cell in the facing direction when the 5-step shot cooldown
has run out. Each step, in this order:

1. When the enemy spawn timer is zero, an enemy appears at the left or right edge (equal odds) of a
   random row 1-8 moving inward, a submarine with probability 1/3 and a fish otherwise -- unless
   that row already holds an enemy moving the other way; the timer restarts at the spawn interval
   either way. Every 30 steps a diver appears the same way (no such restriction).
2. The player acts. Then the player's bullets move one cell, newest first; one that leaves the grid
   is gone, one that lands on an enemy removes it (+1): the earliest-spawned fish in that cell, or
   else the earliest-spawned submarine, and the bullet is spent.
3. Divers, newest first: one on the player's cell (before or after its move) is picked up while the
   player holds fewer than 6. A diver moves one cell every 6 steps and leaves at the edge.
4. Enemy submarines, then fish: touching the player (before or after moving) ends the game. An enemy
   moves one cell once its move timer runs out, the timer restarting at the current move interval;
   leaving the grid removes it; moving onto a player bullet removes both (+1, the earliest-fired
   bullet in that cell). A submarine fires every 11 steps from wherever it stands after its move --
   even in the step it is shot down or swims off the grid.
5. Enemy bullets (including the ones just fired) move one cell and end the game if they touch the
   player before or after the move.
6. Timers tick down. The game ends when the oxygen is already at zero. Below the surface the oxygen
   falls by one. Arriving at the surface with no divers ends the game; with 6 divers it pays
   oxygen * 10 // 200 and empties the diver bar; either way one diver is then taken off (so 6 leaves
   -1, and a negative count surfaces freely), oxygen refills to 200 and the game gets harder: the
   enemy spawn interval drops by one (down to 1) and every second time the move interval drops by
   one (down to 2), as long as either can still drop (with difficulty ramping on).

A step that ends the game still runs to the end (its kills and surfacing still pay). Fish,
subs and divers leave a trail in the cell behind them. Actions: all six.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .core import DOWN, FIRE, GRID, LEFT, NOOP, RIGHT, UP, State, TorchGame, uniform_int

MAX_OXYGEN = 200
START_SPAWN_INTERVAL = 20
DIVER_SPAWN_INTERVAL = 30
START_MOVE_INTERVAL = 5
SHOT_COOLDOWN = 5
SUB_SHOT_INTERVAL = 10
DIVER_MOVE_INTERVAL = 5
MAX_DIVERS = 6

# Enemy capacity. An enemy spawned while the move interval is m leaves at its 10th move, at most
# 10m + 9 steps after its spawn step (the interval never grows): a live one is <= 10m + 8 old.
# Spawn attempts are separated by the spawn interval e in force at the earlier one, and m > 2 only
# while e >= 15 (ramps 0-5). After a step, let the oldest live enemy spawned with m = 2 be d <= 28
# steps old: at most d + 1 such. The older live ones (m >= 3) are at most 58 steps old, >= 15
# steps older than it and >= 15 apart: at most (43 - d) // 15 + 1. That is <= 31 (d = 28), and the
# next step spawns before it removes anything: 32. (Without m = 2 ones: <= 4.)
ENEMY_CAP = 32

# "vars" columns: the player and the game's clocks, one int64 row each; the three countdowns last.
PX, PY, FACE, OXYGEN, DIVERS, SURFACED, E_INTERVAL, MOVE, RAMP, OVER, SHOT_T, E_TIMER, D_TIMER = (
    range(13)
)
# Positions are packed into one int8 "cell" = (row - 1) * 16 + column: a one-column step is +-1,
# and a step off either side leaves a column of 10 or 15 in the low four bits.
# "enemies" fields [4, ENEMY_CAP] int8: CELL, BCELL (the enemy bullet kept in the same slot),
# CLOCKS (move timer | shot timer << 3) and FLAGS (the bits below).
CELL, BCELL, CLOCKS, FLAGS = range(4)
E_RIGHT, E_SUB, E_ALIVE, B_RIGHT, B_ALIVE = 1, 2, 4, 8, 16
# "divers" fields [3, 2] int8: DCELL, DTIMER, DFLAGS (right | alive << 1); slot 0 the older diver.
DCELL, DTIMER, DFLAGS = range(3)
# "shots" fields [2, 2] int8: SCELL, SFLAGS (right | alive << 1); slot 0 the older bullet.
SCELL, SFLAGS = range(2)

_I8 = torch.int8


class Seaquest(TorchGame):
    """State (first dim N; every tensor is stored with the env index innermost in memory):

    - vars [N, 13] int64: the columns above. FACE 1 = facing right; SURFACED 1 while the player
      has been at the surface since the last refill; OVER 1 once the game has ended.
    - enemies [N, 4, ENEMY_CAP] int8: fish and subs in free slots, in no particular order. Within
      a row every enemy moves the same way (the spawn rule), and a later enemy never catches up
      with an earlier one: it enters each cell at least one step after it (spawns are >= 1 step
      apart, and >= 15 while the move interval can still shrink; each of its three one-step
      shrinks cuts that lag by at most the number of cells between the two, about a third of it).
      So enemies sharing a cell have distinct move timers, the earliest spawned (first in the
      original's list) holding the lowest, and no two enemies move into one cell in one step.
      Enemy bullets live in the same slots: sub k fires only 11 steps after its last shot or 10
      after its spawn, and a bullet is gone 10 steps after it was fired.
    - divers [N, 3, 2] int8: a diver lives < 60 steps and they come every 30, so two at most; a
      new one shifts the newer into slot 0 (the old slot-0 diver is gone by then).
    - shots [N, 2, 2] int8: shots are >= 5 steps apart and gone within 10, so two at most.
    """

    name = "seaquest"
    channels = (
        "sub_front",
        "sub_back",
        "friendly_bullet",
        "trail",
        "enemy_bullet",
        "enemy_fish",
        "enemy_sub",
        "oxygen_guage",
        "diver_guage",
        "diver",
    )
    minimal_actions = (NOOP, LEFT, UP, RIGHT, DOWN, FIRE)
    reset_slots = ()
    step_slots = ("enemy_lr", "enemy_sub", "enemy_row", "diver_lr", "diver_row")

    def reset(self, u: Tensor) -> State:
        """Every env at the start (no random draws). The tensors are read-only broadcast views."""
        n, t = u.shape[0], _consts(u.device)
        return {
            "vars": t["vars0"].expand(-1, n).t(),
            "enemies": t["enemies0"].expand(-1, -1, n).permute(2, 0, 1),
            "divers": t["divers0"].expand(-1, -1, n).permute(2, 0, 1),
            "shots": t["shots0"].expand(-1, -1, n).permute(2, 0, 1),
        }

    def step(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        # Conventions for speed on CPU: int8 fields, arithmetic blends instead of torch.where on
        # [K, N] tensors, comparisons against [N]-shaped operands, amin/amax for reductions.
        """One long function on purpose: the game's rules run in a fixed order within a step
        (player, shots, enemies, divers, oxygen, surfacing, spawns, ramp) and the differential
        test against the original depends on that order, which reads top to bottom here."""
        n = action.shape[0]
        b = _batch(action.device, n)
        c = _consts(action.device)
        v = s["vars"].t()  # [13, N]
        en = s["enemies"].permute(1, 2, 0)  # [4, K, N]
        dv = s["divers"].permute(1, 2, 0)  # [3, 2, N]
        sh = s["shots"].permute(1, 2, 0)  # [2, 2, N]
        live = v[OVER] == 0
        ms8 = v[MOVE].to(_I8)

        # 1. spawns (u's columns follow step_slots: enemy_lr < 1/2, enemy_sub < 1/3, diver_lr < 1/2
        # are coins, enemy_row and diver_row are rows 1-8)
        coins = (u < c["odds"]).to(_I8).t()
        right, sub, d_right = coins[0], coins[1], coins[3]
        rows = (uniform_int(u[:, 2::2], 1, 9) - 1).to(_I8).t()  # enemy_row, diver_row
        row, d_row = rows[0], rows[1]
        cell, bcell, clocks, flags = en.unbind(0)
        alive = (flags & E_ALIVE).bool()
        e_due = v[E_TIMER] == 0
        clash = alive & ((cell >> 4) == row) & ((flags & E_RIGHT) != right)
        add = e_due & ~clash.view(_I8).amax(0).bool()
        free_first = (alive.view(_I8) * 64 + b["slots"]).amin(0)  # a free slot always exists
        put = ((b["slots"] == free_first) & add).view(_I8)
        born_cell = row * 16 + 9 - 9 * right
        born_clocks = ms8 + (SUB_SHOT_INTERVAL << 3)
        born_flags = right + 2 * sub + E_ALIVE
        cell = cell + put * (born_cell - cell)
        clocks = clocks + put * (born_clocks - clocks)
        flags = flags + put * ((flags & (B_RIGHT | B_ALIVE)) + born_flags - flags)
        d_due = v[D_TIMER] == 0
        new_diver = torch.stack([d_row * 16 + 9 - 9 * d_right, b["five"], d_right + 2])
        dv = torch.where(d_due, torch.stack([dv[:, 1], new_diver], 1), dv)

        # 2. the player, then its bullets (newest first)
        fire = (action == FIRE) & (v[SHOT_T] == 0)
        px = (v[PX] + c["move_x"][action]).clamp_(0, 9)
        py = (v[PY] + c["move_y"][action]).clamp_(0, 8)
        turn = c["turn"][action]  # 0 left, 1 right, 2 unchanged
        face = torch.where(turn == 2, v[FACE], turn)
        me = ((py - 1) * 16 + px).to(_I8)  # the player's cell (row 0 comes out negative)
        new_shot = torch.stack([me, face.to(_I8) + 2])
        sh = torch.where(fire, torch.stack([sh[:, 1], new_shot], 1), sh)
        s_cell = sh[SCELL] + 2 * (sh[SFLAGS] & 1) - 1
        s_ok = (sh[SFLAGS] & 2).bool() & _inside(s_cell, b["ten"])
        ok_old, ok_new = s_ok[0], s_ok[1]
        alive = (flags & E_ALIVE).bool()
        is_sub = (flags & E_SUB).bool()
        mt, st = clocks & 7, clocks >> 3
        order = (flags & E_SUB) * 4 + mt  # fish before subs, then spawn order (see class doc)
        hit_new = _first_in_cell(alive & (cell == s_cell[1]) & ok_new, order)
        alive = alive & ~hit_new
        got_new = hit_new.view(_I8).amax(0).bool()
        hit_old = _first_in_cell(alive & (cell == s_cell[0]) & ok_old, order)
        alive = alive & ~hit_old
        got_old = hit_old.view(_I8).amax(0).bool()
        reward = got_new.long() + got_old.long()
        ok_new, ok_old = ok_new & ~got_new, ok_old & ~got_old

        # 3. divers (the newer one first for the last free place)
        d_cell, d_flags = dv[DCELL], dv[DFLAGS]
        d_move = dv[DTIMER] == 0
        d_next = d_cell + d_move.to(_I8) * (2 * (d_flags & 1) - 1)
        d_in = _inside(d_next, b["ten"])
        want = (d_flags & 2).bool() & ((d_cell == me) | (d_move & (d_next == me)))
        dc = v[DIVERS]
        take_new = want[1] & (dc < MAX_DIVERS)
        dc = dc + take_new.long()
        take_old = want[0] & (dc < MAX_DIVERS)
        dc = dc + take_old.long()
        d_keep = (d_flags & 2).bool() & d_in & ~torch.stack([take_old, take_new])
        d_timer = dv[DTIMER] - 1 + d_move.to(_I8) * (DIVER_MOVE_INTERVAL + 1)
        dv = torch.stack([d_next, d_timer, (d_flags & 1) + 2 * d_keep.to(_I8)])

        # 4. enemy subs and fish: independent of each other (distinct target cells)
        e_move = ~mt.bool()
        e_move8 = e_move.view(_I8)
        e_dir = flags & E_RIGHT
        nxt = cell + e_move8 * (2 * e_dir - 1)
        inside = _inside(nxt, b["ten"])
        touch = alive & ((cell == me) | (e_move & (nxt == me)))
        probe = alive & e_move & inside & ~touch
        down_old = probe & (nxt == s_cell[0]) & ok_old
        down_new = probe & (nxt == s_cell[1]) & ok_new & ~down_old
        ok_old = ok_old & ~down_old.view(_I8).amax(0).bool()
        ok_new = ok_new & ~down_new.view(_I8).amax(0).bool()
        downed = down_old | down_new
        reward += downed.view(_I8).sum(0, dtype=_I8).long()
        over = touch.view(_I8).amax(0).bool()
        mt = mt - 1 + e_move8 * (ms8 + 1 - mt)
        due = ~st.bool()
        fires = alive & is_sub & due
        st = st - 1 + due.view(_I8) * (SUB_SHOT_INTERVAL + 1)
        alive = alive & inside & ~downed

        # 5. enemy bullets, slot-aligned with the subs that fire them
        fires8 = fires.view(_I8)
        bcell = bcell + fires8 * (nxt - bcell)
        b_dir = ((flags >> 3) & 1) + fires8 * (e_dir - ((flags >> 3) & 1))
        b_alive = fires | (flags & B_ALIVE).bool()
        b_next = bcell + 2 * b_dir - 1
        over |= (b_alive & ((bcell == me) | (b_next == me))).view(_I8).amax(0).bool()
        b_alive = b_alive & _inside(b_next, b["ten"])

        # 6. clocks, oxygen and the surface
        clocks3 = torch.where(fire, SHOT_COOLDOWN, v[SHOT_T]).unsqueeze(0)
        clocks3 = torch.cat(
            [
                clocks3,
                torch.where(e_due, v[E_INTERVAL], v[E_TIMER]).unsqueeze(0),
                torch.where(d_due, DIVER_SPAWN_INTERVAL, v[D_TIMER]).unsqueeze(0),
            ]
        )
        clocks3 = clocks3 - (clocks3 > 0).long()
        oxygen = v[OXYGEN]
        over |= oxygen <= 0
        deep = py > 0
        oxygen = oxygen - deep.long()
        was_up = v[SURFACED].bool()
        arrive = ~deep & ~was_up
        over |= arrive & (dc == 0)
        up = arrive & (dc != 0)
        six = dc == MAX_DIVERS
        reward += torch.where(up & six, oxygen * 10 // MAX_OXYGEN, 0)
        dc = torch.where(up, torch.where(six, 0, dc) - 1, dc)
        oxygen = torch.where(up, MAX_OXYGEN, oxygen)
        surfaced = (was_up & ~deep) | up
        ms, e_int, ramp = v[MOVE], v[E_INTERVAL], v[RAMP]
        if self.ramping:
            harder = up & ((e_int > 1) | (ms > 2))
            ms = ms - (harder & (ms > 2) & (ramp % 2 == 1)).long()
            e_int = e_int - (harder & (e_int > 1)).long()
            ramp = ramp + harder.long()

        new_v = torch.cat(
            [
                torch.stack([px, py, face, oxygen, dc, surfaced.long(), e_int, ms, ramp]),
                over.long().unsqueeze(0),
                clocks3,
            ]
        )
        new_flags = (
            e_dir + 2 * is_sub.view(_I8) + 4 * alive.view(_I8) + 8 * b_dir + 16 * b_alive.view(_I8)
        )
        new_en = torch.stack([nxt, b_next, (mt & 7) + (st << 3), new_flags])
        s_flags = (sh[SFLAGS] & 1) + 2 * torch.stack([ok_old, ok_new]).to(_I8)
        new_sh = torch.stack([s_cell, s_flags])
        live8 = live.view(_I8)
        out = {
            "vars": torch.where(live, new_v, v).t(),
            "enemies": (en + live8 * (new_en - en)).permute(2, 0, 1),
            "divers": torch.where(live, dv, s["divers"].permute(1, 2, 0)).permute(2, 0, 1),
            "shots": torch.where(live, new_sh, s["shots"].permute(1, 2, 0)).permute(2, 0, 1),
        }
        reward = torch.where(live, reward, 0).float()
        return out, reward, out["vars"][:, OVER] != 0

    def observe(self, s: State) -> Tensor:
        v = s["vars"].t()
        n = v.shape[1]
        b = _batch(v.device, n)
        en = s["enemies"].permute(1, 2, 0)
        cell, bcell, flags = en[CELL], en[BCELL], en[FLAGS]
        dv = s["divers"].permute(1, 2, 0)
        sh = s["shots"].permute(1, 2, 0)
        # Everything drawn one cell at a time goes in as flat indices into an [N, 1024] buffer
        # whose first 1,000 cells per env are the observation (hidden entries land on cell 1000):
        # player bullets, diver trails and divers (channels 2, 3, 9) ...
        d_cell, d_flags = dv[DCELL], dv[DFLAGS]
        d_alive = (d_flags & 2).bool()
        d_back = d_cell + 1 - 2 * (d_flags & 1)
        small = torch.cat([sh[SCELL], d_back, d_cell])
        small_shown = torch.cat(
            [(sh[SFLAGS] & 2).bool(), d_alive & _inside(d_back, b["ten"]), d_alive]
        )
        # ... enemy trails, enemy bullets, fish and subs (channels 3, 4, 5 or 6)
        e_alive = (flags & E_ALIVE).bool()
        e_back = cell + 1 - 2 * (flags & E_RIGHT)
        big_at = _grid_index(torch.stack([e_back, bcell, cell])) + b["big_base"]
        big_at[2] += (flags & E_SUB).to(torch.int16) * 50  # E_SUB is 2: subs 100 further on
        big_shown = torch.stack(
            [e_alive & _inside(e_back, b["ten"]), (flags & B_ALIVE).bool(), e_alive]
        )
        buf = torch.zeros(n * 1024, dtype=torch.bool, device=v.device)
        small_at = _grid_index(small) + b["small_base"]
        for at, shown in ((small_at, small_shown), (big_at, big_shown)):
            flat = (at * shown.to(torch.int16)).long() + b["env_hidden"]
            buf.index_fill_(0, flat.view(-1), True)
        me = v[PY] * GRID + v[PX]
        player = torch.stack([me, me + 100 + 1 - 2 * v[FACE]])  # facing right: back to the left
        buf.index_fill_(0, (player + b["env_base"]).view(-1), True)
        obs = buf.view(n, 1024)[:, :1000].view(n, 10, GRID, GRID)
        cols = b["cols"]
        obs[:, 7, 9] = cols < (v[OXYGEN].clamp(min=0) * 10 // MAX_OXYGEN).unsqueeze(1)
        obs[:, 8, 9] = (cols >= 9 - v[DIVERS].unsqueeze(1)) & (cols < 9)
        return obs


def _inside(c: Tensor, ten: Tensor) -> Tensor:
    """Whether packed cells lie on the grid: their column (low four bits) is 0-9, not 10 or 15.
    `ten` is an [N] int8 tensor of 10s (comparing with a broadcast scalar is slow on CPU)."""
    return (c & 15) < ten


def _grid_index(c: Tensor) -> Tensor:
    """int16 row * 10 + column of packed cells (garbage, but in range, off the grid)."""
    return ((c >> 4) * GRID + (c & 15) + GRID).to(torch.int16)


def _first_in_cell(there: Tensor, order: Tensor) -> Tensor:
    """[K, N] one-hot of the lowest `order` among the slots in `there` (none if none)."""
    key = order + 64 * (~there).view(_I8)
    low = key.amin(0)
    return there & (key == low)


_CACHE: dict[torch.device, dict[str, Tensor]] = {}
_BATCH: dict[tuple[torch.device, int], dict[str, Tensor]] = {}


def _consts(device: torch.device) -> dict[str, Tensor]:
    """Start-state templates on `device` (built once per device)."""
    if device not in _CACHE:
        vars0 = [0] * 13
        vars0[PX], vars0[OXYGEN], vars0[SURFACED] = 5, MAX_OXYGEN, 1
        vars0[E_INTERVAL] = vars0[E_TIMER] = START_SPAWN_INTERVAL
        vars0[D_TIMER], vars0[MOVE] = DIVER_SPAWN_INTERVAL, START_MOVE_INTERVAL
        # per full-set action (NOOP, LEFT, UP, RIGHT, DOWN, FIRE): column and row step, facing
        _CACHE[device] = {
            "move_x": torch.tensor([0, -1, 0, 1, 0, 0], device=device),
            "move_y": torch.tensor([0, 0, -1, 0, 1, 0], device=device),
            "turn": torch.tensor([2, 0, 2, 1, 2, 2], device=device),
            "odds": torch.tensor([0.5, 1 / 3, 0.0, 0.5, 0.0], device=device),
            "vars0": torch.tensor(vars0, device=device).view(13, 1),
            "enemies0": torch.zeros(4, ENEMY_CAP, 1, dtype=_I8, device=device),
            "divers0": torch.zeros(3, 2, 1, dtype=_I8, device=device),
            "shots0": torch.zeros(2, 2, 1, dtype=_I8, device=device),
        }
    return _CACHE[device]


def _batch(device: torch.device, n: int) -> dict[str, Tensor]:
    """Constants shaped for a batch of n envs (env innermost), built once per device and n."""
    key = (device, n)
    if key not in _BATCH:
        k = ENEMY_CAP

        def rows(values: list[int], dtype: torch.dtype) -> Tensor:
            col = torch.tensor(values, dtype=dtype, device=device).view(-1, 1)
            return col.expand(-1, n).contiguous()

        # observation channel offsets, less the hidden cell 1000 (added back with env_hidden)
        small = [200 - 1000] * 2 + [300 - 1000] * 2 + [900 - 1000] * 2
        big = torch.tensor([300, 400, 500], dtype=torch.int16, device=device) - 1000
        env_base = torch.arange(n, device=device) * 1024
        _BATCH[key] = {
            "slots": rows(list(range(k)), _I8),
            "five": torch.full((n,), DIVER_MOVE_INTERVAL, dtype=_I8, device=device),
            "ten": torch.full((n,), 10, dtype=_I8, device=device),
            "small_base": rows(small, torch.int16),
            "big_base": big.view(3, 1, 1).expand(3, k, n).contiguous(),
            "env_base": env_base,
            "env_hidden": env_base + 1000,
            "cols": torch.arange(GRID, device=device),
        }
    return _BATCH[key]
