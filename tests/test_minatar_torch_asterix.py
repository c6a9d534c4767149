"""Torch Asterix against the original game, step for step, and the rules easy to get wrong."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from envs.minatar_torch import asterix as asterix_module
from envs.minatar_torch.asterix import Asterix, entity_code, entity_fields
from envs.minatar_torch.core import DOWN, FIRE, LEFT, NOOP, RIGHT, UP
from tests.minatar_oracle import ScriptedRandom, lockstep, random_policy

pytest.importorskip("minatar")

SLOTS = {
    ("step", "_spawn_entity", "rand", 0): "spawn_right",
    ("step", "_spawn_entity", "rand", 1): "spawn_gold",
    ("step", "_spawn_entity", "randint", 0): "spawn_row",
}


def _entities(g) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.zeros(8, np.int64)
    d = np.zeros(8, np.int64)
    gold = np.zeros(8, bool)
    for i, e in enumerate(g.entities):
        if e is not None:
            assert e[1] == i + 1, "the original keeps slot i on row i + 1"
            x[i], d[i], gold[i] = e[0], 1 if e[2] else -1, e[3]
    return x, d, gold


def from_oracle(g) -> dict[str, np.ndarray]:
    x, d, gold = _entities(g)
    return {
        "player_x": np.int64(g.player_x),
        "player_y": np.int64(g.player_y),
        "ent_x": x,
        "ent_dir": d,
        "ent_gold": gold,
        "spawn_speed": np.int64(g.spawn_speed),
        "spawn_timer": np.int64(g.spawn_timer),
        "move_speed": np.int64(g.move_speed),
        "move_timer": np.int64(g.move_timer),
        "ramp_timer": np.int64(g.ramp_timer),
        "ramp_index": np.int64(g.ramp_index),
        "terminal": np.bool_(g.terminal),
    }


def from_torch(s) -> dict:
    """The torch state with the entity codes as the original's columns, headings and kinds."""
    return {**s, **entity_fields(s["entities"])}


class _Coverage:
    """from_oracle that also records the highest ramp level and spawns due with every row taken."""

    def __init__(self) -> None:
        self.max_ramp = 0
        self.full_spawns = 0

    def __call__(self, g) -> dict[str, np.ndarray]:
        self.max_ramp = max(self.max_ramp, g.ramp_index)
        if g.spawn_timer == 0 and all(e is not None for e in g.entities):
            self.full_spawns += 1
        return from_oracle(g)


def dodge_policy(eps: float):
    """Stay, up or down, at random among the moves whose row has no enemy within two columns.

    Reads only the observation; keeps games alive long enough to climb the whole ramp, where
    one spawn per step fills all eight rows.
    """
    offsets = torch.tensor([0, -1, 1])
    moves = torch.tensor([NOOP, UP, DOWN])

    def policy(obs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = obs.shape[0]
        where = obs[:, 0].reshape(n, -1).float().argmax(1)
        py, px = where // 10, where % 10
        near = (torch.arange(10) - px.unsqueeze(1)).abs() <= 2  # [n, 10]
        rows = (py.unsqueeze(1) + offsets).clamp(1, 8)  # [n, 3]
        enemy = obs[:, 1].bool().gather(1, rows.unsqueeze(-1).expand(n, 3, 10))
        safe = ~(enemy & near.unsqueeze(1)).any(-1)
        pick = torch.multinomial(safe.double() + 1e-9, 1, generator=gen).squeeze(1)
        explore = torch.rand(n, generator=gen) < eps
        return torch.where(explore, torch.randint(0, 6, (n,), generator=gen), moves[pick])

    return policy


def test_asterix_matches_original_random():
    spy = _Coverage()
    counts = lockstep(
        "MinAtar/Asterix-v0", 64, 700, random_policy, SLOTS, spy, seed=3, from_torch=from_torch
    )
    assert counts["episodes"] > 400 and counts["reward"] > 200 and spy.max_ramp >= 2


def test_asterix_matches_original_dodging_up_the_ramp():
    # Long games: the ramp runs to its end (level 9: spawn and move every step) and the eight rows
    # fill up, so spawns with no free row happen.
    spy = _Coverage()
    counts = lockstep(
        "MinAtar/Asterix-v0",
        48,
        2000,
        dodge_policy(0.01),
        SLOTS,
        spy,
        seed=4,
        from_torch=from_torch,
    )
    assert counts["episodes"] > 100 and counts["reward"] > 500
    assert spy.max_ramp == 9 and spy.full_spawns > 20


@pytest.mark.slow
def test_asterix_matches_original_big():
    spy = _Coverage()
    counts = lockstep(
        "MinAtar/Asterix-v0",
        256,
        4000,
        dodge_policy(0.01),
        SLOTS,
        spy,
        seed=5,
        from_torch=from_torch,
    )
    assert counts["episodes"] > 1000 and counts["reward"] > 5000
    assert spy.max_ramp == 9 and spy.full_spawns > 100


# ---- scenarios from a hand-set state ---------------------------------------------------------


def _one(**fields):
    g = Asterix()
    s = g.reset(torch.zeros(1, 0))
    if "ent_x" in fields:
        x, d, gold = (torch.as_tensor(fields.pop(k)) for k in ("ent_x", "ent_dir", "ent_gold"))
        fields["entities"] = entity_code(x, d, gold)
    for k, v in fields.items():
        s[k] = torch.as_tensor(v).reshape(s[k].shape).to(s[k].dtype)
    return g, s


def _rows(*entities: tuple[int, int, int, bool]) -> dict[str, list]:
    """Entity fields from (row 1..8, x, dir, gold) tuples."""
    x, d, gold = [0] * 8, [0] * 8, [False] * 8
    for row, ex, ed, eg in entities:
        x[row - 1], d[row - 1], gold[row - 1] = ex, ed, eg
    return {"ent_x": x, "ent_dir": d, "ent_gold": gold}


def _step(g, s, action=NOOP, right=0.9, is_gold=0.9, row=0.0):
    u = torch.tensor([[right, is_gold, row]], dtype=torch.float32)
    s2, r, term = g.step(s, torch.tensor([action]), u)
    return s2, float(r[0]), bool(term[0])


def _ent(s, row: int) -> tuple[int, int, bool]:
    f = entity_fields(s["entities"][0, row - 1])
    return int(f["ent_x"]), int(f["ent_dir"]), bool(f["ent_gold"])


def test_first_spawn_and_first_move_share_step_eleven():
    # Spawn timer starts at 10 and move timer at 5: entities move on steps 6, 11, 16, ...;
    # the first spawn is on step 11 and the new entity moves in its first step.
    g, s = _one()
    for t in range(1, 11):
        s, r, term = _step(g, s, row=0.0)
        assert int(s["entities"].abs().sum()) == 0
        assert int(s["move_timer"][0]) == (5 - t) % 5
    s, r, term = _step(g, s, right=0.1, is_gold=0.9, row=0.0)  # right-moving enemy on row 1
    assert _ent(s, 1) == (1, 1, False) and int(s["spawn_timer"][0]) == 9
    assert int(s["move_timer"][0]) == 4


def test_spawn_picks_the_kth_free_row_side_and_kind():
    taken = [(r, 4, 1, False) for r in (1, 2, 4, 5, 7)]  # free rows: 3, 6, 8
    g, s = _one(**_rows(*taken), spawn_timer=0, move_timer=3)
    s2, _, _ = _step(g, s, right=0.5, is_gold=0.2, row=0.5)  # k = floor(1.5) = 1 -> row 6
    assert _ent(s2, 6) == (9, -1, True)  # 0.5 is not < 1/2: from the right; gold
    assert _ent(s2, 3) == (0, 0, False) and _ent(s2, 8) == (0, 0, False)
    third = float(np.float32(1 / 3))  # just above 1/3: not gold
    s2, _, _ = _step(g, s, right=0.49, is_gold=third, row=0.99)  # k = 2 -> row 8
    assert _ent(s2, 8) == (0, 1, False)
    assert int(s2["spawn_timer"][0]) == 9


def test_spawn_with_every_row_taken_does_nothing_but_restarts_the_timer():
    full = _rows(*[(r, 3 + r % 2, 1, r % 3 == 0) for r in range(1, 9)])
    g, s = _one(**full, spawn_timer=0, spawn_speed=4, move_timer=2, player_x=9, player_y=8)
    s2, r, term = _step(g, s, right=0.1, is_gold=0.1, row=0.3)
    assert torch.equal(s2["entities"], s["entities"])
    assert int(s2["spawn_timer"][0]) == 3 and r == 0 and not term
    # The original draws side and kind (two rand()) but no row: a script without a row slot is
    # enough for it.
    from minatar.environments.asterix import Env

    orig = Env()
    orig.random = ScriptedRandom({k: v for k, v in SLOTS.items() if k[2] == "rand"})
    orig.entities = [[3 + (i + 1) % 2, i + 1, True, (i + 1) % 3 == 0] for i in range(8)]
    orig.spawn_timer, orig.spawn_speed, orig.move_timer = 0, 4, 2
    orig.player_x, orig.player_y = 9, 8
    orig.random.feed("step", {"spawn_right": np.float32(0.1), "spawn_gold": np.float32(0.1)})
    orig.act(NOOP)
    assert (
        orig.spawn_timer == 3
        and from_oracle(orig)["ent_x"].tolist() == from_torch(s2)["ent_x"][0].tolist()
    )


def test_spawn_onto_the_player_is_touched_at_once():
    # Only row 5 is free and the player stands at its left edge: the new gold is picked up
    # before entities move (no move this step), the new enemy ends the game.
    others = _rows(*[(r, 6, -1, False) for r in range(1, 9) if r != 5])
    g, s = _one(**others, spawn_timer=0, move_timer=2, player_x=0, player_y=5)
    s2, r, term = _step(g, s, right=0.1, is_gold=0.1)
    assert r == 1 and not term and _ent(s2, 5) == (0, 0, False)
    s2, r, term = _step(g, s, right=0.1, is_gold=0.9)
    assert r == 0 and term and _ent(s2, 5) == (0, 1, False)


def test_contact_before_the_move():
    # Enemy one cell right of the player, heading left; not a move step: stepping onto it ends
    # the game; staying does not.
    base = dict(**_rows((5, 6, -1, False)), player_x=5, player_y=5, move_timer=2)
    g, s = _one(**base)
    _, _, term = _step(g, s, RIGHT)
    assert term
    _, _, term = _step(g, s, NOOP)
    assert not term
    # On a move step, stepping onto it still counts (first check), and so does waiting for it
    # (second check) or stepping into its row where it arrives.
    g, s = _one(**{**base, "move_timer": 0})
    for action in (RIGHT, NOOP):
        _, _, term = _step(g, s, action)
        assert term
    g, s = _one(**{**base, "move_timer": 0, "player_y": 4})
    s2, _, term = _step(g, s, DOWN)
    assert term and _ent(s2, 5) == (5, -1, False)
    # Leaving the row, or walking away in it, avoids it.
    for action in (UP, LEFT):
        g, s = _one(**{**base, "move_timer": 0})
        _, _, term = _step(g, s, action)
        assert not term


def test_gold_is_picked_up_before_or_after_the_move_and_enemy_death_finishes_the_step():
    # Gold under the player after the player moves: +1, gone before the move step moves it.
    g, s = _one(**_rows((3, 4, 1, True)), player_x=5, player_y=3, move_timer=0)
    s2, r, term = _step(g, s, LEFT)
    assert r == 1 and not term and _ent(s2, 3) == (0, 0, False)
    # Gold arriving on the move: +1 too.
    s2, r, term = _step(g, s, NOOP)
    assert r == 1 and not term and _ent(s2, 3) == (0, 0, False)
    # An enemy hit in the first check still moves, and timers and ramp still tick.
    g, s = _one(**_rows((3, 4, 1, False)), player_x=5, player_y=3, move_timer=0, ramp_timer=7)
    s2, r, term = _step(g, s, LEFT)
    assert term and r == 0 and _ent(s2, 3) == (5, 1, False)
    assert int(s2["move_timer"][0]) == 4 and int(s2["ramp_timer"][0]) == 6
    # A finished game steps to itself with no reward.
    s3, r, term = _step(g, s2, RIGHT)
    assert term and r == 0 and all(torch.equal(s3[k], s2[k]) for k in s2)


def test_entities_leave_past_the_edges_and_only_on_move_steps():
    ents = _rows((1, 9, 1, False), (2, 0, -1, True), (4, 3, 1, True))
    g, s = _one(**ents, move_timer=1, player_y=7)
    s2, _, _ = _step(g, s)
    assert torch.equal(s2["entities"], s["entities"]) and int(s2["move_timer"][0]) == 0
    s3, _, _ = _step(g, s2)
    assert _ent(s3, 1) == (0, 0, False) and _ent(s3, 2) == (0, 0, False)
    assert _ent(s3, 4) == (4, 1, True) and int(s3["move_timer"][0]) == 4


def test_player_moves_every_step_within_bounds():
    # No cooldown: the player moves on consecutive steps; y stays in 1..8, x in 0..9; fire and
    # no-op leave it.
    g, s = _one(player_x=1, player_y=2)
    path = []
    for a in (LEFT, LEFT, UP, UP, FIRE, NOOP, RIGHT, DOWN):
        s, _, _ = _step(g, s, a)
        path.append((int(s["player_x"][0]), int(s["player_y"][0])))
    assert path == [(0, 2), (0, 2), (0, 1), (0, 1), (0, 1), (0, 1), (1, 1), (1, 2)]
    g, s = _one(player_x=9, player_y=8)
    for a in (RIGHT, DOWN):
        s, _, _ = _step(g, s, a)
    assert (int(s["player_x"][0]), int(s["player_y"][0])) == (9, 8)


def test_ramp_schedule():
    # The counter runs 100 .. -1; the level rises on the step after -1 (every 102 steps).
    g, s = _one(ramp_timer=0, ramp_index=1, player_y=8)
    s, _, _ = _step(g, s)
    assert int(s["ramp_timer"][0]) == -1 and int(s["ramp_index"][0]) == 1
    s, _, _ = _step(g, s)
    assert [int(s[k][0]) for k in ("ramp_timer", "ramp_index", "spawn_speed", "move_speed")] == [
        100,
        2,
        9,
        4,  # level 1 was odd: the move interval drops too
    ]
    # An even level lowers only the spawn interval.
    g, s = _one(ramp_timer=-1, ramp_index=2, spawn_speed=9, move_speed=4)
    s, _, _ = _step(g, s)
    assert (int(s["spawn_speed"][0]), int(s["move_speed"][0]), int(s["ramp_index"][0])) == (8, 4, 3)
    # Each interval stops at 1; the level still rises while either is above 1.
    g, s = _one(ramp_timer=-1, ramp_index=7, spawn_speed=1, move_speed=2)
    s, _, _ = _step(g, s)
    assert (int(s["spawn_speed"][0]), int(s["move_speed"][0]), int(s["ramp_index"][0])) == (1, 1, 8)
    # With both at 1 the ramp is over: the counter freezes.
    g, s = _one(ramp_timer=-1, ramp_index=9, spawn_speed=1, move_speed=1, spawn_timer=0)
    s, _, _ = _step(g, s)
    assert int(s["ramp_timer"][0]) == -1 and int(s["ramp_index"][0]) == 9
    # A new interval takes effect when the running timer next expires.
    g, s = _one(ramp_timer=-1, spawn_timer=0, move_timer=0, spawn_speed=10, move_speed=5)
    s, _, _ = _step(g, s)
    assert (int(s["spawn_timer"][0]), int(s["move_timer"][0]), int(s["spawn_speed"][0])) == (
        9,
        4,
        9,
    )


def test_ramping_off_keeps_the_intervals():
    g = Asterix(ramping=False)
    s = g.reset(torch.zeros(1, 0))
    s["ramp_timer"] = torch.tensor([-1])
    s2, _, _ = g.step(s, torch.tensor([NOOP]), torch.full((1, 3), 0.9))
    assert int(s2["spawn_speed"][0]) == 10 and int(s2["ramp_timer"][0]) == -1


def test_observation_channels_and_trails():
    ents = _rows((1, 0, 1, False), (2, 9, -1, True), (3, 4, -1, False), (8, 6, 1, True))
    g, s = _one(**ents, player_x=2, player_y=6)
    obs = g.observe(s)[0]
    assert obs.shape == (4, 10, 10) and obs.dtype == torch.bool
    cells = {c: sorted(map(tuple, obs[c].nonzero().tolist())) for c in range(4)}
    assert cells[0] == [(6, 2)]
    assert cells[1] == [(1, 0), (3, 4)]
    assert cells[2] == [(3, 5), (8, 5)]  # the fresh entities at the edges have no trail on grid
    assert cells[3] == [(2, 9), (8, 6)]


def test_step_has_no_host_sync():
    src = inspect.getsource(asterix_module)
    for call in (".item(", ".tolist(", ".nonzero(", ".cpu(", ".numpy("):
        assert call not in src


def test_finished_games_step_to_themselves_from_any_state():
    # Check the freezing on real states (spawns and moves due in some envs at every step) with
    # every env marked finished.
    from envs.backend_minatar_torch import MinAtarTorchVecEnv

    env = MinAtarTorchVecEnv("MinAtar/Asterix-v0", 64, seed=9)
    obs = env.reset()
    gen = torch.Generator().manual_seed(9)
    policy = dodge_policy(0.1)
    for _ in range(300):
        frozen = {**env.state, "terminal": torch.ones(64, dtype=torch.bool)}
        s2, r, term = env.game.step(
            frozen, torch.randint(0, 6, (64,), generator=gen), torch.rand(64, 3)
        )
        assert bool(term.all()) and not bool(r.any())
        assert all(torch.equal(s2[k], frozen[k]) for k in frozen)
        obs, *_ = env.step(policy(obs, gen))
