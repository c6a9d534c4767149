"""Rollout storage and Batch: shapes, dtypes, where a step lands, and the order of flattening."""

import torch

from agents.storage import Batch, RolloutStorage

T, N = 3, 4


def _filled(obs_shape=(2,)) -> RolloutStorage:
    """Storage whose entry (t, i) holds 10 t + i in every field (obs: in every feature)."""
    s = RolloutStorage(T, N, obs_shape, torch.float32, torch.device("cpu"))
    for t in range(T):
        step = torch.arange(N) + 10 * t  # what a rollout writes at step t, one value per env
        s.obs[t] = step[:, None].float().expand(N, *obs_shape)
        s.actions[t], s.logprobs[t], s.values[t] = step, step.float(), step.float()
        s.advantages[t], s.returns[t] = step.float(), step.float()
    return s


def test_shapes_and_dtypes():
    s = RolloutStorage(T, N, (4, 84, 84), torch.uint8, torch.device("cpu"))
    assert s.obs.shape == (T, N, 4, 84, 84) and s.obs.dtype == torch.uint8  # frames stay uint8
    assert s.actions.shape == (T, N) and s.actions.dtype == torch.long
    assert s.dones.shape == (T, N) and s.dones.dtype == torch.bool
    for x in (s.logprobs, s.values, s.rewards, s.advantages, s.returns):
        assert x.shape == (T, N) and x.dtype == torch.float32


def test_flat_is_time_major():
    # row k of the flat batch is step k // N of env k % N: 0 1 2 3, 10 11 12 13, 20 ...
    b = _filled().batch().flat()
    want = [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]
    assert b.actions.tolist() == want and b.returns.tolist() == want
    assert b.obs.shape == (T * N, 2) and b.obs[:, 0].tolist() == want
    assert len(b) == T * N


def test_env_and_time_slices():
    b = _filled().batch()
    # envs 1 and 2, flattened by time then env
    assert b.envs(slice(1, 3)).actions.tolist() == [1, 2, 11, 12, 21, 22]
    assert b.envs(slice(1, 3)).obs.shape == (6, 2)
    # steps 1 and 2, all envs
    assert b.steps(slice(1, 3)).values.tolist() == [10, 11, 12, 13, 20, 21, 22, 23]
    assert len(b.envs(slice(0, 1))) == T and len(b.steps(slice(0, 1))) == N


def test_index_picks_rows_of_every_field():
    flat = _filled().batch().flat()
    sub = flat.index(torch.tensor([5, 0, 11]))
    for f in ("actions", "logprobs", "values", "advantages", "returns"):
        assert getattr(sub, f).tolist() == [11, 0, 23]
    assert sub.obs[:, 1].tolist() == [11, 0, 23]


def test_batch_is_a_view_of_the_storage():
    s = _filled()
    b = s.batch()
    s.advantages[2, 3] = -1.0  # e.g. advantages written after the batch was taken
    assert b.advantages[2, 3] == -1.0 and b.flat().advantages[-1] == -1.0


def test_batch_fields_in_order():
    x = torch.zeros(1)
    b = Batch(x, x + 1, x + 2, x + 3, x + 4, x + 5)
    assert [float(getattr(b, f)[0]) for f in ("obs", "actions", "logprobs", "values")] == [
        0,
        1,
        2,
        3,
    ]
    assert (float(b.advantages[0]), float(b.returns[0])) == (4, 5)
