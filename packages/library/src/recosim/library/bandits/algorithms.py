"""Bandit algorithms: populations of independent learners, one per bandit instance.

Every algorithm is an `Entity` with a state `Value` (counts, reward sums, design
matrices ...) and three behaviours:

* ``initial_state()`` -> the state before any pull;
* ``arm(state, context=None)`` -> ``Value(arm=...)`` (int32, one arm per instance),
  plus the algorithm's random draws as fields (so a logged run can be scored);
* ``next_state(state, arm, reward, context=None)`` -> the state after observing
  ``reward.get("reward")`` for ``arm.get("arm")``.

Multi-armed algorithms keep per-arm pull counts and reward sums (shape
``[num_instances, num_arms]``); the linear contextual ones keep, per arm, the
regularised Gram matrix ``A = lambda I + sum x x^T`` and ``b = sum r x``.

>>> import numpy as np
>>> from recosim.core import Value
>>> ucb = UCB1(num_arms=3, num_instances=1)
>>> pulled, paid = Value(arm=np.array([0], np.int32)), Value(reward=np.array([1.0], np.float32))
>>> s = ucb.next_state(ucb.initial_state(), pulled, paid)
>>> s.get("counts").tolist(), ucb.arm(s).get("arm").tolist()    # untried arms come first
([[1.0, 0.0, 0.0]], [1])
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, get_backend, rv
from recosim.library.bandits.problems import BanditInstances, BanditProblem
from recosim.library.params import positive_float, positive_int

__all__ = [
    "BanditAlgorithm",
    "CountingAlgorithm",
    "UniformRandom",
    "EpsilonGreedy",
    "UCB1",
    "BernoulliThompsonSampling",
    "GaussianThompsonSampling",
    "LinearAlgorithm",
    "LinUCB",
    "LinearThompsonSampling",
]

_UNTRIED = 1e9  # the index of an arm never pulled: above any finite estimate


def _argmax(x: Any) -> Any:
    B = get_backend()
    return B.cast(B.np.argmax(x, axis=-1), "int32")


class BanditAlgorithm(BanditInstances):
    """Base class of bandit algorithms for ``num_arms`` arms and ``num_instances`` instances."""

    _prototype_root = True

    @abstractmethod
    def initial_state(self) -> Value:
        """The learner's state before any pull."""

    @abstractmethod
    def arm(self, state: Value, context: Value | None = None) -> Value:
        """``Value(arm=...)``: the arm each instance pulls now."""

    @abstractmethod
    def next_state(self, state: Value, arm: Value, reward: Value, context: Value | None = None) -> Value:
        """The state after ``reward`` was observed for ``arm``."""

    def arm_fields(self) -> ValueSpec:
        """Extra fields of ``arm`` besides ``arm`` itself (override with the draws made)."""
        return ValueSpec()

    @abstractmethod
    def state_spec(self) -> ValueSpec:
        """The spec of the learner's state."""

    def specs(self) -> ValueSpec:
        arm = ValueSpec(arm=FieldSpec(self.batch_shape, "int32")).union(self.arm_fields())
        return ValueSpec(state=self.state_spec(), arm=arm)

    def check_problem(self, problem: BanditProblem) -> None:
        """Raise a clear error unless this algorithm fits ``problem``."""
        for attr in ("num_arms", "num_instances"):
            if getattr(self, attr) != getattr(problem, attr):
                raise ValueError(
                    f"{type(self).__name__} has {attr}={getattr(self, attr)} but the problem "
                    f"{type(problem).__name__} has {attr}={getattr(problem, attr)}"
                )
        if self.contextual and not problem.contextual:
            raise ValueError(f"{type(self).__name__} needs a contextual problem; {type(problem).__name__} is not")


class CountingAlgorithm(BanditAlgorithm):
    """A multi-armed algorithm whose state is per-arm pull ``counts`` and reward ``sums``."""

    def state_spec(self) -> ValueSpec:
        shape = (self.num_instances, self.num_arms)
        return ValueSpec(counts=FieldSpec(shape, "float32"), sums=FieldSpec(shape, "float32"))

    def initial_state(self) -> Value:
        B = get_backend()
        shape = (self.num_instances, self.num_arms)
        return Value(counts=B.np.zeros(shape, dtype="float32"), sums=B.np.zeros(shape, dtype="float32"))

    def next_state(self, state: Value, arm: Value, reward: Value, context: Value | None = None) -> Value:
        B = get_backend()
        pulled = B.one_hot(arm.get("arm"), self.num_arms, dtype="float32")
        return Value(
            counts=state.get("counts") + pulled,
            sums=state.get("sums") + pulled * reward.get("reward")[..., None],
        )

    def empirical_means(self, state: Value) -> Any:
        """Mean reward of each arm so far (0 for untried arms)."""
        B = get_backend()
        return state.get("sums") / B.np.maximum(state.get("counts"), 1.0)


class UniformRandom(CountingAlgorithm):
    """Pulls an arm uniformly at random every step (a baseline; it keeps counts for inspection)."""

    block_name = "uniform_random"
    block_kind = "bandit"

    def arm(self, state: Value, context: Value | None = None) -> Value:
        B = get_backend()
        logits = B.np.zeros((self.num_instances, self.num_arms), dtype="float32")
        return Value(arm=rv("arm", B.tfd.Categorical(logits=logits, dtype="int32")))


class EpsilonGreedy(CountingAlgorithm):
    """With probability ``epsilon`` a uniformly random arm, else the best empirical mean.

    Untried arms count as best, so every arm is pulled once before exploitation.
    The arm Value records the draws ``explore`` (0/1) and ``random_arm``.
    """

    block_name = "epsilon_greedy"
    block_kind = "bandit"

    def __init__(self, num_arms: int, num_instances: int, epsilon: float = 0.1, name: str | None = None) -> None:
        super().__init__(num_arms, num_instances, name)
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon!r}")
        self.epsilon = float(epsilon)

    def arm_fields(self) -> ValueSpec:
        return ValueSpec(explore=FieldSpec(self.batch_shape, "int32"), random_arm=FieldSpec(self.batch_shape, "int32"))

    def arm(self, state: Value, context: Value | None = None) -> Value:
        B = get_backend()
        probs = B.np.full(self.batch_shape, self.epsilon, dtype="float32")
        explore = rv("explore", B.tfd.Bernoulli(probs=probs, dtype="int32"))
        logits = B.np.zeros((self.num_instances, self.num_arms), dtype="float32")
        random_arm = rv("random_arm", B.tfd.Categorical(logits=logits, dtype="int32"))
        index = B.np.where(state.get("counts") > 0.0, self.empirical_means(state), np.float32(_UNTRIED))
        arm = B.np.where(explore > 0, random_arm, _argmax(index))
        return Value(arm=arm, explore=explore, random_arm=random_arm)


class UCB1(CountingAlgorithm):
    """Pulls the arm maximising ``mean + sqrt(exploration * log(t) / n)`` (Auer et al., 2002).

    ``t`` is the number of pulls so far and ``n`` the arm's; untried arms go first.
    ``exploration = 2`` is the classical constant for rewards in [0, 1].
    """

    block_name = "ucb1"
    block_kind = "bandit"

    def __init__(self, num_arms: int, num_instances: int, exploration: float = 2.0, name: str | None = None) -> None:
        super().__init__(num_arms, num_instances, name)
        self.exploration = positive_float(exploration, "exploration")

    def arm(self, state: Value, context: Value | None = None) -> Value:
        B = get_backend()
        counts = state.get("counts")
        t = B.np.maximum(B.np.sum(counts, axis=-1, keepdims=True), 1.0)
        bonus = B.np.sqrt(np.float32(self.exploration) * B.np.log(t) / B.np.maximum(counts, 1.0))
        index = B.np.where(counts > 0.0, self.empirical_means(state) + bonus, np.float32(_UNTRIED))
        return Value(arm=_argmax(index))


class BernoulliThompsonSampling(CountingAlgorithm):
    """Posterior sampling with a ``Beta(prior_alpha, prior_beta)`` prior on each arm's mean.

    Rewards must lie in [0, 1] (they count as fractional successes). The arm Value
    records the posterior draw ``posterior_sample`` ``[num_instances, num_arms]``.
    """

    block_name = "bernoulli_thompson_sampling"
    block_kind = "bandit"

    def __init__(
        self,
        num_arms: int,
        num_instances: int,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(num_arms, num_instances, name)
        self.prior_alpha = positive_float(prior_alpha, "prior_alpha")
        self.prior_beta = positive_float(prior_beta, "prior_beta")

    def arm_fields(self) -> ValueSpec:
        return ValueSpec(posterior_sample=FieldSpec((self.num_instances, self.num_arms), "float32"))

    def posterior(self, state: Value) -> Any:
        """The Beta posterior of every arm's mean."""
        B = get_backend()
        counts, sums = state.get("counts"), state.get("sums")
        return B.tfd.Beta(np.float32(self.prior_alpha) + sums, np.float32(self.prior_beta) + counts - sums)

    def arm(self, state: Value, context: Value | None = None) -> Value:
        sample = rv("posterior_sample", self.posterior(state))
        return Value(arm=_argmax(sample), posterior_sample=sample)


class GaussianThompsonSampling(CountingAlgorithm):
    """Posterior sampling for Gaussian rewards with known ``noise_scale``.

    Each arm's mean has prior ``N(prior_mean, prior_scale)``; the conjugate posterior
    after ``n`` pulls summing to ``s`` has precision ``1/prior_scale^2 + n/noise_scale^2``.
    """

    block_name = "gaussian_thompson_sampling"
    block_kind = "bandit"

    def __init__(
        self,
        num_arms: int,
        num_instances: int,
        prior_mean: float = 0.0,
        prior_scale: float = 1.0,
        noise_scale: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(num_arms, num_instances, name)
        self.prior_mean = float(prior_mean)
        self.prior_scale = positive_float(prior_scale, "prior_scale")
        self.noise_scale = positive_float(noise_scale, "noise_scale")

    def arm_fields(self) -> ValueSpec:
        return ValueSpec(posterior_sample=FieldSpec((self.num_instances, self.num_arms), "float32"))

    def posterior(self, state: Value) -> Any:
        """The Normal posterior of every arm's mean."""
        B = get_backend()
        prior_precision = np.float32(1.0 / self.prior_scale**2)
        noise_precision = np.float32(1.0 / self.noise_scale**2)
        precision = prior_precision + state.get("counts") * noise_precision
        mean = (np.float32(self.prior_mean) * prior_precision + state.get("sums") * noise_precision) / precision
        return B.tfd.Normal(mean, 1.0 / B.np.sqrt(precision))

    def arm(self, state: Value, context: Value | None = None) -> Value:
        sample = rv("posterior_sample", self.posterior(state))
        return Value(arm=_argmax(sample), posterior_sample=sample)


def _transpose(m: Any) -> Any:
    return get_backend().np.einsum("...ij->...ji", m)


class LinearAlgorithm(BanditAlgorithm):
    """A linear contextual algorithm: per arm ``gram = regularization I + sum x x^T``, ``moment = sum r x``.

    The context Value must have a ``features`` field ``[num_instances, context_dim]``.
    """

    contextual = True

    def __init__(
        self,
        num_arms: int,
        num_instances: int,
        context_dim: int,
        regularization: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(num_arms, num_instances, name)
        self.context_dim = positive_int(context_dim, "context_dim")
        self.regularization = positive_float(regularization, "regularization")

    def check_problem(self, problem: BanditProblem) -> None:
        super().check_problem(problem)
        if getattr(problem, "context_dim", None) != self.context_dim:
            raise ValueError(
                f"{type(self).__name__} has context_dim={self.context_dim} but the problem has "
                f"context_dim={getattr(problem, 'context_dim', None)}"
            )

    def state_spec(self) -> ValueSpec:
        n, k, d = self.num_instances, self.num_arms, self.context_dim
        return ValueSpec(gram=FieldSpec((n, k, d, d), "float32"), moment=FieldSpec((n, k, d), "float32"))

    def initial_state(self) -> Value:
        B = get_backend()
        n, k, d = self.num_instances, self.num_arms, self.context_dim
        eye = B.np.eye(d, dtype="float32") * np.float32(self.regularization)
        return Value(
            gram=B.np.broadcast_to(eye, (n, k, d, d)) + B.np.zeros((n, k, d, d), dtype="float32"),
            moment=B.np.zeros((n, k, d), dtype="float32"),
        )

    def _features(self, context: Value | None) -> Any:
        if context is None or "features" not in context:
            raise ValueError(f"{type(self).__name__} needs a context Value with a 'features' field")
        return context.get("features")

    def next_state(self, state: Value, arm: Value, reward: Value, context: Value | None = None) -> Value:
        B = get_backend()
        x = self._features(context)
        pulled = B.one_hot(arm.get("arm"), self.num_arms, dtype="float32")  # [n, k]
        outer = x[..., :, None] * x[..., None, :]  # [n, d, d]
        return Value(
            gram=state.get("gram") + pulled[..., None, None] * outer[..., None, :, :],
            moment=state.get("moment") + (pulled * reward.get("reward")[..., None])[..., None] * x[..., None, :],
        )

    def estimates(self, state: Value) -> tuple[Any, Any]:
        """Ridge estimates ``theta_hat = A^-1 b`` ``[n, k, d]`` and ``A^-1`` ``[n, k, d, d]``."""
        B = get_backend()
        inverse = B.linalg.inv(state.get("gram"))
        inverse = 0.5 * (inverse + _transpose(inverse))
        theta = B.np.einsum("...ij,...j->...i", inverse, state.get("moment"))
        return theta, inverse


class LinUCB(LinearAlgorithm):
    """Disjoint LinUCB (Li et al., 2010): the arm maximising ``x.theta_hat + alpha sqrt(x^T A^-1 x)``."""

    block_name = "linucb"
    block_kind = "bandit"

    def __init__(
        self,
        num_arms: int,
        num_instances: int,
        context_dim: int,
        alpha: float = 1.0,
        regularization: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(num_arms, num_instances, context_dim, regularization, name)
        if not float(alpha) >= 0.0:
            raise ValueError(f"alpha must be >= 0, got {alpha!r}")
        self.alpha = float(alpha)

    def arm(self, state: Value, context: Value | None = None) -> Value:
        B = get_backend()
        x = self._features(context)
        theta, inverse = self.estimates(state)
        mean = B.np.einsum("...kd,...d->...k", theta, x)
        width = B.np.einsum("...i,...kij,...j->...k", x, inverse, x)
        return Value(arm=_argmax(mean + np.float32(self.alpha) * B.np.sqrt(B.np.maximum(width, 0.0))))


class LinearThompsonSampling(LinearAlgorithm):
    """Linear Thompson sampling (Agrawal and Goyal, 2013): per arm draw
    ``theta ~ N(A^-1 b, scale^2 A^-1)`` and pull the arm maximising ``x.theta``.

    The arm Value records the draw ``theta_sample`` ``[num_instances, num_arms, context_dim]``.
    """

    block_name = "linear_thompson_sampling"
    block_kind = "bandit"

    def __init__(
        self,
        num_arms: int,
        num_instances: int,
        context_dim: int,
        scale: float = 0.1,
        regularization: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(num_arms, num_instances, context_dim, regularization, name)
        self.scale = positive_float(scale, "scale")

    def arm_fields(self) -> ValueSpec:
        shape = (self.num_instances, self.num_arms, self.context_dim)
        return ValueSpec(theta_sample=FieldSpec(shape, "float32"))

    def arm(self, state: Value, context: Value | None = None) -> Value:
        B = get_backend()
        x = self._features(context)
        theta, inverse = self.estimates(state)
        scale_tril = np.float32(self.scale) * B.linalg.cholesky(inverse)
        sample = rv("theta_sample", B.tfd.MultivariateNormalTriL(loc=theta, scale_tril=scale_tril))
        return Value(arm=_argmax(B.np.einsum("...kd,...d->...k", sample, x)), theta_sample=sample)
