"""GAE and n-step returns against hand-computed cases, episode ends mid-rollout included."""

import pytest
import torch

from agents.advantages import gae, nstep_returns


def _case():
    # T=3 steps, N=2 envs. Env 0 ends its episode at t=1; env 1 ends at t=0.
    rewards = torch.tensor([[1.0, 4.0], [2.0, 0.0], [3.0, 1.0]])
    values = torch.tensor([[0.5, 1.0], [1.0, 2.0], [1.5, 0.0]])
    dones = torch.tensor([[False, True], [True, False], [False, False]])
    last_value = torch.tensor([2.0, 4.0])
    return rewards, values, dones, last_value


def test_gae_hand_computed():
    r, v, d, lv = _case()
    adv, ret = gae(r, v, d, lv, gamma=0.5, lam=0.5)
    # env 0: t2: 3 + .5*2 - 1.5 = 2.5; t1 (done): 2 - 1 = 1; t0: 1 + .5*1 - .5 = 1, + .25*1 = 1.25
    # env 1: t2: 1 + .5*4 - 0 = 3; t1: 0 + .5*0 - 2 = -2, + .25*3 = -1.25; t0 (done): 4 - 1 = 3
    expected = torch.tensor([[1.25, 3.0], [1.0, -1.25], [2.5, 3.0]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + v)


def test_nstep_hand_computed():
    r, v, d, lv = _case()
    adv, ret = nstep_returns(r, v, d, lv, gamma=0.5)
    # env 0: t2: 3 + .5*2 = 4; t1 (done): 2; t0: 1 + .5*2 = 2
    # env 1: t2: 1 + .5*4 = 3; t1: 0 + .5*3 = 1.5; t0 (done): 4
    expected_ret = torch.tensor([[2.0, 4.0], [2.0, 1.5], [4.0, 3.0]])
    torch.testing.assert_close(ret, expected_ret)
    torch.testing.assert_close(adv, expected_ret - v)


@pytest.mark.parametrize("seed", [0, 1])
def test_nstep_is_gae_with_lambda_one(seed):
    g = torch.Generator().manual_seed(seed)
    T, N = 7, 3
    r = torch.randn(T, N, generator=g)
    v = torch.randn(T, N, generator=g)
    d = torch.rand(T, N, generator=g) < 0.3
    lv = torch.randn(N, generator=g)
    a1, r1 = gae(r, v, d, lv, gamma=0.9, lam=1.0)
    a2, r2 = nstep_returns(r, v, d, lv, gamma=0.9)
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(r1, r2)


def test_gae_lambda_zero_is_one_step_td():
    r, v, d, lv = _case()
    adv, _ = gae(r, v, d, lv, gamma=0.5, lam=0.0)
    next_v = torch.cat([v[1:], lv[None]])
    torch.testing.assert_close(adv, r + 0.5 * next_v * (~d).float() - v)
