"""The rollout phase: step the vector environment with the current policy into RolloutStorage.

Two ways to step a numpy env (`RolloutCollector(..., double=...)`), one loop for both:
- sync: act on all envs, send, wait for all of them (the env is one part);
- double: the env is two fixed halves (`envs.HalvedVecEnv`); at each step, for half 0 then half 1:
  receive the half's step, act on it, send its actions -- so one half's emulators step while the
  policy acts on the other. Every env still steps once per rollout step with the action drawn from
  its own latest observation, the storage columns never move (the noise groups are unchanged), and
  the sampling noise of step t is drawn once for every env, so both ways fill the same storage
  (tests/test_rollout_modes.py). ale-py's unordered mode is never used.

Observations go straight from the env into their storage slot: on the CPU by `np.copyto` into a
numpy view of `storage.obs[t]`; on CUDA into a pinned staging buffer (`np.copyto`, off torch's
thread pool, whose spinning threads fight the emulator threads) and then a non-blocking copy into
`storage.obs[t]`. Nothing is allocated per step but the policy's own outputs, and the only
host-device synchronisation is the actions' `.cpu()` that `env.send` needs (one per part).

A tensor env (`is_torch`, e.g. MinAtar on torch) keeps everything on its device and is read once
per rollout (`_collect_tensors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np
import torch

from agents.storage import RolloutStorage
from envs import VecEnv

Acted = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class Policy(Protocol):
    """What the rollout acts with: `ActorCritic` itself, or a `GraphedPolicy` around it."""

    def act(self, obs: torch.Tensor, u: torch.Tensor) -> Acted: ...


class Episode(NamedTuple):
    """A whole game that ended during a rollout, at step `t` of it (unclipped return)."""

    t: int
    ret: float
    length: int


class RolloutCollector:
    """Fills n_steps x n_envs transitions per call. With a numpy env, rewards and dones gather in
    host arrays and cross to the device once per rollout; observations land in their storage slot
    (see the module docstring). `double=True` needs an env with `slices`, `send_half` and
    `recv_half` (`envs.make(..., halves=True)`). With a tensor env (`is_torch`), everything stays
    in tensors and the episode statistics are read once per rollout."""

    def __init__(
        self,
        env: VecEnv,
        n_steps: int,
        n_envs: int,
        device: torch.device,
        double: bool = False,
    ) -> None:
        self.env, self.n_steps, self.device = env, n_steps, device
        self.tensor_env = bool(getattr(env, "is_torch", False))
        space = env.single_observation_space
        obs_dtype = torch.uint8 if space.dtype == np.uint8 else torch.float32
        self.storage = s = RolloutStorage(n_steps, n_envs, space.shape, obs_dtype, device)
        # the observation after the last step: the bootstrap value's input and the next rollout's
        # first observation
        self.next_obs = torch.zeros_like(s.obs[0])
        self._u = torch.zeros((n_envs, int(env.single_action_space.n)), device=device)
        self._host_rewards = np.zeros((n_steps, n_envs), dtype=np.float32)
        self._host_dones = np.zeros((n_steps, n_envs), dtype=bool)
        if double:
            self.parts: tuple[slice, ...] = tuple(env.slices)
            self._send: list[Callable] = [lambda a, h=h: env.send_half(h, a) for h in (0, 1)]
            self._recv: list[Callable] = [lambda h=h: env.recv_half(h) for h in (0, 1)]
        else:
            self.parts, self._send, self._recv = (slice(0, n_envs),), [env.send], [env.recv]
        # row t of the observations, t = 0..n_steps (the last is next_obs), device and host sides
        self._rows = [*s.obs.unbind(0), self.next_obs]
        self._pinned: torch.Tensor | None = None
        if self.tensor_env:
            self._host_rows: list[np.ndarray] = []
        elif device.type == "cpu":
            self._host_rows = [r.numpy() for r in self._rows]
        else:
            self._pinned = torch.empty_like(self.next_obs, device="cpu").pin_memory()
            self._host_rows = [self._pinned.numpy()] * len(self._rows)

    def to_device(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        """A whole observation batch (a reset's) into `next_obs`, which is returned."""
        if self.tensor_env:
            return torch.as_tensor(obs).to(self.device)
        self._put_obs(self.n_steps, slice(0, self.next_obs.shape[0]), obs)
        return self.next_obs

    def _put_obs(self, t: int, sl: slice, obs: np.ndarray) -> None:
        """Observations of the envs `sl` into row t (t == n_steps: `next_obs`). On CUDA through
        the pinned buffer: its region `sl` is rewritten only after the policy has acted on this
        copy and the actions came back to the host, so the copy has finished by then."""
        np.copyto(self._host_rows[t][sl], obs, casting="same_kind")
        if self._pinned is not None:
            self._rows[t][sl].copy_(self._pinned[sl], non_blocking=True)

    def collect(self, policy: Policy, obs: torch.Tensor) -> tuple[torch.Tensor, list[Episode]]:
        """One rollout from `obs` with `policy` (an `ActorCritic` or a `GraphedPolicy`); returns
        the next observation (`next_obs`) and the episodes that ended, ordered by step then env."""
        if self.tensor_env:
            return self._collect_tensors(policy, obs)
        s, parts = self.storage, self.parts
        if obs.data_ptr() != s.obs[0].data_ptr():
            s.obs[0].copy_(obs)
        episodes: list[Episode] = []
        with torch.inference_mode():
            for t in range(self.n_steps):
                self._u.uniform_()  # the sampling noise of step t, for every env at once
                for h, sl in enumerate(parts):
                    if t > 0:
                        self._receive(h, t - 1, sl, episodes)
                    action, logp, value = policy.act(self._rows[t][sl], self._u[sl])
                    s.actions[t, sl], s.logprobs[t, sl], s.values[t, sl] = action, logp, value
                    self._send[h](action.cpu().numpy())
            for h, sl in enumerate(parts):
                self._receive(h, self.n_steps - 1, sl, episodes)
        s.rewards.copy_(torch.from_numpy(self._host_rewards), non_blocking=True)
        s.dones.copy_(torch.from_numpy(self._host_dones), non_blocking=True)
        return self.next_obs, episodes

    def _receive(self, h: int, t: int, sl: slice, episodes: list[Episode]) -> None:
        """Finish step t of part h: reward, done, the next observation, the games that ended."""
        next_obs, reward, term, trunc, info = self._recv[h]()
        rewards = self._host_rewards[t, sl]
        if self.env.reward_clip:
            np.sign(reward, out=rewards)
        else:
            rewards[:] = reward
        np.logical_or(term, trunc, out=self._host_dones[t, sl])
        self._put_obs(t + 1, sl, next_obs)
        for i in np.flatnonzero(info["episode_done"]):
            ret, length = info["episode_return"][i], info["episode_length"][i]
            episodes.append(Episode(t, float(ret), int(length)))

    def _collect_tensors(
        self, policy: Policy, obs: torch.Tensor
    ) -> tuple[torch.Tensor, list[Episode]]:
        """`collect` for a tensor env: no host sync inside the loop; one at the end."""
        s, env = self.storage, self.env
        ended = torch.zeros_like(s.dones)
        ep_return, ep_length = torch.zeros_like(s.rewards), torch.zeros_like(s.rewards)
        with torch.inference_mode():
            for t in range(self.n_steps):
                s.obs[t] = obs
                self._u.uniform_()
                action, logp, value = policy.act(obs, self._u)
                s.actions[t], s.logprobs[t], s.values[t] = action, logp, value
                next_obs, reward, term, trunc, info = env.step(action.to(env.device))
                s.rewards[t] = reward.sign() if env.reward_clip else reward
                s.dones[t] = term | trunc
                ended[t] = info["episode_done"]
                ep_return[t] = info["episode_return"].nan_to_num(0.0)
                ep_length[t] = info["episode_length"]
                obs = next_obs.to(self.device)
        t_idx, i_idx = ended.nonzero(as_tuple=True)  # row-major: by step, then by env
        rets, lens = ep_return[t_idx, i_idx].tolist(), ep_length[t_idx, i_idx].tolist()
        episodes = [Episode(t, r, int(n)) for t, r, n in zip(t_idx.tolist(), rets, lens)]
        return obs, episodes


# ----------------------------------------------------------------------------- CUDA graphs


def cuda_graph_capture(fn: Callable[[], None]) -> Callable[[], None]:
    """Capture `fn` as a CUDA graph and return the graph's replay. Warm-up runs go first on a
    side stream, as `torch.cuda.graph` asks (cuDNN picks its algorithms there). Unverified on a
    GPU: no device was lent to the session that wrote it."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


class GraphedPolicy:
    """`model.act` replayed from a captured graph, one per batch size (sync mode has one, double
    mode one per half size), on static input and output buffers. The graph reads the parameters
    where they live, so in-place optimizer steps and `load_state_dict` keep it valid; the outputs
    are overwritten by the next replay (the rollout copies them into storage first, in stream
    order). `capture` turns a function into its replay: `cuda_graph_capture` on a GPU; tests pass
    one that runs the function eagerly, which checks the buffer plumbing on a CPU."""

    def __init__(
        self,
        model,
        capture: Callable[[Callable[[], None]], Callable[[], None]] = cuda_graph_capture,
    ) -> None:
        self.model, self.capture = model, capture
        self.graphs: dict[int, tuple[tuple[torch.Tensor, ...], Acted, Callable[[], None]]] = {}

    @torch.inference_mode()
    def act(self, obs: torch.Tensor, u: torch.Tensor) -> Acted:
        graph = self.graphs.get(obs.shape[0])
        if graph is None:
            graph = self.graphs[obs.shape[0]] = self._build(obs, u)
        (obs_in, u_in), out, replay = graph
        obs_in.copy_(obs)
        u_in.copy_(u)
        replay()
        return out

    def _build(self, obs: torch.Tensor, u: torch.Tensor):
        ins = (obs.clone(), u.clone())
        out = tuple(torch.empty_like(x) for x in self.model.act(*ins))

        def step() -> None:
            for o, x in zip(out, self.model.act(*ins)):
                o.copy_(x)

        return ins, out, self.capture(step)
