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

Encodings (chosen so a step is few wide int8 ops; see `Seaquest` for the state layout):

- A grid position is one byte, pos = (row - 1) * 16 + column (rows 1-8), so a column step is +-1
  and a step off either side leaves a column of 10 or 15 in the low four bits.
- Enemies and enemy bullets store a *code*: pos when moving right, -pos - 7 when moving left. The
  low four bits of a code are the column moving right and 9 - column moving left, so every move is
  code + 1 and an object has left the grid exactly when those bits are 10 or more. A code says its
  direction by its sign; to compare a cell with the codes of a row, encode it with that row's
  direction (all enemies in a row move the same way, see the spawn rule). An enemy that is gone
  holds DEAD; a bullet off the grid stops there (column bits 10, or 11: see `_move_enemies`).
- Everything else is a small integer code per env or per slot (the player, its bullets, the
  divers, the oxygen and surfacing state, the difficulty), so a step of it is a table lookup
  (tables built in `_tables` from the rules) instead of a chain of small ops.

Dispatch: `advance`, `restart` and `observe` run their ops under `torch.inference_mode`, which
skips the autograd and view-tracking work of each op (about 20% of an op's fixed cost on the CPU,
where a step is mostly fixed costs: about 10% of a step at 1,024 envs). Of what they return, only
the state is made of inference tensors (read it freely; it is never updated in place). The
reward, the terminal flag and the observation are ordinary tensors, made outside inference mode
(the observation's buffer is allocated outside and filled in place, which inference mode
allows), and so are the cached tables and scratch (`_consts`, `_batch`), so that a compiled
transition, which runs without inference mode (see `_dispatch`), can share them.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from .core import DOWN, FIRE, GRID, LEFT, NOOP, RIGHT, UP, State, TorchGame

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

# "vars" columns, int64 [N, 10]:
#   PLAYER = py * 20 + px * 2 + (1 if facing right)
#   AIR = 80 * ((oxygen + 1) * 2 + (1 if at the surface since the last refill)) + 3, oxygen in
#     -1..200: its block of 80 rows in the "air_row" table, indexed by AIR + divers (clamped to
#     -3..6) + 10 below the surface + 20 * (divers picked up: 1 the older, 2 the newer)
#   DIVERS = the diver count (negative after cashing in six, unbounded below)
#   LEVEL = ramp index << 8 | move interval << 5 | enemy spawn interval (the difficulty)
#   OVER = 1 once the game has ended; ROW_RIGHT: bit r set when row r + 1's enemies move right
#   GAUGE = oxygen // 20 * 7 + clamp(divers, 0, 6): the row of the gauges' observation cells
#   three countdowns: the shot cooldown, the enemy and the diver spawn timers
PLAYER, AIR, DIVERS, LEVEL, OVER, ROW_RIGHT, GAUGE, SHOT_T, E_TIMER, D_TIMER = range(10)
N_VARS = 10
# "enemies" planes [3, ENEMY_CAP] int8: the enemy's code, its clocks and the code of the bullet it
# fired (kept in the same slot; one that left the grid stays there, column bits 10 or 11).
# CLOCKS = sub << 7 | move timer << 4 | shot timer.
CELL, CLOCKS, BULLET = range(3)
DEAD = 122  # the code of an empty slot: column bits 10, and 123 (after a move) is off-grid too
UNMATCH = 124  # a target code that no enemy code equals (see _tables)
# A player bullet is pos byte | right << 8 | 1 << 9, a diver pos byte | right << 8 | 1 << 9 |
# move timer << 10 (0 for none: bit 9 marks a live one).
ALIVE = 1 << 9
# The cell index of what is not shown: with the env's offset added, it is clamped to the
# observation buffer's last byte (past the last env's 1,000 cells), one cell for all envs: the
# scatter runs ~1.7x faster than with a spare cell per env.
SINK = 1 << 29
# cells 784-903 of an env as int64 words 98-112: the gauges (row 9 of channel 7 and of channel
# 8), and nothing else is ever set there (rows 0-8 of channel 8, row 0 of channel 9)
GAUGE_WORDS = slice(98, 113)
DIVER_KEYS = 1 + 8 * GRID * 4  # see the "diver_key" table

_I8, _U8 = torch.int8, torch.uint8


class Seaquest(TorchGame):
    """State (first dim N; every tensor is stored with the env index innermost in memory):

    - vars [N, 10] int64: the columns above.
    - enemies [N, 3, ENEMY_CAP] int8: fish and subs in free slots, in no particular order. Within
      a row every enemy moves the same way (the spawn rule), and a later enemy never catches up
      with an earlier one: it enters each cell at least one step after it (spawns are >= 1 step
      apart, and >= 15 while the move interval can still shrink; each of its three one-step
      shrinks cuts that lag by at most the number of cells between the two, about a third of it).
      So enemies sharing a cell have distinct move timers, the earliest spawned (first in the
      original's list) holding the lowest, and no two enemies move into one cell in one step.
      Enemy bullets live in the same slots: sub k fires only 11 steps after its last shot or 10
      after its spawn, and a bullet is off the grid 10 steps after it was fired, so a firing sub
      never finds a live bullet in its slot. An emptied slot keeps its clocks, and one that says
      sub goes on "firing" every 11 steps, from DEAD: a code off the grid, so no bullet.
    - divers [N, 2] int64 codes: a diver lives < 60 steps and they come every 30, so two at most;
      a new one shifts the newer into slot 0 (the old slot-0 diver is gone by then).
    - shots [N, 2] int64 codes: shots are >= 5 steps apart and gone within 10, so two at most;
      slot 0 holds the older.
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

    def start(self, u: Tensor) -> State:
        """The start state with batch size 1 (nothing is drawn)."""
        return dict(_consts(u.device)["start"])

    def reset(self, u: Tensor) -> State:
        """Every env at the start, stored env-innermost (the layout the step keeps)."""
        n = u.shape[0]
        out = {}
        for k, v in self.start(u).items():
            inner = v.permute(*range(1, v.dim()), 0)  # batch last
            out[k] = (
                inner.expand(*inner.shape[:-1], n).contiguous().permute(-1, *range(v.dim() - 1))
            )
        return out

    def restart(self, ended: Tensor, s: State, u: Tensor) -> State:
        """The autoreset as byte arithmetic over the enemy planes (a `where` on them costs
        several times more): an ended env's slots all become empty (DEAD, 0, DEAD)."""
        c = _consts(ended.device)
        with _dispatch():
            enemies = s["enemies"].permute(1, 2, 0)  # [3, K, N]
            enemies = torch.addcmul(enemies, ended.view(_I8), c["enemy_fill"] - enemies)
            return {
                "vars": torch.where(ended, c["vars_col"], s["vars"].t()).t(),
                "enemies": enemies.permute(2, 0, 1),
                "divers": s["divers"].t().masked_fill(ended, 0).t(),
                "shots": s["shots"].t().masked_fill(ended, 0).t(),
            }

    def finished(self, s: State) -> Tensor:
        """bool [N]: the envs whose game is over."""
        return s["vars"][:, OVER] != 0

    def advance(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        """`_rules` under inference mode; the reward and terminal flag made outside it."""
        with _dispatch():
            out, gain, over = self._rules(s, action, u)
        return out, gain.float(), over.bool()

    def _rules(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        """(next state, [N] int64 reward, [N] int64 game over as 0/1): `advance`'s work.

        One long function on purpose: the game's rules run in a fixed order within a step
        (spawns, player, its bullets, divers, enemies, enemy bullets, oxygen and surfacing) and the
        differential test against the original depends on that order, which reads top to bottom.
        [K, N] enemy-slot tensors are int8, compared with [N] operands and blended with addcmul;
        per-env values come from tables (_tables) indexed by small codes, several fields of one
        code as one table row."""
        n = action.shape[0]
        b = _batch(action.device, n)
        c = _consts(action.device)
        v = s["vars"].t().unbind(0)
        player, air, dc, level, rows_right, shot_t, e_timer, d_timer = (
            v[i] for i in (PLAYER, AIR, DIVERS, LEVEL, ROW_RIGHT, SHOT_T, E_TIMER, D_TIMER)
        )
        cell, clocks, bullet = s["enemies"].permute(1, 2, 0).unbind(0)  # [K, N] each
        divers = s["divers"].t()  # [2, N]
        shots = s["shots"].t()  # [2, N]

        # the draws (u's columns follow step_slots) as floor(u * (2, 3, 8, 2, 8)): 0 for the
        # coins enemy_lr < 1/2, enemy_sub < 1/3, diver_lr < 1/2 (exact in float32), row - 1; as
        # one key: 0-47 the enemy's draws, 64 * (0-15) the diver's
        key = (u * c["draw_scale"]).long() @ c["draw_weight"]
        key_e = key & b["c63"]
        e_due = e_timer == b["zero64"]
        # the shot and diver timers with the action; the difficulty's spawn and move intervals
        tm = torch.add(torch.add(action, shot_t, alpha=6), d_timer, alpha=36)
        fire, d_due = c["fire"].index_select(0, tm), c["diver_due"].index_select(0, tm)
        e_reset, level_up, fish_clocks, move_reset = (
            c[k].index_select(0, level)
            for k in ("spawn_reset", "level_up", "fish_clocks", "move_reset")
        )

        # 1. spawns: an enemy, unless its row holds one moving the other way; a diver
        first, born, sub_bit = (c[k].index_select(0, key_e) for k in ("first", "born", "sub_bit"))
        cell, clocks, add = _spawn(cell, clocks, first, born, fish_clocks + sub_bit, e_due, b)
        at = torch.add(key_e, rows_right, alpha=64)
        rows_right = torch.where(add, c["row_mask"].index_select(0, at), rows_right)
        new_diver = c["diver_spawn"].index_select(0, key)
        divers = torch.where(d_due, torch.stack([divers[1], new_diver]), divers)

        # 2. the player, then its bullets (newest first) against enemies before they move
        player = c["player_next"].index_select(0, torch.add(action, player, alpha=6))
        pl = c["player_row"].index_select(0, player).t()  # [3, N]
        new_shot, ppos2 = pl[0], pl[1:]
        wins = c["player_wins"].index_select(1, player).unsqueeze(1)  # [2, 1, N]
        shots = torch.where(fire, torch.stack([shots[1], new_shot]), shots)
        shots = c["shot_move"].index_select(0, shots.reshape(-1)).view(2, n)
        # the codes of its bullets' cells and of the player's cell in their rows' directions
        # (UNMATCH off the grid, at the surface, or for no bullet)
        at = torch.add(rows_right, torch.cat([shots, new_shot.unsqueeze(0)]), alpha=256)
        codes = c["encode"].index_select(0, at.view(-1)).view(3, n)
        s_code, me_code = codes[:2], codes[2]
        cell, got = _shoot(cell, clocks, s_code, b)

        # 3. divers on the player's cell now or after their move (20 the older, 40 the newer,
        # plus 10 below the surface): who is picked up is settled with the oxygen below, by the
        # same table row
        key = c["diver_key"].index_select(0, divers.view(-1)).view(2, n)
        want = key + ppos2  # key first: the sum is laid out as key, [2, N] contiguous
        want = c["want"].index_select(0, want.view(-1)).view(2, n)
        want = want[0] + want[1]
        moved = c["diver_next"].index_select(0, divers.view(-1)).view(2, n)

        # 4. enemies, then 5. their bullets; a bullet on the player's cell is none to move onto
        # (touching comes first), and of two in one cell the older is hit first (the newer
        # targets nothing)
        taken = s_code == me_code
        taken |= got
        same = taken[1]
        same |= s_code[0] == s_code[1]
        targets = torch.where(taken, b["unmatch2"], s_code)
        planes = torch.empty(3, *cell.shape, dtype=_I8, device=cell.device)
        over, downs = _move_enemies(
            cell, clocks, bullet, me_code, targets, move_reset, wins, b, planes
        )
        spent = got.view(_I8) | downs

        # 6. clocks, pick-ups, oxygen and the surface: one table row by oxygen, surfaced, depth,
        # divers held and wanted
        e_timer = torch.where(e_due, e_reset, e_timer - b["one64"])
        at = torch.add(air, want) + dc.clamp(-3, MAX_DIVERS)
        # as one contiguous int64 [8, N] block: the ops below and the vars stack then see one
        # dtype and contiguous rows, their fast paths
        row = c["air_row"].index_select(0, at).t()
        row = row.to(torch.int64, memory_format=torch.contiguous_format)
        air, bonus, delta, air_over, up, gauge = row[:6]
        divers = moved & row[6:]
        over = air_over | over
        dc = dc + delta
        if self.ramping:
            level = torch.addcmul(level, up, level_up)
        shot_t, d_timer = c["shot_timer"].index_select(0, tm), c["diver_timer"].index_select(0, tm)
        new_v = [player, air, dc, level, over, rows_right, gauge, shot_t, e_timer, d_timer]
        out = {
            "vars": torch.stack(new_v).t(),
            "enemies": planes.permute(2, 0, 1),
            "divers": divers.t(),
            "shots": shots.masked_fill(spent.view(torch.bool), 0).t(),
        }
        return out, bonus + spent[0] + spent[1], over

    def observe(self, s: State) -> Tensor:
        """[N, 10, 10, 10] bool, a view of a fresh [N, 1024] buffer whose first 1,000 cells per env
        are the observation: every set cell is one flat index, looked up from a table by the
        thing's code plus the env's offset (what is not shown goes to one spare cell), and all
        go in with one scatter; the gauges are one table row of int64 words, copied in before
        the scatter. The index work happens in scratch buffers kept per batch size, so the only
        large allocation per call is the observation itself (made outside inference mode, so
        an ordinary tensor)."""
        v = s["vars"].t()
        n = v.shape[1]
        buf = torch.zeros(n * 1024, dtype=_U8, device=v.device)
        with _dispatch():
            b = _batch(v.device, n)
            c = _consts(v.device)
            cell, clocks, bullet = s["enemies"].permute(1, 2, 0).unbind(0)
            out = b["obs_out"]  # flat views into the scratch, by what they hold
            # (cell, trail) pairs, one int64 table entry each: fish or sub (channel 5 or 6,
            # trail 3), the divers (9 and 3), the player (front 0, back 1)
            code = b["obs_code"]
            code.copy_(cell.view(_U8))
            code.add_((clocks < b["zero"]).view(_U8), alpha=256)
            flat = code.view(-1)
            torch.index_select(c["enemy_obs"], 0, flat, out=out["enemies"])
            torch.index_select(c["diver_obs"], 0, s["divers"].t().reshape(-1), out=out["divers"])
            torch.index_select(c["player_obs"], 0, v[PLAYER], out=out["player"])
            # single cells: enemy bullets (channel 4), the player's bullets (channel 2)
            code.copy_(bullet.view(_U8))
            torch.index_select(c["bullet_obs"], 0, flat, out=out["bullets"])
            torch.index_select(c["shot_obs"], 0, s["shots"].t().reshape(-1), out=out["shots"])
            b["obs_pairs"].add_(b["base_pairs"])
            b["obs_singles"].add_(b["base32"])
            b["obs_all"].clamp_(max=n * 1024 - 1)  # SINK
            at = b["obs_at"]
            at.copy_(b["obs_all"])
            # the oxygen and diver gauges first, as 15 table words per env (GAUGE_WORDS); then
            # the scatter sets the other cells
            words = buf.view(torch.int64).view(n, 128)[:, GAUGE_WORDS]
            torch.index_select(c["gauge_obs"], 0, v[GAUGE], out=words)  # in place, strided
            buf.scatter_(0, at, b["ones"])
        obs = buf.view(n, 1024)[:, : 10 * GRID * GRID]
        return obs.view(n, 10, GRID, GRID).view(torch.bool)


def _spawn(
    cell: Tensor,
    clocks: Tensor,
    first: Tensor,
    born: Tensor,
    born_clocks: Tensor,
    due: Tensor,
    b: dict[str, Tensor],
) -> tuple[Tensor, Tensor, Tensor]:
    """(cell, clocks, [N] whether an enemy spawned): in the first free slot, if the spawn is due
    and no enemy in the row moves the other way, i.e. none of the codes lies in the ten codes of
    the row's cells in that direction from `first` + 128 (a byte difference below -118)."""
    taken = ((cell - first) < b["c118"]).view(_I8).amax(0)
    add = due.view(_I8) > taken
    rank = (cell == b["dead"]).view(_I8)
    rank.mul_(b["slot_weight"])  # free slots, the first highest
    put = rank == rank.amax(0)  # a free slot always exists
    put &= add
    put8 = put.view(_I8)
    return torch.addcmul(cell, put8, born), torch.addcmul(clocks, put8, born_clocks - clocks), add


def _shoot(
    cell: Tensor, clocks: Tensor, s_code: Tensor, b: dict[str, Tensor]
) -> tuple[Tensor, Tensor]:
    """(cell, [2, N] whether each player bullet hit): the newer bullet (s_code[1]) first, each
    removing the first enemy in its cell (fish before subs, then the lower move timer)."""
    inv_order = (~clocks).view(_U8)  # higher for the one to hit first
    hit_new, got_new = _first_hit(cell == s_code[1], inv_order, b)
    there = (cell == s_code[0]) > hit_new  # and not taken by the newer
    hit_old, got_old = _first_hit(there, inv_order, b)
    hit_new |= hit_old
    cell = torch.addcmul(cell, hit_new.view(_I8), cell - b["dead0"], value=-1)
    return cell, torch.stack([got_old, got_new])


def _move_enemies(
    cell: Tensor,
    clocks: Tensor,
    bullet: Tensor,
    me_code: Tensor,
    targets: Tensor,
    move_reset: Tensor,
    wins: Tensor,
    b: dict[str, Tensor],
    planes: Tensor,
) -> tuple[Tensor, Tensor]:
    """Rules 4 and 5: ([N] game over, [2, N] player bullets spent), with the new cell, clocks
    and bullet planes written into `planes` [3, K, N] (the next state's, so no stack). An enemy
    touching the player before or after its move ends the game; one moving onto a target (a
    player bullet's code) takes it; one leaving the grid is gone. A due sub fires from where it
    now is into its own bullet slot, whose bullet, if any, has left the grid (its code's column
    bits stay 10, no window matches it). So does an empty slot whose clocks still say sub, due
    11 steps after the last shot (its bullet is off the grid by then): from DEAD, a code off
    the grid, the same as no shot. Enemy bullets touching the player before or after their move
    (a byte difference from one of the two `wins` below -126) end the game."""
    fires = ((clocks & b["c143"]) == b["c128"]).view(_I8)  # a sub, shot timer out
    moves = ((clocks & b["c112"]) == b["zero"]).view(_I8)
    nxt = cell + moves
    touch = cell == me_code
    touch |= nxt == me_code
    down = nxt == targets.unsqueeze(1)  # [2, K, N]; one enemy per cell moves in
    spent = down.view(_I8).amax(1)
    gone = (nxt & b["c15"]) >= b["ten"]
    gone |= down[0]
    gone |= down[1]
    del down
    torch.addcmul(nxt, gone.view(_I8), nxt - b["dead0"], value=-1, out=planes[CELL])
    del gone
    due = ((clocks & b["c15"]) == b["zero"]).view(_I8)
    new_clocks = torch.sub(clocks, b["c17"], out=planes[CLOCKS])
    new_clocks.add_(due, alpha=11)
    new_clocks.addcmul_(moves, move_reset)
    del due, moves
    bullet = torch.addcmul(bullet, fires, nxt - bullet)
    del fires, nxt
    near = (bullet - wins) < b["c126"]  # [2, K, N]
    near_right = near[0]
    near_right |= touch
    over = near.view(_I8).amax((0, 1))
    del near, near_right, touch
    # one off the grid stays
    torch.add(bullet, ((bullet & b["c15"]) < b["ten"]).view(_I8), out=planes[BULLET])
    return over, spent


def _first_hit(there: Tensor, inv_order: Tensor, b: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """([K, N] one-hot of the slot in `there` with the highest `inv_order`, [N] whether any)."""
    rank = there.view(_U8) * inv_order  # > 0 where there (inv_order is never 0)
    top = rank.amax(0)
    hit = rank == top
    hit &= there
    return hit, top != b["zero_u8"]


def _tables() -> dict[str, list]:
    """Lookup tables from the rules and the encodings above, as lists (see _consts)."""
    t: dict[str, list] = {}
    # the player by code = py * 20 + px * 2 + face: its move by code * 6 + action; a row of its
    # new bullet's code, py * 10 + px and that + DIVER_KEYS * 90 (the "want" rows of the older
    # and the newer diver); the enemy bullet windows; observation cells
    for k in ("player_next", "player_row", "player_wins", "player_obs"):
        t[k] = []
    wins: list[list[int]] = [[], []]
    for code in range(9 * 2 * GRID):
        py, px, face = code // 20, code // 2 % GRID, code % 2
        for a in range(6):
            x, y, f = px, py, face
            if a == LEFT:
                x, f = max(0, px - 1), 0
            elif a == RIGHT:
                x, f = min(GRID - 1, px + 1), 1
            elif a == UP:
                y = max(0, py - 1)
            elif a == DOWN:
                y = min(8, py + 1)
            t["player_next"].append(y * 20 + x * 2 + f)
        pos = (py - 1) * 16 + px
        # an enemy bullet's code c touches the player's cell p now or after its move when
        # c - (p - 1) is 0 or 1 (moving right) or c - (-p - 8) is (moving left); none at row 0.
        # Windows + 128, so that the byte difference c - w is below -126 (-128 or -127) then.
        wins[0].append(_i8((pos - 1 if py > 0 else UNMATCH) + 128))
        wins[1].append(_i8((-pos - 8 if py > 0 else UNMATCH) + 128))
        new_shot = (pos & 255) | face << 8 | ALIVE
        t["player_row"].append([new_shot, py * GRID + px, DIVER_KEYS * 90 + py * GRID + px])
        back = (px - 1 if face else px + 1) % GRID
        t["player_obs"].append(_pair(py * GRID + px, 100 + py * GRID + back))
    t["player_wins"] = wins  # [2, 180]: looked up along dim 1, for a [2, N] result
    # player bullets by code: moved one cell (0 once off the grid); the code of the cell a live
    # bullet (or the player) is on, in its row's direction under the row mask r: encode[code *
    # 256 + r]; observation cells
    t["shot_move"], t["shot_obs"] = [], []
    for code in range(1 << 10):
        p, right, alive = _i8(code & 255), code >> 8 & 1, code & ALIVE
        q = p + (1 if right else -1)
        t["shot_move"].append((q & 255) | code & ~255 if alive and q & 15 < GRID else 0)
        on = alive and p & 15 < GRID
        t["shot_obs"].append(200 + ((p >> 4) + 1) * GRID + (p & 15) if on else SINK)
    t["encode"] = []
    for code in range(1 << 10):
        p, alive = _i8(code & 255), code & ALIVE
        on_grid = alive and 0 <= p and p & 15 < GRID and p >> 4 < 8
        for r in range(256):
            right = r >> (p >> 4) & 1 if on_grid else 0
            t["encode"].append((p if right else -p - 7) if on_grid else UNMATCH)
    # enemy spawn by the draw key's low six bits (floor(2u) + 2 floor(3u) + 6 floor(8u) of the
    # enemy_lr, enemy_sub and enemy_row draws: 0 is right, 0 a sub): the lowest code of the
    # row's cells moving the other way + 128 (the window of the ten codes that block the spawn),
    # the newcomer's code - DEAD, the sub bit of its clocks; by that key + 64 * row mask, the row
    # mask with the row's bit set to the newcomer's direction
    t["first"], t["born"], t["sub_bit"], t["row_mask"] = [], [], [], []
    for key in range(48):
        right, sub, row = key % 2 == 0, key // 2 % 3 == 0, key // 6
        first = -16 - row * 16 if right else row * 16
        t["first"].append(_i8(first + 128))
        t["born"].append(_i8((row * 16 if right else -16 - row * 16) - DEAD))
        t["sub_bit"].append(-128 * sub)
    for r in range(256):
        for key in range(64):
            right, row = key % 2 == 0, key // 6
            bit = 1 << row if row < 8 else 0  # keys 48-63 do not occur
            t["row_mask"].append(r | bit if right else r & ~bit)
    # divers by code: a key for the pick-up (0 for none, else 90 * (1 + (its row - 1) * 40 +
    # column * 4 + right * 2 + moving this step)), the code after the move, observation cells;
    # and by slot * DIVER_KEYS * 90 + key + py * 10 + px ("want"): 20 (the older slot) or 40 (the
    # newer) if the diver is on the player's cell now or after its move, plus, in the older
    # slot's rows, 10 below the surface
    t["diver_key"], t["diver_next"], t["diver_obs"] = [], [], []
    for code in range(1 << 13):
        p, right, alive, timer = _i8(code & 255), code >> 8 & 1, code & ALIVE, code >> 10
        q = p + (1 if right else -1) if timer == 0 else p
        moving = int(timer == 0)
        key = 1 + (p >> 4) * 40 + (p & 15) * 4 + right * 2 + moving
        t["diver_key"].append(90 * key if alive and p & 15 < GRID and 0 <= p >> 4 < 8 else 0)
        on = alive and q & 15 < GRID
        later = (
            (q & 255)
            | code & (ALIVE | 1 << 8)
            | (DIVER_MOVE_INTERVAL if timer == 0 else timer - 1) << 10
        )
        t["diver_next"].append(later if on else 0)
        if not (alive and p & 15 < GRID and 0 <= p >> 4 < 8):
            t["diver_obs"].append(_pair(SINK, SINK))
            continue
        y, x = (p >> 4) + 1, p & 15
        tx = x - 1 if right else x + 1
        t["diver_obs"].append(
            _pair(900 + y * GRID + x, 300 + y * GRID + tx if 0 <= tx < GRID else SINK)
        )
    # a new diver by the draw key // 64 = floor(2u) + 2 floor(8u) of diver_lr and diver_row
    t["diver_spawn"] = [
        (row * 16 + (0 if right else 9)) | right << 8 | ALIVE | DIVER_MOVE_INTERVAL << 10
        for row in range(8)
        for right in (1, 0)
        for _ in range(64)
    ]
    t["want"] = [10 if i % 90 >= GRID else 0 for i in range(DIVER_KEYS * 90)]
    t["want"] += [0] * (DIVER_KEYS * 90)
    key = 0
    for y in range(1, 9):
        for x in range(GRID):
            for right in (0, 1):
                for moving in (0, 1):
                    key += 1
                    after = x + (1 if right else -1) * moving
                    for slot in (0, 1):
                        for px in {x, after} & set(range(GRID)):
                            t["want"][(slot * DIVER_KEYS + key) * 90 + y * GRID + px] += 20 << slot
    # pick-ups, oxygen and surfacing by AIR + 10 below the surface + divers held (-3 for any
    # count below -2) + 20 * wanted (1 the older, 2 the newer; never with an arrival): a row of
    # the new AIR, reward, change of the diver count, game over, surfaced with divers, new GAUGE,
    # and masks that keep the older and the newer diver (0 for one picked up, else all ones)
    t["air_row"] = []
    for air in range(2 * (MAX_OXYGEN + 2)):
        oxygen, surfaced = air // 2 - 1, air % 2
        for wanted in range(4):
            for deep in (0, 1):
                for held in range(-3, MAX_DIVERS + 1):
                    take_new = wanted >> 1 and held < MAX_DIVERS
                    take_old = wanted & 1 and held + take_new < MAX_DIVERS
                    dc = held + take_new + take_old
                    over, up, bonus, delta, o, sf = oxygen <= 0, 0, 0, 0, oxygen, surfaced
                    if deep:
                        o, sf = max(oxygen - 1, -1), 0
                    elif not surfaced:
                        if dc == 0:
                            over = True
                        else:
                            up, sf, o = 1, 1, MAX_OXYGEN
                            bonus = oxygen * 10 // MAX_OXYGEN if dc == MAX_DIVERS else 0
                            delta = -1 - (MAX_DIVERS if dc == MAX_DIVERS else 0)
                    new_air = 80 * ((o + 1) * 2 + sf) + 3
                    gauge = max(o, 0) * GRID // MAX_OXYGEN * 7 + max(dc + delta, 0)
                    row = [new_air, bonus, dc - held + delta, over, up, gauge]
                    t["air_row"].append(
                        [int(x) for x in row] + [-int(not take_old), -int(not take_new)]
                    )
    # the gauges by GAUGE: the bytes of cells 784-903 (GAUGE_WORDS): row 9 of channel 7,
    # oxygen // 20 cells from the left, and row 9 of channel 8, the divers held ending at column 8
    t["gauge_obs"] = []
    for level in range(GRID + 1):
        for held in range(MAX_DIVERS + 1):
            row = [0] * (8 * (GAUGE_WORDS.stop - GAUGE_WORDS.start))
            for x in range(level):
                row[790 - 784 + x] = 1
            for x in range(9 - held, 9):
                row[890 - 784 + x] = 1
            t["gauge_obs"].append(row)
    # by action + 6 * shot timer + 36 * diver timer: firing, the diver spawn timer running out,
    # the new shot cooldown and diver spawn timer
    t["fire"], t["diver_due"], t["shot_timer"], t["diver_timer"] = [], [], [], []
    for d in range(128):
        for shot in range(SHOT_COOLDOWN + 1):
            for a in range(6):
                fire = a == FIRE and shot == 0
                new_shot = SHOT_COOLDOWN - 1 if fire else max(shot - 1, 0)
                new_d = DIVER_SPAWN_INTERVAL - 1 if d == 0 else d - 1
                t["fire"].append(fire)
                t["diver_due"].append(d == 0)
                t["shot_timer"].append(new_shot)
                t["diver_timer"].append(new_d)
    # difficulty by level = ramp << 8 | move interval << 5 | spawn interval: spawn interval - 1,
    # the change of level on surfacing, a new fish's clocks, (move interval + 1) << 4
    for k in ("spawn_reset", "level_up", "fish_clocks", "move_reset"):
        t[k] = []
    for level in range(64 << 8):
        ramp, ms, e = level >> 8, level >> 5 & 7, level & 31
        if e > 1 or ms > 2:
            ms2 = ms - 1 if ms > 2 and ramp % 2 else ms
            e2 = e - 1 if e > 1 else e
            up = min(ramp + 1, 63) << 8 | ms2 << 5 | e2
        else:
            up = level
        t["spawn_reset"].append(max(e - 1, 0))
        t["level_up"].append(up - level)
        t["fish_clocks"].append(_i8(ms << 4 | SUB_SHOT_INTERVAL))
        t["move_reset"].append(_i8((ms + 1) << 4))
    # observation cells: enemy code byte (+ 256 for a sub) -> (its cell, its trail); bullets
    t["enemy_obs"], t["bullet_obs"] = [], []
    for sub in (0, 1):
        for c8 in range(256):
            pos, right = _decode(_i8(c8))
            if pos is None:
                t["enemy_obs"].append(_pair(SINK, SINK))
                continue
            y, x = (pos >> 4) + 1, pos & 15
            tx = x - 1 if right else x + 1
            trail = 300 + y * GRID + tx if 0 <= tx < GRID else SINK
            t["enemy_obs"].append(_pair((600 if sub else 500) + y * GRID + x, trail))
    for c8 in range(256):
        pos, _ = _decode(_i8(c8))
        t["bullet_obs"].append(SINK if pos is None else 400 + ((pos >> 4) + 1) * GRID + (pos & 15))
    return t


def _pair(cell: int, trail: int) -> int:
    """Two flat cell indices as one int64 (read back as an int32 pair, low word first)."""
    return cell | trail << 32


def _i8(x: int) -> int:
    """x as a signed byte."""
    return (x + 128) % 256 - 128


def _decode(code: int) -> tuple[int | None, bool]:
    """(pos, moving right) of an on-grid enemy or bullet code, (None, _) for any other byte."""
    right = code >= 0
    pos = code if right else -code - 7
    if code == DEAD or pos & 15 >= GRID or not 0 <= pos >> 4 < 8:
        return None, right
    return pos, right


_CACHE: dict[torch.device, dict] = {}
_BATCH: dict[tuple[torch.device, int], dict[str, Tensor]] = {}
_TABLE_DTYPES = {
    "encode": _I8,
    "first": _I8,
    "born": _I8,
    "sub_bit": _I8,
    "fish_clocks": _I8,
    "move_reset": _I8,
    "player_wins": _I8,
    "want": _I8,
    "air_row": torch.int16,  # a quarter of the bytes in int64 (2 MB): fewer cache misses
    "row_mask": torch.int16,
    "fire": torch.bool,
    "diver_due": torch.bool,
    "bullet_obs": torch.int32,
    "shot_obs": torch.int32,
    "gauge_obs": _U8,
}


def _dispatch() -> contextlib.AbstractContextManager:
    """Inference mode for a step's ops, none while torch.compile traces them."""
    return contextlib.nullcontext() if torch.compiler.is_compiling() else torch.inference_mode()


def _ordinary() -> contextlib.AbstractContextManager:
    """Ordinary tensors for the caches, even when first built inside `_dispatch`."""
    if torch.compiler.is_compiling():
        return contextlib.nullcontext()
    return torch.inference_mode(False)


def _consts(device: torch.device) -> dict:
    """Tables and the batch-1 start state on `device` (built once per device)."""
    if device not in _CACHE:
        with _ordinary():
            _CACHE[device] = _build_consts(device)
    return _CACHE[device]


def _build_consts(device: torch.device) -> dict:
    """What `_consts` caches."""
    t = {
        k: torch.tensor(x, dtype=_TABLE_DTYPES.get(k, torch.int64), device=device)
        for k, x in _tables().items()
    }
    vars0 = [0] * N_VARS
    vars0[PLAYER], vars0[AIR] = 5 * 2, 80 * ((MAX_OXYGEN + 1) * 2 + 1) + 3
    vars0[GAUGE] = GRID * 7
    vars0[LEVEL] = START_MOVE_INTERVAL << 5 | START_SPAWN_INTERVAL
    vars0[E_TIMER], vars0[D_TIMER] = START_SPAWN_INTERVAL, DIVER_SPAWN_INTERVAL
    enemies0 = torch.tensor([DEAD, 0, DEAD], dtype=_I8, device=device)
    t["gauge_obs"] = t["gauge_obs"].view(torch.int64)  # [77, 15] words
    return {
        **t,
        "vars_col": torch.tensor(vars0, device=device).view(N_VARS, 1),
        "enemy_fill": enemies0.view(3, 1, 1),
        "draw_scale": torch.tensor([2.0, 3.0, 8.0, 2.0, 8.0], device=device),
        "draw_weight": torch.tensor([1, 2, 6, 64, 128], device=device),
        "start": {
            "vars": torch.tensor([vars0], device=device),
            "enemies": enemies0.view(1, 3, 1).expand(1, 3, ENEMY_CAP).contiguous(),
            "divers": torch.zeros(1, 2, dtype=torch.int64, device=device),
            "shots": torch.zeros(1, 2, dtype=torch.int64, device=device),
        },
    }


def _batch(device: torch.device, n: int) -> dict:
    """Constants shaped for a batch of n envs (compares of [K, N] int8 with an [N] operand are
    several times faster than with a scalar) and observe's scratch, built once per device and n."""
    key = (device, n)
    if key not in _BATCH:
        if n * 1024 > SINK:  # SINK plus any env's offset must clamp to the spare cell
            raise ValueError(f"at most {SINK // 1024} Seaquest envs in one batch, got {n}")
        with _ordinary():
            _BATCH[key] = _build_batch(device, n)
    return _BATCH[key]


def _build_batch(device: torch.device, n: int) -> dict:
    """What `_batch` caches."""

    def full(v: int, dtype: torch.dtype = _I8) -> Tensor:
        return torch.full((n,), v, dtype=dtype, device=device)

    def scalar(v: int) -> Tensor:
        return torch.tensor(v, dtype=_I8, device=device)

    weight = torch.arange(ENEMY_CAP, 0, -1, dtype=_I8, device=device)
    base = torch.arange(n, device=device) * 1024
    k = ENEMY_CAP
    # observe's scratch: (cell, trail) pairs for the enemies, divers and player; single cells
    # for enemy and player bullets; all of them as int64
    n_pairs, n_singles = 2 * (k + 3) * n, (k + 2) * n
    obs_all = torch.empty(n_pairs + n_singles, dtype=torch.int32, device=device)
    pairs, singles = obs_all[:n_pairs], obs_all[n_pairs : n_pairs + n_singles]
    return {
        "ten": full(GRID),
        "c63": full(63, torch.int64),
        "zero64": full(0, torch.int64),
        "one64": full(1, torch.int64),
        "zero_u8": full(0, _U8),
        "unmatch2": torch.full((2, n), UNMATCH, dtype=_I8, device=device),
        "c118": full(-118),
        "c126": full(-126),
        "zero": full(0),
        "dead": full(DEAD),
        "dead0": scalar(DEAD),
        "c128": full(-128),
        "c15": scalar(15),
        "c112": scalar(112),
        "c143": scalar(_i8(143)),
        "c17": scalar(17),
        "slot_weight": weight.view(-1, 1).expand(-1, n).contiguous(),
        "base32": base.int(),
        "base_pairs": base.int().repeat_interleave(2),
        "obs_all": obs_all,
        "obs_pairs": pairs.view(-1, 2 * n),
        "obs_singles": singles.view(-1, n),
        # where each lookup writes: int64 (cell, trail) pairs, int32 single cells
        "obs_out": {
            "enemies": pairs[: k * 2 * n].view(torch.int64),
            "divers": pairs[k * 2 * n : (k + 2) * 2 * n].view(torch.int64),
            "player": pairs[(k + 2) * 2 * n :].view(torch.int64),
            "bullets": singles[: k * n],
            "shots": singles[k * n :],
        },
        "obs_at": torch.empty(obs_all.shape, dtype=torch.int64, device=device),
        "obs_code": torch.empty(k, n, dtype=torch.int32, device=device),
        "ones": torch.ones(obs_all.shape, dtype=_U8, device=device),
    }
