"""Evaluating one time slice of a `Network`: behaviours run under the random-variable handlers.

Each behaviour is called with its dependencies' values inside a name scope named
after its variable, so a draw ``rv("choice", ...)`` in the behaviour of ``"user
response"`` is the random variable ``"user response/choice"``; distribution-valued
fields are drawn under their field's name; every output is checked against the
variable's spec (unless the network was built with ``check_outputs=False``).
What a draw does (sample, substitute, score) is decided by the handlers the
caller opened, so the same functions serve every runtime and the log-probability
of logged data.

>>> from recosim.core.examples import counting_variables
>>> from recosim.core.network import Network
>>> net = Network(counting_variables())
>>> transition(net, initial_step(net))["count"].get("n")
1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from recosim.core.errors import NetworkError
from recosim.core.network import Network, NetworkValue
from recosim.core.random import name_scope, realize
from recosim.core.value import Value
from recosim.core.variable import Binding, Previous, Variable

__all__ = ["evaluate", "initial_step", "transition"]


def evaluate(network: Network, var: Variable, binding: Binding, args: Sequence[Value]) -> Value:
    """Call one behaviour of ``var`` inside the variable's name scope and check what it returns."""
    with name_scope(var.name):
        result = var.invoke(binding, args)
        if not isinstance(result, Mapping):
            raise NetworkError(
                f"variable {var.name!r}: behaviour {binding.fn_name} returned {type(result).__name__}, not a Value"
            )
        result = realize(result)
    if network.check_outputs:
        var.spec.check(result, where=f"variable {var.name!r} (behaviour {binding.fn_name})")
    return result


def initial_step(network: Network) -> NetworkValue:
    """Every variable's initial value, under whatever handlers are active."""
    out: NetworkValue = {}
    for var in network.initial_order:
        binding = var.initial_value
        args = [out[d.name] for d in binding.dependencies]  # only Variables at t=0
        out[var.name] = evaluate(network, var, binding, args)
    return out


def transition(network: Network, previous: Mapping[str, Value]) -> NetworkValue:
    """One transition from ``previous`` (a value for every variable); static variables keep theirs."""
    missing = [n for n in network.names if n not in previous]
    if missing:
        raise NetworkError(f"the previous value lacks the variable(s) {missing}")
    out: NetworkValue = {}
    for var in network.transition_order:
        binding = var.value
        if binding is None:
            out[var.name] = previous[var.name]
            continue
        args = [previous[d.name] if isinstance(d, Previous) else out[d.name] for d in binding.dependencies]
        out[var.name] = evaluate(network, var, binding, args)
    return out
