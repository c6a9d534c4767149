"""Torch Seaquest against the original game, step for step, and the rules easy to get wrong."""

from __future__ import annotations

import copy
import inspect
from collections import Counter

import numpy as np
import pytest
import torch

from envs.minatar_torch import seaquest as sq
from envs.minatar_torch.core import DOWN, FIRE, LEFT, NOOP, RIGHT, UP, where_state
from envs.minatar_torch.seaquest import ENEMY_CAP, Seaquest
from tests.minatar_oracle import OracleEnv, lockstep, random_policy

pytest.importorskip("minatar")

K = ENEMY_CAP
SLOTS = {
    ("step", "_spawn_enemy", "rand", 0): "enemy_lr",
    ("step", "_spawn_enemy", "rand", 1): "enemy_sub",
    ("step", "_spawn_enemy", "randint", 0): "enemy_row",
    ("step", "_spawn_diver", "rand", 0): "diver_lr",
    ("step", "_spawn_diver", "randint", 0): "diver_row",
}
SCALARS = (
    "sub_x sub_y sub_or oxygen diver_count surface e_spawn_speed move_speed ramp_index terminal "
    "shot_timer e_spawn_timer d_spawn_timer"
).split()  # the original's attributes in the order of the torch "vars" columns

# ---- canonical views of both sides ----------------------------------------------------------
# Player bullets and divers are compared in list order; fish, subs and enemy bullets as sorted
# multisets (their list order only matters within a cell, where the move timers fix it -- checked
# by `_invariants` on the original).

STATS: Counter = Counter()


def _pad(rows: list, n: int, width: int) -> np.ndarray:
    out = np.full((n, width), -1, dtype=np.int64)
    if rows:
        out[: len(rows)] = rows
    return out


def from_oracle(g) -> dict[str, np.ndarray]:
    _invariants(g)
    _tally(g)
    return {
        "scalars": np.array([int(getattr(g, a)) for a in SCALARS], dtype=np.int64),
        "shots": _pad([[b[0], b[1], int(b[2])] for b in g.f_bullets], 2, 3),
        "divers": _pad([[d[0], d[1], int(d[2]), d[3]] for d in g.divers], 2, 4),
        "fish": _pad(sorted([f[1], f[0], int(f[2]), f[3]] for f in g.e_fish), K, 4),
        "subs": _pad(sorted([s[1], s[0], int(s[2]), s[3], s[4]] for s in g.e_subs), K, 5),
        "ebullets": _pad(sorted([b[1], b[0], int(b[2])] for b in g.e_bullets), K, 3),
    }


def _in_order(fields: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[N, S, F]: the valid slots' rows in slot order, then rows of -1."""
    rows = np.where(valid[..., None], fields.transpose(0, 2, 1), -1)
    order = np.argsort(~valid, axis=1, kind="stable")
    return np.take_along_axis(rows, order[..., None], axis=1)


def _sorted(fields: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[N, K, F]: the valid slots' rows sorted lexicographically, then rows of -1."""
    rows = np.where(valid[..., None], fields.transpose(0, 2, 1), -1)
    key = np.zeros(rows.shape[:2], dtype=np.int64)
    for f in range(rows.shape[2]):
        key = key * 64 + rows[..., f] + 1
    order = np.argsort(np.where(valid, key, np.iinfo(np.int64).max), axis=1, kind="stable")
    return np.take_along_axis(rows, order[..., None], axis=1)


def _xy(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column and row of packed positions ((row - 1) * 16 + column)."""
    return cell & 15, (cell >> 4) + 1


def _pack(x: int, y: int) -> int:
    return (y - 1) * 16 + x


def _code(x: int, y: int, right: bool) -> int:
    """The enemy (or enemy bullet) code of a thing at (x, y) moving right or left."""
    pos = _pack(x, y)
    return pos if right else -pos - 7


def _uncode(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column, row and direction of enemy codes."""
    right = code >= 0
    x, y = _xy(np.where(right, code, -code - 7))
    return x, y, right.astype(np.int64)


def torch_scalars(v: np.ndarray) -> np.ndarray:
    """The torch "vars" [N, 10] as the original's SCALARS, in order."""
    p, air, level = v[:, sq.PLAYER], v[:, sq.AIR] // 80, v[:, sq.LEVEL]
    cols = [p // 2 % 10, p // 20, p % 2, air // 2 - 1, v[:, sq.DIVERS], air % 2]
    cols += [level & 31, level >> 5 & 7, level >> 8, v[:, sq.OVER]]
    return np.stack(cols + [v[:, sq.SHOT_T], v[:, sq.E_TIMER], v[:, sq.D_TIMER]], axis=1)


def _slots(code: np.ndarray) -> list[np.ndarray]:
    """x, y, right, alive and timer of player bullet or diver codes."""
    pos = (code & 255).astype(np.int8).astype(np.int64)
    x, y = _xy(pos)
    return [x, y, code >> 8 & 1, code >> 9 & 1, code >> 10]


def unpack(s) -> dict[str, np.ndarray]:
    """The torch state's fields as plain int64 arrays, [N, field..., slot]."""
    en = s["enemies"].numpy().astype(np.int64)
    ex, ey, er = _uncode(en[:, sq.CELL])
    bx, by, br = _uncode(en[:, sq.BULLET])
    ck = en[:, sq.CLOCKS] & 255
    dx, dy, dr, dalive, dtimer = _slots(s["divers"].numpy())
    sx, sy, sr, salive, _ = _slots(s["shots"].numpy())
    return {
        "vars": torch_scalars(s["vars"].numpy()),
        "enemies": np.stack(
            [ex, ey, er, (ck >> 4) & 7, ck & 15, ck >> 7, (en[:, sq.CELL] != sq.DEAD) * 1]
            + [bx, by, br, ((en[:, sq.BULLET] & 15) < 10) * 1],
            axis=1,
        ),  # x y right move shot sub alive | bullet x y right alive
        "divers": np.stack([dx, dy, dr, dtimer, dalive], axis=1),  # x y right timer alive
        "shots": np.stack([sx, sy, sr, salive], axis=1),
    }


def from_torch(s) -> dict[str, np.ndarray]:
    f = unpack(s)
    en, dv, sh = f["enemies"], f["divers"], f["shots"]
    live, sub = en[:, 6] != 0, en[:, 5] != 0
    return {
        "scalars": f["vars"],
        "shots": _in_order(sh[:, [0, 1, 2]], sh[:, 3] != 0),
        "divers": _in_order(dv[:, [0, 1, 2, 3]], dv[:, 4] != 0),
        "fish": _sorted(en[:, [1, 0, 2, 3]], live & ~sub),
        "subs": _sorted(en[:, [1, 0, 2, 3, 4]], live & sub),
        "ebullets": _sorted(en[:, [8, 7, 9]], en[:, 10] != 0),
    }


def _invariants(g) -> None:
    """What the torch layout relies on, checked on every original state the tests visit."""
    assert len(g.f_bullets) <= 2 and len(g.divers) <= 2
    assert len(g.e_fish) + len(g.e_subs) <= K
    rows: dict[int, set] = {}
    cells: dict[tuple, list] = {}
    for kind in (g.e_fish, g.e_subs):
        seen: dict[tuple, int] = {}
        for e in kind:
            rows.setdefault(e[1], set()).add(e[2])
            cells.setdefault((e[0], e[1]), []).append(e[3])
            # within a cell, list order (spawn order) is move-timer order
            assert seen.get((e[0], e[1]), -1) < e[3], "spawn order vs move timer"
            seen[(e[0], e[1])] = e[3]
    assert all(len(d) == 1 for d in rows.values()), "a row with enemies moving both ways"
    assert all(len(m) == len(set(m)) for m in cells.values()), "two enemies share cell and timer"


def _tally(g) -> None:
    n_enemies = len(g.e_fish) + len(g.e_subs)
    STATS["max_ramp"] = max(STATS["max_ramp"], g.ramp_index)
    STATS["max_enemies"] = max(STATS["max_enemies"], n_enemies)
    STATS["max_ebullets"] = max(STATS["max_ebullets"], len(g.e_bullets))
    STATS["six_divers"] += g.diver_count == 6
    STATS["negative_divers"] += g.diver_count < 0
    STATS["oxygen_out"] += g.oxygen <= 0 and not g.terminal  # the next step ends the game
    STATS["two_shots"] += len(g.f_bullets) == 2
    STATS["two_divers"] += len(g.divers) == 2
    cells = Counter((e[0], e[1]) for e in g.e_fish + g.e_subs)
    STATS["shared_cell"] += any(c > 1 for c in cells.values())


# ---- policies -------------------------------------------------------------------------------


def diver_hunter(eps: float = 0.15):
    """Chases divers, surfaces with 6 (or short of air), shoots along its row; after cashing in
    6 divers (the count goes to -1) it bobs at the surface, ramping the difficulty every 2 steps."""
    memory: dict[str, torch.Tensor] = {}
    ys, xs = torch.arange(100) // 10, torch.arange(100) % 10

    def policy(obs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = obs.shape[0]
        o = obs.bool()
        me = o[:, 0].reshape(n, 100).float().argmax(1)
        y, x = me // 10, me % 10
        facing_right = (o[:, 1].reshape(n, 100).float().argmax(1) % 10) < x
        held = o[:, 8, 9].sum(1)
        air = o[:, 7, 9].sum(1)
        prev = memory.get("held", torch.zeros(n, dtype=torch.long))
        bob = memory.get("bob", torch.zeros(n, dtype=torch.bool))
        fresh = (me == 5) & ~o[:, 2:7].any((1, 2, 3)) & ~o[:, 9].any((1, 2))  # a new game
        bob = (bob | ((prev == 6) & (held == 0))) & ~fresh
        memory["held"], memory["bob"] = held, bob
        divers = o[:, 9].reshape(n, 100)
        dist = (ys - y[:, None]).abs() + (xs - x[:, None]).abs()
        target = torch.where(divers, dist, 999).argmin(1)
        ty, tx = target // 10, target % 10
        any_diver = divers.any(1)
        foes = (o[:, 5] | o[:, 6])[torch.arange(n), y]  # [n, 10] this row
        ahead = torch.where(facing_right[:, None], xs[:10] > x[:, None], xs[:10] < x[:, None])
        act = torch.full((n,), NOOP)
        act = torch.where(any_diver & (tx < x), LEFT, act)
        act = torch.where(any_diver & (tx > x), RIGHT, act)
        act = torch.where(any_diver & (ty < y), UP, act)
        act = torch.where(any_diver & (ty > y), DOWN, act)
        act = torch.where(~any_diver & (y < 3), DOWN, act)
        act = torch.where((foes & ahead).any(1), FIRE, act)
        act = torch.where((held == 6) | ((air <= 2) & (held > 0)), UP, act)
        act = torch.where(bob, torch.where(y == 0, DOWN, UP), act)
        noise = torch.rand(n, generator=gen) < eps
        return torch.where(noise, torch.randint(0, 6, (n,), generator=gen), act)

    return policy


# ---- differential tests ---------------------------------------------------------------------


def test_seaquest_matches_original_random():
    STATS.clear()
    counts = lockstep(
        "MinAtar/Seaquest-v0", 40, 700, random_policy, SLOTS, from_oracle, 3, from_torch
    )
    assert counts["episodes"] > 300 and counts["reward"] > 20 and STATS["oxygen_out"] > 0
    assert STATS["max_ebullets"] >= 2 and STATS["two_shots"] > 0 and STATS["two_divers"] > 0


def test_seaquest_matches_original_diver_hunter():
    STATS.clear()
    counts = lockstep(
        "MinAtar/Seaquest-v0", 40, 1100, diver_hunter(), SLOTS, from_oracle, 5, from_torch
    )
    assert counts["episodes"] > 30 and counts["reward"] > 100
    assert STATS["six_divers"] > 0 and STATS["negative_divers"] > 0 and STATS["max_ebullets"] >= 3
    assert STATS["max_ramp"] >= 19 and STATS["shared_cell"] > 0 and STATS["max_enemies"] >= 12


def test_crowded_max_difficulty_matches_original():
    """From the top of the ramp (a spawn every step, fastest enemies) with the player mostly
    safe on the surface: enemy counts near the capacity bound, crowded cells, no autoreset."""
    STATS.clear()
    n, g, gen = 24, Seaquest(), torch.Generator().manual_seed(7)
    top = dict(ramp_index=19, e_spawn_speed=1, move_speed=2, diver_count=-1, e_spawn_timer=0)
    oracles = [_game(**top) for _ in range(n)]
    s = to_torch([o.game for o in oracles])
    # mostly no-op/left/right/fire at the surface; now and then a dive into the crowd
    weights = torch.tensor([0.3, 0.2, 0.04, 0.2, 0.04, 0.22])
    for t in range(400):
        action = torch.multinomial(weights, n, replacement=True, generator=gen)
        u = torch.rand(n, len(g.step_slots), generator=gen)
        s, reward, term = g.step(s, action, u)
        for i, o in enumerate(oracles):
            o.random.feed("step", dict(zip(g.step_slots, u[i].numpy(), strict=True)))
            r, done = o.game.act(int(action[i]))
            assert (r, done) == (float(reward[i]), bool(term[i])), (t, i)
        want = np.stack([o.game.state() for o in oracles]).transpose(0, 3, 1, 2)
        assert np.array_equal(g.observe(s).numpy(), want), t
        rows, got = [from_oracle(o.game) for o in oracles], from_torch(s)
        for key in rows[0]:
            assert np.array_equal(np.stack([r[key] for r in rows]), got[key]), (t, key)
        if term.any():  # restart the ended games from the top of the ramp on both sides
            for i in np.flatnonzero(term.numpy()):
                oracles[i] = _game(**top)
            s = to_torch([o.game for o in oracles])
    assert STATS["max_enemies"] >= 24 and STATS["shared_cell"] > 1000


@pytest.mark.slow
def test_seaquest_matches_original_long():
    STATS.clear()
    counts = lockstep(
        "MinAtar/Seaquest-v0", 256, 4000, diver_hunter(0.1), SLOTS, from_oracle, 11, from_torch
    )
    assert counts["episodes"] > 500 and STATS["max_ramp"] >= 19 and STATS["max_enemies"] >= 15


# ---- hand-set states ------------------------------------------------------------------------


def to_torch(games: list) -> dict[str, torch.Tensor]:
    """The torch state of original games (lists right-aligned into the two-slot arrays; enemy
    bullets in slots no sub uses, so no sub can fire into an occupied bullet slot)."""
    n = len(games)
    v = np.zeros((n, sq.N_VARS), dtype=np.int64)
    en = np.zeros((n, 3, K), dtype=np.int64)
    en[:, sq.CELL] = en[:, sq.BULLET] = sq.DEAD
    dv = np.zeros((n, 2), dtype=np.int64)
    sh = np.zeros((n, 2), dtype=np.int64)
    for i, g in enumerate(games):
        v[i, sq.PLAYER] = g.sub_y * 20 + g.sub_x * 2 + int(g.sub_or)
        v[i, sq.AIR] = 80 * ((g.oxygen + 1) * 2 + int(g.surface)) + 3
        v[i, sq.GAUGE] = max(g.oxygen, 0) * 10 // 200 * 7 + min(max(g.diver_count, 0), 6)
        v[i, sq.DIVERS], v[i, sq.OVER] = g.diver_count, int(g.terminal)
        v[i, sq.LEVEL] = g.ramp_index << 8 | g.move_speed << 5 | g.e_spawn_speed
        v[i, sq.SHOT_T], v[i, sq.E_TIMER] = g.shot_timer, g.e_spawn_timer
        v[i, sq.D_TIMER] = g.d_spawn_timer
        enemies = [(f, 0) for f in g.e_fish] + [(s, 1) for s in g.e_subs]
        for k, (e, is_sub) in enumerate(enemies):
            st = e[4] if is_sub else 0
            en[i, sq.CELL, k] = _code(e[0], e[1], e[2])
            en[i, sq.CLOCKS, k] = is_sub << 7 | e[3] << 4 | st
            v[i, sq.ROW_RIGHT] |= int(e[2]) << (e[1] - 1)
        free = [k for k in range(K - 1, -1, -1) if k >= len(enemies) or not enemies[k][1]]
        for b, k in zip(g.e_bullets, free, strict=False):
            en[i, sq.BULLET, k] = _code(b[0], b[1], b[2])
        for j, d in enumerate(g.divers, start=2 - len(g.divers)):
            dv[i, j] = (_pack(d[0], d[1]) & 255) | int(d[2]) << 8 | sq.ALIVE | d[3] << 10
        for j, b in enumerate(g.f_bullets, start=2 - len(g.f_bullets)):
            sh[i, j] = (_pack(b[0], b[1]) & 255) | int(b[2]) << 8 | sq.ALIVE
    return {
        "vars": torch.from_numpy(v),
        "enemies": torch.from_numpy(((en + 128) % 256 - 128).astype(np.int8)),
        "divers": torch.from_numpy(dv),
        "shots": torch.from_numpy(sh),
    }


def _game(**attrs) -> OracleEnv:
    o = OracleEnv("seaquest", SLOTS)
    o.reset({})
    for k, val in attrs.items():
        setattr(o.game, k, copy.deepcopy(val))  # the original mutates its lists in place
    return o


U_QUIET = {n: np.float32(0.5) for n in Seaquest.step_slots}


def _step(o: OracleEnv, s, action: int, **u):
    """One step of the torch game and of the original from the same state; they must agree."""
    g = Seaquest()
    vals = {**U_QUIET, **{k: np.float32(x) for k, x in u.items()}}
    ut = torch.tensor([[vals[k] for k in g.step_slots]])
    s2, r, term = g.step(s, torch.tensor([action]), ut)
    o.random.feed("step", vals)
    r_o, term_o = o.game.act(action)
    assert (float(r[0]), bool(term[0])) == (float(r_o), term_o)
    assert np.array_equal(g.observe(s2)[0].numpy(), o.game.state().transpose(2, 0, 1))
    want, got = from_oracle(o.game), from_torch(s2)
    for key in want:
        assert np.array_equal(want[key], got[key][0]), key
    return s2, float(r[0]), bool(term[0])


def _var(s, col: str) -> int:
    """The original's attribute `col` (one of SCALARS) of env 0 of a torch state."""
    return int(unpack(s)["vars"][0, SCALARS.index(col)])


def test_surfacing_with_six_divers_pays_oxygen_and_leaves_minus_one():
    o = _game(sub_y=1, diver_count=6, oxygen=150, surface=False)
    s = to_torch([o.game])
    s, r, term = _step(o, s, UP)
    assert r == 150 * 10 // 200 and not term
    assert _var(s, "diver_count") == -1 and _var(s, "oxygen") == 200
    assert (_var(s, "ramp_index"), _var(s, "e_spawn_speed"), _var(s, "move_speed")) == (1, 19, 5)
    assert not Seaquest().observe(s)[0, 8].any()  # an empty diver bar
    # a negative count surfaces freely, and this second ramp also speeds the enemies up
    s, _, _ = _step(o, s, DOWN)
    s, r, term = _step(o, s, UP)
    assert r == 0 and not term and _var(s, "diver_count") == -2
    assert (_var(s, "ramp_index"), _var(s, "e_spawn_speed"), _var(s, "move_speed")) == (2, 18, 4)


def test_no_ramp_without_ramping():
    o = _game(sub_y=1, diver_count=2, surface=False)
    o.game.ramping = False
    s = to_torch([o.game])
    g = Seaquest(ramping=False)
    s, r, term = g.step(s, torch.tensor([UP]), torch.full((1, 5), 0.5))
    o.random.feed("step", dict(U_QUIET))
    o.game.act(UP)
    assert from_torch(s)["scalars"][0].tolist() == from_oracle(o.game)["scalars"].tolist()
    assert (
        _var(s, "diver_count"),
        _var(s, "ramp_index"),
        _var(s, "e_spawn_speed"),
        _var(s, "move_speed"),
    ) == (
        1,
        0,
        20,
        5,
    )


def test_surfacing_with_fewer_divers_costs_one_and_with_none_ends():
    o = _game(sub_y=1, diver_count=3, oxygen=17, surface=False)
    s = to_torch([o.game])
    s, r, term = _step(o, s, UP)
    assert (r, term, _var(s, "diver_count"), _var(s, "oxygen")) == (0, False, 2, 200)
    s, r, term = _step(o, s, NOOP)  # staying up is no new arrival
    assert (_var(s, "diver_count"), _var(s, "ramp_index"), _var(s, "oxygen")) == (2, 1, 200)
    o = _game(sub_y=1, diver_count=0, surface=False)
    s, r, term = _step(o, to_torch([o.game]), UP)
    assert term and r == 0


def test_oxygen_runs_out():
    o = _game(sub_y=4, oxygen=1, surface=False)
    s = to_torch([o.game])
    s, _, term = _step(o, s, NOOP)
    assert not term and _var(s, "oxygen") == 0
    s, _, term = _step(o, s, UP)
    assert term and _var(s, "oxygen") == -1
    # reaching the surface on the last breath with divers still ends the game
    o = _game(sub_y=1, oxygen=0, diver_count=2, surface=False)
    s, _, term = _step(o, to_torch([o.game]), UP)
    assert term


def test_enemy_sub_fires_even_when_shot_down_or_leaving():
    # sub at (3, 4) moving right, due to move and to fire; a player bullet waits at x=4
    o = _game(sub_x=8, sub_y=7, e_subs=[[3, 4, True, 0, 0]], f_bullets=[[5, 4, False]])
    o.game.shot_timer = 3
    s = to_torch([o.game])
    s, r, term = _step(o, s, NOOP)
    assert r == 1 and not term and o.game.e_subs == [] and o.game.f_bullets == []
    assert o.game.e_bullets == [[5, 4, True]]  # fired from x=4, moved on to 5
    # a sub swimming off the edge fires nothing that lasts
    o = _game(sub_x=0, sub_y=7, e_subs=[[9, 2, True, 0, 0]])
    s, _, _ = _step(o, to_torch([o.game]), NOOP)
    assert o.game.e_subs == [] and o.game.e_bullets == []
    # an enemy bullet ends the game when it passes over the player
    o = _game(sub_x=7, sub_y=5, e_bullets=[[6, 5, True]], surface=False)
    s, _, term = _step(o, to_torch([o.game]), NOOP)
    assert term
    # a sub's shot clock: it fires, then again 11 steps later
    o = _game(sub_x=0, sub_y=8, e_subs=[[9, 3, False, 3, 0]], e_spawn_timer=99)
    s = to_torch([o.game])
    clock = []
    for _ in range(12):
        s, _, _ = _step(o, s, NOOP)
        clock.append(o.game.e_subs[0][4])
    assert clock == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 10]
    assert len(o.game.e_bullets) == 1 and int(unpack(s)["enemies"][0, 10].sum()) == 1


def test_spawn_timers_clash_and_ramp():
    o = _game(e_spawn_timer=0, e_spawn_speed=7)
    s = to_torch([o.game])
    s, _, _ = _step(o, s, NOOP, enemy_lr=0.2, enemy_sub=0.1, enemy_row=0.3)
    # a sub at the left edge of row 1 + floor(0.3 * 8) = 3, moving right; clocks already ticked
    assert o.game.e_subs == [[0, 3, True, 4, 9]] and _var(s, "e_spawn_timer") == 6
    # a fish that would swim against the sub in that row is not spawned; the timer restarts
    o.game.e_spawn_timer = 0
    s = to_torch([o.game])
    s, _, _ = _step(o, s, NOOP, enemy_lr=0.7, enemy_sub=0.9, enemy_row=0.3)
    assert o.game.e_fish == [] and len(o.game.e_subs) == 1 and _var(s, "e_spawn_timer") == 6
    # same direction is fine: a fish joins the row
    o.game.e_spawn_timer = 0
    s = to_torch([o.game])
    s, _, _ = _step(o, s, NOOP, enemy_lr=0.2, enemy_sub=0.9, enemy_row=0.3)
    assert o.game.e_fish == [[0, 3, True, 4]]
    # the ramp: spawn interval down to 1, move interval down to 2 on every other ramp, then stop
    o = _game(sub_y=1, surface=False, diver_count=-1, e_spawn_timer=99, d_spawn_timer=99)
    s = to_torch([o.game])
    seen = []
    for _ in range(22):
        s, _, _ = _step(o, s, UP)
        seen.append((_var(s, "ramp_index"), _var(s, "e_spawn_speed"), _var(s, "move_speed")))
        s, _, _ = _step(o, s, DOWN)
    assert seen[:7] == [(1, 19, 5), (2, 18, 4), (3, 17, 4), (4, 16, 3), (5, 15, 3)] + [
        (6, 14, 2),
        (7, 13, 2),
    ]
    assert seen[18:] == [(19, 1, 2)] * 4


def test_diver_spawn_pickup_cap_and_order():
    o = _game(d_spawn_timer=0, e_spawn_timer=99)
    s = to_torch([o.game])
    s, _, _ = _step(o, s, NOOP, diver_lr=0.9, diver_row=0.99)
    assert o.game.divers == [[9, 8, False, 4]] and _var(s, "d_spawn_timer") == 29
    # two divers on the player's cell with room for one: the newer is taken, the older swims on
    old, new = [4, 6, True, 0], [4, 6, False, 2]
    o = _game(sub_x=4, sub_y=6, surface=False, diver_count=5, divers=[old, new])
    s, _, _ = _step(o, to_torch([o.game]), NOOP)
    assert _var(s, "diver_count") == 6 and o.game.divers == [[5, 6, True, 5]]
    # a diver moving onto the player is picked up too
    o = _game(sub_x=4, sub_y=6, surface=False, divers=[[3, 6, True, 0]])
    s, _, _ = _step(o, to_torch([o.game]), NOOP)
    assert _var(s, "diver_count") == 1 and int(unpack(s)["divers"][0, 4].sum()) == 0


def test_bullet_and_enemy_list_order():
    # two player bullets land on one cell with two fish (earlier spawned: lower move timer) and
    # a sub: the newer bullet takes the earlier fish, the older bullet the other fish
    fish = [[5, 4, True, 1], [5, 4, True, 3]]
    sub = [[5, 4, True, 2, 7]]
    o = _game(sub_x=0, sub_y=8, e_fish=fish, e_subs=sub, f_bullets=[[4, 4, True], [6, 4, False]])
    s = to_torch([o.game])
    s, r, _ = _step(o, s, NOOP)
    assert r == 2 and o.game.e_fish == [] and len(o.game.e_subs) == 1
    # one fish, two bullets: the newer bullet is spent, the older flies on
    o = _game(sub_x=0, sub_y=8, e_fish=fish[:1], f_bullets=[[4, 4, True], [6, 4, False]])
    s, r, _ = _step(o, to_torch([o.game]), NOOP)
    assert r == 1 and o.game.f_bullets == [[5, 4, True]]
    # one bullet, two fish: the earlier spawned (lower move timer) goes
    o = _game(sub_x=0, sub_y=8, e_fish=fish, f_bullets=[[4, 4, True]])
    s, r, _ = _step(o, to_torch([o.game]), NOOP)
    assert r == 1 and o.game.e_fish == [[5, 4, True, 2]]
    # one bullet, a fish and a sub in the cell: the fish goes first
    o = _game(sub_x=0, sub_y=8, e_fish=[[5, 4, True, 3]], e_subs=sub, f_bullets=[[4, 4, True]])
    s, r, _ = _step(o, to_torch([o.game]), NOOP)
    assert r == 1 and o.game.e_fish == [] and len(o.game.e_subs) == 1
    # an enemy moving onto two bullets spends the earlier-fired one
    shots = [[4, 4, True], [6, 4, False]]  # both land on x=5
    o = _game(sub_x=0, sub_y=8, e_fish=[[4, 4, True, 0]], f_bullets=shots)
    s, r, _ = _step(o, to_torch([o.game]), NOOP)
    assert r == 1 and o.game.f_bullets == [[5, 4, False]]
    assert unpack(s)["shots"][0, :, 1].tolist() == [5, 4, 0, 1]  # the newer one, in slot 1


def test_facing_and_shot_cooldown():
    o = _game(sub_y=3, surface=False)
    s = to_torch([o.game])
    s, _, _ = _step(o, s, RIGHT)
    obs = Seaquest().observe(s)[0]
    assert bool(obs[0, 3, 6]) and bool(obs[1, 3, 5])  # front at x=6, back behind it
    s, _, _ = _step(o, s, FIRE)
    assert o.game.f_bullets == [[7, 3, True]] and _var(s, "shot_timer") == 4
    s, _, _ = _step(o, s, LEFT)
    for _ in range(3):  # the cooldown blocks firing, and a blocked fire does not move
        s, _, _ = _step(o, s, FIRE)
        assert len(o.game.f_bullets) <= 1 and _var(s, "sub_x") == 5
    s, _, _ = _step(o, s, FIRE)
    assert o.game.f_bullets == [[4, 3, False]]  # the first one left the grid meanwhile
    assert bool(Seaquest().observe(s)[0, 1, 3, 6])  # facing left: the back is to the right


def test_move_interval_ramp_reaches_moving_enemies():
    # a fish due to move is reset to the current interval; a surfacing changes it for later ones
    o = _game(sub_y=1, sub_x=0, surface=False, diver_count=2, ramp_index=1, e_spawn_timer=99)
    o.game.e_fish = [[5, 6, True, 0], [2, 3, False, 1]]
    s = to_torch([o.game])
    s, _, _ = _step(o, s, UP)  # the second ramp: move interval 5 -> 4
    assert _var(s, "move_speed") == 4 and sorted(o.game.e_fish) == [
        [2, 3, False, 0],
        [6, 6, True, 5],
    ]
    s, _, _ = _step(o, s, NOOP)
    assert sorted(o.game.e_fish) == [[1, 3, False, 4], [6, 6, True, 4]]


def test_terminal_state_steps_to_itself():
    o = _game(sub_y=1, diver_count=0, surface=False)
    g = Seaquest()
    s, _, term = _step(o, to_torch([o.game]), UP)
    s2, r, term2 = g.step(s, torch.tensor([DOWN]), torch.rand(1, 5))
    assert term2.all() and r.item() == 0
    assert all(torch.equal(s[k], s2[k]) for k in s)


def test_step_has_no_host_sync():
    src = inspect.getsource(sq)
    for bad in (".item(", ".tolist(", ".nonzero(", ".cpu(", ".numpy("):
        assert bad not in src


def test_restart_equals_the_generic_blend():
    # Seaquest's byte-mask autoreset against the base class's `where` over every field
    g, n = Seaquest(), 64
    s = g.reset(torch.rand(n, 0))
    gen = torch.Generator().manual_seed(3)
    for _ in range(60):
        a, u = torch.randint(0, 6, (n,), generator=gen), torch.rand(n, 5, generator=gen)
        s, _, _ = g.advance(s, a, u)
    ended = torch.rand(n, generator=gen) < 0.5
    assert 0 < ended.sum() < n and (s["enemies"][:, sq.CELL] != sq.DEAD).any()
    want = where_state(ended, g.start(torch.rand(n, 0)), s)
    got = g.restart(ended, s, torch.rand(n, 0))
    assert set(got) == set(want)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_an_emptied_sub_slot_fires_nothing():
    # a sub due to fire is shot by the player's bullet first (rule 2): no shot. Its emptied slot
    # keeps its clocks, so every 11 steps it "fires" from DEAD, a code off the grid: no bullet
    subs, shots = [[5, 4, True, 3, 0]], [[4, 4, True]]
    o = _game(sub_x=0, sub_y=8, e_subs=subs, f_bullets=shots, e_spawn_timer=99)
    s, r, _ = _step(o, to_torch([o.game]), NOOP)
    assert r == 1 and o.game.e_subs == [] and o.game.e_bullets == []
    en = s["enemies"][0]
    assert ((en[sq.CELL] == sq.DEAD) & (en[sq.CLOCKS] < 0)).any()  # an emptied sub slot
    for _ in range(23):  # two more of its shots come due
        s, _, _ = _step(o, s, NOOP)
    assert o.game.e_bullets == [] and ((s["enemies"][0, sq.BULLET] & 15) >= 10).all()


def test_what_leaves_the_game_is_ordinary_tensors():
    # the step runs under inference mode (see the module docstring), but the observation, the
    # reward and the terminal flag reach the caller as ordinary tensors: in-place updates and
    # autograd work on them as on any tensor (inference tensors refuse both outside the mode)
    from envs.backend_minatar_torch import MinAtarTorchVecEnv

    venv = MinAtarTorchVecEnv("MinAtar/Seaquest-v1", 8, 0)
    out = [venv.reset()]
    for _ in range(5):
        obs, reward, term, trunc, info = venv.step(torch.full((8,), 5, dtype=torch.int64))
        out += [obs, reward, term, trunc, info["episode_return"], info["episode_length"]]
    assert not any(t.is_inference() for t in out)
    obs.add_(0), reward.mul_(1.0), term.logical_or_(term)
    weight = torch.ones(10, requires_grad=True)
    (obs.float().sum((2, 3)).mul(weight).sum() + reward.requires_grad_().sum()).backward()
    assert weight.grad is not None
    g = Seaquest()
    s, r, t = g.step(g.reset(torch.rand(8, 0)), torch.zeros(8, dtype=torch.int64), torch.rand(8, 5))
    assert not (r.is_inference() or t.is_inference() or g.observe(s).is_inference())
