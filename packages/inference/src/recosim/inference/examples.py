"""Small models with known answers, for documentation, tests and benchmarks.

* :func:`conjugate_gaussian`: a static Gaussian intent per user observed with
  Gaussian noise at every step; :func:`conjugate_posterior` is its exact posterior.
* :func:`persistent_satisfaction`: ``make_model(params)`` of a story with a static
  latent intent per user and an observed satisfaction that follows
  ``s_t ~ N(alpha * s_{t-1} + intent, noise)``; ``alpha`` is the parameter that
  Monte-Carlo EM recovers.
* :func:`logistic_clicks`: a static affinity per user and a click per step drawn
  with probability ``sigmoid(affinity + bias)``; :func:`logistic_click_posterior`
  gives each user's exact posterior mean and standard deviation by quadrature.

>>> import numpy as np
>>> mean, std = conjugate_posterior(np.zeros((4, 1)), prior_mean=1.0, prior_scale=1.0, noise_scale=1.0)
>>> round(float(mean[0]), 3), round(float(std[0]), 3)
(0.2, 0.447)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value

__all__ = [
    "conjugate_gaussian",
    "conjugate_posterior",
    "persistent_satisfaction",
    "logistic_clicks",
    "logistic_click_posterior",
]


def conjugate_gaussian(
    num_users: int = 3, prior_mean: float = 0.0, prior_scale: float = 1.0, noise_scale: float = 0.5
) -> list[Variable]:
    """``user.intent ~ N(prior_mean, prior_scale)`` (static), ``obs.x_t ~ N(intent, noise_scale)`` each step."""
    user = Variable("user", ValueSpec(intent=FieldSpec(shape=(num_users,), dtype="float32")))
    obs = Variable("obs", ValueSpec(x=FieldSpec(shape=(num_users,), dtype="float32")))

    def intent() -> Value:
        B = get_backend()
        return Value(intent=B.tfd.Normal(B.np.zeros(num_users, dtype="float32") + prior_mean, prior_scale))

    def observe(u: Value) -> Value:
        return Value(x=get_backend().tfd.Normal(u.get("intent"), noise_scale))

    user.initial_value = value(intent)
    obs.initial_value = value(observe, (user,))
    obs.value = value(observe, (user,))
    return [user, obs]


def conjugate_posterior(
    x: np.ndarray, prior_mean: float = 0.0, prior_scale: float = 1.0, noise_scale: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Exact posterior mean and standard deviation of each user's intent given ``x`` ``[steps, users]``."""
    x = np.asarray(x, np.float64)
    precision = 1.0 / prior_scale**2 + x.shape[0] / noise_scale**2
    mean = (prior_mean / prior_scale**2 + x.sum(axis=0) / noise_scale**2) / precision
    return mean, np.full_like(mean, 1.0 / np.sqrt(precision))


def persistent_satisfaction(num_users: int = 8, noise_scale: float = 0.3) -> Any:
    """``make_model(params)`` for ``params = {"alpha": scalar or [num_users]}``.

    ``user.intent ~ N(0, 1)`` is static (the latent); every step the recommender
    shows each user a document whose ``match.value ~ N(0, 1)`` is logged, and the
    user's ``response.satisfaction`` follows
    ``N(alpha * previous + intent * match, noise)`` (``previous`` is 0 at step 0).
    The intent and ``alpha`` are thus separately identifiable from the logs.
    """

    def make_model(params: dict[str, Any]) -> list[Variable]:
        user = Variable("user", ValueSpec(intent=FieldSpec(shape=(num_users,), dtype="float32")))
        match = Variable("match", ValueSpec(value=FieldSpec(shape=(num_users,), dtype="float32")))
        response = Variable("response", ValueSpec(satisfaction=FieldSpec(shape=(num_users,), dtype="float32")))

        def intent() -> Value:
            B = get_backend()
            return Value(intent=B.tfd.Normal(B.np.zeros(num_users, dtype="float32"), 1.0))

        def show() -> Value:
            B = get_backend()
            return Value(value=B.tfd.Normal(B.np.zeros(num_users, dtype="float32"), 1.0))

        def first(u: Value, m: Value) -> Value:
            return Value(satisfaction=get_backend().tfd.Normal(u.get("intent") * m.get("value"), noise_scale))

        def follow(u: Value, m: Value, previous: Value) -> Value:
            loc = params["alpha"] * previous.get("satisfaction") + u.get("intent") * m.get("value")
            return Value(satisfaction=get_backend().tfd.Normal(loc, noise_scale))

        user.initial_value = value(intent)
        match.initial_value = value(show)
        match.value = value(show)
        response.initial_value = value(first, (user, match))
        response.value = value(follow, (user, match, response.previous))
        return [user, match, response]

    return make_model


def logistic_clicks(num_users: int = 20, bias: float = -1.0, prior_scale: float = 1.0) -> list[Variable]:
    """``user.affinity ~ N(0, prior_scale)`` (static); ``feed.click_t ~ Bernoulli(sigmoid(affinity + bias))``."""
    user = Variable("user", ValueSpec(affinity=FieldSpec(shape=(num_users,), dtype="float32")))
    feed = Variable("feed", ValueSpec(click=FieldSpec(shape=(num_users,), dtype="int32")))

    def affinity() -> Value:
        B = get_backend()
        return Value(affinity=B.tfd.Normal(B.np.zeros(num_users, dtype="float32"), prior_scale))

    def click(u: Value) -> Value:
        return Value(click=get_backend().tfd.Bernoulli(logits=u.get("affinity") + bias, dtype="int32"))

    user.initial_value = value(affinity)
    feed.initial_value = value(click, (user,))
    feed.value = value(click, (user,))
    return [user, feed]


def logistic_click_posterior(
    clicks: np.ndarray, bias: float = -1.0, prior_scale: float = 1.0, points: int = 4001
) -> tuple[np.ndarray, np.ndarray]:
    """Exact posterior mean and standard deviation of each user's affinity given ``clicks`` ``[steps, users]``.

    The posterior of one user is one-dimensional, so a fine grid over ``±10`` prior
    standard deviations integrates it to far better than any sampler's accuracy.

    >>> mean, std = logistic_click_posterior(np.zeros((0, 1)))  # no data: the prior
    >>> round(float(mean[0]), 4), round(float(std[0]), 4)
    (0.0, 1.0)
    """
    clicks = np.asarray(clicks, np.float64)
    k, n = clicks.sum(axis=0), clicks.shape[0]
    grid = np.linspace(-10 * prior_scale, 10 * prior_scale, points)
    logit = grid[:, None] + bias
    log_post = -0.5 * (grid[:, None] / prior_scale) ** 2 + k[None] * logit - n * np.logaddexp(0.0, logit)
    w = np.exp(log_post - log_post.max(axis=0, keepdims=True))
    w /= w.sum(axis=0, keepdims=True)
    mean = (w * grid[:, None]).sum(axis=0)
    std = np.sqrt((w * (grid[:, None] - mean[None]) ** 2).sum(axis=0))
    return mean, std
