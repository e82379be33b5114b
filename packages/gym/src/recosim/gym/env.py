"""Gymnasium environments over recommendation stories.

`RecommendationEnv` is one user's session: the observation is what the story's
recommender observes before it serves a slate, the action is a slate (document
indices), and the reward is the story's per-step metric for that user.
`RecommendationVectorEnv` steps a whole user population at once: each user of
the story is one sub-environment, and every vector step is one step of the
simulation (one compiled call on JAX).

>>> from recosim.gym.envs import interest_evolution_env
>>> env = interest_evolution_env(num_docs=10, horizon=3, runtime="numpy")
>>> obs, info = env.reset(seed=0)
>>> sorted(obs)
['recommender state/consumed_time', 'recommender state/count', 'recommender state/doc_id']
>>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
>>> isinstance(reward, float), terminated, truncated
(True, False, False)
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recosim.gym.simulator import ObservedField, PolicySimulator, SimulatorState, check_slates

__all__ = ["RecommendationEnv", "RecommendationVectorEnv", "SlateSpace", "observation_space"]

Bounds = Mapping[str, tuple[float, float]]


def _field_space(field: ObservedField, bounds: Bounds) -> spaces.Box:
    dtype = np.dtype(field.dtype)
    if field.name in bounds:
        low, high = bounds[field.name]
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = info.min, info.max
    elif np.issubdtype(dtype, np.floating):
        low, high = -np.inf, np.inf
    elif dtype == np.bool_:
        low, high = 0, 1
    else:
        raise ValueError(f"observed field {field.name!r} has dtype {dtype.name}, which no Box space holds")
    return spaces.Box(low=low, high=high, shape=field.shape, dtype=dtype)


def observation_space(fields: Sequence[ObservedField], bounds: Bounds | None = None) -> spaces.Dict:
    """One user's observation space: a `Dict` of `Box` es keyed by ``"variable/field"``.

    ``bounds`` maps field names to ``(low, high)``; other fields are unbounded
    (floats) or span their integer type.
    """
    bounds = dict(bounds or {})
    unknown = sorted(set(bounds) - {f.name for f in fields})
    if unknown:
        raise ValueError(f"observation_bounds names unobserved fields {unknown}; observed: {[f.name for f in fields]}")
    return spaces.Dict({f.name: _field_space(f, bounds) for f in fields})


class _Episodes:
    """Seeds and episode counting shared by the single and the vector environment."""

    def __init__(self, simulator: PolicySimulator, horizon: int) -> None:
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        self.simulator = simulator
        self.horizon = int(horizon)
        self.seed: int | None = None
        self.episode = 0
        self.state: SimulatorState | None = None

    def reset(self, seed: int | None) -> SimulatorState:
        if seed is not None:
            self.seed, self.episode = int(seed), 0
        elif self.seed is None:
            self.seed, self.episode = int(secrets.randbits(31)), 0
        else:
            self.episode += 1
        self.state = self.simulator.reset(self.simulator.key(self.seed, self.episode))
        return self.state

    def step(self, actions: np.ndarray) -> tuple[SimulatorState, np.ndarray, bool]:
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        if self.state.t >= self.horizon:
            raise RuntimeError(f"the episode ended after {self.horizon} steps (the horizon); call reset()")
        self.state, reward = self.simulator.step(self.state, actions)
        return self.state, np.asarray(reward, dtype=np.float32), self.state.t >= self.horizon


class SlateSpace(spaces.MultiDiscrete):
    """Slates of distinct documents: ``MultiDiscrete`` rows of ``slate_size`` indices in ``[0, num_docs)``
    in which no document appears twice (one row, or one per user with ``num_slates``).

    >>> space = SlateSpace(num_docs=4, slate_size=3, seed=0)
    >>> slate = space.sample()
    >>> len(set(slate.tolist())), space.contains(np.array([1, 1, 2]))
    (3, False)
    """

    def __init__(self, num_docs: int, slate_size: int, num_slates: int | None = None, seed: Any = None) -> None:
        if slate_size > num_docs:
            raise ValueError(f"a slate of {slate_size} distinct documents needs at least {slate_size}, got {num_docs}")
        shape = (slate_size,) if num_slates is None else (num_slates, slate_size)
        super().__init__(np.full(shape, num_docs), dtype=np.int64, seed=seed)
        self.num_docs, self.slate_size, self.num_slates = int(num_docs), int(slate_size), num_slates

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """Uniform slates: each row ``slate_size`` distinct documents in random order."""
        if mask is not None or probability is not None:
            raise ValueError("SlateSpace.sample takes no mask or probability")
        rows = 1 if self.num_slates is None else self.num_slates
        keys = self.np_random.random((rows, self.num_docs))
        out = np.argsort(keys, axis=1)[:, : self.slate_size].astype(self.dtype)
        return out[0] if self.num_slates is None else out

    def contains(self, x: Any) -> bool:
        if not super().contains(x):
            return False
        rows = np.sort(np.asarray(x).reshape(-1, self.slate_size), axis=1)
        return not bool(np.any(rows[:, 1:] == rows[:, :-1]))

    def __repr__(self) -> str:
        users = "" if self.num_slates is None else f", num_slates={self.num_slates}"
        return f"SlateSpace(num_docs={self.num_docs}, slate_size={self.slate_size}{users})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlateSpace) and (self.num_docs, self.slate_size, self.num_slates) == (
            other.num_docs, other.slate_size, other.num_slates)


def _check_actions(actions: Any, shape: tuple[int, ...], num_docs: int) -> np.ndarray:
    arr = np.asarray(actions)
    if arr.shape != shape:
        raise ValueError(f"action has shape {arr.shape}; expected {shape} (document indices per slate position)")
    return check_slates(arr.reshape(-1, shape[-1]), num_docs).reshape(shape)


def _attach(
    env: Any, model: Any, horizon: int, render_mode: str | None, options: Mapping[str, Any]
) -> _Episodes:
    """The episode bookkeeping of ``env`` over its simulator (built from ``model`` unless it is one)."""
    if render_mode is not None:
        raise ValueError(f"{type(env).__name__} renders nothing; render_mode must be None, got {render_mode!r}")
    simulator = model if isinstance(model, PolicySimulator) else PolicySimulator(model, **options)
    return _Episodes(simulator, horizon)


def _slate_space(simulator: PolicySimulator, num_slates: int | None = None) -> SlateSpace:
    """The action space: a slate of distinct document indices (per user with ``num_slates``)."""
    return SlateSpace(simulator.num_docs, simulator.slate_size, num_slates)


class RecommendationEnv(gymnasium.Env):
    """One user's recommendation session over a story with a single user.

    Observation: a `Dict` of the observed fields (see `PolicySimulator`), with the
    user axis dropped. Action: a `SlateSpace` (``MultiDiscrete([num_docs] * slate_size)``
    whose documents are distinct), the slate's document indices in order; a slate
    that repeats a document is refused with an error naming it. Reward: the story's reward field. An episode lasts
    ``horizon`` steps and then reports ``truncated``; the story has no terminal
    state. ``reset(seed=s)`` starts the same trajectory as
    ``runtime.trajectory(horizon, seed=s)`` would with the same slates; later
    resets without a seed start new, reproducible episodes.

    Args:
      model: the story (one user), or anything `PolicySimulator` accepts.
      horizon: steps per episode.
      observation_bounds: ``{"variable/field": (low, high)}`` for the observation space.
      Other keyword arguments go to `PolicySimulator` (``policy``, ``reward``,
      ``observe``, ``documents``, ``runtime``).
    """

    # Gymnasium declares `metadata` an instance attribute (so not a ClassVar) whose default lives on the class
    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        model: Any,
        *,
        horizon: int = 100,
        observation_bounds: Bounds | None = None,
        render_mode: str | None = None,
        **simulator_options: Any,
    ) -> None:
        self._episodes = _attach(self, model, horizon, render_mode, simulator_options)
        self.simulator: PolicySimulator = self._episodes.simulator
        self.horizon: int = self._episodes.horizon
        simulator = self.simulator
        if simulator.num_users != 1:
            raise ValueError(
                f"RecommendationEnv steps one user but the story has {simulator.num_users}; build the story for one "
                "user, or use RecommendationVectorEnv to step the whole population"
            )
        self.observation_space = observation_space(simulator.observed, observation_bounds)
        self.action_space = _slate_space(simulator)

    def _observation(self, state: SimulatorState) -> dict[str, np.ndarray]:
        out = {}
        for f in self.simulator.observed:
            arr = np.asarray(state.observation[f.name])
            out[f.name] = np.array(arr if f.shared else arr[0], dtype=f.dtype)
        return out

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        state = self._episodes.reset(seed)
        return self._observation(state), {}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        actions = _check_actions(action, (self.simulator.slate_size,), self.simulator.num_docs)[None, :]
        state, reward, truncated = self._episodes.step(actions)
        return self._observation(state), float(reward[0]), False, truncated, {}


class RecommendationVectorEnv(VectorEnv):
    """A story's whole user population as ``num_users`` sub-environments stepped together.

    Spaces are the `RecommendationEnv` spaces batched over users (shared fields,
    such as documents, are repeated for every user). All users start and end
    their episodes together (``horizon`` steps); the step after the last one
    resets them all and returns the first observation with zero rewards
    (Gymnasium's next-step autoreset). Users of a story may interact (a shared
    corpus, a recommender's counts): they are sub-environments of one simulation.

    Args: as `RecommendationEnv`; the story may have any number of users.
    """

    # as for RecommendationEnv: an instance attribute of VectorEnv, its default on the class
    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(
        self,
        model: Any,
        *,
        horizon: int = 100,
        observation_bounds: Bounds | None = None,
        render_mode: str | None = None,
        **simulator_options: Any,
    ) -> None:
        self._episodes = _attach(self, model, horizon, render_mode, simulator_options)
        self.simulator: PolicySimulator = self._episodes.simulator
        self.horizon: int = self._episodes.horizon
        simulator = self.simulator
        self.num_envs = simulator.num_users
        self.single_observation_space = observation_space(simulator.observed, observation_bounds)
        self.single_action_space = _slate_space(simulator)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = _slate_space(simulator, self.num_envs)
        self._needs_reset = False

    def _observation(self, state: SimulatorState) -> dict[str, np.ndarray]:
        out = {}
        for f in self.simulator.observed:
            arr = np.asarray(state.observation[f.name], dtype=f.dtype)
            out[f.name] = np.array(np.broadcast_to(arr, (self.num_envs, *f.shape)) if f.shared else arr)
        return out

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        state = self._episodes.reset(seed)
        self._needs_reset = False
        return self._observation(state), {}

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = _check_actions(actions, (self.num_envs, self.simulator.slate_size), self.simulator.num_docs)
        none = np.zeros(self.num_envs, dtype=np.bool_)
        if self._needs_reset:
            obs, info = self.reset()
            return obs, np.zeros(self.num_envs, np.float32), none, none.copy(), info
        state, reward, truncated = self._episodes.step(actions)
        self._needs_reset = truncated
        return self._observation(state), reward, none, np.full(self.num_envs, truncated), {}

    @property
    def state(self) -> SimulatorState | None:
        """The simulator's state (its ``values`` hold the last step's whole network value)."""
        return self._episodes.state
