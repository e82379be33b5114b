"""Two small models used in documentation, tests and the built-in use cases.

>>> from recosim.core.runtime import NumpyRuntime
>>> int(NumpyRuntime(counting_variables(), seed=0).execute(5)["count"].get("n"))
5
"""

from __future__ import annotations

from recosim.core.backend import get_backend
from recosim.core.value import FieldSpec, Value, ValueSpec
from recosim.core.variable import Variable, value

__all__ = ["counting_variables", "random_walk_variables"]


def counting_variables() -> list[Variable]:
    """The paper's section 3.1 example: a deterministic counter."""
    count_var = Variable(name="count", spec=ValueSpec(n=FieldSpec()))

    def count_init() -> Value:
        return Value(n=0)

    def count_next(previous_value: Value) -> Value:
        return Value(n=previous_value.get("n") + 1)

    count_var.initial_value = value(count_init)
    count_var.value = value(count_next, (count_var.previous,))
    return [count_var]


def random_walk_variables(num_agents: int = 1, scale: float = 1.0) -> list[Variable]:
    """``x_0 ~ N(0, scale)``, ``x_t ~ N(x_{t-1}, scale)`` for ``num_agents`` independent walkers."""
    walk = Variable("walk", ValueSpec(position=FieldSpec(shape=(num_agents,), dtype="float32")))

    def initial() -> Value:
        B = get_backend()
        return Value(position=B.tfd.Normal(B.np.zeros(num_agents, dtype="float32"), scale))

    def step(previous: Value) -> Value:
        B = get_backend()
        return Value(position=B.tfd.Normal(previous.get("position"), scale))

    walk.initial_value = value(initial)
    walk.value = value(step, (walk.previous,))
    return [walk]
