"""Noise measurement inside training: groups, unbiased pieces, A2C gradient reuse, B_noise
machinery against an explicit Hessian, and the TensorBoard tags of a real run."""

import math

import pytest
import torch

from agents.a2c import A2CHyper, a2c_update
from agents.grads import flat_grad
from agents.losses import a2c_loss_parts, ppo_loss_parts, total_loss
from agents.networks import MLPActorCritic
from agents.storage import Batch
from rlnoise.config import TrainConfig
from rlnoise.measure import make_groups, measure, measurement_batch
from rlnoise.train import start

PARTS = ("policy", "value", "total")


def fake_rollout(T=16, N=6, obs_dim=4, n_actions=3, seed=0) -> tuple[MLPActorCritic, Batch]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MLPActorCritic(obs_dim, n_actions, hidden=8)
    obs = torch.randn(T, N, obs_dim, generator=g)
    with torch.no_grad():
        logits, values = model(obs)
        dist = torch.distributions.Categorical(logits=logits)
        actions = dist.sample()
        logp = dist.log_prob(actions)
    adv = torch.randn(T, N, generator=g)
    return model, Batch(obs, actions, logp, values, adv, values + adv)


def test_groups_split_envs_then_time():
    g = make_groups(n_steps=128, n_envs=8, k=8)
    assert g.by == "envs" and g.sizes == [128] * 8
    g = make_groups(n_steps=10, n_envs=6, k=4)
    assert g.by == "envs" and sum(g.sizes) == 60 and len(g.sizes) == 4
    assert {s.stop - s.start for s in g.slices} <= {1, 2}
    g = make_groups(n_steps=128, n_envs=2, k=8)
    assert g.by == "envs" and len(g.sizes) == 2
    g = make_groups(n_steps=100, n_envs=1, k=8)
    assert g.by == "time" and sum(g.sizes) == 100 and len(g.sizes) == 8


@pytest.mark.parametrize("n_envs,k", [(6, 3), (6, 4), (1, 4)])
def test_group_gradients_are_unbiased_pieces_of_the_rollout(n_envs, k):
    """Size-weighted mean of group gradients == gradient of the whole rollout's loss, which
    holds only because advantages are normalized once over the whole rollout."""
    model, batch = fake_rollout(N=n_envs)
    mb = measurement_batch(batch, normalize_adv=True)

    def loss_fn(m, b):
        return ppo_loss_parts(m, b, 0.1, True, False)

    m = measure(model, loss_fn, mb, make_groups(16, n_envs, k), 0.5, 0.01)
    params = list(model.parameters())
    full = total_loss(loss_fn(model, mb.flat()), 0.5, 0.01)
    torch.testing.assert_close(m.total_grad, flat_grad(full, params, False), rtol=1e-5, atol=1e-6)
    for p in PARTS:
        e = m.estimates[p]
        assert math.isfinite(e.trace) and e.trace > 0 and math.isfinite(e.grad_sq)


def test_measurement_does_not_change_the_model():
    model, batch = fake_rollout()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measure(
        model, lambda m, b: a2c_loss_parts(m, b, False), batch, make_groups(16, 6, 3), 1.0, 0.01
    )
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_a2c_reuses_the_measured_gradient():
    """An A2C step from the measurement's gradient equals an ordinary A2C step."""
    hp = A2CHyper()
    results = []
    for reuse in (False, True):
        model, batch = fake_rollout(seed=3)
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-2, alpha=0.99, eps=1e-5)
        if reuse:
            m = measure(
                model,
                lambda mm, b: a2c_loss_parts(mm, b, False),
                batch,
                make_groups(16, 6, 3),
                hp.vf_coef,
                hp.ent_coef,
            )
            a2c_update(model, opt, batch.flat(), hp, grad=m.total_grad, parts=m.losses)
        else:
            a2c_update(model, opt, batch.flat(), hp)
        results.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_b_noise_quadratic_forms_match_an_explicit_hessian():
    model, batch = fake_rollout(T=8, N=4)
    params = list(model.parameters())

    def loss_fn(m, b):
        return a2c_loss_parts(m, b, False)

    groups = make_groups(8, 4, 4)
    m = measure(model, loss_fn, batch, groups, 1.0, 0.01, b_noise=True)
    # explicit Hessian of the whole rollout's total loss
    flat0 = torch.cat([p.detach().reshape(-1) for p in params])
    shapes = [p.shape for p in params]

    class _M:  # loss_fn calls model.evaluate; wrap functional_call to look like a model
        pass

    def f_wrapped(flat):
        chunks, off = {}, 0
        for (name, _), s in zip(model.named_parameters(), shapes):
            n = math.prod(s)
            chunks[name] = flat[off : off + n].view(s)
            off += n
        wrapper = _M()
        wrapper.evaluate = lambda o, a: _evaluate(model, chunks, o, a)
        return total_loss(loss_fn(wrapper, batch.flat()), 1.0, 0.01)

    H = torch.autograd.functional.hessian(f_wrapped, flat0)
    gk = []
    for s in groups.slices:
        sub = batch.envs(s)
        gk.append(flat_grad(total_loss(loss_fn(model, sub), 1.0, 0.01), params, False))
    gk = torch.stack(gk)
    q_small = torch.einsum("kp,pq,kq->k", gk, H, gk)
    gbar = gk.mean(0)
    q_big = gbar @ H @ gbar
    b = groups.sizes[0]
    K = len(groups.sizes)
    tr_h_sigma = (q_small.mean() - q_big) / (1 / b - 1 / (K * b))
    g_h_g = q_big - tr_h_sigma / (K * b)
    assert m.b_noise is not None
    assert m.b_noise.trace_h_sigma == pytest.approx(float(tr_h_sigma), rel=1e-3)
    assert m.b_noise.g_h_g == pytest.approx(float(g_h_g), rel=1e-3, abs=1e-6)


def _evaluate(model, params, obs, actions):
    logits, value = torch.func.functional_call(model, params, (obs,))
    dist = torch.distributions.Categorical(logits=logits)
    return dist.log_prob(actions), dist.entropy(), value


def test_short_run_writes_every_noise_tag(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = TrainConfig(
        env_id="CartPole-v1",
        n_envs=8,
        n_steps=64,
        total_steps=8 * 64 * 6,
        run_dir=str(tmp_path / "run"),
        progress=False,
        noise_every=1,
        b_noise_every=2,
        lr=1e-3,
    )
    summary = start(cfg).run()
    acc = EventAccumulator(str(tmp_path / "run")).Reload()
    scalars = set(acc.Tags()["scalars"])
    for prefix in ("noise", "noise_raw"):
        for p in PARTS:
            for q in ("b_simple", "grad_sq", "trace"):
                tag = f"{prefix}/{p}/{q}"
                assert tag in scalars, tag
                vals = [e.value for e in acc.Scalars(tag)]
                assert vals and all(math.isfinite(v) for v in vals), tag
    assert "noise/total/b_noise" in scalars
    layout = acc.PluginTagToContent("custom_scalars")
    assert layout, "custom scalars layout missing"
    for p in PARTS:
        assert summary["noise"][p]["n_measurements"] == 6
    assert "b_noise_run_avg" in summary["noise"]["total"]


def test_one_env_uses_time_chunks_and_says_so(tmp_path, capsys):
    cfg = TrainConfig(
        env_id="CartPole-v1",
        n_envs=1,
        n_steps=64,
        total_steps=128,
        run_dir=str(tmp_path / "run"),
        progress=False,
        noise_every=1,
    )
    s = start(cfg).run()
    assert s["noise_groups"]["by"] == "time" and len(s["noise_groups"]["sizes"]) == 8
    assert capsys.readouterr().out.count("time chunks") == 1


@pytest.mark.slow
def test_policy_b_simple_rises_as_cartpole_improves():
    """benchmarks/noise_trace.py showed, for seeds 0-2, policy B_simple of ~300 in the first
    tenth of training (return ~80) and 3,000 to inf over the last half (return 300-470)."""
    from benchmarks.noise_trace import trace

    r = trace(seed=0, steps=150_000, n_envs=8, lr=1e-3)
    first_tenth_return, first_tenth_policy, _ = r["rows"][0]
    assert r["rows"][-1][0] > 2 * first_tenth_return  # it did improve
    assert r["late"] > 3 * first_tenth_policy


class _Recorder:
    """A metrics sink that keeps what it is given (MetricsSink drops non-finite values)."""

    def __init__(self):
        self.rows = []

    def scalar(self, tag, value, step):
        self.rows.append((tag, value, step))


def test_noise_monitor_records_tracks_and_logs():
    from agents.algos import make_algorithm
    from agents.ppo import PPOHyper
    from rlnoise.measure import NoiseMonitor

    model, batch = fake_rollout(N=4)
    mon = NoiseMonitor(make_groups(16, 4, 2), decay=0.5, every=3, b_noise_every=0)
    assert [u for u in range(7) if mon.due(u)] == [0, 3, 6]
    assert not NoiseMonitor(mon.groups, 0.5, 1, 0, enabled=False).due(0)
    sink = _Recorder()
    algo = make_algorithm("ppo", PPOHyper(norm_adv=True))
    m, rec = mon.measure(model, algo, batch, update=3, step=640, metrics=sink)
    # the record: where, and per part the raw estimate and the smoothed B_simple
    assert (rec["step"], rec["update"]) == (640, 3) and "b_noise" not in rec
    for p in PARTS:
        est = m.estimates[p]
        assert rec[p] == {
            "grad_sq": est.grad_sq,
            "trace": est.trace,
            "b_simple": est.b_simple,
            "ema_b_simple": mon.trackers[p].b_simple,
        }
        assert mon.trackers[p].n_updates == 1  # the first update of a tracker is its input
        assert mon.trackers[p].grad_sq == est.grad_sq
    tags = {t for t, _, s in sink.rows if s == 640}
    assert tags == {f"{k}/{p}/{q}" for k in ("noise", "noise_raw") for p in PARTS
                    for q in ("b_simple", "grad_sq", "trace")}  # fmt: skip
    # tracker state round-trips through a checkpoint
    other = NoiseMonitor(mon.groups, 0.5, 3, 0)
    other.load_state_dict(mon.state_dict())
    assert other.trackers["policy"].b_simple == mon.trackers["policy"].b_simple


def test_noise_monitor_measures_normalized_advantages_once():
    """With norm_adv the measurement sees advantages normalized over the whole rollout."""
    from agents.algos import make_algorithm
    from agents.ppo import PPOHyper
    from rlnoise.measure import NoiseMonitor

    model, batch = fake_rollout(N=4)
    groups = make_groups(16, 4, 2)
    algo = make_algorithm("ppo", PPOHyper(norm_adv=True))
    m, _ = NoiseMonitor(groups, 0.5, 1, 0).measure(model, algo, batch, 0, 0, _Recorder())
    direct = measure(
        model, algo.loss_parts, measurement_batch(batch, True), groups, algo.vf_coef, 0.01
    )
    assert torch.equal(m.total_grad, direct.total_grad)


class _Clock:
    """A fake time.perf_counter: `update_s` of wall time per update, measurements `meas_s`."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _drive(monitor, clock, n_updates: int, update_s: float, meas_s: float) -> list[int]:
    """Call `due` once per update as the trainer does; a due update costs meas_s more."""
    measured = []
    for u in range(n_updates):
        if monitor.due(u):
            measured.append(u)
            monitor._last_measure_s = meas_s  # what `measure` records
            clock.t += meas_s
        clock.t += update_s
    return measured


@pytest.mark.parametrize(
    "meas_s, every", [(0.01, 1), (0.03, 1), (0.05, 2), (0.2, 7)]
)  # cost ratio 1%, 3%, 5%, 20% of an update at a 3% budget
def test_adaptive_cadence_fits_the_budget(monkeypatch, meas_s, every):
    import rlnoise.measure as m

    clock = _Clock()
    monkeypatch.setattr(m.time, "perf_counter", clock)
    mon = m.NoiseMonitor(make_groups(8, 4, 4), 0.95, 1, 0, budget=0.03)
    measured = _drive(mon, clock, 40, update_s=1.0, meas_s=meas_s)
    assert mon.every == every and mon.decided
    assert measured[:3] == [0, 1, 2]  # the calibration updates are measured
    assert measured[3:] == [u for u in range(3, 40) if u % every == 0]
    state = mon.state_dict()
    again = m.NoiseMonitor(make_groups(8, 4, 4), 0.95, 1, 0, budget=0.03)
    again.load_state_dict(state)
    assert again.every == every and again.decided  # a resumed run keeps its cadence


def test_pinned_cadence_ignores_time():
    cfg = TrainConfig(noise_every=4).resolved()
    assert cfg.noise_every == 4 and cfg.noise_budget == 0.0  # --noise-every pins it
    auto = TrainConfig().resolved()
    assert auto.noise_every == 1 and auto.noise_budget == 0.03  # adaptive by default
    assert auto.resolved().noise_budget == 0.03  # resolving again keeps it adaptive


def test_a_run_that_reaches_its_target_has_a_finite_b_simple(tmp_path):
    """Adaptive cadence (the default): the first updates are always measured, and the run's
    B_simple up to the target is finite (a lower bound at worst), never n/a."""
    from rlnoise.study.analysis import noise_up_to

    run = {"n_envs": 2, "n_steps": 32, "total_steps": 2 * 32 * 60, "progress": False}
    goal = {"lr": 5e-3, "anneal_lr": False, "target_return": 25.0, "episode_window": 5}
    s = start(TrainConfig(run_dir=str(tmp_path / "run"), **run, **goal)).run()
    assert s["target_update"] is not None
    out = noise_up_to(s["noise_history"], s["target_update"], big_batch=64)
    assert out["policy"]["n_measurements"] >= 1
    assert out["policy"]["run_avg"] is not None and math.isfinite(out["policy"]["run_avg"])


def test_b_noise_is_measured_every_m_updates_whatever_the_adaptive_cadence(monkeypatch):
    """A measurement costing 20% of an update gives a B_simple cadence of 7 at a 3% budget;
    --b-noise-every 5 still measures (with B_noise) at every multiple of 5."""
    import rlnoise.measure as m

    clock = _Clock()
    monkeypatch.setattr(m.time, "perf_counter", clock)
    mon = m.NoiseMonitor(make_groups(8, 4, 4), 0.95, 1, 5, budget=0.03)
    measured = _drive(mon, clock, 40, update_s=1.0, meas_s=0.2)
    assert mon.every == 7
    assert measured[3:] == [u for u in range(3, 40) if u % 7 == 0 or u % 5 == 0]
    pinned = m.NoiseMonitor(make_groups(8, 4, 4), 0.95, 4, 10)  # --noise-every 4
    assert [u for u in range(25) if pinned.due(u)] == [0, 4, 8, 10, 12, 16, 20, 24]
