"""The `Runtime` contract and the NumPy runtime.

A runtime samples trajectories from a `Network`. Every runtime offers the same
three calls, so a model runs anywhere by changing one argument:

* ``trajectory(length, starting_value=None)``: every step, stacked along a new
  leading time axis (step 0 is the initial value, or ``starting_value``);
* ``execute(num_steps, starting_value=None)``: only the value after ``num_steps``
  transitions (``execute(0)`` is the initial value);
* ``log_probability(value_trajectory, num_steps=None)``: the log-probability of a
  logged trajectory under the model.

Seeds are explicit. A runtime built with ``seed=s`` gives the same result for the
same call every time; successive calls on one runtime use successive derived seeds
(so a loop of calls gives independent runs), and ``seed=`` on a call overrides.

>>> from recosim.core.variable import Variable, value
>>> from recosim.core.value import Value, ValueSpec, FieldSpec
>>> c = Variable("count", ValueSpec(n=FieldSpec()))
>>> c.initial_value = value(lambda: Value(n=0))
>>> c.value = value(lambda p: Value(n=p.get("n") + 1), (c.previous,))
>>> NumpyRuntime([c], seed=0).trajectory(4)["count"].get("n").tolist()
[0, 1, 2, 3]
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

import numpy as np

from recosim.core.backend import Backend, numpy_backend, using_backend
from recosim.core.errors import NetworkError, RandomVariableError
from recosim.core.evaluation import initial_step, transition
from recosim.core.log_probability import LogProbabilityFn, log_probability_from_value_trajectory
from recosim.core.network import Network, NetworkValue
from recosim.core.random import active_handlers
from recosim.core.random import seed as seed_handler
from recosim.core.story import Story, network_from_story
from recosim.core.trajectory import slice_step, stack_steps
from recosim.core.value import Value
from recosim.core.variable import Variable

__all__ = ["Runtime", "NumpyRuntime", "ModelLike", "stack_steps", "slice_step"]

ModelLike: TypeAlias = Network | Story | Sequence[Variable] | Callable[[], Sequence[Variable]]


class Runtime(ABC):
    """Base class of runtimes. Subclasses set ``name`` and implement the three calls."""

    name: ClassVar[str] = ""

    def __init__(self, network: ModelLike, *, seed: int | None = None) -> None:
        self.network = network_from_story(network)
        self.seed = int(secrets.randbits(31)) if seed is None else int(seed)
        self._calls = 0

    @property
    @abstractmethod
    def backend(self) -> Backend:
        """The backend whose arrays and distributions behaviours see."""

    @abstractmethod
    def trajectory(
        self, length: int, starting_value: Mapping[str, Value] | None = None, *, seed: int | None = None
    ) -> NetworkValue:
        """``length`` steps (``length >= 1``), each field stacked on a new leading time axis."""

    @abstractmethod
    def execute(
        self, num_steps: int, starting_value: Mapping[str, Value] | None = None, *, seed: int | None = None
    ) -> NetworkValue:
        """The value after ``num_steps`` transitions from the initial (or starting) value."""

    def log_probability(
        self, value_trajectory: Mapping[str, Value], num_steps: int | None = None, *, seed: Any = None
    ) -> Any:
        """Log-probability of steps ``0..num_steps`` of ``value_trajectory`` under the network.

        Every draw must be logged as a field of its variable unless ``seed`` is given,
        which samples the draws the data does not log (see `recosim.core.log_probability`).
        """
        return log_probability_from_value_trajectory(
            self.network, value_trajectory, num_steps, backend=self.backend, seed=seed
        )

    def log_probability_fn(
        self,
        value_trajectory: Mapping[str, Any],
        latent: Sequence[str] | str,
        num_steps: int | None = None,
        *,
        seed: Any = None,
    ) -> LogProbabilityFn:
        """The log-probability of ``value_trajectory`` as a function of its ``latent`` entries.

        A latent name is ``"variable/field"`` (a dotted field covers its sub-fields)
        or ``"variable"`` (the whole Value), on every runtime. The function is what
        an MCMC kernel calls as ``target_log_prob_fn(*state)``; compiled runtimes
        return compiled, differentiable versions.
        """
        return LogProbabilityFn(self.network, value_trajectory, latent, num_steps, seed=seed, backend=self.backend)

    # -- helpers for subclasses ---------------------------------------------------
    def _next_key(self, seed: int | None) -> Any:
        """The backend seed of one call: from ``seed`` if given, else the runtime's next one."""
        B = self.backend
        if seed is not None:
            return B.make_seed(int(seed))
        key = B.fold_in(B.make_seed(self.seed), self._calls)
        self._calls += 1
        return key

    def run_keys(self, seeds: Sequence[int] | int | None = None, *, num_runs: int | None = None) -> Any:
        """The stacked backend keys (``[runs, ...]``) of a batch of independent runs.

        ``seeds`` (a sequence of ints) gives the keys of ``trajectory(..., seed=s)``;
        an int or ``num_runs=n`` gives the keys of the runtime's next ``n`` calls, so
        run ``i`` of a batch equals the ``i``-th of ``n`` single calls.
        """
        seed_list: list[int] | None = None
        if isinstance(seeds, (int, np.integer)):
            num_runs = int(seeds)
        elif seeds is not None:
            seed_list = [int(s) for s in seeds]
        if (seed_list is None) == (num_runs is None):
            raise ValueError("run_many takes either seeds (a sequence of ints, or a count) or num_runs=, not both")
        B = self.backend
        if seed_list is not None:
            keys = [B.make_seed(s) for s in seed_list]
            if not keys:
                raise ValueError("run_many needs at least one seed")
        else:
            assert num_runs is not None
            count = self._check_length(num_runs, "num_runs", 1)
            keys = [self._next_key(None) for _ in range(count)]
        return B.np.stack([B.asarray(k) for k in keys])

    def _run_many_kind(self, length: int | None, num_steps: int | None) -> tuple[str, int]:
        """``("trajectory", length)`` or ``("execute", num_steps)`` for ``run_many``, checked."""
        if (length is None) == (num_steps is None):
            raise ValueError("run_many takes exactly one of length= (trajectories) or num_steps= (final values)")
        if length is not None:
            return "trajectory", self._check_length(length, "trajectory length", 1)
        assert num_steps is not None
        return "execute", self._check_length(num_steps, "num_steps", 0)

    def _refuse_outer_handlers(self) -> None:
        """For compiled runtimes: refuse to run under handlers opened around the call.

        A compiled simulation fixes what its draws do when it is traced, so a handler
        around a later call would silently have no effect.
        """
        handlers = active_handlers()
        if handlers:
            names = ", ".join(type(h).__name__ for h in handlers)
            raise RandomVariableError(
                f"{type(self).__name__} was called inside the handler(s) {names}; a compiled run fixes "
                "its draws when it is traced, so they would not apply. Use the runtime's log_probability "
                "functions, a replayed variable, or the eager mode of the runtime instead"
            )

    def _check_starting_value(self, starting_value: Mapping[str, Value]) -> NetworkValue:
        missing = [n for n in self.network.names if n not in starting_value]
        extra = [n for n in starting_value if n not in self.network]
        if missing or extra:
            raise NetworkError(
                f"starting_value must give every variable of the network: missing {missing}, unknown {extra}"
            )
        return {n: Value(starting_value[n]) for n in self.network.names}

    @staticmethod
    def _check_length(length: int, what: str, minimum: int) -> int:
        if int(length) != length or length < minimum:
            raise ValueError(f"{what} must be an integer >= {minimum}, got {length!r}")
        return int(length)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(variables={list(self.network.names)}, seed={self.seed})"


class NumpyRuntime(Runtime):
    """Ancestral sampling in a Python loop over NumPy arrays.

    The reference semantics for every other runtime, and the easiest to debug: a
    breakpoint in a behaviour stops at the step being computed.
    """

    name = "numpy"

    def __init__(
        self, network: ModelLike, *, seed: int | None = None, callback: Callable[[int], None] | None = None
    ) -> None:
        super().__init__(network, seed=seed)
        self.callback = callback

    @property
    def backend(self) -> Backend:
        return numpy_backend()

    def _steps(
        self, count: int, starting_value: Mapping[str, Value] | None, seed: int | None
    ) -> Iterable[NetworkValue]:
        B = self.backend
        key = self._next_key(seed)
        with using_backend(B):
            if starting_value is None:
                with seed_handler(B.fold_in(key, 0), B):
                    current = initial_step(self.network)
            else:
                current = self._check_starting_value(starting_value)
            yield current
            for t in range(1, count):
                with seed_handler(B.fold_in(key, t), B):
                    current = transition(self.network, current)
                if self.callback is not None:
                    self.callback(t)
                yield current

    def trajectory(
        self, length: int, starting_value: Mapping[str, Value] | None = None, *, seed: int | None = None
    ) -> NetworkValue:
        length = self._check_length(length, "trajectory length", 1)
        return stack_steps(list(self._steps(length, starting_value, seed)), self.backend)

    def execute(
        self, num_steps: int, starting_value: Mapping[str, Value] | None = None, *, seed: int | None = None
    ) -> NetworkValue:
        num_steps = self._check_length(num_steps, "num_steps", 0)
        last: NetworkValue = {}
        for last in self._steps(num_steps + 1, starting_value, seed):  # noqa: B007
            pass
        return last
