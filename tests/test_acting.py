"""`ActorCritic.act`: Gumbel-max sampling draws from the policy, its log-probability is the
policy's, and the same uniform noise gives the same actions however the batch is split."""

from __future__ import annotations

import torch

from agents.networks import ActorCritic

LOGITS = torch.tensor([1.0, 0.0, -1.0, 2.0])


class Fixed(ActorCritic):
    """The same logits for every observation; the value is the observation's first entry."""

    def forward(self, obs):
        return LOGITS.expand(obs.shape[0], -1), obs[:, 0].float()


def test_gumbel_max_draws_from_the_policy():
    torch.manual_seed(0)
    n = 200_000
    action, logp, value = Fixed().act(torch.arange(n)[:, None])
    freq = torch.bincount(action, minlength=4).float() / n
    probs = LOGITS.softmax(-1)
    # 4 sigma of a binomial proportion at n = 200,000 is at most 0.0045
    torch.testing.assert_close(freq, probs, atol=0.0045, rtol=0)
    torch.testing.assert_close(logp, probs.log()[action])
    assert torch.equal(value, torch.arange(n).float())


def test_same_noise_same_actions_whole_or_in_halves():
    torch.manual_seed(1)
    obs, u = torch.zeros(10, 1), torch.rand(10, 4)
    model = Fixed()
    whole = model.act(obs, u)
    halves = [model.act(obs[sl], u[sl]) for sl in (slice(0, 5), slice(5, 10))]
    for i in range(3):
        assert torch.equal(whole[i], torch.cat([h[i] for h in halves]))
    assert torch.equal(model.act(obs, u)[0], whole[0])


def test_zero_noise_never_picks_an_action():
    u = torch.full((6, 4), 0.5)
    u[:, 3] = 0.0  # -log(-log 0) = -inf: action 3 (the most likely) can never be drawn
    action, _, _ = Fixed().act(torch.zeros(6, 1), u)
    assert (action != 3).all()
