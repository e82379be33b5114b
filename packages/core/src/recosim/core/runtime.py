"""The `Runtime` contract and the NumPy runtime.

A runtime samples trajectories from a `Network`. Every runtime offers the same
calls, so a model runs anywhere by changing one argument:

* ``trajectory(length, starting_value=None)``: every step, stacked along a new
  leading time axis (step 0 is the initial value, or ``starting_value``);
* ``execute(num_steps, starting_value=None)``: only the value after ``num_steps``
  transitions (``execute(0)`` is the initial value);
* ``run_many(seeds or num_runs=, length= or num_steps=)``: many independent runs,
  every field with a leading run axis (one compiled call on TF and JAX);
* ``run_batch(num_steps= or length=, seeds or num_runs=, settings={name: [points]},
  outputs=fn)``: runs x settings points in one program where the runtime
  compiles, returning only what ``outputs`` computes from each run (`BatchResult`);
* ``initial_step(key)`` and ``transition(key, t, previous)``: one step under the
  run key ``key`` (traceable on compiled runtimes), for callers writing their own loop;
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
from dataclasses import dataclass, field
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
from recosim.core.settings import SettingError, Settings, active_settings, using_settings
from recosim.core.story import Story, network_from_story
from recosim.core.summary import summarize
from recosim.core.trajectory import check_count, slice_step, stack_steps
from recosim.core.value import Value, shape_of
from recosim.core.variable import Variable

__all__ = [
    "BatchResult",
    "ModelLike",
    "NumpyRuntime",
    "OutputsFn",
    "RunKind",
    "Runtime",
    "all_fields",
    "slice_step",
    "stack_steps",
]

ModelLike: TypeAlias = Network | Story | Sequence[Variable] | Callable[[], Sequence[Variable]]


RunKind: TypeAlias = Literal["trajectory", "execute"]
"""What a run returns: every step stacked (``"trajectory"``) or only the last value (``"execute"``)."""

OutputsFn: TypeAlias = Callable[[NetworkValue], Mapping[str, Any]]
"""What `Runtime.run_batch` computes from each run's result: ``{name: array}``, in backend operations."""


def all_fields(value: NetworkValue) -> dict[str, Any]:
    """Every field of a run's result as ``{"variable/field": array}``: `Runtime.run_batch`'s default outputs."""
    return {f"{name}/{key}": field for name, val in value.items() for key, field in Value(val).items()}


@dataclass(frozen=True)
class BatchResult:
    """What `Runtime.run_batch` returns.

    ``outputs[name]`` is a NumPy array ``[points, runs, ...]`` (``[runs, ...]`` when
    the call gave no settings grid); ``settings`` the grid as called (name ->
    ``[points, ...]`` NumPy array, empty without a grid).

    >>> import numpy as np
    >>> res = BatchResult({"u": np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])}, {"cap": np.array([0.0, 1.0])})
    >>> [(p["settings"], p["mean"], p["n"]) for p in res.summary()["u"]]
    [({'cap': 0.0}, 2.0, 3), ({'cap': 1.0}, 4.0, 3)]
    """

    outputs: dict[str, np.ndarray]
    settings: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_points(self) -> int | None:
        """Settings points (None when the call gave no grid)."""
        return None if not self.settings else int(next(iter(self.settings.values())).shape[0])

    @property
    def num_runs(self) -> int:
        first = next(iter(self.outputs.values()))
        return int(first.shape[0 if self.num_points is None else 1])

    def point(self, index: int) -> dict[str, Any]:
        """The settings of point ``index`` (scalars as Python numbers)."""
        return {k: v[index].item() if v[index].ndim == 0 else v[index] for k, v in self.settings.items()}

    def summary(self) -> dict[str, Any]:
        """Per output: ``{"mean", "se", "n"}`` over the runs (`recosim.core.summary`), one per settings point.

        Without a grid each output maps to one such dict; with one, to a list of
        them, each also giving the point's ``"settings"``. Scalar outputs give
        floats; others NumPy arrays. ``se`` is NaN for a single run.
        """

        def one(x: np.ndarray) -> dict[str, Any]:
            s = summarize(x)
            mean, se = (float(s.mean), float(s.stderr)) if np.ndim(s.mean) == 0 else (s.mean, s.stderr)
            return {"mean": mean, "se": se, "n": s.num_runs}

        if self.num_points is None:
            return {name: one(x) for name, x in self.outputs.items()}
        return {
            name: [{"settings": self.point(p), **one(x[p])} for p in range(x.shape[0])]
            for name, x in self.outputs.items()
        }


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

    # -- one step (the same names on every runtime) ------------------------------------------
    def initial_step(self, key: Any) -> NetworkValue:
        """The initial value of a run with backend key ``key`` (its draws under ``fold(key, 0)``).

        Behaviours read the settings in force (a call's), else the runtime's
        declared ones. Compiled runtimes return their carried arrays and can be
        traced; with :meth:`transition` a caller writes its own loop over time.
        """
        B = self.backend
        with using_backend(B), using_settings(self.current_settings()), seed_handler(fold(B, key, 0), B):
            with self._checked_step(0):
                return initial_step(self.network)

    def transition(self, key: Any, t: Any, previous: NetworkValue) -> NetworkValue:
        """The value at step ``t`` of the run with key ``key``, from ``previous`` (draws under ``fold(key, t)``).

        Every field keeps its dtype and shape from ``previous``; a change is a
        `SpecError` naming the variable, field and step.
        """
        B = self.backend
        with using_backend(B), using_settings(self.current_settings()), seed_handler(fold(B, key, t), B):
            with self._checked_step(t):
                return transition(self.network, previous, step=t)

    def _checked_step(self, step: Any) -> AbstractContextManager[Any]:
        return checked(step) if self.validate else nullcontext()

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

    def run_batch(
        self,
        num_steps: int | None = None,
        *,
        length: int | None = None,
        seeds: Sequence[int] | int | None = None,
        num_runs: int | None = None,
        settings: Mapping[str, Any] | None = None,
        outputs: OutputsFn | None = None,
        runs_per_call: int | None = None,
        starting_value: Mapping[str, Value] | None = None,
    ) -> BatchResult:
        """Runs x settings points, returning only what ``outputs`` computes from each run.

        ``num_steps`` (final values, as :meth:`execute`) or ``length`` (trajectories,
        as :meth:`trajectory`); ``seeds`` or ``num_runs`` give the run keys as in
        :meth:`run_many`, the same keys at every settings point (common random
        numbers). ``settings`` is a grid: each name maps to values whose leading
        axis is the settings point (every name the same number of points); other
        declared settings keep their values. ``outputs(value)`` returns
        ``{name: array}`` from one run's result, in backend operations (it is
        evaluated inside the compiled program, so only what it returns comes back;
        pass the same function object to reuse the program); by default every field,
        named ``"variable/field"``. ``runs_per_call`` caps the runs one compiled call
        holds (the runtime chooses by default). Point ``p``, run ``i`` equals
        ``run_many(seeds, settings={name: values[p]})`` run ``i`` passed through
        ``outputs``. Checked mode (``validate=True``) evaluates run by run, eagerly.

        >>> from recosim.core.examples import random_walk_variables
        >>> rt = NumpyRuntime(random_walk_variables(3), seed=0)
        >>> res = rt.run_batch(4, seeds=[1, 2], outputs=lambda v: {"spread": v["walk"].get("position").std()})
        >>> res.outputs["spread"].shape, res.summary()["spread"]["n"]
        ((2,), 2)
        """
        kind, n = self._run_many_kind(length, num_steps, call="run_batch")
        start = self._start(starting_value)
        grid, points = self._settings_grid(settings)
        if outputs is not None and not callable(outputs):
            raise TypeError(f"run_batch: outputs must be a function of a run's value, got {type(outputs).__name__}")
        per_call = None if runs_per_call is None else check_count(runs_per_call, "runs_per_call", 1)
        keys = self.run_keys(seeds, num_runs=num_runs, call="run_batch")
        out = self.batch_outputs(kind, n, keys, start, points, outputs or all_fields, per_call)
        if not grid:
            out = {name: x[0] for name, x in out.items()}
        return BatchResult(out, grid)

    def batch_outputs(
        self,
        kind: RunKind,
        n: int,
        keys: Any,
        start: NetworkValue | None,
        points: Mapping[str, np.ndarray],
        outputs: OutputsFn,
        runs_per_call: int | None,
    ) -> dict[str, np.ndarray]:
        """``{name: [points, runs, ...]}``: ``outputs`` of every key's run at every settings point.

        ``points`` holds every declared setting stacked ``[points, ...]`` (checked).
        The default loops over points and keys, one :meth:`simulate` at a time;
        compiled runtimes override it with one program.
        """
        count = int(shape_of(keys)[0])  # type: ignore[arg-type]
        rows = []
        for p in range(_num_points(points)):
            with using_settings(self._point(points, p)):
                rows.append([self.apply_outputs(outputs, self.simulate(kind, n, keys[i], start)) for i in range(count)])
        return _stack_outputs([_stack_outputs(runs, to_numpy=True) for runs in rows], to_numpy=True)

    def apply_outputs(self, outputs: OutputsFn, value: NetworkValue) -> dict[str, Any]:
        """``outputs(value)`` under this runtime's backend, checked to be ``{name: array}``."""
        with using_backend(self.backend):
            got = outputs(value)
        if not isinstance(got, Mapping) or not got:
            raise TypeError(
                f"run_batch: outputs must return a non-empty mapping of names to arrays, got {type(got).__name__}"
            )
        bad = [k for k in got if not isinstance(k, str)]
        if bad:
            raise TypeError(f"run_batch: outputs must name its results with strings, got the keys {bad!r}")
        return dict(got)

    def _point(self, points: Mapping[str, np.ndarray], p: int) -> dict[str, Any]:
        B = self.backend
        return {name: B.asarray(v[p]) for name, v in points.items()}

    def _settings_grid(self, grid: Mapping[str, Any] | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The grid as NumPy arrays, and every declared setting stacked over its points (each checked)."""
        if grid is None:
            defaults = self.settings.resolve()
            return {}, {name: v[None] for name, v in defaults.items()}
        if not isinstance(grid, Mapping):
            raise SettingError(f"run_batch: settings must map names to [points, ...] values, got {type(grid).__name__}")
        arrays = {name: np.asarray(v) for name, v in grid.items()}
        if not arrays:
            raise SettingError("run_batch: settings={} names no setting; leave it out to run the declared values")
        flat = [name for name, a in arrays.items() if a.ndim == 0]
        if flat:
            raise SettingError(
                f"run_batch: setting {flat[0]!r} needs a leading axis of settings points (a list of values), "
                f"got the scalar {arrays[flat[0]]!r}"
            )
        sizes = {name: int(a.shape[0]) for name, a in arrays.items()}
        if len(set(sizes.values())) > 1:
            raise SettingError(f"run_batch: every setting of the grid needs the same number of points, got {sizes}")
        count = next(iter(sizes.values()))
        if count == 0:
            raise SettingError(f"run_batch: setting {next(iter(sizes))!r} has no points")
        resolved = [self.settings.resolve({name: a[p] for name, a in arrays.items()}) for p in range(count)]
        stacked = {name: np.stack([r[name] for r in resolved]) for name in resolved[0]}
        return {name: stacked[name] for name in arrays}, stacked

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

    def run_keys(
        self, seeds: Sequence[int] | int | None = None, *, num_runs: int | None = None, call: str = "run_many"
    ) -> Any:
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
            raise ValueError(f"{call} takes either seeds (a sequence of ints, or a count) or num_runs=, not both")
        B = self.backend
        if seed_list is not None:
            keys = [B.make_seed(s) for s in seed_list]
            if not keys:
                raise ValueError(f"{call} needs at least one seed")
        else:
            count = check_count(num_runs, "num_runs", 1)
            keys = [self._next_key(None) for _ in range(count)]
        return B.np.stack([B.asarray(k) for k in keys])

    def _run_many_kind(
        self, length: int | None, num_steps: int | None, call: str = "run_many"
    ) -> tuple[RunKind, int]:
        """``("trajectory", length)`` or ``("execute", num_steps)`` for ``run_many`` (or ``call``), checked."""
        if (length is None) == (num_steps is None):
            raise ValueError(f"{call} takes exactly one of length= (trajectories) or num_steps= (final values)")
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

            def settle(k: str, x: Any, specs: Mapping[str, Any] = specs, where: str = where) -> Any:
                return settle_field(x, specs.get(k), None, B, f"{where} {k!r}")

            out[n] = Value(starting_value[n]).map_with_key(settle)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(variables={list(self.network.names)}, seed={self.seed})"


def _num_points(points: Mapping[str, np.ndarray]) -> int:
    return int(next(iter(points.values())).shape[0]) if points else 1


def _stack_outputs(items: Sequence[Mapping[str, Any]], *, to_numpy: bool) -> dict[str, Any]:
    """``{name: stacked}`` over ``items`` (each the same names and shapes, or an error naming the output)."""
    names = list(items[0])
    out = {}
    for item in items:
        if list(item) != names:
            raise ValueError(f"run_batch: outputs returned the names {list(item)} for one run and {names} for another")
    for name in names:
        arrays = [np.asarray(item[name]) if to_numpy else item[name] for item in items]
        shapes = {tuple(np.shape(a)) for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"run_batch: output {name!r} has different shapes from run to run: {sorted(shapes)}")
        out[name] = np.stack(arrays)
    return out


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
        current = self.initial_step(key) if start is None else start
        yield current
        for t in range(1, count):
            current = self.transition(key, t, current)
            if self.callback is not None:
                self.callback(t)
            yield current

    def simulate(self, kind: RunKind, n: int, key: Any, start: NetworkValue | None) -> NetworkValue:
        if kind == "trajectory":
            return stack_steps(list(self._steps(n, key, start)), self.backend)
        last: NetworkValue = {}
        for last in self._steps(n + 1, key, start):  # noqa: B007
            pass
        return last
