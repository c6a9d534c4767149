"""PPO and A2C loss parts against numbers computed by hand (tests/handmade.py has the case)."""

import math

import pytest
import torch
from handmade import LN2, hand_case

from agents.losses import (
    a2c_loss_parts,
    normalize,
    ppo_loss_parts,
    total_loss,
    with_normalized_advantages,
)

# Entropy of the five rows: (4 * 0.693147 + 0.562335) / 5 = 3.334924 / 5
MEAN_ENTROPY = (4 * LN2 + (-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))) / 5


def test_ppo_clipped_objective_by_hand():
    model, batch = hand_case()
    parts = ppo_loss_parts(model, batch, clip_coef=0.2, clip_vloss=False, norm_adv=False)
    # per sample max(-A r, -A clip(r, 0.8, 1.2)):
    #   A= 2, r=1.5: max(-3.0, -2.4) = -2.4   clipped above (A > 0)
    #   A=-1, r=0.5: max( 0.5,  0.8) =  0.8   clipped below (A < 0)
    #   A= 1, r=0.5: max(-0.5, -0.8) = -0.5   not clipped: pessimistic side is unclipped
    #   A=-2, r=1.5: max( 3.0,  2.4) =  3.0   not clipped
    #   A= 1, r=1.1: max(-1.1, -1.1) = -1.1   inside the range
    # mean = (-2.4 + 0.8 - 0.5 + 3.0 - 1.1) / 5 = -0.2 / 5 = -0.04
    torch.testing.assert_close(parts["policy"], torch.tensor(-0.04))
    # |r - 1| > 0.2 for four of five samples
    torch.testing.assert_close(parts["clipfrac"], torch.tensor(0.8))
    # approx_kl = mean((r - 1) - ln r):
    #   r=1.5: 0.5 - 0.405465 = 0.094535; r=0.5: -0.5 + 0.693147 = 0.193147;
    #   r=1.1: 0.1 - 0.095310 = 0.004690; (2 * 0.094535 + 2 * 0.193147 + 0.004690) / 5
    torch.testing.assert_close(parts["approx_kl"], torch.tensor(0.5800538 / 5), atol=1e-6, rtol=0)
    torch.testing.assert_close(parts["entropy"], torch.tensor(MEAN_ENTROPY))


def test_ppo_clip_stops_the_gradient_where_it_binds():
    """Where the clipped term wins (samples 0 and 1) the policy gradient is zero; elsewhere
    d(-A r)/d logit_0 = -A r (1 - pi(0)) / 5: sample 2: -1 * 0.5 * 0.5 / 5 = -0.05;
    sample 3: 2 * 1.5 * 0.5 / 5 = 0.3; sample 4: -1 * 1.1 * 0.25 / 5 = -0.055."""
    model, batch = hand_case()
    ppo_loss_parts(model, batch, 0.2, False, False)["policy"].backward()
    g = model.logits.grad
    torch.testing.assert_close(g[:2], torch.zeros(2, 2))
    torch.testing.assert_close(g[2:, 0], torch.tensor([-0.05, 0.3, -0.055]))
    torch.testing.assert_close(g[:, 1], -g[:, 0])  # softmax: the two logits move oppositely


def test_ppo_value_loss_clipped_and_unclipped():
    model, batch = hand_case()
    # squared errors (V - R)^2 with V = [1.5, 1.5, -1, 0.1, 0], R = [2, 1, 0, 1, 0.5]:
    #   [0.25, 0.25, 1, 0.81, 0.25]; 0.5 * 2.56 / 5 = 0.256
    plain = ppo_loss_parts(model, batch, 0.2, clip_vloss=False, norm_adv=False)
    torch.testing.assert_close(plain["value"], torch.tensor(0.256))
    # clipped V_old + clip(V - V_old, -0.2, 0.2) with V_old = [1, 1, 0, 0, 0]:
    #   [1.2, 1.2, -0.2, 0.1, 0] -> errors [0.64, 0.04, 0.04, 0.81, 0.25]
    # elementwise max with the unclipped: [0.64, 0.25, 1, 0.81, 0.25] -> 0.5 * 2.95 / 5 = 0.295
    clipped = ppo_loss_parts(model, batch, 0.2, clip_vloss=True, norm_adv=False)
    torch.testing.assert_close(clipped["value"], torch.tensor(0.295))


def test_ppo_at_ratio_one_is_the_plain_policy_gradient_loss():
    model, batch = hand_case(ratios=[1.0] * 5)
    parts = ppo_loss_parts(model, batch, 0.2, False, False)
    # -mean(A * 1) = -(2 - 1 + 1 - 2 + 1) / 5 = -0.2; nothing clipped, no divergence
    torch.testing.assert_close(parts["policy"], torch.tensor(-0.2))
    assert float(parts["clipfrac"]) == 0.0
    torch.testing.assert_close(parts["approx_kl"], torch.tensor(0.0), atol=1e-7, rtol=0)


def test_a2c_loss_parts_by_hand():
    model, batch = hand_case()  # A2C ignores the old log-probabilities and values
    parts = a2c_loss_parts(model, batch, norm_adv=False)
    # -mean(A log pi): log pi = -ln2 on rows 0-3, whose A sum to 2 - 1 + 1 - 2 = 0, and
    # ln 0.75 = -0.287682 on row 4 with A = 1: -(0 - 0.287682) / 5 = 0.0575364
    torch.testing.assert_close(parts["policy"], torch.tensor(-math.log(0.75) / 5))
    torch.testing.assert_close(parts["value"], torch.tensor(0.256))  # as PPO unclipped
    torch.testing.assert_close(parts["entropy"], torch.tensor(MEAN_ENTROPY))
    assert set(parts) == {"policy", "value", "entropy"}


def test_normalize_by_hand():
    # [1, 2, 3, 4]: mean 2.5, sample std sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3) = 1.290994
    out = normalize(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(out, torch.tensor([-1.161895, -0.387298, 0.387298, 1.161895]))


def test_norm_adv_normalizes_before_the_loss():
    model, batch = hand_case(ratios=[1.0] * 5)
    # A = [2, -1, 1, -2, 1]: mean 0.2; deviations [1.8, -1.2, 0.8, -2.2, 0.8], squares sum to
    # 3.24 + 1.44 + 0.64 + 4.84 + 0.64 = 10.8, sample std sqrt(10.8 / 4) = 1.643168;
    # normalized advantages have mean 0, so at ratio 1 the policy loss -mean(A_n) is 0
    parts = ppo_loss_parts(model, batch, 0.2, False, norm_adv=True)
    torch.testing.assert_close(parts["policy"], torch.tensor(0.0), atol=1e-7, rtol=0)
    nb = with_normalized_advantages(batch)
    torch.testing.assert_close(nb.advantages[0], torch.tensor(1.8 / 1.643168))
    assert nb.obs is batch.obs and nb.returns is batch.returns  # the rest is shared


@pytest.mark.parametrize("vf,ent,expected", [(0.5, 0.01, 1.97), (1.0, 0.0, 3.0)])
def test_total_loss_weights(vf, ent, expected):
    # policy + vf * value - ent * entropy with parts 1, 2, 3: 1 + 0.5*2 - 0.01*3 = 1.97
    parts = {"policy": torch.tensor(1.0), "value": torch.tensor(2.0), "entropy": torch.tensor(3.0)}
    torch.testing.assert_close(total_loss(parts, vf, ent), torch.tensor(expected))
