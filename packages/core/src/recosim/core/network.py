"""`Network`: a set of variables ordered as a dynamic Bayesian network.

The network checks the model once, when it is built:

* duplicate variable names, dependencies on variables outside the network,
  unbound initial values and intra-slice cycles are rejected with the names at fault;
* it orders the variables of the initial step and of a transition so that
  intra-slice (current-step) dependencies come first; inter-slice
  (``.previous``) ones are read from the last step.

Evaluating a step (running the behaviours under the random-variable handlers) is
`recosim.core.evaluation`'s job; the network itself imports nothing about draws.

>>> from recosim.core.variable import Variable, value
>>> from recosim.core.value import Value, ValueSpec, FieldSpec
>>> c = Variable("count", ValueSpec(n=FieldSpec()))
>>> c.initial_value = value(lambda: Value(n=0))
>>> c.value = value(lambda p: Value(n=p.get("n") + 1), (c.previous,))
>>> [v.name for v in Network([c]).transition_order]
['count']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from recosim.core.errors import NetworkError
from recosim.core.value import Value
from recosim.core.variable import Binding, Previous, Variable

__all__ = ["Network", "NetworkValue", "find_cycle", "topological_order"]

NetworkValue = dict[str, Value]
"""The state of a whole network at one step: variable name -> Value."""


class Network:
    """Variables ordered for ancestral sampling of the initial step and the transition."""

    def __init__(self, variables: Iterable[Variable], *, check_outputs: bool = True) -> None:
        """``check_outputs``: check every behaviour's output against its variable's spec when evaluated."""
        variables = list(variables)
        seen: dict[str, Variable] = {}
        for var in variables:
            if not isinstance(var, Variable):
                raise NetworkError(f"Network takes Variables, got {type(var).__name__} ({var!r})")
            if var.name in seen:
                kind = "the same variable twice" if seen[var.name] is var else "two variables"
                raise NetworkError(f"duplicate variable name {var.name!r}: the network was given {kind}")
            seen[var.name] = var
        self._variables = seen
        self.check_outputs = check_outputs
        for var in variables:
            if not var.has_initial_value:
                raise NetworkError(
                    f"variable {var.name!r} has no initial_value; bind one with "
                    f"{var.name}.initial_value = value(fn, dependencies)"
                )
            for phase, binding in (("initial_value", var.initial_value), ("value", var.value)):
                if binding is None:
                    continue
                for dep in binding.dependencies:
                    target = dep.variable if isinstance(dep, Previous) else dep
                    if seen.get(target.name) is not target:
                        raise NetworkError(
                            f"variable {var.name!r}: its {phase} depends on {dep!r}, "
                            f"which is not in the network (variables: {sorted(seen)})"
                        )
        self.initial_order = self._order("initial_value")
        self.transition_order = self._order("value")

    # -- structure ------------------------------------------------------------
    @property
    def variables(self) -> tuple[Variable, ...]:
        return tuple(self._variables.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._variables)

    def __getitem__(self, name: str) -> Variable:
        try:
            return self._variables[name]
        except KeyError:
            raise KeyError(f"no variable {name!r} in the network; it has {sorted(self._variables)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._variables

    def __repr__(self) -> str:
        return f"Network({list(self._variables)})"

    def intra_slice_edges(self, phase: str) -> dict[str, list[str]]:
        """Parents within the same step, per variable, for ``phase`` 'initial_value' or 'value'."""
        edges: dict[str, list[str]] = {}
        for var in self._variables.values():
            binding = _binding(var, phase)
            edges[var.name] = (
                [] if binding is None else [d.name for d in binding.dependencies if isinstance(d, Variable)]
            )
        return edges

    def _order(self, phase: str) -> tuple[Variable, ...]:
        edges = self.intra_slice_edges(phase)
        cycle = find_cycle(edges)
        if cycle:
            path = " -> ".join(repr(n) for n in cycle)
            what = "initial step" if phase == "initial_value" else "transition"
            raise NetworkError(f"the {what} has a cycle of intra-slice dependencies: {path}")
        return tuple(self._variables[n] for n in topological_order(edges))


def _binding(var: Variable, phase: str) -> Binding | None:
    return var.initial_value if phase == "initial_value" else var.value


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in the graph ``node -> parents`` as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for parent in edges.get(node, ()):
            if state.get(parent) == 1:
                cyc = [*stack[stack.index(parent) :], parent]
                return list(reversed(cyc))
            if parent not in state:
                found = visit(parent)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """Order nodes so every node comes after its parents; ties keep declaration order."""
    done: set[str] = set()
    order: list[str] = []

    def visit(node: str) -> None:
        if node in done:
            return
        done.add(node)
        for parent in edges.get(node, ()):
            visit(parent)
        order.append(node)

    for node in edges:
        visit(node)
    return order
