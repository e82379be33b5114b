"""Bandit problems: populations of independent bandit instances.

A problem is an `Entity` whose behaviours a bandit story binds:

* ``initial_state()`` -> the instances' parameters (arm means, or per-arm weight
  vectors), drawn once at ``t = 0`` from a prior unless given;
* ``context(state)`` -> this step's context (contextual problems only);
* ``reward(state, arm, context)`` -> ``Value(reward=...)``, a draw named ``reward``;
* ``expected_rewards(state, context)`` -> the mean reward of every arm, ``[..., K]``.

Every instance of the population (the leading axis, ``num_instances``) is an
independent problem, so one run simulates many bandits at once.

>>> import numpy as np
>>> from recosim.core.testing import run_block
>>> p = BernoulliBandit(num_arms=2, num_instances=1, means=np.array([[0.0, 1.0]]))
>>> run_block("numpy", lambda: p.reward(p.initial_state(), Value(arm=np.array([1], np.int32))))["reward"].tolist()
[[1.0]]
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, get_backend
from recosim.library.entities.base import Prototype
from recosim.library.params import positive_float, positive_int

__all__ = ["BanditProblem", "BernoulliBandit", "GaussianBandit", "LinearContextualBandit", "chosen"]


def chosen(per_arm: Any, arm: Any, num_arms: int) -> Any:
    """``per_arm[..., arm]`` for a batch of arms: ``per_arm`` is ``[..., K]``, ``arm`` is ``[...]``."""
    B = get_backend()
    return B.np.sum(B.one_hot(arm, num_arms, dtype="float32") * per_arm, axis=-1)


def _parameter(x: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` as float32 broadcast to ``shape``, or a clear error naming ``name``."""
    arr = np.asarray(x, dtype=np.float32)
    try:
        return np.array(np.broadcast_to(arr, shape), dtype=np.float32)
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}, which does not broadcast to {shape}") from None


class BanditInstances(Prototype):
    """What bandit problems and algorithms share: ``num_arms`` arms, ``num_instances``
    independent instances (the batch axis), and whether contexts are used."""

    contextual: bool = False

    def __init__(self, num_arms: int, num_instances: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.num_arms = positive_int(num_arms, "num_arms")
        self.num_instances = positive_int(num_instances, "num_instances")

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return (self.num_instances,)


class BanditProblem(BanditInstances):
    """Base class of bandit problems with ``num_arms`` arms and ``num_instances`` instances."""

    _prototype_root = True

    @abstractmethod
    def initial_state(self) -> Value:
        """The parameters of every instance (drawn once; the problem is static)."""

    def context(self, state: Value) -> Value:
        """This step's context; only contextual problems have one."""
        raise TypeError(f"{type(self).__name__} is not a contextual bandit problem; it has no context")

    @abstractmethod
    def expected_rewards(self, state: Value, context: Value | None = None) -> Any:
        """The mean reward of every arm, shape ``[num_instances, num_arms]``."""

    @abstractmethod
    def reward(self, state: Value, arm: Value, context: Value | None = None) -> Value:
        """``Value(reward=...)`` for the pulled ``arm.get("arm")`` (a draw named ``reward``)."""

    def reward_spec(self) -> ValueSpec:
        return ValueSpec(reward=FieldSpec(self.batch_shape, "float32"))


class BernoulliBandit(BanditProblem):
    """Arms pay 1 with probability ``means[..., k]`` and 0 otherwise.

    ``means`` (broadcast to ``[num_instances, num_arms]``, values in [0, 1]) fixes the
    problem; without it every instance draws its means uniformly on [0, 1] at ``t = 0``.
    """

    block_name = "bernoulli_bandit"
    block_kind = "bandit"

    def __init__(self, num_arms: int, num_instances: int, means: Any = None, name: str | None = None) -> None:
        super().__init__(num_arms, num_instances, name)
        self.means = None if means is None else _parameter(means, "means", (self.num_instances, self.num_arms))
        if self.means is not None and not np.all((self.means >= 0.0) & (self.means <= 1.0)):
            raise ValueError("means of a BernoulliBandit must lie in [0, 1]")

    def specs(self) -> ValueSpec:
        shape = (self.num_instances, self.num_arms)
        return ValueSpec(state=ValueSpec(means=FieldSpec(shape, "float32")), reward=self.reward_spec())

    def initial_state(self) -> Value:
        B = get_backend()
        if self.means is not None:
            return Value(means=B.asarray(self.means))
        shape = (self.num_instances, self.num_arms)
        return Value(means=B.tfd.Uniform(B.np.zeros(shape, dtype="float32"), B.np.ones(shape, dtype="float32")))

    def expected_rewards(self, state: Value, context: Value | None = None) -> Any:
        return state.get("means")

    def reward(self, state: Value, arm: Value, context: Value | None = None) -> Value:
        B = get_backend()
        p = chosen(state.get("means"), arm.get("arm"), self.num_arms)
        return Value(reward=B.tfd.Bernoulli(probs=p, dtype="float32"))


class GaussianBandit(BanditProblem):
    """Arms pay ``N(means[..., k], noise_scale)``.

    Without ``means``, every instance draws its arm means from ``N(0, prior_scale)``.
    """

    block_name = "gaussian_bandit"
    block_kind = "bandit"

    def __init__(
        self,
        num_arms: int,
        num_instances: int,
        means: Any = None,
        noise_scale: float = 1.0,
        prior_scale: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(num_arms, num_instances, name)
        self.means = None if means is None else _parameter(means, "means", (self.num_instances, self.num_arms))
        self.noise_scale = positive_float(noise_scale, "noise_scale")
        self.prior_scale = positive_float(prior_scale, "prior_scale")

    def specs(self) -> ValueSpec:
        shape = (self.num_instances, self.num_arms)
        return ValueSpec(state=ValueSpec(means=FieldSpec(shape, "float32")), reward=self.reward_spec())

    def initial_state(self) -> Value:
        B = get_backend()
        if self.means is not None:
            return Value(means=B.asarray(self.means))
        shape = (self.num_instances, self.num_arms)
        return Value(means=B.tfd.Normal(B.np.zeros(shape, dtype="float32"), np.float32(self.prior_scale)))

    def expected_rewards(self, state: Value, context: Value | None = None) -> Any:
        return state.get("means")

    def reward(self, state: Value, arm: Value, context: Value | None = None) -> Value:
        B = get_backend()
        mean = chosen(state.get("means"), arm.get("arm"), self.num_arms)
        return Value(reward=B.tfd.Normal(mean, np.float32(self.noise_scale)))


class LinearContextualBandit(BanditProblem):
    """Each step a context ``x ~ N(0, context_scale^2 I)`` of size ``context_dim``; arm ``k``
    pays ``<theta[..., k, :], x> + N(0, noise_scale)``.

    Without ``theta`` (``[num_instances, num_arms, context_dim]``), every instance draws
    it from ``N(0, 1 / context_dim)`` elementwise at ``t = 0``.
    """

    block_name = "linear_contextual_bandit"
    block_kind = "bandit"

    contextual = True

    def __init__(
        self,
        num_arms: int,
        num_instances: int,
        context_dim: int,
        theta: Any = None,
        noise_scale: float = 0.1,
        context_scale: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(num_arms, num_instances, name)
        self.context_dim = positive_int(context_dim, "context_dim")
        shape = (self.num_instances, self.num_arms, self.context_dim)
        self.theta = None if theta is None else _parameter(theta, "theta", shape)
        self.noise_scale = positive_float(noise_scale, "noise_scale")
        self.context_scale = positive_float(context_scale, "context_scale")

    def specs(self) -> ValueSpec:
        return ValueSpec(
            state=ValueSpec(theta=FieldSpec((self.num_instances, self.num_arms, self.context_dim), "float32")),
            context=ValueSpec(features=FieldSpec((self.num_instances, self.context_dim), "float32")),
            reward=self.reward_spec(),
        )

    def initial_state(self) -> Value:
        B = get_backend()
        if self.theta is not None:
            return Value(theta=B.asarray(self.theta))
        shape = (self.num_instances, self.num_arms, self.context_dim)
        scale = np.float32(1.0 / np.sqrt(self.context_dim))
        return Value(theta=B.tfd.Normal(B.np.zeros(shape, dtype="float32"), scale))

    def context(self, state: Value) -> Value:
        B = get_backend()
        shape = (self.num_instances, self.context_dim)
        return Value(features=B.tfd.Normal(B.np.zeros(shape, dtype="float32"), np.float32(self.context_scale)))

    def expected_rewards(self, state: Value, context: Value | None = None) -> Any:
        if context is None:
            raise ValueError(f"{type(self).__name__}.expected_rewards needs the step's context")
        B = get_backend()
        return B.np.einsum("...kd,...d->...k", state.get("theta"), context.get("features"))

    def reward(self, state: Value, arm: Value, context: Value | None = None) -> Value:
        B = get_backend()
        mean = chosen(self.expected_rewards(state, context), arm.get("arm"), self.num_arms)
        return Value(reward=B.tfd.Normal(mean, np.float32(self.noise_scale)))
