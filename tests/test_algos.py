"""The per-algorithm objects: construction, optimizers, advantage estimators, the loss parts the
noise measurement calls, and one update each, against numbers computed by hand."""

import dataclasses
import math

import pytest
import torch
from handmade import LOGITS, VALUES_NEW, TableActorCritic, as_rollout, hand_case

from agents.a2c import A2CHyper
from agents.algos import A2C, ALGORITHMS, PPO, make_algorithm
from agents.ppo import PPOHyper
from rlnoise.config import ALGOS


def test_table_names_the_config_algorithms():
    assert tuple(ALGORITHMS) == ALGOS
    assert isinstance(make_algorithm("ppo", PPOHyper()), PPO)
    assert isinstance(make_algorithm("a2c", A2CHyper()), A2C)


def test_make_algorithm_refuses_bad_input():
    with pytest.raises(ValueError, match="unknown algorithm 'dqn'"):
        make_algorithm("dqn", PPOHyper())
    with pytest.raises(TypeError, match="PPOHyper"):
        make_algorithm("ppo", A2CHyper())


def test_optimizers_take_their_hyperparameters():
    params = [torch.nn.Parameter(torch.zeros(3))]
    adam = make_algorithm("ppo", PPOHyper(lr=1e-3, adam_eps=1e-7)).make_optimizer(params)
    assert isinstance(adam, torch.optim.Adam)
    assert (adam.defaults["lr"], adam.defaults["eps"]) == (1e-3, 1e-7)
    rms = make_algorithm("a2c", A2CHyper(lr=2e-3, rms_alpha=0.9, rms_eps=1e-6))
    opt = rms.make_optimizer(params)
    assert isinstance(opt, torch.optim.RMSprop)
    assert (opt.defaults["lr"], opt.defaults["alpha"], opt.defaults["eps"]) == (2e-3, 0.9, 1e-6)


def _rollout():
    # T=3 steps, N=2 envs; env 0 ends its episode at t=1, env 1 at t=0 (tests/test_advantages.py)
    rewards = torch.tensor([[1.0, 4.0], [2.0, 0.0], [3.0, 1.0]])
    values = torch.tensor([[0.5, 1.0], [1.0, 2.0], [1.5, 0.0]])
    dones = torch.tensor([[False, True], [True, False], [False, False]])
    return rewards, values, dones, torch.tensor([2.0, 4.0])


def test_returns_and_advantages_gae_or_nstep():
    r, v, d, lv = _rollout()
    ppo = make_algorithm("ppo", PPOHyper(gamma=0.5, gae_lambda=0.5))
    ret, adv = ppo.returns_and_advantages(r, v, d, lv)
    # GAE: env 0: t2: 3 + .5*2 - 1.5 = 2.5; t1 (done): 2 - 1 = 1; t0: 1 + .5*1 - .5 + .25*1 = 1.25
    #      env 1: t2: 1 + .5*4 = 3; t1: 0 + .5*0 - 2 + .25*3 = -1.25; t0 (done): 4 - 1 = 3
    expected = torch.tensor([[1.25, 3.0], [1.0, -1.25], [2.5, 3.0]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + v)
    a2c = make_algorithm("a2c", A2CHyper(gamma=0.5))  # gae_lambda None: n-step returns
    ret, adv = a2c.returns_and_advantages(r, v, d, lv)
    # env 0: t2: 3 + .5*2 = 4; t1 (done): 2; t0: 1 + .5*2 = 2
    # env 1: t2: 1 + .5*4 = 3; t1: 0 + .5*3 = 1.5; t0 (done): 4
    torch.testing.assert_close(ret, torch.tensor([[2.0, 4.0], [2.0, 1.5], [4.0, 3.0]]))
    torch.testing.assert_close(adv, ret - v)


def test_loss_parts_use_the_advantages_as_given():
    """The measurement normalizes once over the whole rollout, so `loss_parts` must not
    normalize again, even when the algorithm normalizes advantages in its own update."""
    model, batch = hand_case(ratios=[1.0] * 5)
    ppo = make_algorithm("ppo", PPOHyper(clip_coef=0.2, norm_adv=True))
    # -mean(A) = -0.2 with the raw advantages; normalized ones would give 0
    torch.testing.assert_close(ppo.loss_parts(model, batch)["policy"], torch.tensor(-0.2))
    a2c = make_algorithm("a2c", A2CHyper(norm_adv=True))
    torch.testing.assert_close(
        a2c.loss_parts(model, batch)["policy"], torch.tensor(-math.log(0.75) / 5)
    )
    # total = policy + vf * value - ent * entropy, the weights from the hyperparameters
    parts = {"policy": torch.tensor(1.0), "value": torch.tensor(2.0), "entropy": torch.tensor(3.0)}
    torch.testing.assert_close(ppo.total_loss(parts), torch.tensor(1.0 + 0.5 * 2 - 0.01 * 3))


# One plain SGD step with lr 1, ent_coef 0, vf_coef 1 and no effective gradient clipping, on the
# hand case at ratio 1. Value: d/dV_i of 0.5 * mean((V - R)^2) = (V_i - R_i) / 5
#   V = [1.5, 1.5, -1, 0.1, 0], R = [2, 1, 0, 1, 0.5] -> grads [-0.1, 0.1, -0.2, -0.18, -0.1]
#   -> V' = [1.6, 1.4, -0.8, 0.28, 0.1]
# Policy, row 0 (A = 2, action 0, pi = [0.5, 0.5]): d(-A log pi(0))/d logits / 5
#   = -2 * ([1, 0] - [0.5, 0.5]) / 5 = [-0.2, 0.2] -> logits' = [0.2, -0.2]
V_AFTER = [1.6, 1.4, -0.8, 0.28, 0.1]
ROW0_AFTER = [0.2, -0.2]


def _one_step(algo, measured=None):
    model, batch = hand_case(ratios=[1.0] * 5)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    stats = algo.update(model, opt, as_rollout(batch), measured)
    return model, stats


def test_a2c_update_one_step_by_hand():
    algo = make_algorithm("a2c", A2CHyper(vf_coef=1.0, ent_coef=0.0, max_grad_norm=1e9))
    model, stats = _one_step(algo)
    torch.testing.assert_close(model.values.detach(), torch.tensor(V_AFTER))
    torch.testing.assert_close(model.logits.detach()[0], torch.tensor(ROW0_AFTER))
    torch.testing.assert_close(torch.tensor(stats["value"]), torch.tensor(0.256))


def test_ppo_update_one_step_by_hand():
    hp = PPOHyper(
        clip_coef=0.2, clip_vloss=True, vf_coef=1.0, ent_coef=0.0, max_grad_norm=1e9,
        update_epochs=1, num_minibatches=1, norm_adv=False,
    )  # fmt: skip
    model, stats = _one_step(make_algorithm("ppo", hp))
    # policy: at ratio 1 nothing is clipped, so row 0 moves as in A2C's step
    torch.testing.assert_close(model.logits.detach()[0], torch.tensor(ROW0_AFTER))
    torch.testing.assert_close(stats["policy"], -0.2, rtol=0, atol=1e-6)
    assert stats["clipfrac"] == 0.0
    # value (clipped errors as in test_losses: [0.64, 0.25, 1, 0.81, 0.25]): sample 0's clipped
    # error wins and V_old + clip(V - V_old) does not move with V, so V_0 stays at 1.5; the
    # others take the unclipped gradient (V_i - R_i) / 5 (samples 3 and 4 are inside the clip
    # range, where both errors agree): V' = [1.5, 1.4, -0.8, 0.28, 0.1]
    torch.testing.assert_close(model.values.detach(), torch.tensor([1.5, 1.4, -0.8, 0.28, 0.1]))


def test_ppo_ignores_a_measurement():
    hp = PPOHyper(update_epochs=1, num_minibatches=1)
    torch.manual_seed(0)
    plain, _ = _one_step(make_algorithm("ppo", hp))
    junk = _Measured(torch.full((15,), 1e3), {"policy": 0.0, "value": 0.0, "entropy": 0.0})
    torch.manual_seed(0)
    given, _ = _one_step(make_algorithm("ppo", hp), junk)
    for a, b in zip(plain.parameters(), given.parameters()):
        assert torch.equal(a, b)


@dataclasses.dataclass
class _Measured:
    total_grad: torch.Tensor
    losses: dict


def test_a2c_steps_with_the_measured_gradient():
    """With a measurement, its gradient is the step's gradient, clipped to max_grad_norm, and
    its losses are the update's statistics; no forward or backward pass happens."""
    model = TableActorCritic([[0.0]], [0.0])  # two parameters: one logit, one value
    # gradient [3, 4] has norm 5; max_grad_norm 1 scales it to [0.6, 0.8]; SGD lr 1 steps by -it
    measured = _Measured(torch.tensor([3.0, 4.0]), {"policy": 1.0, "value": 2.0, "entropy": 0.5})
    algo = make_algorithm("a2c", A2CHyper(max_grad_norm=1.0))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    _, batch = hand_case()
    stats = algo.update(model, opt, as_rollout(batch), measured)  # the batch is never read
    torch.testing.assert_close(model.logits.detach(), torch.tensor([[-0.6]]))
    torch.testing.assert_close(model.values.detach(), torch.tensor([-0.8]))
    assert stats == {"policy": 1.0, "value": 2.0, "entropy": 0.5}


def test_hand_case_shapes():
    model, _ = hand_case()
    assert model.logits.shape == (len(LOGITS), 2) and model.values.shape == (len(VALUES_NEW),)
