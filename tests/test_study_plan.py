"""Study planning and analysis without training: lr rules, the adaptive grid, caps, target
crossings, the fastest-run selection, multi-target B_simple, and fits that fail."""

import dataclasses
import json
import math

import pytest

from rlnoise.study import (
    PlanResult,
    RunSpec,
    StudyConfig,
    StudyError,
    lr_for,
    plan,
    run_name,
    validate_study,
)
from rlnoise.study_analysis import analyse, crossing_update, noise_up_to, run_record, thin

CFG = StudyConfig(n_envs=(1, 4, 16), n_steps=128, seeds=2, lr=1e-3, max_steps=128 * 16 * 50)


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


def test_config_json_round_trip():
    cfg = validate_study(dataclasses.replace(CFG, targets=(50.0, 20.0), train={"ent_coef": 0.0}))
    back = StudyConfig.from_json(json.loads(json.dumps(cfg.to_json())))
    assert back == cfg and back.targets == (20.0, 50.0)


# ----------------------------------------------------------------------------- one run


def test_crossing_needs_a_full_window():
    curve = [[32 * u, u, r] for u, r in enumerate([0, 60, 10, 20, 45, 50, 80], start=1)]
    # update 2 reads 60 from a part-full window; the window is full from update 3 on
    assert crossing_update(curve, 40, first_full_update=3) == 5
    assert crossing_update(curve, 40, first_full_update=1) == 2
    assert crossing_update(curve, 70, first_full_update=3) == 7
    assert crossing_update(curve, 90, first_full_update=3) is None
    assert crossing_update(curve, 10, first_full_update=None) is None
    assert crossing_update([[1, 1, float("nan")], [2, 2, 5]], 1, 1) == 2


def _summary(n_updates, b, returns, grad_sq, trace, target_update=None, status=None):
    curve = [[b * u, u, returns[u - 1]] for u in range(1, n_updates + 1)]
    hist = []
    for u in range(n_updates):
        part = {"grad_sq": grad_sq[u], "trace": trace[u], "b_simple": trace[u] / grad_sq[u]}
        part["ema_b_simple"] = part["b_simple"]
        hist.append(
            {"step": b * (u + 1), "update": u, "policy": part, "value": part, "total": part}
        )
    s = {
        "updates": n_updates,
        "global_step": b * n_updates,
        "episodes": 100,
        "wall_seconds": 1.0,
        "recent_mean_return": returns[n_updates - 1],
        "target_update": target_update,
        "curve": curve,
        "noise_history": hist,
        "noise_groups": {"by": "envs", "sizes": [b // 4] * 4},
    }
    if status:
        s["status"] = status
    return s


def test_run_record_reads_each_target_and_averages_noise_up_to_it():
    cfg = dataclasses.replace(CFG, targets=(20.0, 40.0))
    spec = RunSpec(4, 0, 0, 1e-3, 512, 100, 0)
    returns = [5, 10, 25, 30, 41, 50]
    g = [1.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    tr = [100.0, 100.0, 200.0, 400.0, 800.0, 800.0]
    tr[3] = 1000.0  # a noisy measurement after the lower target
    rec = run_record(cfg, spec, _summary(5, 512, returns, g, tr, target_update=5), 1, "runs/x")
    lo, hi = rec["targets"]
    assert (lo["steps"], lo["samples"]) == (3, 3 * 512)
    assert (hi["steps"], hi["samples"]) == (5, 5 * 512)
    # up to target 20 (updates 1..3 -> measurements 0..2): sum(trace)/sum(grad_sq) = 400/4
    assert lo["noise"]["policy"]["run_avg"] == pytest.approx(100.0)
    assert hi["noise"]["policy"]["run_avg"] == pytest.approx(2200 / 16)
    assert rec["steps_to_target"] == 5 and rec["samples_to_target"] == 2560
    assert rec["b_simple"] == pytest.approx(2200 / 16)
    assert rec["best_return"] == 41


def test_noise_up_to_handles_no_signal():
    hist = [
        {"update": 0, **{p: {"grad_sq": -1.0, "trace": 5.0} for p in ("policy", "value", "total")}}
    ]
    for p in ("policy", "value", "total"):
        hist[0][p] |= {"b_simple": math.inf, "ema_b_simple": math.inf}
    out = noise_up_to(hist, None)
    assert out["policy"]["run_avg"] is None  # inf (|G|^2 <= 0) is stored as null
    assert noise_up_to([], None)["policy"]["n_measurements"] == 0


def test_thin_keeps_ends():
    xs = list(range(1000))
    t = thin(xs, 50)
    assert len(t) <= 50 and t[0] == 0 and t[-1] == 999
    assert thin(xs[:10], 50) == xs[:10]


# ----------------------------------------------------------------------------- the study


def _records(cfg, table):
    """table: {(n_envs, k, seed): (steps_to_top or None, b_simple)} -> run records."""
    recs = []
    for (n, k, seed), (steps, bs) in table.items():
        b = n * cfg.n_steps
        spec = RunSpec(n, seed, k, lr_for(cfg, n, k), b, 200, 0)
        m = steps or 20
        ret = [cfg.top_target + 1 if (steps and u >= steps) else 1.0 for u in range(1, m + 1)]
        s = _summary(m, b, ret, [1.0] * m, [float(bs)] * m, target_update=steps)
        recs.append(run_record(cfg, spec, s, 1, f"runs/{spec.name}"))
    return recs


def test_fastest_run_per_batch_makes_the_front():
    cfg = dataclasses.replace(CFG, n_envs=(1, 4, 16, 64), targets=(100.0,))
    # S = 10 (1 + 512/B) with B = 128 n: 50, 20, 12.5, 10.6 -> B_crit = 512
    ideal = {1: 50, 4: 20, 16: 13, 64: 11}
    table = {}
    for n, s in ideal.items():
        table[(n, 0, 0)] = (s + 7, 900)  # slower seed
        table[(n, 0, 1)] = (s + 3, 800)
        table[(n, 1, 0)] = (s, 500 + n)  # the fastest
        table[(n, -1, 1)] = (None, 5)  # never reached
    out = analyse(cfg, _records(cfg, table), n_boot=200)
    fit = out["fits"][0]
    assert fit["ok"], fit["error"]
    assert [f["k"] for f in fit["front"]] == [1, 1, 1, 1]
    assert [f["steps"] for f in fit["front"]] == [50, 20, 13, 11]
    assert out["b_crit"] == pytest.approx(512, rel=0.15)
    lo, hi = out["b_crit_interval"]
    assert lo <= out["b_crit"] * 1.01 and hi >= out["b_crit"] * 0.99
    # headline B_simple: median over the front of the policy run average
    assert out["b_simple"] == pytest.approx(statistics_median([501, 504, 516, 564]))
    assert out["ratio"] == pytest.approx(out["b_simple"] / out["b_crit"])
    assert out["verdict"] == "consistent"
    row = fit["per_batch"][0]
    assert row["edge"] == "top" and row["n_reached"] == 3
    seeds = next(x for x in row["by_lr"] if x["k"] == 0)["steps_by_seed"]
    assert seeds == [57, 53]


def statistics_median(xs):
    xs = sorted(xs)
    return (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def test_ties_go_to_the_central_lr():
    cfg = dataclasses.replace(CFG, n_envs=(1, 4), targets=(100.0,), seeds=1)
    table = {(1, 1, 0): (30, 1), (1, 0, 0): (30, 2), (4, 0, 0): (12, 3), (4, -1, 0): (15, 4)}
    fit = analyse(cfg, _records(cfg, table), n_boot=50)["fits"][0]
    assert [f["k"] for f in fit["front"]] == [0, 0]


@pytest.mark.parametrize(
    "steps, msg",
    [
        ({1: 40, 4: 40, 16: 40}, "no B_crit could be fitted"),  # no trade-off
        ({1: None, 4: None, 16: None}, "no run reached"),
        ({1: 30, 4: None, 16: None}, "only one batch size"),
    ],
)
def test_fit_failures_are_reported(steps, msg):
    cfg = dataclasses.replace(CFG, targets=(100.0,), seeds=1)
    recs = _records(cfg, {(n, 0, 0): (s, 100) for n, s in steps.items()})
    out = analyse(cfg, recs, n_boot=20)
    assert out["b_crit"] is None and msg in out["errors"][0]


def test_finish_writes_everything_then_raises_when_no_fit(tmp_path):
    import pandas as pd

    from rlnoise.study_runner import FORMAT, finish

    cfg = dataclasses.replace(CFG, targets=(100.0,), seeds=1)
    recs = _records(cfg, {(n, 0, 0): (40, 100) for n in (1, 4, 16)})
    doc = {"format": FORMAT, "config": cfg.to_json(), "env": cfg.env_id, "algo": cfg.algo,
           "target": 100.0, "command": "rlnoise study", "runs": []}  # fmt: skip
    with pytest.raises(StudyError, match="no B_crit could be fitted"):
        finish(tmp_path, doc, {r["name"]: r for r in recs}, 1.0)
    saved = json.loads((tmp_path / "study.json").read_text())
    assert len(saved["runs"]) == 3 and saved["b_crit"] is None
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 3
    assert "No B_crit" in (tmp_path / "report.md").read_text()
    for name in ("pareto.png", "noise.png", "speedup.png"):
        assert (tmp_path / name).stat().st_size > 1000


# ----------------------------------------------------------------------------- presets


def _parse(*argv):
    from rlnoise.cli import build_parser
    from rlnoise.study_cli import config_from_args

    return config_from_args(build_parser().parse_args(["study", *argv]))


def test_default_study_is_the_cartpole_preset():
    cfg, ex = _parse()
    assert (cfg.env_id, cfg.algo, cfg.lr_rule, cfg.targets) == (
        "CartPole-v1",
        "ppo",
        "grid",
        (475.0,),
    )
    assert cfg.n_steps == 128 and cfg.noise_every == 1 and not cfg.anneal_lr
    assert cfg.seeds >= 2 and len(cfg.n_envs) >= 5
    assert ex.backend == "local" and ex.threads_per_run == 1 and ex.device == "cpu"


def test_presets_and_overrides():
    cfg, ex = _parse("--preset", "atari-a2c", "--env", "breakout")
    assert cfg.env_id == "ALE/Breakout-v5" and cfg.algo == "a2c" and cfg.n_steps == 5
    assert cfg.targets == (150.0,) and cfg.lr == 7e-4 and ex.device == "auto"
    cfg, _ = _parse("--preset", "atari-a2c")
    assert cfg.env_id == "ALE/Pong-v5" and cfg.targets == (10.0,)
    with pytest.raises(StudyError, match="--target is required"):
        _parse("--preset", "atari-a2c", "--env", "Tennis")
    cfg, _ = _parse("--preset", "minatar", "--target", "3", "--target", "2")
    assert cfg.env_id == "MinAtar/Breakout-v1" and cfg.targets == (3.0, 2.0)
    cfg, _ = _parse("--algo", "a2c", "--env", "Acrobot-v1", "--target", "-100")
    assert cfg.n_steps == 5 and cfg.lr == 7e-4  # the algorithm's defaults, not CartPole's
    cfg, _ = _parse("--n-envs", "1,2", "--lr", "1e-3", "--lr-rule", "const", "--seeds", "3")
    assert cfg.n_envs == (1, 2) and cfg.lr == 1e-3 and cfg.seeds == 3


def test_every_preset_is_runnable_as_configured():
    from rlnoise.study_runner import check_runnable

    for argv in ([], ["--preset", "minatar"], ["--preset", "atari-a2c"]):
        cfg, ex = _parse(*argv)
        check_runnable(validate_study(cfg), dataclasses.replace(ex, device="cpu"))
