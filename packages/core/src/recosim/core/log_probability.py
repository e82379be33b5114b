"""Log-probabilities of value trajectories under a model.

Given a logged trajectory (every variable's value at every step), each
behaviour is re-run with its inputs taken from the data and every draw replaced
by the logged field of the same name; the log-probabilities of those draws are
summed. Deterministic fields contribute nothing. To score a trajectory with some
variables held out (latent), put proposed values for them into the trajectory,
as an MCMC sampler does.

>>> from recosim.core.variable import Variable, value
>>> from recosim.core.value import Value, ValueSpec, FieldSpec
>>> from recosim.core.backend import get_backend
>>> import numpy as np
>>> B = get_backend()
>>> x = Variable("x", ValueSpec(s=FieldSpec()))
>>> x.initial_value = value(lambda: Value(s=B.tfd.Normal(0.0, 1.0)))
>>> lp = log_probability_from_value_trajectory([x], {"x": Value(s=np.array([0.0]))})
>>> round(float(lp), 4)
-0.9189
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recosim.core.backend import Backend, backend_for, get_backend, using_backend
from recosim.core.errors import NetworkError
from recosim.core.evaluation import evaluate
from recosim.core.network import Network
from recosim.core.random import block_unobserved, name_scope, realize, substitute, trace
from recosim.core.random import seed as seed_handler
from recosim.core.story import network_from_story
from recosim.core.trajectory import slice_step
from recosim.core.value import FieldSpec, Value, ValueSpec, shape_of
from recosim.core.variable import Previous, Variable
from recosim.core.variable import value as bind

__all__ = [
    "log_probability_from_value_trajectory",
    "log_probability_accumulator_variables",
    "step_log_probabilities",
    "observed_sites",
]


def observed_sites(step_value: Mapping[str, Value]) -> dict[str, Any]:
    """The substitution map of one step: ``"variable/field"`` -> logged value."""
    return {f"{name}/{key}": field for name, v in step_value.items() for key, field in Value(v).items()}


def step_log_probabilities(
    network: Network,
    current: Mapping[str, Value],
    previous: Mapping[str, Value] | None,
    *,
    seed: Any = None,
    backend: Backend,
) -> dict[str, Any]:
    """Per-variable log-probabilities of one logged step (``previous=None`` for step 0)."""
    data = observed_sites(current)
    out: dict[str, Any] = {}
    order = network.initial_order if previous is None else network.transition_order
    for var in order:
        binding = var.initial_value if previous is None else var.value
        if binding is None:  # static variable: a deterministic copy
            continue
        args = [_arg(d, current, previous) for d in binding.dependencies]
        handlers = [trace(), substitute(data)]
        handlers.append(
            seed_handler(seed, backend)
            if seed is not None
            else block_unobserved("; pass seed= to sample unobserved draws, or log them as fields")
        )
        with handlers[2], handlers[1], handlers[0] as tr:
            evaluate(network, var, binding, args)
        out[var.name] = tr.log_prob(observed_only=True)
    return out


def _arg(dep: Variable | Previous, current: Mapping[str, Value], previous: Mapping[str, Value] | None) -> Value:
    if isinstance(dep, Previous):
        assert previous is not None
        return Value(previous[dep.name])
    return Value(current[dep.name])


def log_probability_from_value_trajectory(
    variables: Network | Sequence[Variable],
    value_trajectory: Mapping[str, Value],
    num_steps: int | None = None,
    *,
    backend: Backend | None = None,
    seed: Any = None,
) -> Any:
    """Sum of the log-probabilities of steps ``0..num_steps`` of ``value_trajectory``.

    ``value_trajectory`` maps every variable name to a Value whose fields have a
    leading time axis (what ``runtime.trajectory`` returns). ``num_steps`` counts
    transitions (default: all that the data holds). The backend is taken from the
    data's arrays unless given, so gradients flow with TensorFlow or JAX arrays.
    """
    network = network_from_story(variables)
    missing = [n for n in network.names if n not in value_trajectory]
    if missing:
        raise NetworkError(f"the value trajectory lacks the variable(s) {missing}")
    lengths = {
        f"{name}/{key}": (shape_of(field) or (None,))[0]
        for name in network.names
        for key, field in Value(value_trajectory[name]).items()
    }
    if not lengths:
        raise NetworkError("the value trajectory has no fields, so it holds no steps")
    if len(set(lengths.values())) != 1:
        raise NetworkError(f"the value trajectory's fields disagree on the number of steps: {lengths}")
    (length,) = set(lengths.values())
    if length is None:
        raise NetworkError("the value trajectory's time axis has no static length")
    steps = length - 1 if num_steps is None else int(num_steps)
    if steps < 0 or steps >= length:
        raise NetworkError(f"num_steps={num_steps} but the trajectory holds {length} steps")
    B = backend if backend is not None else backend_for(*[Value(v) for v in value_trajectory.values()])
    total: Any = 0.0
    with using_backend(B):
        previous = None
        for t in range(steps + 1):
            current = slice_step(value_trajectory, t)
            key = None if seed is None else B.fold_in(B.make_seed(seed) if isinstance(seed, int) else seed, t)
            per_var = step_log_probabilities(network, current, previous, seed=key, backend=B)
            for lp in per_var.values():
                total = total + lp
            previous = current
    return total


def log_probability_accumulator_variables(
    variables: Sequence[Variable], *, suffix: str = " log prob", cumulative: bool = True
) -> list[Variable]:
    """For each stochastic variable X, a variable ``"X log prob"`` holding the log-probability
    of X's draws at each step (``cumulative=True``: summed over steps so far).

    The accumulator re-evaluates X's behaviour on the same inputs with X's sampled
    fields substituted, so its value is differentiable with respect to the
    parameters of X's behaviour on the TF and JAX runtimes. The field ``log_prob``
    keeps X's batch shape when all of X's draws share it, and is a scalar otherwise.

    >>> from recosim.core.examples import random_walk_variables
    >>> from recosim.core.runtime import NumpyRuntime
    >>> walk = random_walk_variables(2)
    >>> traj = NumpyRuntime(walk + log_probability_accumulator_variables(walk), seed=0).trajectory(3)
    >>> traj["walk log prob"].get("log_prob").shape
    (3, 2)
    """
    out = []
    for var in variables:
        acc = Variable(var.name + suffix, ValueSpec(log_prob=FieldSpec()))

        def scorer(phase: str, var: Variable = var) -> Any:
            def score(observed: Value, *args: Value) -> Value:
                binding = var.initial_value if phase == "initial_value" else var.value
                n = len(binding.dependencies)
                data = {f"{var.name}/{k}": f for k, f in Value(observed).items()}
                B = get_backend()
                with (
                    block_unobserved(" (log-probability accumulators score only a variable's own fields)"),
                    substitute(data),
                    trace() as tr,
                ):
                    # a private network evaluation: no spec check, names as in the model
                    with name_scope(var.name, absolute=True):
                        realize(var.invoke(binding, list(args[:n])))
                lp = _site_log_prob(tr, B)
                if phase == "value" and cumulative:
                    lp = lp + args[n].get("log_prob")
                return Value(log_prob=lp)

            return score

        acc.initial_value = bind(scorer("initial_value"), (var, *var.initial_value.dependencies))
        if var.value is not None:
            deps: tuple[Any, ...] = (var, *var.value.dependencies)
            acc.value = bind(scorer("value"), (*deps, acc.previous) if cumulative else deps)
        out.append(acc)
    return out


def _site_log_prob(tr: trace, B: Backend) -> Any:
    lps = [site.log_prob for site in tr.sites.values()]
    if not lps:
        return B.np.zeros((), dtype="float32")
    shapes = {shape_of(lp) for lp in lps}
    if len(shapes) == 1:
        total = lps[0]
        for lp in lps[1:]:
            total = total + lp
        return total
    total = B.np.sum(lps[0])
    for lp in lps[1:]:
        total = total + B.np.sum(lp)
    return total
