"""The `Runtime` contract and the NumPy runtime.

A runtime samples trajectories from a `Network`. Every runtime offers the same
calls, so a model runs anywhere by changing one argument:

* ``trajectory(length, starting_value=None)``: every step, stacked along a new
  leading time axis (step 0 is the initial value, or ``starting_value``);
* ``execute(num_steps, starting_value=None)``: only the value after ``num_steps``
  transitions (``execute(0)`` is the initial value);
* ``run_many(seeds or num_runs=, length= or num_steps=)``: many independent runs,
  every field with a leading run axis (one compiled call on TF and JAX);
* ``log_probability(value_trajectory, num_steps=None)``: the log-probability of a
  logged trajectory under the model;
* ``log_probability_fn(value_trajectory, latent)``: the same as a function of
  held-out (latent) entries, an MCMC target.

Settings (`recosim.core.settings`) are named values that behaviours read with
``setting(name, default=...)``: the constructor's ``settings={...}`` declares them
with their defaults, and every call above takes ``settings={...}`` to override
some for that call. Compiled runtimes pass them as arguments of the compiled
program, so changing a value does not compile again.

Seeds are explicit. A runtime built with ``seed=s`` gives the same result for the
same call every time; successive calls on one runtime use successive derived seeds
(so a loop of calls gives independent runs), and ``seed=`` on a call overrides
(`recosim.core.seeds` states the convention).

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar, Literal, TypeAlias

import numpy as np

from recosim.core.backend import Backend, numpy_backend, using_backend
from recosim.core.checks import checked
from recosim.core.errors import NetworkError, RandomVariableError
from recosim.core.evaluation import initial_step, settle_field, transition
from recosim.core.log_probability import LogProbabilityFn, log_probability_from_value_trajectory
from recosim.core.network import Network, NetworkValue
from recosim.core.random import active_handlers
from recosim.core.random import seed as seed_handler
from recosim.core.seeds import fold
from recosim.core.settings import Settings, active_settings, using_settings
from recosim.core.story import Story, network_from_story
from recosim.core.trajectory import check_count, slice_step, stack_steps
from recosim.core.value import Value, shape_of
from recosim.core.variable import Variable

__all__ = ["Runtime", "NumpyRuntime", "ModelLike", "RunKind", "stack_steps", "slice_step"]

ModelLike: TypeAlias = Network | Story | Sequence[Variable] | Callable[[], Sequence[Variable]]


RunKind: TypeAlias = Literal["trajectory", "execute"]
"""What a run returns: every step stacked (``"trajectory"``) or only the last value (``"execute"``)."""


class Runtime(ABC):
    """Base class of runtimes: the whole contract, over one method a subclass implements.

    ``validate=True`` builds a runtime in checked mode (`recosim.core.checks`): it
    validates distribution arguments, refuses the first non-finite value and
    logged data outside its support, each error naming the variable, field and
    step. Checked runs evaluate their steps eagerly, so they are slower.

    A subclass sets ``name``, provides :attr:`backend` and implements :meth:`simulate`
    (one run from a backend key); it may override :meth:`simulate_batch` to run many
    keys at once, and ``log_probability`` / ``log_probability_fn`` with compiled
    versions. The public calls check their arguments once, here, and derive keys
    by the convention of `recosim.core.seeds`.

    ``settings`` declares the runtime's settings and their defaults (name ->
    number or array; `recosim.core.settings`). A call runs with the declared
    values, overridden by its own ``settings=``, in force: :meth:`simulate` and
    :meth:`simulate_batch` find them with :meth:`current_settings` (a compiled
    runtime passes them as arguments of its compiled function and opens
    `using_settings` on them inside it).
    """

    name: ClassVar[str] = ""

    capabilities: ClassVar[frozenset[str]] = frozenset()
    """What the runtime can do (`recosim.core.plugins.COMPILES`, ``VECTORISES``, ``DIFFERENTIABLE``,
    ``SHARDS``): the same names its plugin declares when it registers, which callers query
    without importing the runtime (`recosim.core.plugins.Plugins.runtimes_with`)."""

    def __init__(
        self,
        network: ModelLike,
        *,
        seed: int | None = None,
        validate: bool = False,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.network = network_from_story(network)
        self.seed = int(secrets.randbits(31)) if seed is None else int(seed)
        self.validate = bool(validate)
        self.settings = Settings(settings)
        self._calls = 0

    @property
    @abstractmethod
    def backend(self) -> Backend:
        """The backend whose arrays and distributions behaviours see."""

    # -- what a runtime implements ------------------------------------------------------
    @abstractmethod
    def simulate(self, kind: RunKind, n: int, key: Any, start: NetworkValue | None) -> NetworkValue:
        """One run under the backend key ``key``.

        ``kind="trajectory"``: ``n`` steps (``n >= 1``), each field stacked on a new
        leading time axis; ``kind="execute"``: the value after ``n`` transitions
        (``n >= 0``). Step 0 is the initial step, or ``start`` (already checked to
        hold every variable). Step ``t`` draws under ``fold(key, t)``.
        """

    def simulate_batch(self, kind: RunKind, n: int, keys: Any, start: NetworkValue | None) -> NetworkValue:
        """One run per key of ``keys`` (stacked ``[runs, ...]``), every field gaining a leading run axis.

        The default calls :meth:`simulate` once per key; compiled runtimes run the
        batch in one call.
        """
        count = int(shape_of(keys)[0])  # type: ignore[arg-type]
        return stack_steps([self.simulate(kind, n, keys[i], start) for i in range(count)], self.backend)

    # -- the contract ---------------------------------------------------------------------
    def trajectory(
        self,
        length: int,
        starting_value: Mapping[str, Value] | None = None,
        *,
        seed: int | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> NetworkValue:
        """``length`` steps (``length >= 1``), each field stacked on a new leading time axis."""
        length = check_count(length, "trajectory length", 1)
        start = self._start(starting_value)
        with self.using_settings(settings):
            return self.simulate("trajectory", length, self._next_key(seed), start)

    def execute(
        self,
        num_steps: int,
        starting_value: Mapping[str, Value] | None = None,
        *,
        seed: int | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> NetworkValue:
        """The value after ``num_steps`` transitions from the initial (or starting) value."""
        num_steps = check_count(num_steps, "num_steps", 0)
        start = self._start(starting_value)
        with self.using_settings(settings):
            return self.simulate("execute", num_steps, self._next_key(seed), start)

    def run_many(
        self,
        seeds: Sequence[int] | int | None = None,
        *,
        num_runs: int | None = None,
        length: int | None = None,
        num_steps: int | None = None,
        starting_value: Mapping[str, Value] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> NetworkValue:
        """Independent runs; every field gains a leading run axis.

        Give ``length`` for trajectories (``[runs, length, ...]``, as :meth:`trajectory`)
        or ``num_steps`` for final values (``[runs, ...]``, as :meth:`execute`). Run
        ``i`` equals the single call with the same key: ``trajectory(length,
        seed=seeds[i])``, or with ``num_runs=n`` (or an int ``seeds``) the runtime's
        ``i``-th next call. ``starting_value`` and ``settings`` are shared by all runs. Compiled runtimes
        run the batch in one call; summarise it with `recosim.core.summary.summarize`.

        >>> from recosim.core.examples import random_walk_variables
        >>> rt = NumpyRuntime(random_walk_variables(3), seed=0)
        >>> rt.run_many([1, 2], num_steps=4)["walk"].get("position").shape
        (2, 3)
        """
        kind, n = self._run_many_kind(length, num_steps)
        start = self._start(starting_value)
        with self.using_settings(settings):
            return self.simulate_batch(kind, n, self.run_keys(seeds, num_runs=num_runs), start)

    def log_probability(
        self,
        value_trajectory: Mapping[str, Value],
        num_steps: int | None = None,
        *,
        seed: Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Any:
        """Log-probability of steps ``0..num_steps`` of ``value_trajectory`` under the network.

        Every draw must be logged as a field of its variable unless ``seed`` is given,
        which samples the draws the data does not log (see `recosim.core.log_probability`).
        The model is scored under the runtime's settings (overridden by ``settings``).
        """
        with self.using_settings(settings):
            return log_probability_from_value_trajectory(
                self.network, value_trajectory, num_steps, backend=self.backend, seed=seed, validate=self.validate
            )

    def log_probability_fn(
        self,
        value_trajectory: Mapping[str, Any],
        latent: Sequence[str] | str,
        num_steps: int | None = None,
        *,
        seed: Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> LogProbabilityFn:
        """The log-probability of ``value_trajectory`` as a function of its ``latent`` entries.

        A latent name is ``"variable/field"`` (a dotted field covers its sub-fields)
        or ``"variable"`` (the whole Value), on every runtime. The function is what
        an MCMC kernel calls as ``target_log_prob_fn(*state)``; compiled runtimes
        return compiled, differentiable versions. It scores under the runtime's
        settings (overridden by ``settings``) as they are when it is built.
        """
        return _SettledLogProbabilityFn(
            self.network,
            value_trajectory,
            latent,
            num_steps,
            seed=seed,
            backend=self.backend,
            validate=self.validate,
            settings=self.backend_settings(settings),
        )

    # -- settings -----------------------------------------------------------------------
    def backend_settings(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The declared settings with ``overrides`` applied (checked), as arrays of this runtime's backend."""
        values = self.settings.resolve(overrides)
        B = self.backend
        return {name: B.asarray(v) for name, v in values.items()}

    def using_settings(self, overrides: Mapping[str, Any] | None = None) -> AbstractContextManager[Any]:
        """A context in which the runtime's settings, with ``overrides`` applied, are in force (checked now)."""
        return using_settings(self.backend_settings(overrides))

    def current_settings(self) -> dict[str, Any]:
        """This runtime's settings as they are in force now: the call's, or the declared defaults outside a call.

        What :meth:`simulate` passes to a compiled function. Only this runtime's
        declared names are taken, so settings of another runtime's run do not leak in.
        """
        active = active_settings()
        if active is None or any(name not in active for name in self.settings):
            return self.backend_settings()
        return {name: active[name] for name in self.settings}

    # -- keys and checks -----------------------------------------------------------------
    def _next_key(self, seed: int | None) -> Any:
        """The backend key of one call: ``make_seed(seed)`` if given, else the runtime's next call key."""
        B = self.backend
        if seed is not None:
            return B.make_seed(int(seed))
        key = fold(B, B.make_seed(self.seed), self._calls)
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
            count = check_count(num_runs, "num_runs", 1)
            keys = [self._next_key(None) for _ in range(count)]
        return B.np.stack([B.asarray(k) for k in keys])

    def _run_many_kind(self, length: int | None, num_steps: int | None) -> tuple[RunKind, int]:
        """``("trajectory", length)`` or ``("execute", num_steps)`` for ``run_many``, checked."""
        if (length is None) == (num_steps is None):
            raise ValueError("run_many takes exactly one of length= (trajectories) or num_steps= (final values)")
        if length is not None:
            return "trajectory", check_count(length, "trajectory length", 1)
        return "execute", check_count(num_steps, "num_steps", 0)

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

    def _start(self, starting_value: Mapping[str, Value] | None) -> NetworkValue | None:
        """``starting_value`` checked to give every variable of the network (None stays None)."""
        if starting_value is None:
            return None
        missing = [n for n in self.network.names if n not in starting_value]
        extra = [n for n in starting_value if n not in self.network]
        if missing or extra:
            raise NetworkError(
                f"starting_value must give every variable of the network: missing {missing}, unknown {extra}"
            )
        B = self.backend
        out = {}
        for n in self.network.names:
            specs = self.network[n].spec.as_dict
            where = f"the starting value of variable {n!r}, field"
            out[n] = Value(starting_value[n]).map_with_key(
                lambda k, x, specs=specs, where=where: settle_field(x, specs.get(k), None, B, f"{where} {k!r}")
            )
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(variables={list(self.network.names)}, seed={self.seed})"


class _SettledLogProbabilityFn(LogProbabilityFn):
    """Core's log-probability function, evaluated with the settings it was built with in force."""

    def __init__(self, *args: Any, settings: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = dict(settings)

    def __call__(self, *values: Any) -> Any:
        with using_settings(self.settings):
            return super().__call__(*values)


class NumpyRuntime(Runtime):
    """Ancestral sampling in a Python loop over NumPy arrays.

    The reference semantics for every other runtime, and the easiest to debug: a
    breakpoint in a behaviour stops at the step being computed.
    """

    name = "numpy"

    def __init__(
        self,
        network: ModelLike,
        *,
        seed: int | None = None,
        callback: Callable[[int], None] | None = None,
        validate: bool = False,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(network, seed=seed, validate=validate, settings=settings)
        self.callback = callback

    @property
    def backend(self) -> Backend:
        return numpy_backend()

    def _steps(self, count: int, key: Any, start: NetworkValue | None) -> Iterator[NetworkValue]:
        B = self.backend
        with using_backend(B):
            if start is None:
                with seed_handler(fold(B, key, 0), B), self._checked(0):
                    current = initial_step(self.network)
            else:
                current = start
            yield current
            for t in range(1, count):
                with seed_handler(fold(B, key, t), B), self._checked(t):
                    current = transition(self.network, current, step=t)
                if self.callback is not None:
                    self.callback(t)
                yield current

    def _checked(self, step: int) -> AbstractContextManager[Any]:
        return checked(step) if self.validate else nullcontext()

    def simulate(self, kind: RunKind, n: int, key: Any, start: NetworkValue | None) -> NetworkValue:
        if kind == "trajectory":
            return stack_steps(list(self._steps(n, key, start)), self.backend)
        last: NetworkValue = {}
        for last in self._steps(n + 1, key, start):  # noqa: B007
            pass
        return last
