"""Shared models for the JAX runtime's tests."""

from __future__ import annotations

import numpy as np

from recosim.core import Entity, FieldSpec, Value, ValueSpec, Variable, get_backend, value


class Drift(Entity):
    """``x_0 ~ N(mu, sigma)``, ``x_t ~ N(x_{t-1} + mu, sigma)``: parameters held as arrays."""

    def __init__(self, mu, sigma, num_agents: int = 2) -> None:
        super().__init__(name="drift")
        self.mu = mu
        self.sigma = sigma
        self.num_agents = num_agents

    def initial(self) -> Value:
        B = get_backend()
        loc = B.np.zeros(self.num_agents, dtype="float32") + self.mu
        return Value(x=B.tfd.Normal(loc, self.sigma))

    def step(self, previous: Value) -> Value:
        B = get_backend()
        return Value(x=B.tfd.Normal(previous.get("x") + self.mu, self.sigma))


def drift_variables(mu=0.5, sigma=1.5, num_agents: int = 2) -> list[Variable]:
    ent = Drift(mu, sigma, num_agents)
    var = Variable("chain", ValueSpec(x=FieldSpec(shape=(num_agents,), dtype="float32")))
    var.initial_value = value(ent.initial)
    var.value = value(ent.step, (var.previous,))
    return [var]


def default_affinity(num_users: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, 4 * num_users, dtype=np.float32).reshape(num_users, 4)


def choice_variables(num_users: int = 3, affinity=None, temperature=1.0) -> list[Variable]:
    """A static user affinity and a Categorical choice among 4 items that favours the last choice.

    ``temperature`` is a parameter of the choice behaviour itself (so log-probabilities
    of logged trajectories depend on it; the affinity is logged data).
    """
    if affinity is None:
        affinity = default_affinity(num_users)
    user = Variable("user", ValueSpec(affinity=FieldSpec(shape=(num_users, 4), dtype="float32")))
    user.initial_value = value(lambda: Value(affinity=get_backend().asarray(affinity)))

    response = Variable("response", ValueSpec(choice=FieldSpec(shape=(num_users,), dtype="int32")))

    def respond(u: Value) -> Value:
        B = get_backend()
        return Value(choice=B.tfd.Categorical(logits=u.get("affinity") / temperature, dtype="int32"))

    def respond_next(u: Value, prev: Value) -> Value:
        B = get_backend()
        bonus = B.one_hot(prev.get("choice"), 4)  # users like to repeat their last choice
        return Value(choice=B.tfd.Categorical(logits=(u.get("affinity") + bonus) / temperature, dtype="int32"))

    response.initial_value = value(respond, (user,))
    response.value = value(respond_next, (user, response.previous))
    return [user, response]
