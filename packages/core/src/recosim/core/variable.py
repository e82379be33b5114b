"""`Variable`: one component of the simulation state, and its bindings.

A variable has a name, a `ValueSpec`, a binding for its initial value and
(optionally) a binding for its transition. Bindings pair a behaviour with the
variables it reads; ``var.previous`` stands for the variable's value one step back.

>>> from recosim.core.value import FieldSpec, Value, ValueSpec
>>> count = Variable(name="count", spec=ValueSpec(n=FieldSpec()))
>>> count.initial_value = value(lambda: Value(n=0))
>>> count.value = value(lambda prev: Value(n=prev.get("n") + 1), (count.previous,))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from recosim.core.errors import NetworkError
from recosim.core.value import ValueSpec

__all__ = ["Variable", "Previous", "Binding", "Dependency", "value"]


@dataclass(frozen=True)
class Previous:
    """An inter-slice dependency: the value of ``variable`` at the previous step."""

    variable: Variable

    @property
    def name(self) -> str:
        return self.variable.name

    def __repr__(self) -> str:
        return f"{self.variable.name!r}.previous"


Dependency = Union["Variable", Previous]


@dataclass(frozen=True)
class Binding:
    """A behaviour ``fn`` and the dependencies whose values it receives, in order."""

    fn: Callable[..., Mapping[str, Any]]
    dependencies: tuple[Dependency, ...] = ()

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"value(fn, ...) needs a callable behaviour, got {type(self.fn).__name__}")
        for dep in self.dependencies:
            if not isinstance(dep, (Variable, Previous)):
                raise TypeError(f"dependencies must be Variables or var.previous, got {type(dep).__name__} ({dep!r})")

    @property
    def fn_name(self) -> str:
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)


def value(fn: Callable[..., Mapping[str, Any]], dependencies: Sequence[Dependency] = ()) -> Binding:
    """Bind behaviour ``fn`` to ``dependencies``; ``fn`` is called with their values in order."""
    return Binding(fn, tuple(dependencies))


class Variable:
    """A named component of the network state with a declared `ValueSpec`.

    ``initial_value`` must be bound before the variable joins a network; a variable
    whose ``value`` (transition) is never bound is static: it keeps its initial value.
    """

    def __init__(self, name: str, spec: ValueSpec) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise NetworkError(f"variable names must be non-empty strings without '/', got {name!r}")
        if not isinstance(spec, ValueSpec):
            raise NetworkError(f"variable {name!r}: spec must be a ValueSpec, got {type(spec).__name__}")
        self.name = name
        self.spec = spec
        self._initial: Binding | None = None
        self._transition: Binding | None = None

    @property
    def previous(self) -> Previous:
        """This variable's value at the previous step (an inter-slice dependency)."""
        return Previous(self)

    @property
    def initial_value(self) -> Binding:
        if self._initial is None:
            raise NetworkError(f"variable {self.name!r} has no initial_value binding")
        return self._initial

    @initial_value.setter
    def initial_value(self, binding: Binding) -> None:
        self._initial = _check_binding(self, binding, "initial_value")
        for dep in binding.dependencies:
            if isinstance(dep, Previous):
                raise NetworkError(
                    f"variable {self.name!r}: initial_value cannot depend on {dep!r}; there is no previous step at t=0"
                )

    @property
    def value(self) -> Binding | None:
        """The transition binding, or ``None`` for a static variable."""
        return self._transition

    @value.setter
    def value(self, binding: Binding) -> None:
        self._transition = _check_binding(self, binding, "value")

    @property
    def has_initial_value(self) -> bool:
        return self._initial is not None

    @property
    def is_static(self) -> bool:
        """True when no transition is bound: the variable keeps its initial value."""
        return self._transition is None

    def __repr__(self) -> str:
        return f"Variable({self.name!r})"

    def invoke(self, binding: Binding, args: Sequence[Any]) -> Any:
        """Call ``binding.fn`` with ``args``, naming this variable if it fails on arity."""
        try:
            return binding.fn(*args)
        except TypeError as err:
            if _is_arity_error(err, binding):
                raise NetworkError(
                    f"variable {self.name!r}: behaviour {binding.fn_name} was bound to "
                    f"{len(binding.dependencies)} dependencies {list(binding.dependencies)} "
                    f"but cannot take them: {err}"
                ) from err
            raise


def _check_binding(var: Variable, binding: Any, attr: str) -> Binding:
    if not isinstance(binding, Binding):
        raise NetworkError(
            f"variable {var.name!r}: {attr} must be set with value(fn, dependencies), got {type(binding).__name__}"
        )
    return binding


def _is_arity_error(err: TypeError, binding: Binding) -> bool:
    msg = str(err)
    name = getattr(binding.fn, "__name__", "")
    return ("positional argument" in msg or "takes" in msg) and (name in msg or "<lambda>" in msg)
