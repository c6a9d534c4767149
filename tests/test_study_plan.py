"""Study configuration and planning without training: lr rules, the adaptive grid, caps,
validation, and the config's JSON form."""

import dataclasses
import json

import pytest
from study_fakes import CFG

from rlnoise.errors import UserError
from rlnoise.study.config import StudyConfig, StudyError, lr_for, validate_study
from rlnoise.study.plan import PlanResult, plan, run_name

# ----------------------------------------------------------------------------- lr rules


def test_lr_rules():
    b = dict(n_envs=(1, 4, 16, 256), n_steps=128, lr=1e-3)
    const = StudyConfig(**b, lr_rule="const")
    sqrt = StudyConfig(**b, lr_rule="sqrt")
    lin = StudyConfig(**b, lr_rule="linear")
    grid = StudyConfig(**b, lr_rule="grid")
    assert [lr_for(const, n) for n in (1, 4, 16)] == [1e-3, 1e-3, 1e-3]
    assert [lr_for(sqrt, n) for n in (1, 4, 16)] == pytest.approx([1e-3, 2e-3, 4e-3])
    assert [lr_for(lin, n) for n in (1, 4, 16)] == pytest.approx([1e-3, 4e-3, 16e-3])
    assert lr_for(lin, 256) == pytest.approx(64e-3)  # capped at 64x the base (not 256x)
    assert lr_for(grid, 4, -1) == pytest.approx(0.5e-3)
    assert lr_for(grid, 4, 0) == pytest.approx(2e-3)
    assert lr_for(grid, 4, 1) == pytest.approx(8e-3)
    assert lr_for(grid, 16, 2) == pytest.approx(4e-3 * 16)


def test_base_batch_is_smallest_even_if_given_unsorted():
    cfg = validate_study(StudyConfig(n_envs=(16, 1, 4), lr_rule="sqrt", lr=1e-3))
    assert cfg.n_envs == (1, 4, 16)
    assert lr_for(cfg, 4) == pytest.approx(2e-3)


# ----------------------------------------------------------------------------- planner


def _done(cfg, results):
    """results: {(n_envs, k, seed): steps or None} -> PlanResult map by run name."""
    return {
        run_name(n, lr_for(cfg, n, k), s): PlanResult(steps, best_return=100.0)
        for (n, k, s), steps in results.items()
    }


def _ks(specs, n):
    return sorted({s.k for s in specs if s.n_envs == n})


def test_plan_starts_with_central_lr_then_base_grid_capped_at_fastest():
    specs = plan(CFG, {})
    assert {(s.n_envs, s.k, s.seed) for s in specs} == {
        (n, 0, s) for n in (1, 4, 16) for s in (0, 1)
    }
    assert all(s.max_updates == CFG.max_steps // s.batch_size and not s.capped for s in specs)
    done = _done(CFG, {(1, 0, 0): 300, (1, 0, 1): 200})
    specs = plan(CFG, done)
    at1 = [s for s in specs if s.n_envs == 1 and s.k != 0]
    assert sorted((s.k, s.seed) for s in at1) == [(-1, 0), (-1, 1), (1, 0), (1, 1)]
    assert all(s.max_updates == 200 and s.capped and s.stage == 1 for s in at1)
    assert _ks(specs, 4) == [0]  # no stage 1 until both seeds of k=0 are done
    # order: smaller batch first, later stages first within a batch
    assert specs[0].n_envs == 1 and specs[0].stage == 1


def test_grid_widens_at_the_edge_until_the_limit():
    # best at k=+1 (top edge) at n=4 -> k=+2 added; best at k=0 at n=1 -> no widening
    base = {(n, k, s): 100 for n in (1, 4) for k in (-1, 0, 1) for s in (0, 1)}
    base[(4, 1, 0)] = 40
    done = _done(CFG, base)
    specs = plan(CFG, done)
    assert _ks(specs, 1) == [-1, 0, 1]
    assert _ks(specs, 4) == [-1, 0, 1, 2]
    w = [s for s in specs if s.n_envs == 4 and s.k == 2]
    assert len(w) == 2 and all(s.max_updates == 40 and s.stage == 2 for s in w)
    # the widened lr wins again -> a second widening; then the limit (2) stops it
    base |= {(4, 2, 0): 30, (4, 2, 1): 35}
    specs = plan(CFG, _done(CFG, base))
    assert _ks(specs, 4) == [-1, 0, 1, 2, 3]
    base |= {(4, 3, 0): 20, (4, 3, 1): 25}
    specs = plan(CFG, _done(CFG, base))
    assert _ks(specs, 4) == [-1, 0, 1, 2, 3]


def test_grid_widens_downward_and_when_nothing_reached():
    base = {(16, k, s): None for k in (-1, 0, 1) for s in (0, 1)}
    done = _done(CFG, base)
    # no run reached: rank by best mean return; make k=-1 best
    done[run_name(16, lr_for(CFG, 16, -1), 1)] = PlanResult(None, best_return=300.0)
    specs = plan(CFG, done)
    assert _ks(specs, 16) == [-2, -1, 0, 1]
    w = [s for s in specs if s.n_envs == 16 and s.k == -2]
    assert all(s.max_updates == CFG.max_steps // (16 * 128) and not s.capped for s in w)


def test_plan_is_a_function_of_results_not_their_order():
    base = {(n, k, s): 50 + 7 * k + s for n in (1, 4) for k in (-1, 0, 1) for s in (0, 1)}
    d1 = _done(CFG, base)
    d2 = dict(reversed(list(d1.items())))
    assert plan(CFG, d1) == plan(CFG, d2)


def test_other_rules_plan_one_run_per_batch_and_seed():
    cfg = dataclasses.replace(CFG, lr_rule="sqrt")
    specs = plan(cfg, {})
    assert len(specs) == 6 and {s.k for s in specs} == {0}
    assert plan(cfg, _done(cfg, {(1, 0, 0): 5})) == specs


# ----------------------------------------------------------------------------- the config


def test_validate_study_rejects_bad_input():
    for kw, msg in [
        ({"n_envs": (1, 2, 2)}, "more than once"),
        ({"n_envs": (4,)}, "at least 2"),
        ({"lr_rule": "cubic"}, "lr-rule"),
        ({"algo": "dqn"}, "algo"),
        ({"seeds": 0}, "seeds"),
        ({"targets": ()}, "target"),
        ({"max_steps": 10}, "max-steps"),
    ]:
        with pytest.raises(StudyError, match=msg):
            validate_study(dataclasses.replace(CFG, **kw))


def test_study_errors_are_user_errors():
    assert issubclass(StudyError, UserError)  # one line and exit 2 in the CLI


def test_config_json_round_trip():
    cfg = validate_study(dataclasses.replace(CFG, targets=(50.0, 20.0), train={"ent_coef": 0.0}))
    back = StudyConfig.from_json(json.loads(json.dumps(cfg.to_json())))
    assert back == cfg and back.targets == (20.0, 50.0)


def test_median_planning_caps_at_twice_the_best_median_and_honours_seed_start():
    cfg = dataclasses.replace(CFG, seeds=3, seed_start=10, cell_stat="median", cap_factor=2.0)
    specs = plan(cfg, {})
    assert {s.seed for s in specs} == {10, 11, 12}
    # central lr at n=1: 100, 120, not reached -> median 120 -> later stages capped at 240
    done = {
        run_name(1, lr_for(cfg, 1, 0), s): PlanResult(x, 100.0)
        for s, x in zip((10, 11, 12), (100, 120, None))
    }
    later = [s for s in plan(cfg, done) if s.n_envs == 1 and s.k != 0]
    assert later and all(s.max_updates == 240 and s.capped for s in later)
    # a lucky single seed at k=+1 does not make it the best lr: its median is not reached
    done |= {
        run_name(1, lr_for(cfg, 1, k), s): PlanResult(x, 100.0)
        for k, xs in ((-1, (150, 160, 170)), (1, (50, None, None)))
        for s, x in zip((10, 11, 12), xs)
    }
    assert _ks(plan(cfg, done), 1) == [-1, 0, 1]  # best is k=0 (120): no widening
