"""A functional environment over a recommendation story: pure ``reset`` and ``step``, in the style of gymnax.

The state is a value (a dict of arrays and network values), never hidden in the
environment, and both functions are pure functions of their arguments built on the
runtime's step API, so on a compiling runtime a whole rollout, and a training
loop around it, compiles end to end (``jit`` of a ``scan`` over ``env.step``); on
NumPy the same calls run step by step.

>>> env = make("InterestEvolution", runtime="numpy", num_users=3, num_docs=6, horizon=2)
>>> params = env.default_params
>>> obs, state = env.reset(env.key(0), params)
>>> slates = np.array([[0, 1], [2, 3], [4, 5]])
>>> obs, state, reward, done, info = env.step(env.key(1), state, slates, params)
>>> reward.shape, bool(done), int(info["step"])
((3,), False, 1)

An episode's draws all come from the key given to ``reset`` (step ``t`` under
``fold(key, t)``, as the runtime's runs), so an episode equals the runtime's run
of that key with the same slates. ``step`` starts a new episode from its own key
when the episode ends (``done``: ``params.max_steps_in_episode`` steps): the
returned observation and state are the new episode's, the reward and ``done``
the finished step's. ``step_env`` is the step without that reset.

Under tracing (``jit``, ``scan``) the step index is not known, so ``step``
evaluates both the story's initial step and its transition and selects (and,
for the automatic reset, a fresh initial step too); called with concrete values
it evaluates only what the step needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.gym.simulator import PolicySimulator, StepValue

__all__ = ["EnvParams", "FunctionalEnv", "make", "ENVIRONMENTS"]

State = dict[str, Any]


@dataclass(frozen=True)
class EnvParams:
    """The environment's parameters: the episode length."""

    max_steps_in_episode: int = 100


class FunctionalEnv:
    """``reset(key, params)`` and ``step(key, state, action, params)`` over a `PolicySimulator`.

    Observations are dicts ``{"variable/field": array}`` with a leading user axis
    for per-user fields (see `PolicySimulator`); actions are slates
    ``[num_users, slate_size]`` of document indices; rewards ``[num_users]``.
    Where the action is concrete it is checked (indices in range, no document
    twice in a slate); a traced action is used as given.
    """

    def __init__(self, simulator: PolicySimulator, *, horizon: int = 100) -> None:
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        self.simulator = simulator
        self.horizon = int(horizon)
        self.backend = simulator.backend
        self.num_users, self.slate_size, self.num_docs = simulator.num_users, simulator.slate_size, simulator.num_docs

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.horizon)

    def key(self, seed: int) -> Any:
        """The runtime's key for an integer seed (``make_seed``)."""
        return self.backend.make_seed(int(seed))

    # -- the functional API ------------------------------------------------------------------------------------
    def reset(self, key: Any, params: EnvParams | None = None) -> tuple[dict[str, Any], State]:
        """A new episode under ``key``: its first observation and state."""
        first, obs = self.simulator.reset_fn(key)
        B = self.backend
        return obs, {"key": key, "t": B.asarray(np.int32(0)), "values": first}

    def step_env(
        self, key: Any, state: State, action: Any, params: EnvParams | None = None
    ) -> tuple[dict[str, Any], State, Any, Any, dict[str, Any]]:
        """One step with ``action`` (no automatic reset): ``obs, state, reward, done, info``."""
        params = params or self.default_params
        B, sim = self.backend, self.simulator
        action = self._action(action)
        t, values, episode = state["t"], state["values"], state["key"]
        known = B.static_value(t)
        if known is not None:
            if int(known) == 0:
                full = sim.initial_fn(episode, action)
            else:
                full = sim.transition_fn(episode, t, values, action)
        else:
            first = sim.initial_fn(episode, action)
            later = sim.transition_fn(episode, t, values, action)
            full = _select(B, t == 0, first, later)
        obs = sim.observe_fn(episode, t + 1, full)
        after = B.cast(t + 1, "int32")
        done = after >= int(params.max_steps_in_episode)
        reward = B.cast(sim._reward(full), "float32")
        return obs, {"key": episode, "t": after, "values": full}, reward, done, {"step": after}

    def step(
        self, key: Any, state: State, action: Any, params: EnvParams | None = None
    ) -> tuple[dict[str, Any], State, Any, Any, dict[str, Any]]:
        """One step with ``action``; when the episode ends, the next one starts from ``key``."""
        obs, after, reward, done, info = self.step_env(key, state, action, params)
        B = self.backend
        known = B.static_value(done)
        if known is not None:
            if bool(known):
                obs, after = self.reset(key, params)
            return obs, after, reward, done, info
        new_obs, new_state = self.reset(key, params)
        obs = {k: B.np.where(done, new_obs[k], v) for k, v in obs.items()}
        after = {
            "key": B.np.where(done, new_state["key"], after["key"]),
            "t": B.np.where(done, new_state["t"], after["t"]),
            "values": _select(B, done, new_state["values"], after["values"]),
        }
        return obs, after, reward, done, info

    def _action(self, action: Any) -> Any:
        B = self.backend
        known = B.static_value(action)
        if known is None:
            return B.cast(action, "int32")
        from recosim.gym.simulator import check_slates

        arr = np.asarray(known)
        if arr.shape != (self.num_users, self.slate_size):
            raise ValueError(
                f"action has shape {arr.shape}; expected {(self.num_users, self.slate_size)} (a slate per user)"
            )
        return B.asarray(check_slates(arr, self.num_docs))


def _select(B: Any, condition: Any, yes: StepValue, no: StepValue) -> StepValue:
    """Field by field, ``yes`` where ``condition`` else ``no`` (network values of one structure)."""
    from recosim.core import Value

    return {n: Value({k: B.np.where(condition, f, no[n].get(k)) for k, f in Value(v).items()}) for n, v in yes.items()}


ENVIRONMENTS = ("InterestEvolution", "Ecosystem")
"""The names `make` knows (the registered Gymnasium ids without ``recosim/`` and ``-v0``)."""


def make(name: str, *, runtime: str = "jax", num_users: int = 1000, horizon: int | None = None,
         **config: Any) -> FunctionalEnv:
    """The functional environment of a reference use case.

    ``name``: ``"InterestEvolution"`` or ``"Ecosystem"`` (or the Gymnasium id,
    ``"recosim/InterestEvolution-v0"``); ``config``: the model's options, as the
    Gymnasium environments take them (`recosim.gym.envs`); ``horizon``: steps per
    episode (default: the environment's, 100 or 300).
    """
    from recosim.gym import envs

    short = name.removeprefix("recosim/").removesuffix("-v0")
    builders: Mapping[str, Any] = {"InterestEvolution": envs.interest_evolution_story,
                                   "Ecosystem": envs.ecosystem_story}
    if short not in builders:
        raise ValueError(f"unknown environment {name!r}; make knows {list(ENVIRONMENTS)}")
    story, options, default_horizon = builders[short](int(num_users), **config)
    options = {k: v for k, v in options.items() if k != "observation_bounds"}
    simulator = PolicySimulator(story, runtime=runtime, **options)
    return FunctionalEnv(simulator, horizon=default_horizon if horizon is None else horizon)
