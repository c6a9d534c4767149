"""A model whose every output is set by hand, and the five-transition batch that the loss,
algorithm and update tests compute their expected numbers from."""

import math

import torch
from torch import nn

from agents.networks import ActorCritic
from agents.storage import Batch

LN2 = math.log(2.0)


class TableActorCritic(ActorCritic):
    """Observation i (an integer) -> row i of `logits` and `values`."""

    def __init__(self, logits: list[list[float]], values: list[float]) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits, dtype=torch.float32))
        self.values = nn.Parameter(torch.tensor(values, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.logits[obs], self.values[obs]


# Five transitions, two actions, all taking action 0.
# Rows 0-3 have logits [0, 0]: pi(0) = 0.5, log pi(0) = -ln 2, entropy ln 2 = 0.693147.
# Row 4 has logits [ln 3, 0]: pi(0) = 0.75, log pi(0) = ln 0.75 = -0.287682,
#   entropy -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.215762 + 0.346574 = 0.562335.
LOGITS = [[0.0, 0.0]] * 4 + [[math.log(3.0), 0.0]]
NEW_LOGP = [-LN2] * 4 + [math.log(0.75)]
VALUES_NEW = [1.5, 1.5, -1.0, 0.1, 0.0]  # the model's value now
VALUES_OLD = [1.0, 1.0, 0.0, 0.0, 0.0]  # the value when the rollout was collected
RETURNS = [2.0, 1.0, 0.0, 1.0, 0.5]
ADVANTAGES = [2.0, -1.0, 1.0, -2.0, 1.0]
RATIOS = [1.5, 0.5, 0.5, 1.5, 1.1]  # pi_new / pi_old, set through the old log-probabilities


def hand_case(ratios: list[float] = RATIOS) -> tuple[TableActorCritic, Batch]:
    """The model and a flat batch whose probability ratios are `ratios`."""
    model = TableActorCritic(LOGITS, VALUES_NEW)
    old_logp = [lp - math.log(r) for lp, r in zip(NEW_LOGP, ratios)]
    batch = Batch(
        obs=torch.arange(5),
        actions=torch.zeros(5, dtype=torch.long),
        logprobs=torch.tensor(old_logp),
        values=torch.tensor(VALUES_OLD),
        advantages=torch.tensor(ADVANTAGES),
        returns=torch.tensor(RETURNS),
    )
    return model, batch


def as_rollout(batch: Batch) -> Batch:
    """The flat five-transition batch as a [T=5, N=1] rollout."""
    return Batch(
        *(
            getattr(batch, f)[:, None]
            for f in ("obs", "actions", "logprobs", "values", "advantages", "returns")
        )
    )
